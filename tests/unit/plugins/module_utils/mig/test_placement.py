# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exact placement solver: known cases from the MIG guide, and properties against an independent brute force."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import itertools

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog, placement

H100 = catalog.gpu_model("h100-80gb")
A30 = catalog.gpu_model("a30-24gb")
MIG_MODELS = [m for m in catalog.GPU_MODELS.values() if m.mig_capable]


def brute_force_feasible(requests, model, fixed=()):
    """Independent check: try every combination of starts (tiny search spaces only)."""
    by_name = dict((p.name, p) for p in model.profiles)
    total = collections.Counter(requests)
    total.update(n for n, _s in fixed)
    if any(c > by_name[n].max_count for n, c in total.items()):
        return False
    if sum(by_name[n].compute_slices * c for n, c in total.items()) > max(p.compute_slices for p in model.profiles):
        return False
    items = [n for n, c in sorted(requests.items()) for _i in range(c)]
    fixed_slots = set()
    for name, start in fixed:
        fixed_slots.update(range(start, start + by_name[name].size))
    for starts in itertools.product(*[by_name[n].starts for n in items]):
        used = set(fixed_slots)
        ok = True
        for name, start in zip(items, starts):
            slots = set(range(start, start + by_name[name].size))
            if used & slots or max(slots) >= model.memory_slots:
                ok = False
                break
            used |= slots
        if ok:
            return True
    return False


def assert_valid(layout, requests, model, fixed=()):
    by_name = dict((p.name, p) for p in model.profiles)
    assert collections.Counter(n for n, _s in layout) == collections.Counter(
        dict((k, v) for k, v in requests.items() if v))
    used = set()
    for name, start in list(layout) + list(fixed):
        assert start in by_name[name].starts
        slots = set(range(start, start + by_name[name].size))
        assert not used & slots, "overlap at %s@%s in %s" % (name, start, layout)
        assert max(slots) < model.memory_slots
        used |= slots


def test_mig_guide_order_trap_is_solved():
    # nvidia-smi -cgi 19,19,14,9 fails with the driver's choice of placements; an exact solver finds one.
    layout = placement.find_layout({"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}, H100.profiles, 8)
    assert layout is not None
    assert_valid(layout, {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}, H100)
    assert ("3g.40gb", 4) in layout  # the only start that leaves room for 2g + 2x 1g


@pytest.mark.parametrize("requests,expected", [
    ({"7g.80gb": 1}, [("7g.80gb", 0)]),
    ({"4g.40gb": 1, "3g.40gb": 1}, [("4g.40gb", 0), ("3g.40gb", 4)]),
    ({"1g.20gb": 4}, [("1g.20gb", 0), ("1g.20gb", 2), ("1g.20gb", 4), ("1g.20gb", 6)]),
    ({"1g.10gb": 7}, [("1g.10gb", s) for s in range(7)]),
])
def test_full_gpu_layouts(requests, expected):
    assert placement.find_layout(requests, H100.profiles, 8) == expected


def test_fixed_instances_are_respected():
    fixed = [("3g.40gb", 0)]
    layout = placement.find_layout({"2g.20gb": 1, "1g.20gb": 1}, H100.profiles, 8, fixed)
    assert layout == [("2g.20gb", 4), ("1g.20gb", 6)]
    assert placement.find_layout({"4g.40gb": 1}, H100.profiles, 8, fixed) is None


def test_a30_four_slots():
    assert placement.find_layout({"2g.12gb": 1, "1g.6gb": 2}, A30.profiles, 4) == [
        ("2g.12gb", 0), ("1g.6gb", 2), ("1g.6gb", 3)]
    assert placement.find_layout({"2g.12gb": 2, "1g.6gb": 1}, A30.profiles, 4) is None


@pytest.mark.parametrize("requests,fixed,words", [
    ({"1g.10gb+me": 2}, (), ["count over the per-GPU maximum", "1g.10gb+me x2 (max 1)"]),
    ({"3g.40gb": 3}, (), ["3g.40gb x3 (max 2)"]),
    ({"4g.40gb": 1, "2g.20gb": 3}, (), ["needs 10 memory slots, the GPU has 8"]),
    ({"1g.10gb": 3, "2g.20gb": 1, "4g.40gb": 1}, (), ["1g.10gb x3 + 2g.20gb x1 + 4g.40gb x1 cannot be placed"]),
    ({"4g.40gb": 1}, (("1g.10gb", 1),), ["4g.40gb x1 + 1g.10gb x1 (kept) cannot be placed", "4g.40gb starts {0}:4"]),
    ({"2g.20gb": 1}, (("3g.40gb", 0), ("1g.10gb", 4), ("1g.10gb", 6)), ["kept instances at 3g.40gb@0",
                                                                        "2g.20gb starts {0,2,4}:2"]),
    ({"nope.5gb": 1}, (), ["unknown MIG profile 'nope.5gb'", "1g.10gb"]),
    ({"1g.10gb": -1}, (), ["non-negative integer"]),
])
def test_explain_infeasible_names_the_profiles(requests, fixed, words):
    message = placement.explain_infeasible(requests, H100.profiles, 8, fixed)
    assert message is not None
    for word in words:
        assert word in message, message


def test_explain_feasible_is_none():
    assert placement.explain_infeasible({"3g.40gb": 2}, H100.profiles, 8) is None


def test_bad_fixed_is_an_error():
    with pytest.raises(placement.PlacementError, match="cannot start at memory slot 1"):
        placement.find_layout({}, H100.profiles, 8, [("3g.40gb", 1)])
    with pytest.raises(placement.PlacementError, match="overlaps"):
        placement.occupied_mask([("3g.40gb", 0), ("2g.20gb", 2)], H100.profiles)


def test_occupied_mask():
    assert placement.occupied_mask([("3g.40gb", 4), ("1g.10gb", 0)], H100.profiles) == 0b11110001


_model = st.sampled_from(MIG_MODELS)


@st.composite
def requests_for(draw):
    model = draw(_model)
    names = [p.name for p in model.profiles]
    chosen = draw(st.lists(st.sampled_from(names), min_size=0, max_size=7))
    return model, dict(collections.Counter(chosen))


@settings(max_examples=300, deadline=None)
@given(requests_for())
def test_solver_agrees_with_brute_force(case):
    model, requests = case
    layout = placement.find_layout(requests, model.profiles, model.memory_slots)
    if layout is None:
        assert not brute_force_feasible(requests, model)
        assert placement.explain_infeasible(requests, model.profiles, model.memory_slots)
    else:
        assert_valid(layout, requests, model)
        assert placement.explain_infeasible(requests, model.profiles, model.memory_slots) is None


@settings(max_examples=200, deadline=None)
@given(requests_for(), requests_for())
def test_solver_with_fixed_never_moves_them(case_fixed, case_new):
    model, fixed_req = case_fixed
    layout = placement.find_layout(fixed_req, model.profiles, model.memory_slots)
    if layout is None:
        return
    _other, new_req = case_new
    names = set(p.name for p in model.profiles)
    new_req = dict((k, v) for k, v in new_req.items() if k in names)
    more = placement.find_layout(new_req, model.profiles, model.memory_slots, layout)
    if more is None:
        assert not brute_force_feasible(new_req, model, layout)
    else:
        assert_valid(more, new_req, model, layout)
