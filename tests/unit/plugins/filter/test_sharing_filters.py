# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sharing filters (device plugin config map, node labels, verify's sharing report) and a cross-check of the
sharing engine against the device-plugin stand-in, which applies a plugin config file to the simulator's GPUs
following the plugin's README, written independently of the engine."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.gpu_slicing.eks.plugins.filter import sharing as filters
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing
from ansible_collections.gpu_slicing.eks.tests.support import fake_device_plugin

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".."))
SIM_CTL = os.path.join(ROOT, "tests", "simulators", "nvidia-smi-sim")
SHARED = {"mode": "time-slicing", "replicas": 10, "rename_by_default": True}
CONFIGS = {"mig-mixed": {}, "g5-shared": {"mig_strategy": "none", "sharing": SHARED},
           "mig-shared": {"mig_strategy": "mixed",
                          "sharing": {"mode": "time-slicing", "replicas": 2, "resources": ["nvidia.com/mig-1g.10gb"]}}}


def _plain(document):
    return json.loads(json.dumps(document))


def test_config_map_has_one_key_per_config_rendered_by_the_engine():
    import yaml

    data = filters.device_plugin_config_map(CONFIGS, "mig-mixed", "mixed")
    assert sorted(data) == ["g5-shared", "mig-mixed", "mig-shared"]
    assert yaml.safe_load(data["g5-shared"]) == _plain(sharing.plugin_config(SHARED, mig_strategy="none"))
    # a config without mig_strategy takes the role's default strategy
    assert yaml.safe_load(data["mig-mixed"]) == {"version": "v1", "flags": {"migStrategy": "mixed"}}
    assert yaml.safe_load(data["mig-shared"])["sharing"]["timeSlicing"]["resources"] == [
        {"name": "nvidia.com/mig-1g.10gb", "replicas": 2}]


@pytest.mark.parametrize("configs, default, message", [
    ({}, "x", "non-empty mapping"),
    ({"a": {}}, "b", "the default device plugin config 'b' is not one of the configs (a)"),
    ({"a b": {}}, "a b", "'a b' is not a valid device plugin config name"),
    ({"-a": {}}, "-a", "is not a valid device plugin config name"),
    ({"a" * 64: {}}, "a" * 64, "is not a valid device plugin config name"),
    ({"a": {"replicas": 2}}, "a", "device plugin config a: unknown key(s) replicas"),
    ({"a": {"mig_strategy": "both"}}, "a", "device plugin config a: mig_strategy must be one of none, single, mixed"),
    ({"a": "time-slicing"}, "a", "device plugin config a must be a mapping"),
    ({"a": {"sharing": {"mode": "time-slicing", "replicas": 1}}}, "a", "device plugin config a: sharing.replicas must be at least 2"),
    ({"a": {"sharing": {"mode": "mps", "replicas": 2}, "mig_strategy": "mixed"}}, "a",
     "device plugin config a: sharing: MPS with the mixed MIG strategy is refused"),
    ({"a": {"sharing": {"mode": "time-slicing", "replicas": 2, "resources": ["nvidia.com/mig-1g.10gb"]}, "mig_strategy": "none"}},
     "a", "exist only under the mixed MIG strategy"),
    ({"a": {"sharing": {"mode": "time-slicing", "replicas": 2}}}, "a",
     "device plugin config a: with the mixed MIG strategy list the resources to share"),
])
def test_config_map_refuses_bad_configs(configs, default, message):
    with pytest.raises(AnsibleFilterError) as caught:
        filters.device_plugin_config_map(configs, default, "mixed")
    assert message in str(caught.value)


def test_node_configs_name_the_host_with_an_unknown_config():
    hosts = [{"host": "a", "node": "node-a", "config": "g5-shared"}, {"host": "b", "node": "node-b", "config": ""}]
    assert filters.device_plugin_node_configs(hosts, CONFIGS, "mig-mixed") == [{"node": "node-a", "config": "g5-shared"}]
    with pytest.raises(AnsibleFilterError, match="host c: device_plugin_config 'typo' is not one of the device plugin configs"):
        filters.device_plugin_node_configs(hosts + [{"host": "c", "node": "node-c", "config": "typo"}], CONFIGS, "mig-mixed")
    with pytest.raises(AnsibleFilterError, match="define device_plugin_configs first"):
        filters.device_plugin_node_configs(hosts, {}, "")


