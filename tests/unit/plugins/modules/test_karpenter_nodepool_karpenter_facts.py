# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""karpenter_nodepool parts that follow from what real Karpenter does (tests/integration/targets/karpenter_kwok):
a node class of another provider, NodePool limits under NodeOverlays, Karpenter's verdict on an overlay."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _karpenter as karpenter
from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import Tripwire, run_module, write_kubeconfig

KWOK = {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"}
BASE = dict(name="gpu-mig", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", mig_strategy="mixed", node_overlay=True,
            node_class=KWOK)


@pytest.fixture
def tripwire(tmp_path):
    wire = Tripwire()
    yield wire, write_kubeconfig(str(tmp_path / "kubeconfig"), wire.url)
    wire.close()


# -------------------------------------------------------------------------------- node class of another provider

def test_node_class_of_another_provider_is_referenced_not_managed():
    objects, _types, _capacity = karpenter_nodepool.desired_objects(dict(BASE, limits=None, spec=None))
    assert objects["nodepool"]["spec"]["template"]["spec"]["nodeClassRef"] == KWOK
    assert objects["ec2nodeclass"] is None


@pytest.mark.parametrize("node_class, ref", [
    ("gpu", {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"}),
    ({"name": "gpu", "group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "role": "R"},
     {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"}),
    (KWOK, KWOK),
])
def test_node_class_reference(node_class, ref):
    assert karpenter_nodepool.normalize_node_class(node_class)[0] == ref
    assert karpenter.build_nodepool({"name": "p", "instance_types": ["p5.48xlarge"]}, node_class if isinstance(node_class, str) else ref)[
        "spec"]["template"]["spec"]["nodeClassRef"] == ref


@pytest.mark.parametrize("args, expected", [
    (dict(BASE, node_class=dict(KWOK, role="KarpenterNodeRole")), ["karpenter.kwok.sh/KWOKNodeClass", "only references", "role"]),
    (dict(BASE, limits={"nvidia.com/gpu": "8k"}), ["limits['nvidia.com/gpu']", "whole number of GPUs"]),
    (dict(BASE, instance_types=["p4d.24xlarge", "p4de.24xlarge"], mig_config="all-balanced", limits={"nvidia.com/gpu": 16}),
     ["limits['nvidia.com/gpu']", "cannot bind", "p4d.24xlarge and p4de.24xlarge offer different resources per GPU"]),
], ids=["foreign-node-class-with-ec2-keys", "gpu-limit-not-whole", "gpu-limit-heterogeneous-pool"])
def test_bad_input_rejected_before_any_api_call(tripwire, args, expected):
    wire, kubeconfig = tripwire
    result = run_module(dict(args, kubeconfig=kubeconfig))
    assert result.get("failed") is True, result
    assert "nothing was changed" in result["msg"]
    for text in expected:
        assert text in result["msg"], (text, result["msg"])
    assert not wire.touched()


# -------------------------------------------------------------------------------- limits under NodeOverlays

@pytest.mark.parametrize("strategy, mig_config, limits, expected", [
    # mixed: nvidia.com/gpu is 0 under the overlay; 8 GPUs' worth of slices instead
    ("mixed", "all-1g.10gb", {"nvidia.com/gpu": 8}, {"nvidia.com/mig-1g.10gb": 56}),
    ("mixed", "all-balanced", {"nvidia.com/gpu": "16", "cpu": "1000"},
     {"nvidia.com/mig-1g.10gb": 32, "nvidia.com/mig-2g.20gb": 16, "nvidia.com/mig-3g.40gb": 16, "cpu": "1000"}),
    # single: the overlay says nvidia.com/gpu 56 per node, so 16 GPUs are 112 of them (16 would stop the first node)
    ("single", "all-1g.10gb", {"nvidia.com/gpu": 16}, {"nvidia.com/gpu": 112}),
    # an explicit limit on a MIG resource is kept
    ("mixed", "all-1g.10gb", {"nvidia.com/gpu": 8, "nvidia.com/mig-1g.10gb": 20}, {"nvidia.com/mig-1g.10gb": 20}),
])
def test_gpu_limit_counts_physical_gpus(strategy, mig_config, limits, expected):
    params = dict(BASE, instance_types=["p5.48xlarge", "p5.4xlarge"], mig_config=mig_config, mig_strategy=strategy,
                  limits=limits, spec=None)
    objects, _types, _capacity = karpenter_nodepool.desired_objects(params)
    assert objects["nodepool"]["spec"]["limits"] == expected
    assert len(objects["warnings"]) == 1 and "physical GPUs" in objects["warnings"][0]


def test_gpu_limit_untouched_without_overlay_and_raw_spec_warned():
    plain = dict(BASE, node_overlay=False, limits={"nvidia.com/gpu": 8}, spec=None)
    objects, _types, _capacity = karpenter_nodepool.desired_objects(plain)
    assert objects["nodepool"]["spec"]["limits"] == {"nvidia.com/gpu": 8} and objects["warnings"] == []
    raw = dict(BASE, limits=None, spec={"limits": {"nvidia.com/gpu": 8}})
    objects, _types, _capacity = karpenter_nodepool.desired_objects(raw)
    assert objects["nodepool"]["spec"]["limits"] == {"nvidia.com/gpu": 8}
    assert "does not limit physical GPUs" in objects["warnings"][0] and "0 on p5.48xlarge" in objects["warnings"][0]


@pytest.mark.parametrize("spec, warned", [(None, True), ({"replicas": 2}, False)])
def test_nodes_limit_warned_for_dynamic_pools(spec, warned):
    objects, _types, _capacity = karpenter_nodepool.desired_objects(dict(BASE, node_overlay=False, limits={"nodes": 2}, spec=spec))
    assert objects["nodepool"]["spec"]["limits"] == {"nodes": 2}
    assert (karpenter.NODES_LIMIT_WARNING in objects["warnings"]) is warned


# -------------------------------------------------------------------------------- Karpenter's verdict on an overlay

def _overlay(generation, *conditions):
    return {"metadata": {"name": "o", "generation": generation}, "status": {"conditions": list(conditions)}}


@pytest.mark.parametrize("overlay, verdict", [
    ({"metadata": {"name": "o", "generation": 1}}, None),
    (_overlay(2, {"type": "ValidationSucceeded", "status": "True", "reason": "ValidationSucceeded", "observedGeneration": 1}), None),
    (_overlay(2, {"type": "ValidationSucceeded", "status": "True", "reason": "ValidationSucceeded", "observedGeneration": 2}),
     (True, "ValidationSucceeded", None)),
    (_overlay(1, {"type": "Ready", "status": "True"},
              {"type": "ValidationSucceeded", "status": "False", "reason": "Conflict", "message": "conflict with another overlay",
               "observedGeneration": 1}),
     (False, "Conflict", "conflict with another overlay")),
])
def test_overlay_verdict(overlay, verdict):
    assert karpenter.overlay_verdict(overlay) == verdict
