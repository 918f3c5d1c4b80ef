#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_mig
short_description: Partition NVIDIA GPUs with Multi-Instance GPU (MIG), idempotently and placement-aware
version_added: 0.1.0
description:
  - Sets the MIG mode and the set of MIG GPU instances of NVIDIA GPUs on the managed node with C(nvidia-smi) only.
  - The desired layout is a list or mapping of profile names (O(layout)) or a mig-parted v1 config (O(config), one of
    the 81 built-in labels of the GPU Operator's C(default-mig-parted-config) or a label of O(config_file)).
  - Profile names are resolved to profile ids on each GPU (C(nvidia-smi mig -lgip)); placements are found by an exact
    search over C(nvidia-smi mig -lgipp) and instances are created with explicit C(profile_id:start) tuples.
  - Unlike C(nvidia-mig-parted), instances that the desired layout still contains are kept in place; only what must go
    is destroyed and only what is missing is created. Instances with running processes are never destroyed, and the
    MIG mode of a GPU with processes is never changed (unless O(force=true)); the error lists the PIDs.
  - Converged runs use at most 3 C(nvidia-smi) invocations per host (C(-q -x), C(mig -lgi), C(-L)). A change adds
    C(mig -lgip) and C(mig -lgipp) once per host, one batched C(-mig) call for all GPUs that change mode, one C(-cgi)
    call for all GPUs that get the same instances (else one per GPU; plus C(-dci)/C(-dgi) where instances go) and a
    verification read (C(-q -x), C(-L)). From scratch that is 7 calls for any number of GPUs that get the same
    layout. When C(-mig) does not confirm every GPU (a change left pending) the mode is re-read (C(-q -x)), plus
    C(-r) for the pending GPUs with O(allow_gpu_reset=true).
  - Whether a MIG mode change takes effect at once is decided from C(nvidia-smi)'s answer and a re-read of the mode,
    never from the GPU architecture; GPU instance ids are always read from the GPU.
  - Each GPU is changed atomically. If creating instances fails, the instances this run created (found by re-reading
    the state) are destroyed, a MIG mode this run changed is set back, the previous layout is restored when possible,
    the persisted file is made to describe the state left, and the module fails with the state of every GPU.
  - An answer of a mutating C(nvidia-smi) call that cannot be parsed (older or newer driver wording, a call killed
    after O(timeout)) makes the module re-read the state and either continue or roll back; it never leaves instances
    it cannot account for.
author:
  - gpu_slicing.eks maintainers (@gpu-slicing)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Runs only read-only C(nvidia-smi) commands and returns the commands it would run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Before/after per GPU, with a diagram of the memory slots.
extends_documentation_fragment:
  - gpu_slicing.eks.nvidia_smi
options:
  gpus:
    description:
      - GPUs to manage, each given as its index, UUID or PCI bus id.
      - Default is every MIG-capable GPU. GPUs that are not MIG capable are skipped and listed in RV(skipped_gpus).
    type: list
    elements: str
  mig_mode:
    description:
      - V(enabled) or V(disabled). Defaults to V(enabled) when O(layout) is given.
      - V(enabled) without O(layout) or O(config) only ensures the mode and leaves existing instances alone.
      - V(disabled) destroys all instances of the GPU first (refused if any has processes, unless O(force=true)).
    type: str
    choices: [enabled, disabled]
  layout:
    description:
      - "Desired GPU instances on every selected GPU, as a list of profile names (V([3g.40gb, 2g.20gb, 1g.10gb])) or a
        mapping profile name to count (V({1g.10gb: 2, 3g.40gb: 1})). Names may carry the C(MIG ) prefix."
      - An empty list or mapping means MIG enabled with no instances.
      - Mutually exclusive with O(config).
    type: raw
  config:
    description:
      - A mig-parted v1 config label. Without O(config_file) one of the built-in labels such as V(all-1g.10gb),
        V(all-balanced), V(all-disabled).
      - Entries select GPUs by C(devices) and C(device-filter); GPUs matched by no entry are left untouched.
    type: str
  config_file:
    description:
      - Path on the managed node of a mig-parted v1 config file, YAML or JSON.
      - It is read by the collection's own standard-library reader (the same one the boot-time applier uses, so
        both always read a file the same way). It reads block mappings and lists, V([..]) and V({..}) flow
        collections, quoted and plain scalars, comments. Plain scalars are typed as YAML 1.1 readers such as mig-parted type
        them (V(yes)/V(no)/V(on)/V(off) are booleans, V(0x20B010DE) is a number); one that a YAML reader would
        read as an octal, a float or a date is refused with its line, as are anchors, aliases, tags, block
        scalars and several documents; quote such a value.
      - UTF-8 and at most 1 MiB.
      - Requires O(config).
    type: path
  force:
    description:
      - Skip the busy check that refuses to destroy instances or change the MIG mode while processes run there.
      - The driver itself still refuses to destroy an instance in use (C(In use by another client)); the module then
        restores what it destroyed on that GPU and fails. Use it when the process list is known to be stale.
    type: bool
    default: false
  allow_gpu_reset:
    description:
      - On Ampere GPUs (A100, A30) the driver resets the GPU itself for a MIG mode change; when it cannot (a client
        such as DCGM holds the GPU, or a VM without GPU reset) C(nvidia-smi -mig) leaves the change pending.
        The module reads that from C(nvidia-smi)'s answer and the re-read mode.
      - For GPUs left pending, V(true) runs C(nvidia-smi -r -i <gpus>) (one call; one per GPU if it is refused) so
        that the change takes effect at once. With V(false), or if the reset is refused, the module returns
        RV(reboot_required=true), a warning, and creates the instances after the reboot (from the persisted file).
      - Hopper and later GPUs switch immediately or refuse, and never need this.
    type: bool
    default: false
  persist:
    description:
      - Write the desired state of the managed GPUs to O(persist_path) so that a boot-time service re-applies it
        (MIG instances vanish on every reboot, and on Hopper and later so does the MIG mode).
    type: bool
    default: true
  persist_path:
    description:
      - File written when O(persist=true); a mig-parted v1 config with the single label C(gpu-slicing) and one entry
        per managed GPU (C(device-filter), C(devices), C(mig-enabled), C(mig-devices)). Entries of GPUs this run did not
        manage (see O(gpus)) are kept from the existing file.
      - Readable by C(nvidia-mig-parted apply -f FILE -c gpu-slicing) and by this module with O(config=gpu-slicing)
        and O(config_file=FILE).
      - When the file must be written, an unwritable path fails the module before the first change, and so does an
        existing file this collection did not write (its first line is not C(# Written by gpu_slicing.eks)); such a
        file is never replaced. The path must be absolute.
    type: path
    default: /etc/gpu-slicing/mig-layout.yaml
requirements:
  - nvidia-smi (NVIDIA driver R525 or later; profile listing with MIG disabled needs R580 or later)
notes:
  - Profiles and counts are validated against the GPU before the first change; an infeasible layout fails with a
    message that names the conflicting profiles.
  - A run that changes GPUs re-reads the state afterwards (C(-q -x), C(-L)), which also creates the
    C(/dev/nvidia-caps) device nodes. Restart the device plugin afterwards, it only enumerates MIG devices at start.
seealso:
  - module: gpu_slicing.eks.nvidia_mig_info
  - name: NVIDIA MIG user guide
    description: Profiles, placements and mode changes.
    link: https://docs.nvidia.com/datacenter/tesla/mig-user-guide/
"""

EXAMPLES = r"""
- name: Three slices on every H100, kept in place on later runs
  gpu_slicing.eks.nvidia_mig:
    layout:
      3g.40gb: 1
      2g.20gb: 1
      1g.10gb: 2

- name: The GPU Operator's balanced layout on GPUs 0 and 1 only
  gpu_slicing.eks.nvidia_mig:
    config: all-balanced
    gpus: ["0", "1"]

- name: Re-apply the persisted layout at boot (what the boot service runs)
  gpu_slicing.eks.nvidia_mig:
    config: gpu-slicing
    config_file: /etc/gpu-slicing/mig-layout.yaml
    persist: false

- name: Turn MIG off on an A100 node, resetting the GPUs instead of rebooting
  gpu_slicing.eks.nvidia_mig:
    mig_mode: disabled
    allow_gpu_reset: true
  register: mig

- name: Reboot if the mode change is still pending
  ansible.builtin.reboot:
  when: mig.reboot_required
"""

RETURN = r"""
changed:
  description: Whether any GPU or the persisted file changed (or would change in check mode).
  returned: always
  type: bool
gpus:
  description: State of every GPU on the node after the run (in check mode, before it).
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
    pci_bus_id:
      description: PCI bus id.
      type: str
      returned: always
    pci_device_id:
      description: PCI device and vendor id, such as C(0x233010DE).
      type: str
      returned: always
    memory_mib:
      description: Total framebuffer memory.
      type: int
      returned: always
    mig_mode:
      description:
        - MIG mode C(current) and C(pending), each V(enabled), V(disabled) or V(null) (not MIG capable), and
          C(change_pending), true while a mode change waits for a GPU reset or reboot.
      type: dict
      returned: always
    instances:
      description: GPU instances with C(profile), C(profile_id), C(placement) (C(start), C(size)),
        C(gpu_instance_id), C(compute_instances) and C(mig_uuid).
      type: list
      elements: dict
      returned: always
    processes:
      description: Processes on the GPU with the GPU and compute instance they run in.
      type: list
      elements: dict
      returned: always
  sample:
    - index: 0
      uuid: GPU-25bd35c4-38ce-a0ef-ebe7-b024f5545ed8
      name: NVIDIA H100 80GB HBM3
      pci_bus_id: "00000000:00:06.0"
      pci_device_id: "0x233010DE"
      memory_mib: 81559
      mig_mode: {current: enabled, pending: enabled, change_pending: false}
      instances:
        - profile: 3g.40gb
          profile_id: 9
          placement: {start: 4, size: 4}
          gpu_instance_id: 2
          compute_instances: [{compute_instance_id: 0, profile: 3g.40gb, profile_id: null, mig_uuid: MIG-0a1b}]
          mig_uuid: MIG-0a1b
      processes: []
actions:
  description: The C(nvidia-smi) argv lists that were run (in check mode, that would be run), in order.
  returned: always
  type: list
  elements: list
  sample: [["nvidia-smi", "-i", "0,1", "-mig", "1"], ["nvidia-smi", "mig", "-i", "0,1", "-cgi", "9:4,14:0,19:2,19:3", "-C"]]
plan:
  description:
    - Per managed GPU, what is kept, destroyed and created, and whether a reboot is needed (C(index), C(changed),
      C(mode_change), C(reset_may_be_needed), C(reboot_required), C(deferred_until_reboot), C(kept), C(destroy),
      C(create), C(notes)).
  returned: always
  type: list
  elements: dict
reboot_required:
  description:
    - A MIG mode change stays pending until a reboot (an Ampere GPU in use or in a VM, without O(allow_gpu_reset)
      or with a refused reset); C(gpus[].mig_mode.change_pending) says which GPUs.
    - In check mode only known-pending GPUs count; the plan's C(reset_may_be_needed) says where the driver may
      leave a change pending.
  returned: always
  type: bool
skipped_gpus:
  description: GPUs not managed, with the reason (not MIG capable, not selected by the config).
  returned: always
  type: list
  elements: dict
  sample: [{index: 1, uuid: GPU-1234, name: NVIDIA A10G, reason: not MIG capable}]
persist_path:
  description: The file the desired state was written to (or would be in check mode); null when O(persist=false).
  returned: always
  type: str
failed_gpus:
  description: GPUs that a failure half-way left rolled back (or tried to), by index.
  returned: on failure after the first change
  type: list
  elements: int
nvidia_smi_calls:
  description: Number of C(nvidia-smi) invocations this run made.
  returned: always
  type: int
diff:
  description: Before/after text per GPU with a diagram of the memory slots (with C(--diff)).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.gpu_slicing.eks.plugins.module_utils import _mig_options as options
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import apply


def main():
    module = AnsibleModule(
        argument_spec=dict(options.DESIRED_STATE_SPEC, **options.NVIDIA_SMI_SPEC),
        supports_check_mode=True,
        **options.DESIRED_STATE_RULES
    )
    params = module.params
    request = apply.ApplyRequest(
        gpus=params["gpus"], mig_mode=params["mig_mode"], layout=params["layout"], config=params["config"],
        config_file=params["config_file"], force=params["force"], allow_gpu_reset=params["allow_gpu_reset"],
        persist=params["persist"], persist_path=params["persist_path"], check_mode=module.check_mode,
        diff=module._diff, atomic_move=module.atomic_move)
    options.check_nvidia_smi_options(module)
    runner = smi.runner_for_module(module, params["nvidia_smi_path"], params["timeout"])
    try:
        out = apply.reconcile(runner, request).to_dict()
    except apply.ApplyError as exc:
        out = exc.to_dict()
        out["msg"] = exc.msg
    for warning in out.pop("warnings", []):
        module.warn(warning)
    if "msg" in out:
        module.fail_json(**out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