def test_sharing_capacity_and_node_selection():
    assert filters.sharing_capacity({"nvidia.com/gpu": 4}, SHARED) == {"nvidia.com/gpu": 0, "nvidia.com/gpu.shared": 40}
    assert filters.sharing_capacity({"nvidia.com/gpu": 4}, {}) == {"nvidia.com/gpu": 4}
    assert filters.device_plugin_node_sharing({sharing.CONFIG_LABEL: "g5-shared"}, CONFIGS, "mig-mixed") == SHARED
    assert filters.device_plugin_node_sharing({}, CONFIGS, "mig-mixed") == {}
    with pytest.raises(AnsibleFilterError, match="replicas"):
        filters.sharing_capacity({"nvidia.com/gpu": 4}, {"mode": "time-slicing"})


def _node(name, instance_type, allocatable, config=None):
    labels = {"node.kubernetes.io/instance-type": instance_type}
    if config:
        labels[sharing.CONFIG_LABEL] = config
    return {"metadata": {"name": name, "labels": labels}, "status": {"allocatable": allocatable}}


def test_sharing_report_compares_the_node_with_the_engine():
    nodes = [
        _node("g5-ok", "g5.12xlarge", {"cpu": "48", "nvidia.com/gpu": "0", "nvidia.com/gpu.shared": "40"}, "g5-shared"),
        _node("g5-stale", "g5.12xlarge", {"nvidia.com/gpu": "4"}, "g5-shared"),
        _node("g5-typo", "g5.xlarge", {"nvidia.com/gpu": "1"}, "typo"),
        _node("p5-mig", "p5.48xlarge", {"nvidia.com/mig-1g.10gb": "56"}),  # default config, no sharing
        _node("cpu", "m6i.large", {"cpu": "2"}),
    ]
    rows = dict((row["name"], row) for row in filters.sharing_report(nodes, CONFIGS, "mig-mixed"))
    assert sorted(rows) == ["g5-ok", "g5-stale", "g5-typo"]
    ok = rows["g5-ok"]
    assert (ok["config"], ok["mode"], ok["replicas"], ok["rename"]) == ("g5-shared", "time-slicing", 10, True)
    assert ok["expected"] == ok["advertised"] == {"nvidia.com/gpu.shared": 40}
    assert ok["drift"] == [] and ok["error"] == ""
    assert rows["g5-stale"]["drift"] == ["nvidia.com/gpu: expected 0, allocatable 4",
                                         "nvidia.com/gpu.shared: expected 40, allocatable 0"]
    assert "selects device plugin config 'typo', which the config map does not have" in rows["g5-typo"]["error"]


def _simulated(tmp_path, *init_args):
    state = str(tmp_path / "node.json")
    subprocess.run([SIM_CTL, "init", "--state", state] + list(init_args), check=True, capture_output=True)
    wrapper = str(tmp_path / "nvidia-smi")
    subprocess.run([SIM_CTL, "wrapper", "--state", state, "--out", wrapper], check=True, capture_output=True)
    return wrapper


@pytest.mark.parametrize("instance_type, init_args, spec, mig_strategy, mig_config", [
    ("g5.12xlarge", ["--model", "a10g-24gb", "--gpus", "4"], SHARED, "none", None),
    ("g5.xlarge", ["--model", "a10g-24gb", "--gpus", "1"], {"mode": "time-slicing", "replicas": 4}, "none", None),
    ("p5.48xlarge", ["--model", "h100-80gb", "--gpus", "8", "--mig", "enabled", "--layout", ",".join(["1g.10gb"] * 7)],
     {"mode": "time-slicing", "replicas": 3, "resources": ["nvidia.com/mig-1g.10gb"]}, "mixed", "all-1g.10gb"),
])
def test_engine_agrees_with_the_plugin_stand_in(tmp_path, instance_type, init_args, spec, mig_strategy, mig_config):
    """The engine's capacity for the instance type = what the stand-in advertises from the engine's config file on
    the simulated GPUs."""
    wrapper = _simulated(tmp_path, *init_args)
    config = _plain(sharing.plugin_config(spec, mig_strategy=mig_strategy))
    advertised = fake_device_plugin.configured_resources(wrapper, config)
    expected = sharing.node_capacity(instance_type, spec, config=mig_config, strategy="mixed")
    assert dict((k, v) for k, v in expected.items() if v) == advertised


