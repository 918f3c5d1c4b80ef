# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs the GPU modules share, so that they cannot drift apart. Python >= 3.9, stdlib only.

- DESIRED_STATE_SPEC/RULES: the desired MIG state, nvidia_mig's options and gpu_node_state's ``mig`` option (same
  names, same meaning; documented in nvidia_mig, with pointers to it in gpu_node_state).
- NVIDIA_SMI_SPEC: how nvidia_mig, nvidia_mig_info and gpu_node_state find and bound nvidia-smi (documented once, in
  the doc fragment gpu_slicing.eks.nvidia_smi), checked by check_nvidia_smi_options.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import apply, persist

DESIRED_STATE_SPEC = dict(
    gpus=dict(type="list", elements="str"),
    mig_mode=dict(type="str", choices=list(apply.MIG_MODES)),
    layout=dict(type="raw"),
    config=dict(type="str"),
    config_file=dict(type="path"),
    force=dict(type="bool", default=False),
    allow_gpu_reset=dict(type="bool", default=False),
    persist=dict(type="bool", default=True),
    persist_path=dict(type="path", default=persist.DEFAULT_PATH),
)
# the rules between those options, as AnsibleModule keywords
DESIRED_STATE_RULES = dict(mutually_exclusive=[("layout", "config")], required_one_of=[("mig_mode", "layout", "config")],
                           required_by={"config_file": "config"})

NVIDIA_SMI_SPEC = dict(
    nvidia_smi_path=dict(type="str", default="nvidia-smi"),
    timeout=dict(type="int", default=300),
)


def check_nvidia_smi_options(module):
    """Fail the module on what NVIDIA_SMI_SPEC cannot say (a timeout below 1 second), before any nvidia-smi call."""
    if module.params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1 second, got %s" % module.params["timeout"])
