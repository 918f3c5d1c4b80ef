# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner: ordered actions, minimal diff (checked against brute force), busy checks, reboot logic, bad inputs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import itertools

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog, placement, planner
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.model import (
    ComputeInstance, Gpu, GpuInstance, Process, Profile)
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.planner import Desired, PlanError

MIG_MODELS = [m for m in catalog.GPU_MODELS.values() if m.mig_capable]


def profiles_of(model):
    """What -lgip/-lgipp would report for a catalog model."""
    return [Profile(p.name, p.typical_id, p.max_count, p.max_count, int(float(p.memory_gib) * 1024), p.sm, p.ce,
                    p.dec, p.enc, p.jpeg, p.ofa, p.starts, p.size) for p in model.profiles]


def make_gpu(model_key="h100-80gb", mode="Enabled", pending=None, layout=(), busy=(), gpu_pids=(), with_ci=True):
    """A Gpu with instances at explicit (name, start); ``busy`` = starts whose instance runs a process."""
    model = catalog.gpu_model(model_key)
    profs = profiles_of(model) if model.mig_capable else []
    by_name = dict((p.name, p) for p in profs)
    instances, processes = [], []
    for gi_id, (name, start) in enumerate(layout, 1):
        cis = [ComputeInstance(0, name)] if with_ci else []
        instances.append(GpuInstance(name, by_name[name].id, start, by_name[name].size, gi_id, cis))
        if start in busy:
            processes.append(Process(1000 + gi_id, 0, gi_id, 0, "python3"))
    processes.extend(Process(pid, 0, None, None, "python3") for pid in gpu_pids)
    return Gpu(0, "GPU-test", model.product_name, "00000000:00:06.0", model.pci_device_ids[0] if model.pci_device_ids else None,
               model.memory_mib, mode if model.mig_capable else None,
               (pending or mode) if model.mig_capable else None, profs, instances, processes, model.architecture)


def kinds(plan):
    return [a[0] for a in plan.actions]


# ------------------------------------------------------------------ ordered actions

def test_from_scratch_on_hopper_enables_and_creates_with_placements():
    gpu = make_gpu(mode="Disabled")
    plan = planner.plan_gpu(gpu, Desired(True, {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}))
    assert kinds(plan) == ["set_mode", "create_gi"]
    assert plan.actions[0] == ("set_mode", True)
    assert plan.actions[1][1] == [("3g.40gb", 9, 4, 4), ("2g.20gb", 14, 0, 2), ("1g.10gb", 19, 2, 1), ("1g.10gb", 19, 3, 1)]
    assert not plan.reboot_required and plan.mode_change


def test_converged_is_a_no_op_without_profiles():
    gpu = make_gpu(layout=[("3g.40gb", 4), ("2g.20gb", 0)])
    gpu.profiles = []  # converged detection must not need -lgip
    assert planner.is_converged(gpu, Desired(True, {"2g.20gb": 1, "3g.40gb": 1}))
    plan = planner.plan_gpu(gpu, Desired(True, {"2g.20gb": 1, "3g.40gb": 1}))
    assert plan.actions == [] and not plan.changed and len(plan.kept) == 2


def test_minimal_diff_keeps_matching_instances():
    gpu = make_gpu(layout=[("2g.20gb", 0), ("1g.10gb", 2), ("1g.10gb", 3), ("3g.40gb", 4)])
    plan = planner.plan_gpu(gpu, Desired(True, {"3g.40gb": 1, "1g.10gb": 3}))
    assert [(gi.profile_name, gi.start) for gi in plan.destroy] == [("2g.20gb", 0)]
    assert plan.actions == [("destroy_ci", [1]), ("destroy_gi", [1]), ("create_gi", [("1g.10gb", 19, 0, 1)])]


def test_keeping_everything_infeasible_keeps_the_most():
    # 1g@0 blocks 4g (only starts at 0): it must go, the 3g@4 stays.
    gpu = make_gpu(layout=[("1g.10gb", 0), ("3g.40gb", 4)])
    plan = planner.plan_gpu(gpu, Desired(True, {"4g.40gb": 1, "3g.40gb": 1}))
    assert [(gi.profile_name, gi.start) for gi in plan.kept] == [("3g.40gb", 4)]
    assert [(gi.profile_name, gi.start) for gi in plan.destroy] == [("1g.10gb", 0)]
    assert plan.create == [("4g.40gb", 5, 0, 4)]


