# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet sizing (the mig_plan engine: sizing, sizing_solver, sizing_demand) against things written independently here.

- Layouts: enumerated here by brute force over all count vectors, each checked with E's exact
  ``placement.find_layout`` (not with the planner's own enumeration).
- Small demands: an exhaustive DP over ALL valid layouts (no bounds, no maximality) gives the true
  minimum; the planner must match it, with and without its LP bound.
- Larger demands: the planner's optimality certificate is re-checked against every valid layout, and
  the GPU count is compared with simple bounds (compute slices / 7, memory slots / 8, per-GPU maxima).
- Hypothesis: every plan's layouts are placeable, cover the demand, and its config reproduces the
  NodeOverlay capacity through capacity.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import itertools
import random

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _karpenter
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity, catalog, configs, placement, sizing, sizing_solver
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.sizing import SizingError
from ansible_collections.gpu_slicing.eks.tests.support.mig_brute_force import brute_min_gpus, brute_valid, certificate_bound

MODELS = ["h100-80gb", "a100-40gb", "a30-24gb", "h200-141gb"]


def project(model_key, names):
    """Valid layouts restricted to ``names`` (from the brute-force enumeration)."""
    all_names, valid = brute_valid(model_key)
    idx = [all_names.index(n) for n in names]
    return set(tuple(v[i] for i in idx) for v in valid if all(v[j] == 0 for j in range(len(all_names)) if j not in idx))


@pytest.mark.parametrize("model_key", MODELS)
def test_enumeration_matches_brute_force_placement(model_key):
    model = catalog.gpu_model(model_key)
    names = [p.name for p in model.profiles]
    assert sizing_solver.valid_layouts(model, names) == set(brute_valid(model_key)[1])
    maximal = sizing_solver.maximal_layouts(model, names)
    for vec in maximal:
        for name in names:
            grown = dict((n, c) for n, c in zip(names, vec) if c)
            grown[name] = grown.get(name, 0) + 1
            assert placement.find_layout(grown, model.profiles, model.memory_slots) is None, (vec, name)


def test_enumeration_of_a_subset_matches_projection():
    model = catalog.gpu_model("h100-80gb")
    names = ["1g.10gb", "2g.20gb", "3g.40gb"]
    assert sizing_solver.valid_layouts(model, names) == project("h100-80gb", names)
    # hand check: the maximal 1g/2g/3g layouts of an 8-slot GPU (3g sits on a half, 2g never starts at 6)
    assert sorted(sizing_solver.maximal_layouts(model, names)) == sorted([
        (7, 0, 0), (5, 1, 0), (3, 2, 0), (1, 3, 0), (4, 0, 1), (2, 1, 1), (0, 2, 1), (0, 0, 2)])


def _random_demands(model_key, count, seed, high=3):
    rng = random.Random(seed)
    names = brute_valid(model_key)[0]
    out = []
    while len(out) < count:
        demand = dict((n, rng.randint(1, high)) for n in names if rng.random() < 0.45)
        if demand:
            out.append(demand)
    return out


@pytest.mark.parametrize("model_key,seed", [("h100-80gb", 1), ("a100-40gb", 2), ("a30-24gb", 3), ("h200-141gb", 4)])
def test_small_demands_match_brute_force(model_key, seed):
    model = catalog.gpu_model(model_key)
    for demand in _random_demands(model_key, 60, seed):
        names = [p.name for p in model.profiles if p.name in demand]
        vec = tuple(demand[n] for n in names)
        layouts = sizing_solver.maximal_layouts(model, names)
        cuts = sizing_solver.basic_cuts(model, names, layouts)
        expected = brute_min_gpus(model_key, demand)
        with_lp = sizing_solver.min_gpu_cover(vec, layouts, cuts)
        without_lp = sizing_solver.min_gpu_cover(vec, layouts, cuts, use_lp=False)
        assert with_lp.gpus == expected, demand
        assert without_lp.gpus == expected, demand
        for cover in (with_lp, without_lp):
            _assert_valid_cover(model, names, vec, cover.layouts)


def test_branch_and_bound_proves_gaps_by_search():
    """Without the LP bound some demands need more GPUs than the simple bounds say; the search must prove it."""
    model = catalog.gpu_model("h100-80gb")
    demand = {"1g.10gb+me": 6, "7g.80gb": 5}  # +me: one per GPU, 7g: a whole GPU -> 11, not 6
    names = ["1g.10gb+me", "7g.80gb"]
    layouts = sizing_solver.maximal_layouts(model, names)
    result = sizing_solver.min_gpu_cover((6, 5), layouts, sizing_solver.basic_cuts(model, names, layouts), use_lp=False)
    assert result.gpus == 11 == brute_min_gpus("h100-80gb", demand)
    assert result.proof == "exhaustive-search" and result.lower_bound < 11 and result.nodes > 0


def _assert_valid_cover(model, names, demand_vec, layouts):
    total = [0] * len(names)
    for vec in layouts:
        request = dict((n, c) for n, c in zip(names, vec) if c)
        assert placement.find_layout(request, model.profiles, model.memory_slots) is not None, request
        total = [t + c for t, c in zip(total, vec)]
    assert all(t >= d for t, d in zip(total, demand_vec)), (total, demand_vec)


def simple_lower_bound(model, demand):
    """Bounds written here: compute slices / 7, memory slots / 8, per-profile per-GPU maxima."""
    specs = dict((p.name, p) for p in model.profiles)
    slices = max(p.compute_slices for p in model.profiles)
    compute = sum(specs[n].compute_slices * c for n, c in demand.items())
    memory = sum(specs[n].size * c for n, c in demand.items())
    per_profile = max(-(-c // specs[n].max_count) for n, c in demand.items())
    return max(-(-compute // slices), -(-memory // model.memory_slots), per_profile)


LARGE = [
    {"1g.10gb": 100, "1g.20gb": 40, "2g.20gb": 30, "3g.40gb": 25, "4g.40gb": 5, "7g.80gb": 6, "1g.10gb+me": 8},
    {"1g.10gb": 300, "3g.40gb": 40},
    {"2g.20gb": 90, "1g.20gb": 33, "3g.40gb": 17},
    {"4g.40gb": 30, "3g.40gb": 30, "1g.10gb": 12},
    {"7g.80gb": 10, "1g.10gb": 200, "2g.20gb": 12},
    {"1g.10gb+me": 20, "2g.20gb": 60},
    {"1g.20gb": 101, "2g.20gb": 1, "1g.10gb": 3},
]


@pytest.mark.parametrize("demand", LARGE, ids=[str(i) for i in range(len(LARGE))])
def test_large_demands_certificate_checked_independently(demand):
    model = catalog.gpu_model("h100-80gb")
    result = sizing.size_fleet(demand, candidates=["p5.48xlarge"])
    bound = certificate_bound("h100-80gb", result["optimality"]["certificate"], demand)
    assert bound is not None, "the certificate is not dual feasible: a valid GPU layout weighs more than 1"
    assert result["optimality"]["proof"] == "lower-bound"
    assert result["gpus"] == bound
    assert result["gpus"] >= simple_lower_bound(model, demand)
    covered = dict((n, 0) for n in demand)
    for entry in result["gpu_layouts"]:
        for n, c in entry["layout"].items():
            covered[n] += c * entry["gpus"]
    assert all(covered[n] >= demand[n] for n in demand)
    assert sum(e["gpus"] for e in result["gpu_layouts"]) == result["gpus"]


HAND = [
    # (demand, candidates, strategy, expected GPUs, expected instances) -- worked out by hand:
    # 6x 3g need 6 halves; 38 compute slices / 7 -> at least 6 GPUs; 6x (4x 1g + 3g) fits.
    ({"1g.10gb": 20, "3g.40gb": 6}, ["p5.48xlarge"], "mixed", 6, {"p5.48xlarge": 1}),
    # 6 GPUs at 6.88 each on p5.4xlarge beat one p5.48xlarge at 55.04.
    ({"1g.10gb": 20, "3g.40gb": 6}, ["p5.48xlarge", "p5.4xlarge"], "mixed", 6, {"p5.4xlarge": 6}),
    # 8 GPUs: same price either way (8 x 6.88 = 55.04) and same GPUs -> fewer instances wins.
    ({"1g.10gb": 56}, ["p5.48xlarge", "p5.4xlarge"], "mixed", 8, {"p5.48xlarge": 1}),
    # 9 GPUs: 55.04 + 6.88 beats 2 x 55.04.
    ({"1g.10gb": 57}, ["p5.48xlarge", "p5.4xlarge"], "mixed", 9, {"p5.48xlarge": 1, "p5.4xlarge": 1}),
    # 2x 7g take two GPUs, 14x 1g two more.
    ({"7g.80gb": 2, "1g.10gb": 14}, ["p5.4xlarge"], "mixed", 4, {"p5.4xlarge": 4}),
    # at most three 2g per GPU
    ({"2g.20gb": 4}, ["p5.4xlarge"], "mixed", 2, {"p5.4xlarge": 2}),
    # one +me instance per GPU
    ({"1g.10gb+me": 3}, ["p5.4xlarge"], "mixed", 3, {"p5.4xlarge": 3}),
    # A100-40GB: 1g.10gb is the 2-slot 1g, 4 per GPU -> 5 need 2 GPUs (one p4d)
    ({"1g.10gb": 5}, ["p4d.24xlarge"], "mixed", 2, {"p4d.24xlarge": 1}),
    # single: ceil(9/7) + ceil(3/2) + 1 = 2 + 2 + 1 GPUs, each profile on its own 1-GPU nodes
    ({"1g.10gb": 9, "3g.40gb": 3, "7g.80gb": 1}, ["p5.4xlarge"], "single", 5, {"p5.4xlarge": 5}),
    # single on 8-GPU nodes: one node per profile
    ({"1g.10gb": 9, "3g.40gb": 3, "7g.80gb": 1}, ["p5.48xlarge"], "single", 5, {"p5.48xlarge": 3}),
    # H200 names on p5en
    ({"1g.18gb": 7, "nvidia.com/mig-3g.71gb": 2}, ["p5en.48xlarge"], "mixed", 2, {"p5en.48xlarge": 1}),
]


@pytest.mark.parametrize("demand,candidates,strategy,gpus,instances", HAND, ids=[str(i) for i in range(len(HAND))])
def test_hand_computed_plans(demand, candidates, strategy, gpus, instances):
    result = sizing.size_fleet(demand, candidates=candidates, strategy=strategy)
    assert result["gpus"] == gpus
    assert result["instances"] == instances
    prices = dict((t, catalog.INSTANCE_TYPES[t].price_usd_hour) for t in instances)
    assert result["hourly_cost"] == pytest.approx(sum(prices[t] * n for t, n in instances.items()))


def test_cost_objective_can_prefer_more_gpus():
    demand = {"1g.10gb": 8}
    # H100: 2 GPUs; A100-40GB: 1g.10gb is 4 per GPU -> also 2 GPUs, but p4d (8 GPUs) is cheaper than p5.48xlarge
    by_gpus = sizing.size_fleet(demand, candidates=["p5.48xlarge", "p4d.24xlarge"])
    assert by_gpus["gpus"] == 2 and by_gpus["gpu_model"] == "a100-40gb"
    # price p4d high: same GPU count, cheaper p5 wins
    pricey = sizing.size_fleet(demand, candidates={"p5.48xlarge": None, "p4d.24xlarge": 99.0})
    assert pricey["gpu_model"] == "h100-80gb"
    # cost objective: a 3-GPU model that is cheaper wins only with objective=cost
    demand = {"1g.10gb": 12}  # H100: 2 GPUs; A100-40GB: 3 GPUs
    assert sizing.size_fleet(demand, candidates=["p5.48xlarge", "p4d.24xlarge"])["gpu_model"] == "h100-80gb"
    cheapest = sizing.size_fleet(demand, candidates=["p5.48xlarge", "p4d.24xlarge"], objective="cost")
    assert cheapest["gpu_model"] == "a100-40gb" and cheapest["gpus"] == 3


def test_cheapest_instances_against_enumeration():
    types = [("big", 8, 50.0), ("small", 1, 7.0), ("mid", 4, 26.0)]
    for gpus in range(1, 30):
        best = None
        for a, b, c in itertools.product(range(5), range(30), range(9)):
            if a * 8 + b + c * 4 < gpus:
                continue
            key = (round(a * 50.0 + b * 7.0 + c * 26.0, 6), a * 8 + b + c * 4, a + b + c)
            best = key if best is None or key < best else best
        choice = sizing_solver.cheapest_instances(gpus, types)
        assert (choice.hourly_cost, choice.provisioned_gpus, sum(choice.counts.values())) == best, gpus


def test_unpriced_types_are_used_only_without_priced_ones():
    choice = sizing_solver.cheapest_instances(3, [("p5e.48xlarge", 8, None), ("p5en.48xlarge", 8, 63.296)])
    assert dict(choice.counts) == {"p5en.48xlarge": 1} and choice.hourly_cost == 63.296
    only = sizing_solver.cheapest_instances(3, [("p5e.48xlarge", 8, None)])
    assert dict(only.counts) == {"p5e.48xlarge": 1} and only.hourly_cost is None
    result = sizing.size_fleet({"1g.18gb": 3}, candidates=["p5e.48xlarge"])
    assert result["hourly_cost"] is None and result["instances"] == {"p5e.48xlarge": 1}


def test_headroom_rounds_up_per_profile():
    result = sizing.size_fleet({"1g.10gb": 10, "3g.40gb": 1}, candidates=["p5.4xlarge"], headroom=25)
    assert result["demand_with_headroom"] == {"1g.10gb": 13, "3g.40gb": 2}  # ceil(12.5), ceil(1.25)
    assert result["demand"] == {"1g.10gb": 10, "3g.40gb": 1}
    assert result["headroom_percent"] == 25.0


def test_plan_outputs_are_consistent_with_capacity_and_configs():
    result = sizing.size_fleet({"1g.10gb": 19, "2g.20gb": 5, "3g.40gb": 3, "7g.80gb": 1}, candidates=["p5.48xlarge"])
    _check_plan(result)


def _check_plan(result):
    model = catalog.gpu_model(result["gpu_model"])
    parsed = configs.parse_config(result["mig_config"])
    assert list(parsed) == [n["name"] for n in result["nodes"]]
    provisioned = 0
    capacity_by_profile = dict((n, 0) for n in result["demand"])
    for node in result["nodes"]:
        size = catalog.instance_type(node["instance_type"]).gpu_count
        assert len(node["gpu_layouts"]) == size
        provisioned += size * node["count"]
        for layout in node["gpu_layouts"]:
            assert placement.find_layout(layout, model.profiles, model.memory_slots) is not None
            for n, c in layout.items():
                capacity_by_profile[n] += c * node["count"]
        # the node's mig-parted label, read back by capacity.py, gives the same NodeOverlay capacity
        assert capacity.mig_resources(node["instance_type"], config=result["mig_config"], config_label=node["name"],
                                      strategy=result["strategy"]) == node["capacity"]
    assert provisioned == result["provisioned_gpus"] == result["gpus"] + result["spare_gpus"]
    for n, need in result["demand_with_headroom"].items():
        assert capacity_by_profile[n] >= need
        assert result["utilisation"]["by_profile"][n]["capacity"] == capacity_by_profile[n]
    counts = {}
    for node in result["nodes"]:
        counts[node["instance_type"]] = counts.get(node["instance_type"], 0) + node["count"]
    assert counts == result["instances"]
    for pool in result["nodepools"]:
        settings = pool["settings"]
        assert set(settings) <= {"name", "instance_types", "mig_config", "mig_strategy", "node_overlay", "mig_layout",
                                 "mig_parted_config", "limits"}
        source = ({"layout": settings["mig_layout"]} if "mig_layout" in settings
                  else {"config": settings["mig_parted_config"], "config_label": settings["mig_config"]})
        assert capacity.mig_resources(settings["instance_types"][0], strategy=settings["mig_strategy"], **source) == \
            pool["capacity"]
        assert _binding_limits(settings, pool["capacity"]) == dict(
            (r, n * pool["nodes"]) for r, n in pool["capacity"].items() if n)


def _binding_limits(settings, node_capacity):
    """The limits the NodePool gets from karpenter_nodepool (a nvidia.com/gpu limit is translated there)."""
    limits = settings["limits"]
    if capacity.GPU_RESOURCE in limits:
        limits, _message = _karpenter.translate_gpu_limit(limits, {settings["instance_types"][0]: node_capacity})
    return limits


H100_NAMES = [p.name for p in catalog.gpu_model("h100-80gb").profiles]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(demand=st.dictionaries(st.sampled_from(H100_NAMES), st.integers(min_value=0, max_value=40), min_size=1),
       strategy=st.sampled_from(["mixed", "single"]),
       candidates=st.sampled_from([["p5.48xlarge"], ["p5.4xlarge"], ["p5.48xlarge", "p5.4xlarge"], ["h100-80gb"]]),
       headroom=st.sampled_from([0, 10, 33.3]))
@example(demand={"1g.10gb": 0, "1g.10gb+me": 1}, strategy="single", candidates=["p5.48xlarge"], headroom=0)  # was a KeyError
def test_property_plans_are_valid(demand, strategy, candidates, headroom):
    if not any(demand.values()):
        with pytest.raises(SizingError, match="demand is empty"):
            sizing.size_fleet(demand, candidates=candidates, strategy=strategy)
        return
    before = copy.deepcopy(demand)
    result = sizing.size_fleet(demand, candidates=candidates, strategy=strategy, headroom=headroom)
    assert demand == before
    _check_plan(result)
    wanted = dict((n, c) for n, c in demand.items() if c)
    if strategy == "mixed":
        assert result["gpus"] >= simple_lower_bound(catalog.gpu_model("h100-80gb"), wanted)


BAD = [
    ({"1g.5gb": 3}, {"candidates": ["p5.48xlarge"]}, "has no MIG profile '1g.5gb'; valid: 1g.10gb"),
    ({"1g.10gb": -1}, {}, "must not be negative"),
    ({"1g.10gb": 1.5}, {}, "must be a whole number"),
    ({"1g.10gb": "many"}, {}, "must be a whole number"),
    ({"1g.10gb": True}, {}, "must be a whole number"),
    ({}, {}, "demand is empty"),
    ({"1g.10gb": 0}, {}, "demand is empty"),
    ([], {}, "demand is empty"),
    ("1g.10gb", {}, "mapping profile -> count or a list"),
    ([{"name": "x", "resources": {"1g.10gb": 1, "3g.40gb": 1}}], {"strategy": "single"}, "single strategy: workload x"),
    ([{"profile": "1g.10gb", "resources": {"1g.10gb": 1}}], {}, "either profile"),
    ([{"profile": "1g.10gb", "replicas": -2}], {}, "replicas must not be negative"),
    ([{"profile": "1g.10gb", "gpu": 1}], {}, "unknown key"),
    (["1g.10gb"], {}, "must be a mapping"),
    ({"9g.99gb": 1}, {}, "no candidate GPU model offers every demanded profile"),
    ({"1g.10gb": 1}, {"candidates": ["g5.xlarge"]}, "do not support MIG"),
    ({"1g.10gb": 1}, {"candidates": ["p9.huge"]}, "unknown candidate 'p9.huge'"),
    ({"1g.10gb": 1}, {"candidates": {"p5.48xlarge": -3}}, "non-negative number"),
    ({"1g.10gb": 1}, {"candidates": {"p5.48xlarge": "cheap"}}, "non-negative number"),
    ({"1g.10gb": 1}, {"candidates": ["p5.48xlarge", "p5.48xlarge"]}, "listed twice"),
    ({"1g.10gb": 1}, {"candidates": [{"name": "h100-80gb", "price": 3}]}, "give prices per instance type"),
    ({"1g.10gb": 1}, {"candidates": []}, "candidates is empty"),
    ({"1g.10gb": 1}, {"strategy": "none"}, "strategy must be one of"),
    ({"1g.10gb": 1}, {"objective": "speed"}, "objective must be one of"),
    ({"1g.10gb": 1}, {"headroom": -5}, "headroom must be between"),
    ({"1g.10gb": 1}, {"name": "Bad_Name"}, "name must be"),
]


@pytest.mark.parametrize("demand,kwargs,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_is_a_clear_error(demand, kwargs, message):
    before = copy.deepcopy((demand, kwargs))
    with pytest.raises(SizingError, match=message):
        sizing.size_fleet(demand, **kwargs)
    assert (demand, kwargs) == before


def test_pool_limits_cap_each_node_kind_at_its_planned_capacity():
    plan = sizing.size_fleet({"4g.40gb": 11, "7g.80gb": 4}, candidates=["p5.48xlarge"])
    assert [(p["nodes"], p["settings"]["limits"]) for p in plan["nodepools"]] == [
        (1, {"nvidia.com/mig-4g.40gb": 8}), (1, {"nvidia.com/mig-4g.40gb": 3, "nvidia.com/mig-7g.80gb": 5})]
    assert "weight" not in plan["nodepools"][0]["settings"]
    # single strategy: physical GPUs, which karpenter_nodepool translates into the overlay's slices (8 GPUs x 2)
    single = sizing.size_fleet({"3g.40gb": 10}, candidates=["p5.48xlarge"], strategy="single")
    pool = single["nodepools"][0]
    assert pool["settings"]["limits"] == {"nvidia.com/gpu": 8} and pool["capacity"] == {"nvidia.com/gpu": 16}
    assert _binding_limits(pool["settings"], pool["capacity"]) == {"nvidia.com/gpu": 16}


def test_pool_limits_opt_out_and_pool_weight():
    plan = sizing.size_fleet({"4g.40gb": 11, "7g.80gb": 4}, candidates=["p5.48xlarge"], pool_limits=False, pool_weight=40)
    assert [sorted(p["settings"]) for p in plan["nodepools"]] == [
        ["instance_types", "mig_config", "mig_layout", "mig_strategy", "name", "node_overlay", "weight"],
        ["instance_types", "mig_config", "mig_parted_config", "mig_strategy", "name", "node_overlay", "weight"]]
    assert set(p["settings"]["weight"] for p in plan["nodepools"]) == {40}


@pytest.mark.parametrize("kwargs, message", [
    ({"pool_limits": "yes"}, "pool_limits must be true or false, got 'yes'"),
    ({"pool_weight": 0}, "pool_weight must be a whole number in 1..100 (Karpenter's NodePool weight), got 0"),
    ({"pool_weight": 101}, "got 101"),
    ({"pool_weight": True}, "got True"),
    ({"pool_weight": "10"}, "got '10'"),
])
def test_pool_options_bad_input(kwargs, message):
    with pytest.raises(SizingError) as info:
        sizing.size_fleet({"1g.10gb": 1}, **kwargs)
    assert message in str(info.value)


def test_workload_demand_aggregates_and_warns_for_multi_slice_pods():
    result = sizing.size_fleet([
        {"name": "llm", "replicas": 3, "profile": "3g.40gb"},
        {"name": "pair", "replicas": 2, "resources": {"1g.10gb": 2}},
        {"profile": "nvidia.com/mig-1g.10gb.me"},
    ], candidates=["p5.4xlarge"])
    assert result["demand"] == {"1g.10gb": 4, "1g.10gb+me": 1, "3g.40gb": 3}
    assert any("pair asks for 2 slices per pod" in w for w in result["warnings"])


def test_warns_when_no_node_can_hold_one_multi_slice_pod():
    # one pod wants 3x 3g.40gb: on 1-GPU p5.4xlarge nodes (two 3g each) it can never be scheduled
    result = sizing.size_fleet([{"name": "big", "resources": {"3g.40gb": 3}}], candidates=["p5.4xlarge"])
    assert any("no planned node holds all 3x 3g.40gb of one pod of workload big" in w for w in result["warnings"])
    # on a p5.48xlarge node (16 possible) it fits: no such warning
    result = sizing.size_fleet([{"name": "big", "resources": {"3g.40gb": 3}}], candidates=["p5.48xlarge"])
    assert not any("no planned node holds" in w for w in result["warnings"])


def test_prices_may_be_numeric_text():
    result = sizing.size_fleet({"1g.10gb": 7}, candidates={"p5.4xlarge": "5.5", "p5.48xlarge": None})
    assert result["instances"] == {"p5.4xlarge": 1} and result["hourly_cost"] == 5.5
