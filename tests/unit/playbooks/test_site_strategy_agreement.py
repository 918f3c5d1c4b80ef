# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml refuses MIG strategies that disagree with the device plugin's cluster-wide one (issue 15 item 19).

The real ``ansible-playbook gpu_slicing.eks.site`` with ``--tags discover``: the check is tagged ``always`` and runs
in the first play, before the driver, the plugin, the partitioning or Karpenter are touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import collections_root

INVENTORY = """\
[gpu_nodes]
gpu-a ansible_connection=local
gpu-b ansible_connection=local {extra}
"""


def run_site(tmp_path, host_extra="", **variables):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(INVENTORY.format(extra=host_extra))
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_NOCOLOR="1", HOME=str(tmp_path),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-i", str(inventory), "gpu_slicing.eks.site",
                           "--tags", "discover", "-e", "ansible_python_interpreter=%s" % sys.executable,
                           "-e", "@%s" % extra], env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def test_defaults_agree(tmp_path):
    rc, out = run_site(tmp_path)
    assert rc == 0, out
    assert "GPU nodes: gpu-a, gpu-b" in out


@pytest.mark.parametrize("host_extra,variables,expected", [
    ("mig_partition_strategy=single", {}, "gpu-b has mig_partition_strategy=single"),
    ("", {"device_plugin_mig_strategy": "single"}, "gpu-a has mig_partition_strategy=mixed"),
    ("", {"karpenter_gpu_pools": [{"name": "p5-one", "mig_strategy": "single", "instance_types": ["p5.48xlarge"]}]},
     "Karpenter pool p5-one has mig_strategy=single"),
    ("", {"gpu_slicing_cluster_mode": "gpu_operator", "gpu_operator_mig_strategy": "single"},
     "Karpenter pool (karpenter_gpu default pools) has mig_strategy=mixed"),
], ids=["node", "plugin", "pool", "operator"])
def test_disagreement_fails_before_anything_runs(tmp_path, host_extra, variables, expected):
    rc, out = run_site(tmp_path, host_extra, **variables)
    assert rc != 0, out
    assert "advertises MIG devices with strategy" in out and expected in out, out
    assert "Nothing was changed" in out
    assert "GPU nodes:" not in out  # failed at the check, before anything else


def test_no_plugin_mode_skips_the_check(tmp_path):
    rc, out = run_site(tmp_path, "mig_partition_strategy=single", gpu_slicing_cluster_mode="none")
    assert rc == 0, out


# Named device plugin configs (docs/sharing.md): a node or pool must agree with the MIG strategy of the config it
# selects (its device_plugin_config, else the default config), not with the cluster-wide one (issue 18).
NAMED = {"device_plugin_configs": {"mig-mixed": {}, "mig-single": {"mig_strategy": "single"},
                                   "a10g-shared": {"mig_strategy": "none", "sharing": {"mode": "time-slicing", "replicas": 4}}},
         "device_plugin_default_config": "mig-mixed"}


@pytest.mark.parametrize("host_extra,variables", [
    ("mig_partition_strategy=single device_plugin_config=mig-single", NAMED),
    ("device_plugin_config=a10g-shared", dict(NAMED, device_plugin_default_config="mig-single",
                                              karpenter_gpu_pools=[{"name": "g5", "device_plugin_config": "a10g-shared",
                                                                    "instance_types": ["g5.xlarge"]}],
                                              mig_partition_strategy="single")),
    ("", dict(NAMED, karpenter_gpu_pools=[{"name": "p5-one", "mig_strategy": "single", "device_plugin_config": "mig-single",
                                           "instance_types": ["p5.48xlarge"]}])),
    ("", dict(NAMED, gpu_slicing_cluster_mode="gpu_operator", gpu_operator_mig_strategy="single",
              gpu_operator_device_plugin_configs={"whole": {"mig_strategy": "mixed"}}, gpu_operator_device_plugin_default_config="whole")),
], ids=["node-single-config", "none-config-imposes-nothing", "pool-config", "operator-default-config"])
def test_a_node_or_pool_agrees_with_the_config_it_selects(tmp_path, host_extra, variables):
    rc, out = run_site(tmp_path, host_extra, **variables)
    assert rc == 0, out
    assert "GPU nodes: gpu-a, gpu-b" in out


@pytest.mark.parametrize("host_extra,variables,expected", [
    ("device_plugin_config=mig-single", NAMED, "gpu-b has mig_partition_strategy=mixed (its device plugin config mig-single uses single)"),
    ("", dict(NAMED, device_plugin_default_config="mig-single"),
     "gpu-a has mig_partition_strategy=mixed (its device plugin config mig-single uses single)"),
    ("", dict(NAMED, karpenter_gpu_pools=[{"name": "p4d", "device_plugin_config": "mig-single", "instance_types": ["p4d.24xlarge"]}]),
     "Karpenter pool p4d has mig_strategy=mixed (its device plugin config mig-single uses single)"),
], ids=["node", "default-config", "pool"])
def test_disagreement_with_the_selected_config_fails(tmp_path, host_extra, variables, expected):
    rc, out = run_site(tmp_path, host_extra, **variables)
    assert rc != 0, out
    assert expected in out and "Nothing was changed" in out, out