def test_stand_in_selects_the_config_like_config_manager():
    pod = {"metadata": {"namespace": "kube-system"}, "spec": {
        "initContainers": [{"name": "init", "command": ["config-manager"],
                            "env": [{"name": "NODE_LABEL", "value": sharing.CONFIG_LABEL},
                                    {"name": "CONFIG_FILE_SRCDIR", "value": "/available-configs"},
                                    {"name": "DEFAULT_CONFIG", "value": "whole"}],
                            "volumeMounts": [{"name": "available-configs", "mountPath": "/available-configs"}]}],
        "containers": [{"name": "plugin", "env": [{"name": "CONFIG_FILE", "value": "/config/config.yaml"}]}],
        "volumes": [{"name": "available-configs", "configMap": {"name": "cm"}}]}}
    data = {"whole": "version: v1\nflags:\n  migStrategy: none\n", "shared": "version: v1\n"}

    def read(namespace, name):
        assert (namespace, name) == ("kube-system", "cm")
        return data
    assert fake_device_plugin.selected_config(pod, {"metadata": {"labels": {}}}, read)[0] == "whole"
    assert fake_device_plugin.selected_config(pod, {"metadata": {"labels": {sharing.CONFIG_LABEL: "shared"}}}, read)[0] == "shared"
    with pytest.raises(fake_device_plugin.EnumerationError, match="config 'other' is not in the ConfigMap"):
        fake_device_plugin.selected_config(pod, {"metadata": {"labels": {sharing.CONFIG_LABEL: "other"}}}, read)
    assert fake_device_plugin.selected_config({"spec": {"containers": [{"env": []}]}}, {}, read) is None


def test_report_markdown_has_the_shared_gpus_table():
    from ansible_collections.gpu_slicing.eks.plugins.filter import report

    rows = filters.sharing_report([_node("g5|a", "g5.12xlarge", {"nvidia.com/gpu": "4"}, "g5-shared")], CONFIGS, "mig-mixed")
    text = report.mig_report_markdown({"title": "t", "nodes": [], "karpenter": [], "sharing": rows})
    line = [x for x in text.splitlines() if x.startswith("| g5")][0]
    assert line == ("| g5\\|a | g5.12xlarge | g5-shared | time-slicing (renamed .shared) | 10 | nvidia.com/gpu=4 | "
                    "nvidia.com/gpu.shared=40 | nvidia.com/gpu: expected 0, allocatable 4; "
                    "nvidia.com/gpu.shared: expected 40, allocatable 0 |")
    assert "Shared GPUs" not in report.mig_report_markdown({"title": "t", "nodes": [], "karpenter": []})


OPERATOR_CONFIGS = {"whole": {"mig_strategy": "mixed"}, "l4-mps": {"mig_strategy": "none", "sharing": {"mode": "mps", "replicas": 4}}}


@pytest.mark.parametrize("mode, expected", [
    ("device_plugin", {"configs": CONFIGS, "default": "mig-mixed"}),
    ("", {"configs": CONFIGS, "default": "mig-mixed"}),  # unset: the device_plugin role, site.yml's default
    ("none", {"configs": CONFIGS, "default": "mig-mixed"}),
    ("gpu_operator", {"configs": OPERATOR_CONFIGS, "default": "whole"}),
])
def test_sharing_configs_in_use_follow_the_cluster_mode(mode, expected):
    assert filters.sharing_configs_in_use(mode, CONFIGS, "mig-mixed", OPERATOR_CONFIGS, "whole") == expected


def test_sharing_configs_in_use_refuse_an_unknown_mode_and_bad_configs():
    with pytest.raises(AnsibleFilterError, match="gpu_slicing_cluster_mode must be one of"):
        filters.sharing_configs_in_use("operator", CONFIGS, "mig-mixed")
    with pytest.raises(AnsibleFilterError, match="must be a mapping"):
        filters.sharing_configs_in_use("gpu_operator", CONFIGS, "mig-mixed", ["l4-mps"], "whole")


def test_report_reads_the_gpu_operator_configs_in_gpu_operator_mode():
    """The Shared GPUs table of a GPU Operator cluster: the node's label names one of the gpu_operator role's configs,
    which the device_plugin role's configs do not have."""
    node = _node("g6-mps", "g6.12xlarge", {"nvidia.com/gpu": "16"}, "l4-mps")
    picked = filters.sharing_configs_in_use("gpu_operator", CONFIGS, "mig-mixed", OPERATOR_CONFIGS, "whole")
    row, = filters.sharing_report([node], picked["configs"], picked["default"])
    assert (row["config"], row["mode"], row["replicas"], row["error"], row["drift"]) == ("l4-mps", "mps", 4, "", [])
    assert row["expected"] == {"nvidia.com/gpu": 16}  # 4 L4 x 4 MPS replicas
    picked = filters.sharing_configs_in_use("device_plugin", CONFIGS, "mig-mixed", OPERATOR_CONFIGS, "whole")
    row, = filters.sharing_report([node], picked["configs"], picked["default"])
    assert "which the config map does not have" in row["error"]
