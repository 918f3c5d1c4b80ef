# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mig_plan's nodepools[].settings go into karpenter_nodepool as they are (real kube-apiserver, dry run): the NodePool
each node kind gets is capped at exactly the plan's capacity of that kind, in the resources its NodeOverlay sets
(what Karpenter compares limits with). Karpenter buying exactly that is shown in the karpenter_kwok target."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sizing  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import control_plane  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import run_module  # noqa: E402


@pytest.fixture(scope="module")
def kube():
    with control_plane.cluster() as running:
        yield running


def _apply(kube, settings):
    args = dict(settings, kubeconfig=kube.kubeconfig, node_class="default")
    return run_module(args, check_mode=True)  # dry run: the API server admits, stores nothing (no lock needed)


@pytest.mark.parametrize("demand, strategy, expected", [
    # two node kinds on p5.48xlarge (one uniform: mig_layout; one mixed: mig_parted_config)
    ({"4g.40gb": 11, "7g.80gb": 4}, "mixed",
     [{"nvidia.com/mig-4g.40gb": 8}, {"nvidia.com/mig-4g.40gb": 3, "nvidia.com/mig-7g.80gb": 5}]),
    # single strategy: the overlay's nvidia.com/gpu counts slices; 2 nodes x 8 GPUs x 2 x 3g.40gb
    ({"3g.40gb": 30}, "single", [{"nvidia.com/gpu": 32}]),
])
def test_plan_settings_make_nodepools_capped_at_the_plan(kube, demand, strategy, expected, capsys):
    plan = sizing.size_fleet(demand, candidates=["p5.48xlarge"], strategy=strategy, name="capped", pool_weight=30)
    results = [_apply(kube, entry["settings"]) for entry in plan["nodepools"]]
    assert not any(r.get("failed") for r in results), results
    assert [r["nodepool"]["spec"]["limits"] for r in results] == expected
    assert [r["nodepool"]["spec"]["weight"] for r in results] == [30] * len(results)
    for entry, result in zip(plan["nodepools"], results):
        overlay = result["nodeoverlays"][0]["spec"]["capacity"]
        assert dict((k, int(v)) for k, v in overlay.items()) == entry["capacity"]
        limits = result["nodepool"]["spec"]["limits"]
        # the cap is the node kind's planned nodes times what its overlay gives one node
        assert limits == dict((r, n * entry["nodes"]) for r, n in entry["capacity"].items() if n)
    if strategy == "single":  # the plan's nvidia.com/gpu (physical GPUs) was translated, and the module says so
        # (in the result's warnings, or shown at once when this pytest process has loaded controller code)
        shown = " ".join(results[0]["warnings"]) + capsys.readouterr().err
        assert "nvidia.com/gpu 16 (physical GPUs) is set as nvidia.com/gpu: 32" in shown, shown


def test_opted_out_plan_gives_uncapped_pools(kube):
    plan = sizing.size_fleet({"4g.40gb": 11, "7g.80gb": 4}, candidates=["p5.48xlarge"], pool_limits=False)
    for entry in plan["nodepools"]:
        result = _apply(kube, entry["settings"])
        assert not result.get("failed"), result
        assert "limits" not in result["nodepool"]["spec"] and "weight" not in result["nodepool"]["spec"]
