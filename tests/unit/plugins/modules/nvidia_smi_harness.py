# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the nvidia_mig modules for real against the nvidia-smi simulator.

The module's ``main()`` runs in-process with its arguments injected by ansible-core's
``patch_module_args``; every nvidia-smi command it runs is a real subprocess of the simulator (through
a wrapper script given as ``nvidia_smi_path``), and the simulator's call log is the witness.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils import _internal

if not hasattr(_internal, "is_controller"):  # the 2.18 floor leg: no controller/module switch to flip
    _internal = None
from ansible.module_utils.common import warnings

from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.module_args import patch_module_args

from ansible_collections.gpu_slicing.eks.tests.simulators import nvidia_smi_sim as sim


class Node(object):
    def __init__(self, tmp_path, name, **kwargs):
        self.dir = os.path.join(str(tmp_path), name)
        os.makedirs(self.dir)
        self.sim = sim.SimNode.create(os.path.join(self.dir, "state.json"), **kwargs)
        self.smi = self.sim.write_wrapper(os.path.join(self.dir, "nvidia-smi"))
        self.persist_path = os.path.join(self.dir, "etc", "mig-layout.yaml")

    def calls(self):
        return self.sim.calls()

    def mutating(self):
        return [c["argv"] for c in self.sim.calls() if c["mutating"]]

    def layout(self, gpu=0):
        return [(name, start) for name, start, _gi in self.sim.layout(gpu)]

    def mig_uuids(self, gpu=0):
        state = self.sim.state()
        return dict(((gi["profile"], gi["start"]), gi["compute_instances"][0]["uuid"])
                    for gi in state["gpus"][gpu]["gpu_instances"] if gi["compute_instances"])


def run_module(capsys, main, args, check=False, diff=False):
    """Returns (result dict, failed)."""
    args = dict(args)
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    # Warnings are process-global (and de-duplicated) in ansible-core; a real module run starts with none, in a
    # process that is not the controller (once a test imported controller code, warn() would go to Display).
    warnings._global_warnings.clear()  # pylint: disable=protected-access
    was_controller = _internal.is_controller if _internal else None
    if _internal:
        _internal.is_controller = False
    try:
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                main()
    finally:
        if _internal:
            _internal.is_controller = was_controller
    out = capsys.readouterr().out
    result = json.loads(out)
    assert bool(result.get("failed")) == (exc.value.code != 0), result
    return result, bool(result.get("failed"))