def test_disable_destroys_everything_then_switches():
    gpu = make_gpu(layout=[("3g.40gb", 0), ("3g.40gb", 4)])
    plan = planner.plan_gpu(gpu, Desired(False, {}))
    assert plan.actions == [("destroy_ci", [1, 2]), ("destroy_gi", [1, 2]), ("set_mode", False)]


def test_kept_gi_without_ci_gets_a_default_ci():
    gpu = make_gpu(layout=[("3g.40gb", 4)], with_ci=False)
    plan = planner.plan_gpu(gpu, Desired(True, {"3g.40gb": 1, "2g.20gb": 1}))
    assert plan.actions == [("create_gi", [("2g.20gb", 14, 0, 2)]), ("create_ci", [1])]


@pytest.mark.parametrize("allow_gpu_reset", [False, True])
def test_ampere_mode_change_is_not_decided_from_the_architecture(allow_gpu_reset):
    # issue 14 fact 1: bare-metal A100s switch at once; whether a change stays pending is only known from
    # nvidia-smi's answer, so the plan neither asks for a reboot nor schedules a reset up front
    gpu = make_gpu("a100-40gb", mode="Disabled")
    plan = planner.plan_gpu(gpu, Desired(True, {"3g.20gb": 2}), allow_gpu_reset=allow_gpu_reset)
    assert kinds(plan) == ["set_mode", "create_gi"]
    assert not plan.reboot_required and not plan.deferred
    assert plan.reset_may_be_needed and plan.to_dict()["reset_may_be_needed"] is True
    assert any("may stay pending" in note for note in plan.notes)
    assert plan.target() == [("3g.20gb", 0), ("3g.20gb", 4)]


def test_already_pending_without_reset_defers_and_requires_reboot():
    gpu = make_gpu("a100-80gb", mode="Disabled", pending="Enabled")
    plan = planner.plan_gpu(gpu, Desired(True, {"7g.80gb": 1}))
    assert plan.actions == [] and plan.reboot_required and plan.deferred


def test_ampere_already_pending_needs_only_the_reset():
    gpu = make_gpu("a100-80gb", mode="Disabled", pending="Enabled")
    plan = planner.plan_gpu(gpu, Desired(True, {"7g.80gb": 1}), allow_gpu_reset=True)
    assert kinds(plan) == ["reset", "create_gi"]


def test_pending_disable_is_cancelled_without_reset():
    gpu = make_gpu("a100-80gb", mode="Enabled", pending="Disabled", layout=[("7g.80gb", 0)])
    plan = planner.plan_gpu(gpu, Desired(True, {"7g.80gb": 1}))
    assert plan.actions == [("set_mode", True)] and not plan.reboot_required and not plan.mode_change


def test_force_destroys_busy_instances():
    gpu = make_gpu(layout=[("7g.80gb", 0)], busy=[0])
    plan = planner.plan_gpu(gpu, Desired(True, {"1g.10gb": 7}), force=True)
    assert kinds(plan) == ["destroy_ci", "destroy_gi", "create_gi"]


def test_busy_instance_is_kept_when_possible():
    # Two 1g are wanted out of three; the busy one (start 5) must be among those kept.
    gpu = make_gpu(layout=[("1g.10gb", 0), ("1g.10gb", 1), ("1g.10gb", 5)], busy=[5])
    plan = planner.plan_gpu(gpu, Desired(True, {"1g.10gb": 2}))
    assert 5 in [gi.start for gi in plan.kept] and len(plan.destroy) == 1


# ------------------------------------------------------------------ bad inputs: a clear error, no actions

