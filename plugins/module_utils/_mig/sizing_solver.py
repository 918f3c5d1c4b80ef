# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet sizing, the solvers (pure, stdlib): the fewest GPUs that hold a demand of MIG slices, and the cheapest
EC2 instances for a GPU count.

1. Enumerate every valid per-GPU layout of the demanded profiles on the model's memory-slot
   placement model (the same occupancy model as ``placement.py``: ``starts``/``size`` per profile,
   per-GPU ``max_count``, compute slices), and keep the maximal ones (a layout is maximal when no
   demanded profile can be added). Any cover can be rewritten to use maximal layouts only.
2. Solve the covering integer program ``min sum(x) s.t. sum(x_L * L) >= demand`` EXACTLY by
   branch and bound: iterative deepening on the GPU count from a lower bound, branching on the
   layouts that contain one still-needed profile (some GPU must hold it), pruned by lower bounds
   from dual-feasible weight vectors (per-profile maxima, compute slices, memory slots and the LP
   relaxation's dual solved with a small dual simplex, rescaled exactly with fractions), and a
   memo of residual demands already proven infeasible. The first GPU count that succeeds is the
   exact minimum.
3. Choose instance types for those GPUs at the lowest hourly price (exact unbounded knapsack DP).

Vectors here are tuples of counts in the order of a ``names`` list; ``sizing_demand`` parses what users
write and ``sizing`` turns the solutions into nodes, configs and NodePools.
"""

from __future__ import absolute_import, division, print_function
from __future__ import annotations

__metaclass__ = type

import collections
import fractions
import math
from typing import Iterable, List, Optional, Sequence, Tuple

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import placement


Layout = Tuple[int, ...]  # counts per demanded profile, in the order of a ``names`` list

_MICRO = 1000000  # prices are compared in micro-dollars to keep the DP exact


class SizingError(ValueError):
    """A demand, candidate list or option fleet sizing cannot accept; the message says which and why.

    (``planner.SizingError`` is the other planner: reconfiguring one node's GPUs.)
    """


# ---------------------------------------------------------------------------------------------------------------
# Layout enumeration


def _profile_specs(model, names):
    by_name = dict((p.name, p) for p in model.profiles)
    return [by_name[n] for n in names]


def valid_layouts(model: catalog.GpuModel, names: Sequence[str]) -> set[Layout]:
    """Every count vector (aligned with ``names``) that fits one GPU of ``model``; includes the empty one.

    Placements are searched on the model's memory slots exactly as ``placement.find_layout`` does
    (non-overlapping ``start..start+size``, per-GPU ``max_count`` and the compute-slice limit of the
    model's largest profile), so the set is downward closed.
    """
    specs = _profile_specs(model, names)
    limit = max(p.compute_slices for p in model.profiles)
    full = (1 << model.memory_slots) - 1
    options = [[(s, placement.slot_mask(s, p.size)) for s in sorted(p.starts) if s + p.size <= model.memory_slots]
               for p in specs]
    found = set()
    seen = set()

    def walk(index, min_start, mask, counts, compute):
        key = (index, min_start, mask, counts)
        if key in seen:
            return
        seen.add(key)
        found.add(counts)
        if index == len(specs):
            return
        walk(index + 1, 0, mask, counts, compute)
        spec = specs[index]
        if counts[index] >= spec.max_count or compute + spec.compute_slices > limit:
            return
        for start, bits in options[index]:
            if start < min_start or mask & bits or (mask | bits) & ~full:
                continue
            bumped = counts[:index] + (counts[index] + 1,) + counts[index + 1:]
            walk(index, start + 1, mask | bits, bumped, compute + spec.compute_slices)

    walk(0, 0, 0, tuple(0 for _n in names), 0)
    return found


def maximal_layouts(model: catalog.GpuModel, names: Sequence[str]) -> List[Layout]:
    """The maximal valid layouts (no demanded profile can be added), sorted for determinism."""
    valid = valid_layouts(model, names)
    out = []
    for vec in valid:
        if not any(vec[:i] + (vec[i] + 1,) + vec[i + 1:] in valid for i in range(len(vec))):
            out.append(vec)
    return sorted(out, reverse=True)


# ---------------------------------------------------------------------------------------------------------------
# Lower bounds: any weight vector w >= 0 with w . L <= 1 for every layout L gives ceil(w . demand) GPUs.


class _Cut(object):
    """A dual-feasible weight vector kept as integers over a common denominator (exact ceil)."""

    __slots__ = ("numerators", "denominator")

    def __init__(self, weights):
        denominator = 1
        for w in weights:
            denominator = denominator * w.denominator // math.gcd(denominator, w.denominator)
        self.numerators = tuple(int(w * denominator) for w in weights)
        self.denominator = denominator

    def bound(self, residual):
        total = 0
        for n, r in zip(self.numerators, residual):
            total += n * r
        return -(-total // self.denominator)


def _scaled_cut(weights, layouts):
    """Rescale ``weights`` so that max(w . L) == 1 exactly; None when useless."""
    weights = [max(fractions.Fraction(0), fractions.Fraction(w).limit_denominator(10 ** 6)) for w in weights]
    peak = max(sum(w * c for w, c in zip(weights, vec)) for vec in layouts)
    if peak <= 0:
        return None
    return _Cut([w / peak for w in weights])


def basic_cuts(model: catalog.GpuModel, names: Sequence[str], layouts: Sequence[Layout]) -> List[_Cut]:
    """Lower-bound cuts from per-profile maxima, compute slices and memory slots of ``model``."""
    specs = _profile_specs(model, names)
    cuts = []
    for i in range(len(names)):
        top = max(vec[i] for vec in layouts)
        if top:
            cuts.append(_Cut([fractions.Fraction(1, top) if j == i else fractions.Fraction(0) for j in range(len(names))]))
    for weights in ([p.compute_slices for p in specs], [p.size for p in specs]):
        cut = _scaled_cut(weights, layouts)
        if cut is not None:
            cuts.append(cut)
    return cuts


def _lp_solve(demand, layouts, max_pivots=200):
    """LP relaxation ``min 1.x : sum x_L L >= demand, x >= 0`` by the dual simplex (floats).

    Returns (dual weights w, primal x as {layout index: value}) or None. Rows are the profiles (few) and
    columns the layouts, so a pivot is cheap. The duals only seed a cut that ``_scaled_cut`` makes
    exactly feasible and the primal only guides rounding, so float error can weaken a bound or a
    first guess, never make the result wrong.
    """
    k = len(demand)
    m = len(layouts)
    # -L^T x + s = -demand; reduced costs start at 1 for x, 0 for s: dual feasible, primal infeasible.
    rows = [[-float(layouts[j][i]) for j in range(m)] + [1.0 if c == i else 0.0 for c in range(k)] for i in range(k)]
    rhs = [-float(d) for d in demand]
    costs = [1.0] * m + [0.0] * k
    basis = [m + i for i in range(k)]
    eps = 1e-9
    for _pivot in range(max_pivots):
        leave = min(range(k), key=lambda i: (rhs[i], i))
        if rhs[leave] >= -eps:
            duals = [max(0.0, costs[m + i]) for i in range(k)]
            primal = dict((basis[i], rhs[i]) for i in range(k) if basis[i] < m and rhs[i] > eps)
            return duals, primal
        row = rows[leave]
        enter, ratio = None, None
        for j, a in enumerate(row):
            if a < -eps:
                value = costs[j] / -a
                if ratio is None or value < ratio - eps:
                    enter, ratio = j, value
        if enter is None:
            return None  # primal infeasible: cannot happen for a coverable demand
        pivot = row[enter]
        row = [a / pivot for a in row]
        rows[leave] = row
        rhs[leave] /= pivot
        basis[leave] = enter
        for i in range(k):
            if i != leave and rows[i][enter]:
                factor = rows[i][enter]
                rows[i] = [a - factor * b for a, b in zip(rows[i], row)]
                rhs[i] -= factor * rhs[leave]
        factor = costs[enter]
        costs = [c - factor * b for c, b in zip(costs, row)]
    return None


# certificate: weights w (Fractions) with w . L <= 1 for every layout, so ceil(w . demand) GPUs are needed;
# proof: "lower-bound" when the cover meets that bound, else "exhaustive-search" (every smaller count failed).
CoverResult = collections.namedtuple("CoverResult", "gpus layouts lower_bound nodes certificate proof")


def _residual(res, vec):
    return tuple(r - c if r > c else 0 for r, c in zip(res, vec))


def min_gpu_cover(demand: Layout, layouts: Sequence[Layout], cuts: Iterable[_Cut] = (), node_limit: int = 2000000,
                  use_lp: bool = True) -> CoverResult:
    """Exact minimum number of GPUs whose layouts cover ``demand`` (count vector).

    ``layouts``: the candidate per-GPU count vectors (maximal ones suffice). Returns CoverResult with
    the chosen layouts (one entry per GPU), the root lower bound, the search nodes visited and the
    optimality certificate. ``use_lp=False`` leaves out the LP bound and rounding (tests use it to
    drive the branch and bound harder).
    """
    demand = tuple(demand)
    if any(d < 0 for d in demand):
        raise SizingError("demand counts must not be negative")
    if not any(demand):
        return CoverResult(0, [], 0, 0, None, "lower-bound")
    for i, d in enumerate(demand):
        if d and not any(vec[i] for vec in layouts):
            raise SizingError("no layout contains demanded profile #%d" % i)
    cuts = list(cuts)
    solved = _lp_solve(demand, layouts) if use_lp else None
    primal = {}
    if solved is not None:
        cut = _scaled_cut(solved[0], layouts)
        if cut is not None:
            cuts.append(cut)
        primal = solved[1]

    def lower(res):
        best = 1 if any(res) else 0
        for cut in cuts:
            value = cut.bound(res)
            if value > best:
                best = value
        return best

    containing = [[vec for vec in layouts if vec[i]] for i in range(len(demand))]
    failed = {}  # residual -> largest GPU budget proven too small (valid for every search below)
    counter = [0]

    def search(res, budget):
        if not any(res):
            return []
        if budget <= 0 or failed.get(res, -1) >= budget or lower(res) > budget:
            return None
        counter[0] += 1
        if counter[0] > node_limit:
            raise SizingError("the exact search exceeded %d nodes; split the demand" % node_limit)
        # Some GPU must hold the needed profile that the fewest layouts contain: branch on those layouts.
        pick = min((i for i, r in enumerate(res) if r), key=lambda i: (len(containing[i]), -res[i], i))
        children = []
        for vec in containing[pick]:
            child = _residual(res, vec)
            children.append((lower(child), sum(child), child, vec))
        children.sort(key=lambda item: (item[0], item[1], item[2]))
        kept = []
        for bound, _total, child, vec in children:
            if bound > budget - 1:
                continue
            # a child that still needs at least as much of everything as a kept one cannot do better
            if any(all(a <= b for a, b in zip(other, child)) for other, _v in kept):
                continue
            kept.append((child, vec))
        for child, vec in kept:
            rest = search(child, budget - 1)
            if rest is not None:
                return [vec] + rest
        failed[res] = budget
        return None

    def exact(res, best):
        """Deepen from the lower bound of ``res``; ``best`` is a known cover of it."""
        for budget in range(lower(res), len(best)):
            found = search(res, budget)
            if found is not None:
                return found
        return best

    # Upper bound: round the LP solution down and cover the small rest exactly; keep the greedy if better.
    base = []
    for j in sorted(primal):
        base.extend([layouts[j]] * int(math.floor(primal[j] + 1e-9)))
    rest = demand
    for vec in base:
        rest = _residual(rest, vec)
    upper = base + exact(rest, _greedy_cover(rest, layouts, cuts))
    root = lower(demand)
    if len(upper) > root:
        greedy = _greedy_cover(demand, layouts, cuts)
        if len(greedy) < len(upper):
            upper = greedy
        upper = exact(demand, upper)
    strongest = max(cuts, key=lambda cut: cut.bound(demand)) if cuts else None
    certificate = [fractions.Fraction(n, strongest.denominator) for n in strongest.numerators] if strongest else None
    proof = "lower-bound" if len(upper) == root else "exhaustive-search"
    return CoverResult(len(upper), upper, root, counter[0], certificate, proof)


def _greedy_cover(demand, layouts, cuts):
    """A feasible cover (upper bound): repeatedly take the layout covering the most weighted demand."""
    weights = cuts[-1].numerators if cuts else tuple(1 for _d in demand)
    res = tuple(demand)
    chosen = []
    while any(res):
        best, best_gain = None, None
        for vec in layouts:
            covered = [c if c < r else r for r, c in zip(res, vec)]
            gain = (sum(w * c for w, c in zip(weights, covered)), sum(covered), vec)
            if best_gain is None or gain > best_gain:
                best, best_gain = vec, gain
        chosen.append(best)
        res = _residual(res, best)
    return chosen


# ---------------------------------------------------------------------------------------------------------------
# Instances


InstanceChoice = collections.namedtuple("InstanceChoice", "counts hourly_cost provisioned_gpus")


def cheapest_instances(gpus: int, types: Sequence[Tuple[str, int, Optional[float]]]) -> InstanceChoice:
    """Instance counts hosting ``gpus`` GPUs at the lowest price (exact DP).

    ``types``: list of (name, gpu_count, price or None). Unpriced types are used only when no type
    has a price. Ties: fewer provisioned GPUs, then fewer instances, then catalog order.
    """
    if gpus <= 0:
        return InstanceChoice(collections.OrderedDict(), 0.0 if types else None, 0)
    priced = [t for t in types if t[2] is not None]
    pool = priced or list(types)
    if not pool:
        return InstanceChoice(collections.OrderedDict(), None, gpus)
    known = bool(priced)
    top = max(t[1] for t in pool)
    limit = gpus + top - 1
    best = [None] * (limit + 1)
    best[0] = (0, 0, 0, ())
    for total in range(1, limit + 1):
        for index, (_name, size, price) in enumerate(pool):
            if size > total or best[total - size] is None:
                continue
            prev = best[total - size]
            micro = int(round(price * _MICRO)) if known else 0
            cand = (prev[0] + micro, total, prev[2] + 1, tuple(sorted(prev[3] + (index,))))
            if best[total] is None or cand < best[total]:
                best[total] = cand
    winner = min(best[n] for n in range(gpus, limit + 1) if best[n] is not None)
    counts = collections.OrderedDict()
    for index in winner[3]:
        counts[pool[index][0]] = counts.get(pool[index][0], 0) + 1
    cost = round(sum(pool[i][2] for i in winner[3]), 6) if known else None
    return InstanceChoice(counts, cost, winner[1])
