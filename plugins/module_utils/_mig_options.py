# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The desired-MIG-state options of nvidia_mig, shared with gpu_node_state's ``mig`` option (same names, same
meaning): one argument spec, so the two modules cannot drift apart. Python >= 3.9, stdlib only."""

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
