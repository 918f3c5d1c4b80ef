# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""verify.yml's Shared GPUs table and per-node sharing read the configs of the cluster mode in use (issue 18).

The real ``ansible-playbook`` evaluates ``playbooks/vars/sharing_configs.yml`` (the one place verify.yml takes the
configs from) with the variables of each path: the device_plugin role's configs by default, the gpu_operator role's
with ``gpu_slicing_cluster_mode=gpu_operator``. And verify.yml reads them from nowhere else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import collections_root

COLLECTION = os.path.join(collections_root(), "ansible_collections", "gpu_slicing", "eks")
VARS_FILE = os.path.join(COLLECTION, "playbooks", "vars", "sharing_configs.yml")
PLUGIN = {"a10g-shared": {"mig_strategy": "none", "sharing": {"mode": "time-slicing", "replicas": 4}}}
OPERATOR = {"l4-mps": {"mig_strategy": "none", "sharing": {"mode": "mps", "replicas": 4}}}
BOTH = {"device_plugin_configs": PLUGIN, "device_plugin_default_config": "a10g-shared",
        "gpu_operator_device_plugin_configs": OPERATOR, "gpu_operator_device_plugin_default_config": "l4-mps"}


def picked(tmp_path, **variables):
    play = tmp_path / "play.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  vars_files: [%s]\n  tasks:\n"
                    "    - ansible.builtin.debug:\n        msg: \"PICKED={{ sharing_configs_in_use | to_json }}\"\n" % json.dumps(VARS_FILE))
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_NOCOLOR="1", HOME=str(tmp_path),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-i", "localhost,", "-c", "local", str(play),
                           "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "@%s" % (tmp_path / "vars.json")],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    found = re.search(r'"PICKED=(.*)"\s*$', proc.stdout, re.M)
    assert found, proc.stdout[-2000:]
    return json.loads(found.group(1).replace('\\"', '"'))


@pytest.mark.parametrize("variables, expected", [
    (BOTH, {"configs": PLUGIN, "default": "a10g-shared"}),
    (dict(BOTH, gpu_slicing_cluster_mode="device_plugin"), {"configs": PLUGIN, "default": "a10g-shared"}),
    (dict(BOTH, gpu_slicing_cluster_mode="gpu_operator"), {"configs": OPERATOR, "default": "l4-mps"}),
    ({"gpu_slicing_cluster_mode": "gpu_operator"}, {"configs": {}, "default": ""}),
    ({}, {"configs": {}, "default": ""}),
], ids=["default-mode", "device_plugin", "gpu_operator", "operator-without-configs", "nothing"])
def test_verify_reads_the_configs_of_the_mode_in_use(tmp_path, variables, expected):
    assert picked(tmp_path, **variables) == expected


def test_verify_takes_the_configs_only_from_the_helper():
    with open(os.path.join(COLLECTION, "playbooks", "verify.yml")) as handle:
        text = handle.read()
    assert text.count("vars/sharing_configs.yml") == 2  # both plays
    for name in ("device_plugin_configs", "device_plugin_default_config", "gpu_operator_device_plugin"):
        assert name not in text, name
