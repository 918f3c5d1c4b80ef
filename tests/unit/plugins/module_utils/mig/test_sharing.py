# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sharing capacity against the NVIDIA device plugin's documented examples and rules (README "Shared Access to GPUs").

Expected numbers are worked out by hand from the README:
- 8 GPUs x 10 replicas of nvidia.com/gpu -> "nvidia.com/gpu: 80"; with renameByDefault -> "nvidia.com/gpu.shared: 80"
  instead of 8 nvidia.com/gpu (time-slicing and MPS alike).
- g5.12xlarge has 4 A10G -> 4 x 10 = 40 shared GPUs (the issue's Karpenter scenario).
- all-1g.10gb on p5.48xlarge (8 H100, 7 x 1g.10gb each, mixed) -> 56 mig-1g.10gb; x 4 replicas -> 224.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.sharing import SharingError

G = "nvidia.com/gpu"
TS10 = {"mode": "time-slicing", "replicas": 10}


def test_readme_example_time_slicing_8_gpus():
    assert dict(sharing.shared_capacity({G: 8}, TS10)) == {G: 80}


def test_readme_example_rename_by_default_advertises_instead():
    out = sharing.shared_capacity({G: 8}, dict(TS10, rename_by_default=True))
    assert dict(out) == {G: 0, G + ".shared": 80}


def test_readme_example_mps_same_counts():
    assert dict(sharing.shared_capacity({G: 8}, {"mode": "mps", "replicas": 10})) == {G: 80}
    out = sharing.shared_capacity({G: 8}, {"mode": "mps", "replicas": 10, "rename_by_default": True})
    assert dict(out) == {G: 0, G + ".shared": 80}


def test_g5_12xlarge_four_gpus_ten_replicas():
    out = sharing.node_capacity("g5.12xlarge", dict(TS10, rename_by_default=True))
    assert dict(out) == {G: 0, G + ".shared": 40}
    assert dict(sharing.node_capacity("g5.12xlarge", TS10)) == {G: 40}
    assert dict(sharing.node_capacity("g5.12xlarge", None)) == {G: 4}


@pytest.mark.parametrize("instance_type, gpus", [("g4dn.xlarge", 1), ("g6.12xlarge", 4), ("g6e.48xlarge", 8)])
def test_non_mig_types_whole_gpus(instance_type, gpus):
    assert dict(sharing.node_capacity(instance_type, {"mode": "time-slicing", "replicas": 3})) == {G: 3 * gpus}


def test_time_slicing_mig_devices_mixed():
    out = sharing.node_capacity("p5.48xlarge", {"mode": "time-slicing", "replicas": 4}, config="all-1g.10gb")
    assert dict(out) == {G: 0, "nvidia.com/mig-1g.10gb": 224}


def test_time_slicing_only_listed_mig_resource():
    spec = {"mode": "time-slicing", "replicas": 2, "rename_by_default": True, "resources": ["nvidia.com/mig-1g.10gb"]}
    out = sharing.node_capacity("p5.48xlarge", spec, config="all-balanced")
    # all-balanced on H100: 2x1g.10gb + 1x2g.20gb + 1x3g.40gb per GPU -> 16 / 8 / 8
    assert dict(out) == {G: 0, "nvidia.com/mig-1g.10gb": 0, "nvidia.com/mig-1g.10gb.shared": 32,
                         "nvidia.com/mig-2g.20gb": 8, "nvidia.com/mig-3g.40gb": 8}


def test_time_slicing_single_strategy_replicates_gpu():
    out = sharing.node_capacity("p5.48xlarge", {"mode": "time-slicing", "replicas": 2}, config="all-1g.10gb",
                                strategy="single")
    assert dict(out) == {G: 112}


def test_mps_refused_on_mig():
    with pytest.raises(SharingError, match="MIG enabled"):
        sharing.node_capacity("p5.48xlarge", {"mode": "mps", "replicas": 2}, config="all-1g.10gb", strategy="single")
    with pytest.raises(SharingError, match="MIG enabled"):
        sharing.node_capacity("p5.48xlarge", {"mode": "mps", "replicas": 2}, config="all-1g.10gb")
    with pytest.raises(SharingError, match="MIG enabled"):
        sharing.shared_capacity({G: 0, "nvidia.com/mig-1g.10gb": 7}, {"mode": "mps", "replicas": 2})


def test_mps_refused_with_mixed_strategy_flag():
    with pytest.raises(SharingError, match="mixed is not supported with MPS"):
        sharing.plugin_config({"mode": "mps", "replicas": 2}, mig_strategy="mixed")


def test_mps_only_gpu_resource():
    with pytest.raises(SharingError, match="only nvidia.com/gpu on full GPUs"):
        sharing.parse({"mode": "mps", "replicas": 2, "resources": ["nvidia.com/mig-1g.10gb"]})


@pytest.mark.parametrize("replicas", [0, 1, -3])
def test_replicas_below_two_refused(replicas):
    with pytest.raises(SharingError, match="at least 2"):
        sharing.parse({"mode": "time-slicing", "replicas": replicas})


@pytest.mark.parametrize("spec, match", [
    ("time-slicing", "must be a dictionary"),
    ({"mode": "vgpu", "replicas": 2}, "mode must be one of"),
    ({"mode": "mps", "replicas": True}, "whole number"),
    ({"mode": "mps", "replicas": 2.5}, "whole number"),
    ({"mode": "mps", "replicas": 2, "renames": True}, "unknown key"),
    ({"mode": "mps", "replicas": 2, "rename_by_default": "yes"}, "true or false"),
    ({"mode": "time-slicing", "replicas": 2, "resources": []}, "non-empty list"),
    ({"mode": "time-slicing", "replicas": 2, "resources": ["amd.com/gpu"]}, "cannot be shared"),
    ({"mode": "time-slicing", "replicas": 2, "resources": ["gpu", "nvidia.com/gpu"]}, "more than once"),
])
def test_bad_input(spec, match):
    with pytest.raises(SharingError, match=match):
        sharing.parse(spec)


def test_unprefixed_name_gets_nvidia_prefix():
    assert sharing.parse({"mode": "time-slicing", "replicas": 2, "resources": ["gpu"]}).resources == (G,)


def test_listed_resource_the_node_lacks_is_refused():
    with pytest.raises(SharingError, match="advertises no nvidia.com/mig-1g.10gb"):
        sharing.node_capacity("g5.xlarge", {"mode": "time-slicing", "replicas": 2, "resources": ["nvidia.com/mig-1g.10gb"]})


def test_unknown_instance_type():
    with pytest.raises(SharingError, match="unknown GPU instance type"):
        sharing.node_capacity("m5.large", TS10)


def test_plugin_config_time_slicing():
    cfg = sharing.plugin_config(dict(TS10, rename_by_default=True, fail_requests_greater_than_one=True))
    assert cfg == {"version": "v1", "flags": {"migStrategy": "none"},
                   "sharing": {"timeSlicing": {"renameByDefault": True, "failRequestsGreaterThanOne": True,
                                               "resources": [{"name": G, "replicas": 10}]}}}


def test_plugin_config_mixed_needs_mig_names_for_mig():
    cfg = sharing.plugin_config({"mode": "time-slicing", "replicas": 3}, mig_strategy="mixed",
                                resources=[G, "nvidia.com/mig-1g.10gb"])
    assert [r["name"] for r in cfg["sharing"]["timeSlicing"]["resources"]] == [G, "nvidia.com/mig-1g.10gb"]
    with pytest.raises(SharingError, match="only under the mixed MIG strategy"):
        sharing.plugin_config({"mode": "time-slicing", "replicas": 3, "resources": ["nvidia.com/mig-1g.10gb"]},
                              mig_strategy="single")


def test_plugin_config_mps_needs_cdi():
    cfg = sharing.plugin_config({"mode": "mps", "replicas": 4})
    assert cfg["flags"] == {"migStrategy": "none", "plugin": {"deviceListStrategy": "cdi-cri"}}
    assert cfg["sharing"] == {"mps": {"renameByDefault": False, "failRequestsGreaterThanOne": False,
                                      "resources": [{"name": G, "replicas": 4}]}}
    with pytest.raises(SharingError, match="CDI"):
        sharing.plugin_config({"mode": "mps", "replicas": 4}, device_list_strategy="envvar")


def test_plugin_config_without_sharing():
    assert sharing.plugin_config(None, mig_strategy="mixed") == {"version": "v1", "flags": {"migStrategy": "mixed"}}


def test_to_dict_round_trip():
    spec = {"mode": "time-slicing", "replicas": 4, "rename_by_default": True, "fail_requests_greater_than_one": False,
            "resources": [G]}
    assert sharing.to_dict(spec) == spec
    assert sharing.to_dict(None) is None


def test_isolation_lines():
    assert "hardware" in sharing.isolation("mig")
    assert "no isolation" in sharing.isolation("time-slicing")
    assert "fault domain" in sharing.isolation("mps")
    with pytest.raises(SharingError):
        sharing.isolation("vgpu")
