# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the modules that run nvidia-smi on the node find and bound it: nvidia_mig, nvidia_mig_info, gpu_node_state.
The argument spec of these options is NVIDIA_SMI_SPEC in plugins/module_utils/_mig_options.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  nvidia_smi_path:
    description:
      - Name (looked up on E(PATH) of the managed node) or path of the C(nvidia-smi) executable.
    type: str
    default: nvidia-smi
  timeout:
    description:
      - Seconds each C(nvidia-smi) call may take, at least V(1). A call that takes longer is killed with its whole
        process group and counts as failed.
      - The task keyword C(timeout) kills the module but not a hung C(nvidia-smi); this option does.
    type: int
    default: 300
"""