BAD = [
    ("unknown profile", make_gpu(mode="Disabled"), Desired(True, {"5g.50gb": 1}), {},
     ["GPU 0 (NVIDIA H100 80GB HBM3) has no MIG profile '5g.50gb'", "valid profiles: 1g.10gb, 1g.10gb+me"]),
    ("A100 name on H100", make_gpu(mode="Disabled"), Desired(True, {"1g.5gb": 7}), {}, ["no MIG profile '1g.5gb'"]),
    ("+me over max", make_gpu(mode="Disabled"), Desired(True, {"1g.10gb+me": 2}), {}, ["1g.10gb+me x2 (max 1)"]),
    ("3g over max", make_gpu(), Desired(True, {"3g.40gb": 3}), {}, ["3g.40gb x3 (max 2)"]),
    ("memory slots", make_gpu(), Desired(True, {"4g.40gb": 1, "2g.20gb": 3}), {},
     ["4g.40gb x1 + 2g.20gb x3 cannot be placed: needs 10 memory slots, the GPU has 8"]),
    ("compute slices", make_gpu(), Desired(True, {"1g.10gb": 6, "2g.20gb": 1}), {},
     ["needs 8 compute slices, the GPU has 7"]),
    ("A30 max", make_gpu("a30-24gb"), Desired(True, {"2g.12gb": 3}), {}, ["2g.12gb x3 (max 2)"]),
    ("A30 slots", make_gpu("a30-24gb"), Desired(True, {"4g.24gb": 1, "1g.6gb": 1}), {}, ["the GPU has 4"]),
    ("busy instance must go", make_gpu(layout=[("3g.40gb", 0), ("3g.40gb", 4)], busy=[4]),
     Desired(True, {"7g.80gb": 1}), {}, ["busy instances 3g.40gb (GPU instance 2, PIDs 1002)", "force=true"]),
    ("busy blocks placement", make_gpu(layout=[("1g.10gb", 0), ("3g.40gb", 4)], busy=[0]),
     Desired(True, {"4g.40gb": 1, "3g.40gb": 1, "1g.10gb": 0}), {}, ["1g.10gb (GPU instance 1, PIDs 1001)"]),
    ("disable busy", make_gpu(layout=[("7g.80gb", 0)], busy=[0]), Desired(False, {}), {},
     ["7g.80gb (GPU instance 1) must be destroyed but is in use by PIDs 1001"]),
    ("enable with processes", make_gpu(mode="Disabled", gpu_pids=[31337, 4]), Desired(True, {"7g.80gb": 1}), {},
     ["changing MIG mode to enabled needs an idle GPU but PIDs 4, 31337 are running"]),
    ("not MIG capable", make_gpu("a10g-24gb"), Desired(True, {"1g.10gb": 1}), {}, ["GPU 0 (NVIDIA A10G) is not MIG capable"]),
    ("no profiles reported", make_gpu(mode="Disabled"), Desired(True, {"1g.10gb": 1}), {"no_profiles": True},
     ["reported no MIG profiles (nvidia-smi mig -lgip)"]),
    ("layout with disabled", make_gpu(), Desired(False, {"1g.10gb": 1}), {},
     ["a layout was given but MIG is to be disabled"]),
    ("ampere busy disable", make_gpu("a100-40gb", layout=[("7g.40gb", 0)], busy=[0]), Desired(False, {}), {},
     ["in use by PIDs 1001"]),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_fails_before_any_action(case):
    _name, gpu, desired, opts, words = case
    if opts.get("no_profiles"):
        gpu.profiles = []
    before = [(gi.profile_name, gi.start, gi.gi_id) for gi in gpu.instances]
    with pytest.raises(PlanError) as err:
        planner.plan_gpu(gpu, desired)
    for word in words:
        assert word in str(err.value), str(err.value)
    assert [(gi.profile_name, gi.start, gi.gi_id) for gi in gpu.instances] == before


# ------------------------------------------------------------------ properties against brute force

def _feasible(model, fixed, missing):
    try:
        return placement.find_layout(missing, profiles_of(model), model.memory_slots, fixed) is not None
    except placement.PlacementError:
        return False


def best_kept_size(model, current, busy_starts, desired, force):
    """Independent: the largest subset of current instances that can stay (busy ones must stay unless force)."""
    want = collections.Counter(desired)
    for size in range(len(current), -1, -1):
        for subset in itertools.combinations(current, size):
            have = collections.Counter(n for n, _s in subset)
            if any(have[n] > want[n] for n in have):
                continue
            if not force and any(s not in [st_ for _n, st_ in subset] for s in busy_starts):
                continue
            if _feasible(model, list(subset), want - have):
                return size
    return None


@st.composite
def scenario(draw):
    model = draw(st.sampled_from([m for m in MIG_MODELS if m.key in ("h100-80gb", "a100-40gb", "a30-24gb", "h200-141gb")]))
    names = [p.name for p in model.profiles]
    # Small profiles make multi-instance layouts likely; retry until the current layout is placeable.
    small = [p.name for p in model.profiles if p.size <= 2]
    wish = collections.Counter()
    for name in draw(st.lists(st.sampled_from(small + names), min_size=1, max_size=6)):
        grown = wish + collections.Counter([name])
        if placement.find_layout(grown, model.profiles, model.memory_slots) is not None:
            wish = grown
    # Scramble where they sit: pick any valid layout of the same multiset.
    options = placement.all_layouts(wish, model.profiles, model.memory_slots)
    current = options[draw(st.integers(0, len(options) - 1))]
    busy = draw(st.lists(st.sampled_from([s for _n, s in current]), unique=True, max_size=2))
    # Desired = the current multiset with some removed and some added (the interesting, overlapping case).
    kept_names = draw(st.lists(st.sampled_from([n for n, _s in current]), max_size=len(current)))
    added = draw(st.lists(st.sampled_from(small + names), max_size=3))
    desired = collections.Counter(kept_names) + collections.Counter(added)
    force = draw(st.booleans())
    return model, current, busy, dict(desired), force


@settings(max_examples=250, deadline=None)
@given(scenario())
def test_plan_properties(case):
    model, current, busy, desired, force = case
    gpu = make_gpu(model.key, layout=current, busy=busy)
    infeasible = placement.explain_infeasible(desired, model.profiles, model.memory_slots)
    expected_kept = best_kept_size(model, current, busy, desired, force) if not infeasible else None
    try:
        plan = planner.plan_gpu(gpu, Desired(True, desired), force=force)
    except PlanError as exc:
        assert infeasible or expected_kept is None, str(exc)
        return
    assert not infeasible and expected_kept is not None
    target = plan.target()
    # exactly the desired multiset, no overlap, valid starts
    assert collections.Counter(n for n, _s in target) == collections.Counter(dict((k, v) for k, v in desired.items() if v))
    assert placement.occupied_mask(target, model.profiles) is not None
    # kept instances untouched: same gi id, same place; destroyed = the rest
    current_keys = dict((gi.gi_id, (gi.profile_name, gi.start)) for gi in gpu.instances)
    assert all(current_keys[gi.gi_id] == (gi.profile_name, gi.start) for gi in plan.kept)
    assert sorted(gi.gi_id for gi in plan.kept + plan.destroy) == sorted(current_keys)
    # minimal diff
    assert len(plan.kept) == expected_kept
    # busy never destroyed without force
    if not force:
        assert not [gi for gi in plan.destroy if gpu.processes_on(gi.gi_id)]
    # actions agree with the plan
    destroyed = [a[1] for a in plan.actions if a[0] == "destroy_gi"]
    assert destroyed == ([[gi.gi_id for gi in plan.destroy]] if plan.destroy else [])
    created = [a[1] for a in plan.actions if a[0] == "create_gi"]
    assert created == ([plan.create] if plan.create else [])
    # converged after the plan
    if not plan.actions:
        assert planner.is_converged(gpu, Desired(True, desired))


@settings(max_examples=100, deadline=None)
@given(scenario())
def test_replanning_the_target_is_a_no_op(case):
    model, current, busy, desired, force = case
    gpu = make_gpu(model.key, layout=current, busy=busy)
    try:
        plan = planner.plan_gpu(gpu, Desired(True, desired), force=force)
    except PlanError:
        return
    assume(not plan.deferred)
    after = make_gpu(model.key, layout=plan.target())
    assert planner.plan_gpu(after, Desired(True, desired)).actions == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(scenario())
def test_force_still_prefers_keeping_busy_instances(case):
    model, current, busy, desired, _force = case
    assume(busy)
    gpu = make_gpu(model.key, layout=current, busy=busy)
    assume(not placement.explain_infeasible(desired, model.profiles, model.memory_slots))
    plan = planner.plan_gpu(gpu, Desired(True, desired), force=True)
    # If keeping every busy instance costs nothing in kept count, the plan must do so.
    if best_kept_size(model, current, busy, desired, False) == len(plan.kept):
        assert all(gi in plan.kept for gi in gpu.instances if gpu.processes_on(gi.gi_id))
