# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""karpenter_nodepool with ``sharing`` and ``device_plugin_config``: the objects it builds (no API server), and bad
input refused before any API call (a tripwire socket proves no connection was opened).

Expected numbers by hand: g5.12xlarge = 4 A10G, 10 replicas -> 40; g6.xlarge = 1 L4, 4 replicas -> 4;
p5.48xlarge all-1g.10gb (56 slices) x 2 replicas -> 112.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import (
    Tripwire, run_module, write_kubeconfig)

LABEL = "nvidia.com/device-plugin.config"


def params(**args):
    base = dict(name="shared", node_class="default")
    base.update(args)
    result = ArgumentSpecValidator(karpenter_nodepool.argument_spec()).validate(base)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def test_g5_pool_overlay_renamed_shared_gpus_and_label():
    p = params(instance_types=["g5.12xlarge", "g6.xlarge"], node_overlay=True, device_plugin_config="ts-10",
               sharing=dict(mode="time-slicing", replicas=10, rename_by_default=True))
    objects, types, cap = karpenter_nodepool.desired_objects(p)
    assert cap == {"g5.12xlarge": {"nvidia.com/gpu": 0, "nvidia.com/gpu.shared": 40},
                   "g6.xlarge": {"nvidia.com/gpu": 0, "nvidia.com/gpu.shared": 10}}
    overlays = dict((o["spec"]["requirements"][1]["values"][0], o["spec"]["capacity"]) for o in objects["nodeoverlays"])
    assert overlays["g5.12xlarge"] == {"nvidia.com/gpu": "0", "nvidia.com/gpu.shared": "40"}
    assert objects["nodepool"]["spec"]["template"]["metadata"]["labels"][LABEL] == "ts-10"
    assert not objects["warnings"]


def test_sharing_on_mig_slices_single_strategy():
    p = params(instance_types=["p5.48xlarge"], node_overlay=True, mig_config="all-1g.10gb", mig_strategy="single",
               device_plugin_config="mig-ts", sharing=dict(mode="time-slicing", replicas=2))
    _objects, _types, cap = karpenter_nodepool.desired_objects(p)
    assert cap == {"p5.48xlarge": {"nvidia.com/gpu": 112}}


def test_sharing_without_device_plugin_config_warns():
    p = params(instance_types=["g5.xlarge"], node_overlay=True, sharing=dict(mode="time-slicing", replicas=4))
    objects, _types, cap = karpenter_nodepool.desired_objects(p)
    assert cap == {"g5.xlarge": {"nvidia.com/gpu": 4}}
    assert any("without device_plugin_config" in w for w in objects["warnings"])


def test_gpu_limit_translated_for_shared_overlay():
    p = params(instance_types=["g5.12xlarge"], node_overlay=True, device_plugin_config="ts",
               sharing=dict(mode="time-slicing", replicas=10, rename_by_default=True), limits={"nvidia.com/gpu": "8"})
    objects, _types, _cap = karpenter_nodepool.desired_objects(p)
    assert objects["nodepool"]["spec"]["limits"] == {"nvidia.com/gpu.shared": 80}


def test_bottlerocket_user_data_renders_time_slicing():
    node_class = dict(name="br", role="r", ami_alias="bottlerocket@latest", subnet_selector_terms=[{"tags": {"a": "b"}}],
                      security_group_selector_terms=[{"tags": {"a": "b"}}])
    p = params(instance_types=["g5.12xlarge"], sharing=dict(mode="time-slicing", replicas=10, rename_by_default=True),
               mig_user_data=True, node_class=node_class)
    objects, _types, _cap = karpenter_nodepool.desired_objects(p)
    text = objects["ec2nodeclass"]["spec"]["userData"]
    assert 'device-sharing-strategy = "time-slicing"' in text
    assert "[settings.kubelet-device-plugins.nvidia.time-slicing]\nreplicas = 10\nrename-by-default = true\n" in text
    assert "device-partitioning-strategy" not in text
    assert not objects["warnings"]  # Bottlerocket's own device plugin gets the sharing from the settings


BAD = [
    ("mps-on-mig", dict(instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", mig_strategy="single",
                        sharing=dict(mode="mps", replicas=2)), ["MIG enabled"]),
    ("one-replica", dict(instance_types=["g5.xlarge"], sharing=dict(mode="time-slicing", replicas=1)), ["at least 2"]),
    ("mig-resource-on-g5", dict(instance_types=["g5.xlarge"], sharing=dict(
        mode="time-slicing", replicas=2, resources=["nvidia.com/mig-1g.10gb"])), ["advertises no nvidia.com/mig-1g.10gb"]),
    ("unknown-type", dict(instance_types=["m5.large"], node_overlay=True, sharing=dict(mode="time-slicing", replicas=2)),
     ["unknown GPU instance type"]),
    ("label-clash", dict(instance_types=["g5.xlarge"], device_plugin_config="a", labels={LABEL: "b"},
                         sharing=dict(mode="time-slicing", replicas=2)), ["drop it from labels"]),
    ("overlay-without-source", dict(instance_types=["g5.xlarge"], node_overlay=True), ["mig_config, mig_layout or sharing"]),
    ("al2023-sharing-user-data", dict(instance_types=["g5.xlarge"], sharing=dict(mode="time-slicing", replicas=2),
                                      mig_user_data=True, node_class=dict(
                                          name="al", role="r", subnet_selector_terms=[{"tags": {"a": "b"}}],
                                          security_group_selector_terms=[{"tags": {"a": "b"}}])),
     ["AL2023 user data does not configure the device plugin"]),
    ("bottlerocket-mps-fail-gt-one", dict(instance_types=["g5.xlarge"], mig_user_data=True, sharing=dict(
        mode="mps", replicas=2, fail_requests_greater_than_one=True), node_class=dict(
            name="br", role="r", ami_alias="bottlerocket@latest", subnet_selector_terms=[{"tags": {"a": "b"}}],
            security_group_selector_terms=[{"tags": {"a": "b"}}])), ["fail_requests_greater_than_one with MPS"]),
]


@pytest.mark.parametrize("args,expected", [pytest.param(a, e, id=i) for i, a, e in BAD])
def test_bad_sharing_input_refused_before_any_api_call(tmp_path, args, expected):
    wire = Tripwire()
    try:
        kubeconfig = write_kubeconfig(str(tmp_path / "kubeconfig"), wire.url)
        result = run_module(dict(dict(name="shared", node_class="default"), kubeconfig=kubeconfig, **args))
        assert result.get("failed") is True, result
        for text in expected:
            assert text in result["msg"], (text, result["msg"])
        assert "nothing was changed" in result["msg"]
        assert not wire.touched()
    finally:
        wire.close()
