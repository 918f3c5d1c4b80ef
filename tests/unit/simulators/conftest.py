# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest

from ansible_collections.gpu_slicing.eks.tests.simulators import nvidia_smi_sim as sim


class Runner(object):
    """Runs the simulator executable as a real subprocess against one node."""

    def __init__(self, node):
        self.node = node

    def __call__(self, *argv, **kwargs):
        env = self.node.env()
        env.update(kwargs.get("env", {}))
        proc = subprocess.run([self.node.executable] + [str(a) for a in argv], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def make_node(tmp_path):
    """make_node(**new_state kwargs) -> (SimNode, Runner)."""
    counter = [0]

    def factory(**kwargs):
        counter[0] += 1
        node = sim.SimNode.create(os.path.join(str(tmp_path), "node%d.json" % counter[0]), **kwargs)
        return node, Runner(node)
    return factory
