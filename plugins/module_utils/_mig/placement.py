# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exact MIG placement solver (pure, stdlib only).

A GPU has ``memory_slots`` memory slots (8 on A100/H100/H200/B200, 4 on A30). Each GPU-instance
profile may start only at the slots listed by ``nvidia-smi mig -lgipp`` (``{starts}:size``) and
occupies ``size`` consecutive slots. Creating instances without explicit placements lets the driver
pick and can strand capacity ("Insufficient Resources" for 1g,1g,2g,3g on A100), so we search all
placements exactly and create with ``profile_id:start`` tuples.

Profiles are any objects with attributes ``name``, ``starts`` (tuple of ints), ``size`` and
``max_count`` (``catalog.ProfileSpec`` and ``model.Profile`` both qualify). ``compute_slices`` is
used when present (the sum of compute slices may not exceed the largest profile's).

Semantics used everywhere (planner, simulator, mig_plan):
- ``requests``: mapping profile name -> count of NEW instances to place.
- ``fixed``: iterable of ``(name, start)`` instances already on the GPU that stay where they are.
- ``find_layout`` returns placements for the requested instances only, as a list of
  ``(name, start)`` sorted by start, or None when no placement exists. ``max_count`` and the
  compute limit count fixed + requested instances.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections


class PlacementError(ValueError):
    """A request that names unknown profiles or is malformed (not merely infeasible)."""


def _index_profiles(profiles):
    by_name = collections.OrderedDict()
    for prof in profiles:
        by_name[prof.name] = prof
    return by_name


def slot_mask(start, size):
    """Bit mask of the memory slots ``start .. start+size-1``."""
    return ((1 << size) - 1) << start


def occupied_mask(instances, profiles):
    """Bit mask of slots covered by ``instances`` (iterable of ``(name, start)``).

    Raises PlacementError when an instance names an unknown profile, starts where the profile
    cannot start, or overlaps another instance.
    """
    by_name = profiles if isinstance(profiles, dict) else _index_profiles(profiles)
    mask = 0
    for name, start in instances:
        prof = by_name.get(name)
        if prof is None:
            raise PlacementError("unknown MIG profile %r; valid: %s" % (name, ", ".join(by_name)))
        if start not in prof.starts:
            raise PlacementError("%s cannot start at memory slot %s (valid starts: %s)"
                                 % (name, start, _fmt_starts(prof)))
        bits = slot_mask(start, prof.size)
        if mask & bits:
            raise PlacementError("%s at slot %s overlaps another instance" % (name, start))
        mask |= bits
    return mask


def _fmt_starts(prof):
    return "{%s}:%s" % (",".join(str(s) for s in prof.starts), prof.size)


def _normalise_requests(requests, by_name):
    counts = collections.OrderedDict()
    items = requests.items() if hasattr(requests, "items") else collections.Counter(requests).items()
    for name, count in items:
        if name not in by_name:
            raise PlacementError("unknown MIG profile %r; valid: %s" % (name, ", ".join(by_name)))
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise PlacementError("count of %s must be a non-negative integer, got %r" % (name, count))
        if count:
            counts[name] = counts.get(name, 0) + count
    return counts


def _max_compute(by_name):
    slices = [getattr(p, "compute_slices", None) for p in by_name.values()]
    slices = [s for s in slices if isinstance(s, int)]
    return max(slices) if slices else None


def _static_problem(counts, by_name, memory_slots, fixed):
    """Return a message for a request that is infeasible without searching, or None."""
    fixed_counts = collections.Counter(name for name, _start in fixed)
    total = collections.Counter(fixed_counts)
    total.update(counts)
    over = ["%s x%d (max %d)" % (n, c, by_name[n].max_count) for n, c in total.items()
            if n in by_name and c > by_name[n].max_count]
    if over:
        return "count over the per-GPU maximum: %s" % ", ".join(over)
    slots = sum(by_name[n].size * c for n, c in total.items() if n in by_name)
    if slots > memory_slots:
        return "needs %d memory slots, the GPU has %d" % (slots, memory_slots)
    limit = _max_compute(by_name)
    if limit is not None:
        compute = sum(getattr(by_name[n], "compute_slices", 0) * c for n, c in total.items() if n in by_name)
        if compute > limit:
            return "needs %d compute slices, the GPU has %d" % (compute, limit)
    return None


def find_layout(requests, profiles, memory_slots, fixed=()):
    """Place ``requests`` next to ``fixed`` without overlap; exact backtracking search.

    Returns a list of ``(name, start)`` for the requested instances (sorted by start, then name),
    or None if no placement exists. Raises PlacementError for unknown names / bad counts /
    invalid fixed instances.
    """
    by_name = _index_profiles(profiles)
    fixed = list(fixed)
    start_mask = occupied_mask(fixed, by_name)
    counts = _normalise_requests(requests, by_name)
    if _static_problem(counts, by_name, memory_slots, fixed):
        return None
    full = (1 << memory_slots) - 1
    # Largest first prunes fastest; identical instances are placed at increasing starts so that
    # permutations of the same multiset are not searched twice.
    items = []
    for name in sorted(counts, key=lambda n: (-by_name[n].size, len(by_name[n].starts), n)):
        items.extend([name] * counts[name])
    options = {}
    for name in counts:
        prof = by_name[name]
        options[name] = [(s, slot_mask(s, prof.size)) for s in sorted(prof.starts)
                         if s + prof.size <= memory_slots]
    dead = set()  # (position, mask, min_start) known to fail

    def search(pos, mask, min_start):
        if pos == len(items):
            return []
        key = (pos, mask, min_start)
        if key in dead:
            return None
        name = items[pos]
        for start, bits in options[name]:
            if start < min_start or mask & bits or (mask | bits) & ~full:
                continue
            nxt = items[pos + 1] if pos + 1 < len(items) else None
            rest = search(pos + 1, mask | bits, start + 1 if nxt == name else 0)
            if rest is not None:
                return [(name, start)] + rest
        dead.add(key)
        return None

    found = search(0, start_mask, 0)
    if found is None:
        return None
    return sorted(found, key=lambda item: (item[1], item[0]))


def describe_request(requests, fixed=()):
    """``"1g.10gb x3 + 2g.20gb x1"`` (fixed instances are shown as ``kept``)."""
    counts = collections.Counter(requests) if not hasattr(requests, "items") else requests
    parts = ["%s x%d" % (n, c) for n, c in counts.items() if c]
    kept = collections.Counter(name for name, _s in fixed)
    parts.extend("%s x%d (kept)" % (n, c) for n, c in kept.items())
    return " + ".join(parts) if parts else "nothing"


def explain_infeasible(requests, profiles, memory_slots, fixed=()):
    """Human message why ``requests`` (+ ``fixed``) cannot be placed, or None if they can."""
    by_name = _index_profiles(profiles)
    fixed = list(fixed)
    try:
        counts = _normalise_requests(requests, by_name)
        occupied_mask(fixed, by_name)
    except PlacementError as exc:
        return str(exc)
    what = describe_request(counts, fixed)
    problem = _static_problem(counts, by_name, memory_slots, fixed)
    if problem:
        return "%s cannot be placed: %s" % (what, problem)
    if find_layout(counts, by_name.values(), memory_slots, fixed) is not None:
        return None
    names = list(counts) + [n for n, _s in fixed if n not in counts]
    allowed = "; ".join("%s starts %s" % (n, _fmt_starts(by_name[n])) for n in names)
    kept = ""
    if fixed:
        kept = " with kept instances at %s" % ", ".join("%s@%d" % (n, s) for n, s in fixed)
    return ("%s cannot be placed: no non-overlapping placement exists on %d memory slots%s (%s)"
            % (what, memory_slots, kept, allowed))


def all_layouts(requests, profiles, memory_slots, fixed=()):
    """Every distinct placement of ``requests`` (used by tests and the simulator's checks)."""
    by_name = _index_profiles(profiles)
    counts = _normalise_requests(requests, by_name)
    items = []
    for name in sorted(counts):
        items.extend([name] * counts[name])
    base = occupied_mask(fixed, by_name)
    full = (1 << memory_slots) - 1
    out = []

    def walk(pos, mask, min_start, acc):
        if pos == len(items):
            out.append(sorted(acc, key=lambda item: (item[1], item[0])))
            return
        name = items[pos]
        prof = by_name[name]
        for start in sorted(prof.starts):
            bits = slot_mask(start, prof.size)
            if start < min_start or mask & bits or bits & ~full:
                continue
            nxt = items[pos + 1] if pos + 1 < len(items) else None
            walk(pos + 1, mask | bits, start + 1 if nxt == name else 0, acc + [(name, start)])

    if _static_problem(counts, by_name, memory_slots, list(fixed)) is None:
        walk(0, base, 0, [])
    return out
