# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Independent answers for the MIG planner, by brute force (used by tests/unit and bench/mig_plan_bench.py).

Layouts are enumerated over ALL count vectors and checked with ``placement.find_layout`` -- not with the
planner's own enumeration -- so a planner bug cannot hide in a shared helper.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fractions
import functools
import itertools
import math

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog, placement


@functools.lru_cache(maxsize=None)
def brute_valid(model_key):
    """(profile names, every count vector over them that placement.find_layout can place on one GPU)."""
    model = catalog.gpu_model(model_key)
    names = tuple(p.name for p in model.profiles)
    valid = []
    for counts in itertools.product(*[range(p.max_count + 1) for p in model.profiles]):
        request = dict((n, c) for n, c in zip(names, counts) if c)
        if placement.find_layout(request, model.profiles, model.memory_slots) is not None:
            valid.append(counts)
    return names, tuple(valid)


def brute_min_gpus(model_key, demand):
    """Exact minimum GPU count by exhaustive DP over every valid layout (``demand``: profile -> count)."""
    names, valid = brute_valid(model_key)
    target = tuple(demand.get(n, 0) for n in names)

    @functools.lru_cache(maxsize=None)
    def best(residual):
        if not any(residual):
            return 0
        options = [layout for layout in valid if any(c and r for c, r in zip(layout, residual))]
        return 1 + min(best(tuple(max(0, r - c) for r, c in zip(residual, layout))) for layout in options)

    return best(target)


def certificate_bound(model_key, certificate, demand):
    """GPUs the planner's dual ``certificate`` proves necessary for ``demand``, or None when it is not dual
    feasible (some valid layout of ALL profiles weighs more than 1)."""
    names, valid = brute_valid(model_key)
    weights = dict((n, fractions.Fraction(w)) for n, w in certificate.items())
    for vec in valid:
        if sum(weights.get(n, 0) * c for n, c in zip(names, vec)) > 1:
            return None
    return math.ceil(sum(weights.get(n, 0) * c for n, c in demand.items()))
