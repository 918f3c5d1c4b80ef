#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gpu_node_state
short_description: Read in one call everything the GPU node roles check, so a converged node skips the rest
version_added: 0.2.0
description:
  - Read-only. One call per node returns the NVIDIA driver version, the GPUs and MIG devices (as
    M(gpu_slicing.eks.nvidia_mig_info) with O(gpu_slicing.eks.nvidia_mig_info#module:profiles=false)), what
    M(gpu_slicing.eks.nvidia_mig) would do for a desired layout (its check mode, persisted file included), the
    state of files (type, mode, owner, group, SHA-256) and of systemd units.
  - The roles C(nvidia_driver) and C(mig_partition) call it first and run their other node tasks only for what
    differs, so a converged node costs one remote task per role.
  - A read that fails (O(nvidia_smi_path) missing, a call killed after O(timeout), ...) is returned (RV(gpu_error),
    C(mig.error), C(files[].error), RV(services_error)) instead of failing the task, so that the caller falls back to
    the task that reports it; the module fails only on invalid options.
  - Runs C(nvidia-smi -q -x) (plus C(nvidia-smi mig -lgi) and C(nvidia-smi -L) when MIG devices exist, and
    C(nvidia-smi mig -lgip) and C(-lgipp) only when the layout differs) and one C(systemctl show) when O(services)
    is set on a systemd host.
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
  mig:
    description:
      - The desired MIG state, with the options of M(gpu_slicing.eks.nvidia_mig) (one argument spec) and their
        meaning, documented there. The module plans it as M(gpu_slicing.eks.nvidia_mig) does in check mode (nothing
        is run nor written) and returns the result in RV(mig).
      - Omit it to read the GPUs only.
    type: dict
    suboptions:
      gpus:
        description: GPUs to manage (index, UUID or PCI bus id); see O(gpu_slicing.eks.nvidia_mig#module:gpus).
        type: list
        elements: str
      mig_mode:
        description: V(enabled) or V(disabled); see O(gpu_slicing.eks.nvidia_mig#module:mig_mode).
        type: str
        choices: [enabled, disabled]
      layout:
        description: Desired instances on every selected GPU; see O(gpu_slicing.eks.nvidia_mig#module:layout).
        type: raw
      config:
        description: A mig-parted v1 config label; see O(gpu_slicing.eks.nvidia_mig#module:config).
        type: str
      config_file:
        description: A mig-parted v1 config file on the node; see O(gpu_slicing.eks.nvidia_mig#module:config_file).
        type: path
      force:
        description: Plan as with O(gpu_slicing.eks.nvidia_mig#module:force).
        type: bool
        default: false
      allow_gpu_reset:
        description: Plan as with O(gpu_slicing.eks.nvidia_mig#module:allow_gpu_reset).
        type: bool
        default: false
      persist:
        description:
          - Also compare the persisted file at O(mig.persist_path) with the desired state (and check that it could
            be written), as O(gpu_slicing.eks.nvidia_mig#module:persist=true) would write it.
        type: bool
        default: true
      persist_path:
        description: The persisted layout file; see O(gpu_slicing.eks.nvidia_mig#module:persist_path).
        type: path
        default: /etc/gpu-slicing/mig-layout.yaml
  files:
    description:
      - Files and directories to compare with what the caller would install. Each attribute given must match for
        C(files[].matches) to be true.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path on the node (not followed when it is a symlink).
        type: path
        required: true
      state:
        description: What the path must be.
        type: str
        choices: [file, directory]
      sha256:
        description: SHA-256 (hex) the file content must have.
        type: str
      mode:
        description: Permission bits as an octal string such as V("0644").
        type: str
      owner:
        description: Owner name.
        type: str
      group:
        description: Group name.
        type: str
  services:
    description: systemd units whose unit file state and active state to read (one C(systemctl show)).
    type: list
    elements: str
    default: []
requirements:
  - nvidia-smi (NVIDIA driver R525 or later) for the GPU part
seealso:
  - module: gpu_slicing.eks.nvidia_mig
  - module: gpu_slicing.eks.nvidia_mig_info
"""

EXAMPLES = r"""
- name: Everything the roles look at, in one call
  gpu_slicing.eks.gpu_node_state:
    mig:
      config: all-1g.10gb
    files:
      - {path: /etc/systemd/system/gpu-slicing-mig.service, state: file, mode: "0644", owner: root, group: root}
    services: [nvidia-fabricmanager.service, gpu-slicing-mig.service]
  register: node

- name: Partition only when something differs
  gpu_slicing.eks.nvidia_mig:
    config: all-1g.10gb
  when: not node.mig.converged
"""

RETURN = r"""
driver_version:
  description: NVIDIA driver version from C(nvidia-smi -q -x); empty when it could not be read.
  returned: always
  type: str
  sample: "580.95.05"
gpus:
  description: Every GPU as RV(gpu_slicing.eks.nvidia_mig_info#module:gpus) returns it without profiles.
  returned: always
  type: list
  elements: dict
layout_diagram:
  description: One line per GPU with its memory slots and instances.
  returned: always
  type: str
reboot_required:
  description: A MIG mode change of a GPU is pending until a GPU reset or a reboot.
  returned: always
  type: bool
gpu_error:
  description: Why the GPUs could not be read (nvidia-smi missing, failing or printing something else); null otherwise.
  returned: always
  type: str
mig:
  description:
    - What M(gpu_slicing.eks.nvidia_mig) would do for O(mig) (null without O(mig)).
    - C(converged) (nothing to do on the GPUs nor in the persisted file), C(changed), C(actions) (the nvidia-smi argv
      lists it would run), C(reboot_required), C(persist_path), C(skipped_gpus), C(warnings), and C(error) when the
      plan failed (bad input, a persisted file it must not replace, a read failure); then C(converged) is false.
  returned: always
  type: dict
  sample: {converged: true, changed: false, actions: [], reboot_required: false, persist_path: /etc/gpu-slicing/mig-layout.yaml}
files:
  description: One entry per O(files) item, in order, with C(path), C(exists), C(type) (V(file), V(directory),
    V(link), V(other) or null), C(mode), C(owner), C(group), C(sha256) (when asked for), C(matches) and C(error)
    when the path could not be read.
  returned: always
  type: list
  elements: dict
service_mgr:
  description: V(systemd) when systemd runs the node (C(/run/systemd/system) exists), else V(other).
  returned: always
  type: str
services:
  description: Per unit of O(services) on a systemd node, C(load_state), C(unit_file_state), C(active_state),
    C(enabled) and C(active).
  returned: always
  type: dict
  sample: {nvidia-fabricmanager.service: {load_state: loaded, unit_file_state: enabled, active_state: active,
           enabled: true, active: true}}
services_error:
  description: Why the units could not be read; null otherwise.
  returned: always
  type: str
nvidia_smi_calls:
  description: Number of C(nvidia-smi) invocations.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.gpu_slicing.eks.plugins.module_utils import _mig_options as options
from ansible_collections.gpu_slicing.eks.plugins.module_utils import _node_state as state

FILE_OPTIONS = dict(
    path=dict(type="path", required=True),
    state=dict(type="str", choices=list(state.FILE_STATES)),
    sha256=dict(type="str"),
    mode=dict(type="str"),
    owner=dict(type="str"),
    group=dict(type="str"),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mig=dict(type="dict", options=options.DESIRED_STATE_SPEC, **options.DESIRED_STATE_RULES),
            files=dict(type="list", elements="dict", options=FILE_OPTIONS, default=[]),
            services=dict(type="list", elements="str", default=[]),
            **options.NVIDIA_SMI_SPEC
        ),
        supports_check_mode=True,
    )
    params = module.params
    options.check_nvidia_smi_options(module)
    path = params["nvidia_smi_path"]
    found = path if "/" in path else (module.get_bin_path(path) or path)
    runner = state.StateReader(smi.subprocess_run_command(params["timeout"]), found)
    out, mig = state.read_gpus(runner, params["mig"])
    out["mig"] = mig
    out["files"] = [state.file_state(spec) for spec in params["files"]]
    out["service_mgr"] = state.service_manager()
    out["services"], out["services_error"] = {}, None
    if out["service_mgr"] == "systemd":
        out["services"], out["services_error"] = state.read_services(
            module.run_command, module.get_bin_path("systemctl"), params["services"])
    module.exit_json(changed=False, nvidia_smi_calls=runner.invocations, **out)


if __name__ == "__main__":
    main()
