#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_mig_info
short_description: Read the MIG state, profiles and placements of the NVIDIA GPUs on a node
version_added: 0.1.0
description:
  - Read-only facts from C(nvidia-smi) on the managed node, never changing anything.
  - Returns every GPU with its MIG mode, GPU instances (profile, placement, ids, MIG UUIDs), processes, and the MIG
    profiles the GPU offers (ids, counts, memory, engines, possible placements), plus a text diagram of the memory
    slots.
  - Runs C(nvidia-smi -q -x), and when needed C(nvidia-smi mig -lgi), C(nvidia-smi -L), C(nvidia-smi mig -lgip) and
    C(nvidia-smi mig -lgipp).
author:
  - gpu_slicing.eks maintainers (@gpu-slicing)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module never changes anything.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
extends_documentation_fragment:
  - gpu_slicing.eks.nvidia_smi
options:
  gpus:
    description: Only these GPUs (index, UUID or PCI bus id). Default is every GPU.
    type: list
    elements: str
  profiles:
    description: Also read the MIG profiles and placements (two more C(nvidia-smi) calls).
    type: bool
    default: true
seealso:
  - module: gpu_slicing.eks.nvidia_mig
"""

EXAMPLES = r"""
- name: What is sliced how
  gpu_slicing.eks.nvidia_mig_info:
  register: mig

- name: Show the slots
  ansible.builtin.debug:
    msg: "{{ mig.layout_diagram }}"
"""

RETURN = r"""
gpus:
  description: Every selected GPU, like RV(gpu_slicing.eks.nvidia_mig#module:gpus), plus C(profiles) and C(mig_capable).
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: GPU index.
      type: int
      returned: always
    uuid:
      description: GPU UUID.
      type: str
      returned: always
    name:
      description: Product name.
      type: str
      returned: always
    pci_device_id:
      description: PCI device and vendor id.
      type: str
      returned: always
    mig_capable:
      description: Whether the GPU supports MIG.
      type: bool
      returned: always
    mig_mode:
      description:
        - C(current) and C(pending) MIG mode (V(enabled), V(disabled) or V(null)) and C(change_pending), true when
          the pending mode differs from the current one until a GPU reset or reboot (Ampere GPUs in use or in VMs).
      type: dict
      returned: always
    instances:
      description: GPU instances with C(profile), C(profile_id), C(placement), C(gpu_instance_id),
        C(compute_instances), C(mig_uuid).
      type: list
      elements: dict
      returned: always
    profiles:
      description: MIG profiles with C(name), C(id), C(max_count), C(free), C(memory_mib), C(sm), C(ce), C(dec),
        C(enc), C(jpeg), C(ofa), C(placements) (C(starts), C(size)) and C(compute_slices).
      type: list
      elements: dict
      returned: when O(profiles=true)
  sample:
    - index: 0
      uuid: GPU-25bd35c4-38ce-a0ef-ebe7-b024f5545ed8
      name: NVIDIA H100 80GB HBM3
      pci_device_id: "0x233010DE"
      mig_capable: true
      mig_mode: {current: disabled, pending: disabled, change_pending: false}
      instances: []
      profiles:
        - {name: 3g.40gb, id: 9, max_count: 2, free: 2, memory_mib: 40448, sm: 60, ce: 3, dec: 3, enc: 0, jpeg: 3,
           ofa: 0, placements: {starts: [0, 4], size: 4}, compute_slices: 3}
reboot_required:
  description: A MIG mode change of a GPU is pending until a GPU reset or a reboot (see C(mig_mode.change_pending)).
  returned: always
  type: bool
layout_diagram:
  description: One line per GPU showing its memory slots and the instances in them, and a pending MIG mode change.
  returned: always
  type: str
  sample: "GPU0 H100 [3g.40gb           ][2g.20gb ][1g ][-- ]"
nvidia_smi_calls:
  description: Number of C(nvidia-smi) invocations.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _mig_options as options
from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import render


def main():
    module = AnsibleModule(
        argument_spec=dict(gpus=dict(type="list", elements="str"), profiles=dict(type="bool", default=True),
                           **options.NVIDIA_SMI_SPEC),
        supports_check_mode=True,
    )
    options.check_nvidia_smi_options(module)
    runner = smi.runner_for_module(module, module.params["nvidia_smi_path"], module.params["timeout"])
    try:
        gpus = smi.select_gpus(runner.read_state(), module.params["gpus"])
        if module.params["profiles"]:
            runner.attach_profiles(gpus)
    except (smi.NvidiaSmiError, ValueError) as exc:
        module.fail_json(msg=to_native(exc), nvidia_smi_calls=runner.invocations)

    out = []
    for gpu in gpus:
        item = gpu.to_dict(with_profiles=module.params["profiles"])
        item["mig_capable"] = gpu.mig_capable
        out.append(item)
    module.exit_json(changed=False, gpus=out, layout_diagram=render.host_diagram(gpus),
                     reboot_required=any(g.mig_change_pending for g in gpus), nvidia_smi_calls=runner.invocations)


if __name__ == "__main__":
    main()
