# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MIG planner: from a demand of MIG slices to the fewest GPUs and the cheapest EC2 instances (pure, stdlib).

Steps for each candidate GPU model:

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
4. Assemble nodes: per-GPU layouts into instances (uniform nodes first), spare GPUs of a node get
   a copy of that node's most common layout; identical nodes form one node kind, which becomes one
   mig-parted config label and one Karpenter NodePool with NodeOverlay capacity.

Tie-breaks (documented in the module): fewest GPUs, then lowest known hourly cost (instance types
without a price are used only when the model has no priced candidate), then fewest provisioned
GPUs, then fewest instances, then catalog order. ``objective='cost'`` ranks GPU models by cost
first. Strategy ``single`` allows one profile type per node (the device plugin's rule), so each
demanded profile gets its own uniform nodes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import fractions
import math
import re

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import placement

STRATEGIES = capacity.STRATEGIES
OBJECTIVES = ("gpus", "cost")
DEFAULT_NAME = "mig-plan"
_MAX_HEADROOM = 1000
_MICRO = 1000000  # prices are compared in micro-dollars to keep the DP exact
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class PlanError(ValueError):
    """A demand, candidate list or option the planner cannot accept; the message says which and why."""


# ---------------------------------------------------------------------------------------------------------------
# Layout enumeration


def _profile_specs(model, names):
    by_name = dict((p.name, p) for p in model.profiles)
    return [by_name[n] for n in names]


def valid_layouts(model, names):
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


def maximal_layouts(model, names):
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


def _basic_cuts(model, names, layouts):
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


def min_gpu_cover(demand, layouts, cuts=(), node_limit=2000000, use_lp=True):
    """Exact minimum number of GPUs whose layouts cover ``demand`` (count vector).

    ``layouts``: the candidate per-GPU count vectors (maximal ones suffice). Returns CoverResult with
    the chosen layouts (one entry per GPU), the root lower bound, the search nodes visited and the
    optimality certificate. ``use_lp=False`` leaves out the LP bound and rounding (tests use it to
    drive the branch and bound harder).
    """
    demand = tuple(demand)
    if any(d < 0 for d in demand):
        raise PlanError("demand counts must not be negative")
    if not any(demand):
        return CoverResult(0, [], 0, 0, None, "lower-bound")
    for i, d in enumerate(demand):
        if d and not any(vec[i] for vec in layouts):
            raise PlanError("no layout contains demanded profile #%d" % i)
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
            raise PlanError("the exact search exceeded %d nodes; split the demand" % node_limit)
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


def cheapest_instances(gpus, types):
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


# ---------------------------------------------------------------------------------------------------------------
# Input parsing


def _count(value, where):
    if isinstance(value, bool):
        raise PlanError("%s must be a whole number, got %r" % (where, value))
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise PlanError("%s must be a whole number, got %r" % (where, value))
    if value < 0:
        raise PlanError("%s must not be negative, got %d" % (where, value))
    return value


Workload = collections.namedtuple("Workload", "name replicas resources")


def parse_demand(demand):
    """Demand -> (OrderedDict key -> count, [Workload]). Keys are profile or resource names, resolved per model later.

    Accepts a mapping ``{"1g.10gb": 20, "nvidia.com/mig-3g.40gb": 6}`` or a list of workloads
    ``{"name": ..., "replicas": 4, "profile": "3g.40gb", "count": 1}`` / ``{"resources": {...}}``.
    """
    if isinstance(demand, dict):
        # an aggregate: one single-slice "workload" per profile, so no pod asks for two profiles at once
        workloads = [Workload(None, count, collections.OrderedDict([(key, 1)]))
                     for key, count in _resources(demand, "demand").items() if count]
    elif isinstance(demand, (list, tuple)):
        workloads = [_workload(item, i) for i, item in enumerate(demand)]
    else:
        raise PlanError("demand must be a mapping profile -> count or a list of workloads, got %s"
                        % type(demand).__name__)
    totals = collections.OrderedDict()
    for wl in workloads:
        for key, count in wl.resources.items():
            totals[key] = totals.get(key, 0) + count * wl.replicas
    totals = collections.OrderedDict((k, v) for k, v in totals.items() if v)
    if not totals:
        raise PlanError("demand is empty: ask for at least one MIG slice (for example {'1g.10gb': 4})")
    return totals, workloads


def _resources(mapping, where):
    out = collections.OrderedDict()
    if not mapping:
        return out
    for key, value in mapping.items():
        if not isinstance(key, str) or not key.strip():
            raise PlanError("%s: profile names must be non-empty strings, got %r" % (where, key))
        count = _count(value, "%s[%s]" % (where, key))
        out[key.strip()] = out.get(key.strip(), 0) + count
    return out


_WORKLOAD_KEYS = ("name", "replicas", "profile", "count", "resources")


def _workload(item, index):
    where = "demand[%d]" % index
    if not isinstance(item, dict):
        raise PlanError("%s must be a mapping with profile (and count) or resources, got %s" % (where, type(item).__name__))
    unknown = sorted(str(k) for k in item if k not in _WORKLOAD_KEYS)
    if unknown:
        raise PlanError("%s: unknown key(s) %s (allowed: %s)" % (where, ", ".join(unknown), ", ".join(_WORKLOAD_KEYS)))
    name = item.get("name")
    if name is not None:
        where = "demand[%d] (%s)" % (index, name)
    replicas = _count(item.get("replicas", 1), where + ".replicas")
    if ("profile" in item) == ("resources" in item):
        raise PlanError("%s: give either profile (+ count) or resources" % where)
    if "profile" in item:
        if not isinstance(item["profile"], str) or not item["profile"].strip():
            raise PlanError("%s.profile must be a profile name such as 1g.10gb" % where)
        resources = collections.OrderedDict([(item["profile"].strip(), _count(item.get("count", 1), where + ".count"))])
    else:
        if "count" in item:
            raise PlanError("%s: count goes with profile; with resources give a count per profile" % where)
        if not isinstance(item["resources"], dict) or not item["resources"]:
            raise PlanError("%s.resources must be a non-empty mapping profile -> count" % where)
        resources = _resources(item["resources"], where + ".resources")
    return Workload(name, replicas, resources)


def resolve_names(keys, model):
    """Map demand keys (profile or ``nvidia.com/mig-...`` resource names) to profile names of ``model``.

    Returns (OrderedDict key -> profile name, list of unknown keys).
    """
    aliases = {}
    for spec in model.profiles:
        resource = capacity.resource_name(spec.name)
        for alias in (spec.name, resource, resource[len("nvidia.com/"):]):
            aliases[alias] = spec.name
    resolved = collections.OrderedDict()
    unknown = []
    for key in keys:
        if key in aliases:
            resolved[key] = aliases[key]
        else:
            unknown.append(key)
    return resolved, unknown


Candidate = collections.namedtuple("Candidate", "model types")  # types: [(instance type, gpus, price)]


def parse_candidates(candidates):
    """Candidates -> OrderedDict model key -> Candidate, in catalog order.

    ``None``: every MIG-capable instance type of the catalog. Otherwise a list of names (instance types or
    GPU model keys such as ``h100-80gb``), of mappings ``{name: ..., price: ...}``, or a mapping
    name -> price (null = catalog price).
    """
    if candidates is None:
        items = [(name, None) for name in catalog.mig_capable_instance_types()]
    elif isinstance(candidates, dict):
        items = list(candidates.items())
    elif isinstance(candidates, (list, tuple)):
        items = []
        for i, entry in enumerate(candidates):
            if isinstance(entry, str):
                items.append((entry, None))
            elif isinstance(entry, dict):
                extra = sorted(str(k) for k in entry if k not in ("name", "price"))
                if extra or "name" not in entry:
                    raise PlanError("candidates[%d] must be a name or {name, price}; unknown keys: %s"
                                    % (i, ", ".join(extra) or "(name missing)"))
                items.append((entry["name"], entry.get("price")))
            else:
                raise PlanError("candidates[%d] must be a name or {name, price}, got %s" % (i, type(entry).__name__))
    else:
        raise PlanError("candidates must be a list or a mapping name -> price, got %s" % type(candidates).__name__)
    if not items:
        raise PlanError("candidates is empty; omit it to consider every MIG-capable instance type")
    per_model = collections.OrderedDict()
    for name, price in items:
        if not isinstance(name, str):
            raise PlanError("candidate names must be strings, got %r" % (name,))
        if isinstance(price, str):
            try:
                price = float(price.strip())  # templated values may arrive as text
            except ValueError:
                pass
        if price is not None:
            if isinstance(price, bool) or not isinstance(price, (int, float)) or math.isnan(price) or price < 0:
                raise PlanError("price of %s must be a non-negative number (USD per hour), got %r" % (name, price))
            price = float(price)
        if name in catalog.INSTANCE_TYPES:
            spec = catalog.INSTANCE_TYPES[name]
            model = catalog.GPU_MODELS[spec.gpu_model]
            if not model.mig_capable:
                raise PlanError("candidate %s has %s GPUs, which do not support MIG" % (name, model.product_name))
            types = [(name, spec.gpu_count, spec.price_usd_hour if price is None else price)]
        elif name in catalog.GPU_MODELS:
            model = catalog.GPU_MODELS[name]
            if not model.mig_capable:
                raise PlanError("candidate %s (%s) does not support MIG" % (name, model.product_name))
            if price is not None:
                raise PlanError("candidate %s is a GPU model; give prices per instance type" % name)
            types = [(t, s.gpu_count, s.price_usd_hour) for t, s in catalog.INSTANCE_TYPES.items() if s.gpu_model == name]
        else:
            raise PlanError("unknown candidate %r: give MIG-capable instance types (%s) or GPU models (%s)"
                            % (name, ", ".join(catalog.mig_capable_instance_types()),
                               ", ".join(k for k, m in catalog.GPU_MODELS.items() if m.mig_capable)))
        entry = per_model.setdefault(model.key, Candidate(model, []))
        for t in types:
            if any(t[0] == have[0] for have in entry.types):
                raise PlanError("candidate instance type %s is listed twice" % t[0])
            entry.types.append(t)
    order = list(catalog.GPU_MODELS)
    return collections.OrderedDict(sorted(per_model.items(), key=lambda kv: order.index(kv[0])))


def _headroom(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise PlanError("headroom must be a number (percent), got %r" % (value,))
    if value < 0 or value > _MAX_HEADROOM:
        raise PlanError("headroom must be between 0 and %d percent, got %r" % (_MAX_HEADROOM, value))
    return fractions.Fraction(str(value))


def _with_headroom(count, headroom):
    return int(math.ceil(count * (1 + headroom / 100)))


# ---------------------------------------------------------------------------------------------------------------
# Planning one GPU model


def _layout_dict(names, vec):
    return collections.OrderedDict((n, c) for n, c in zip(names, vec) if c)


def _layout_key(layout):
    return tuple(sorted(layout.items()))


def _describe(layout):
    return " + ".join("%dx %s" % (c, n) for n, c in layout.items()) or "MIG enabled, no instances"


def _gpu_layouts_mixed(model, names, demand_vec):
    layouts = maximal_layouts(model, names)
    cover = min_gpu_cover(demand_vec, layouts, _basic_cuts(model, names, layouts))
    chosen = _fewest_layouts(demand_vec, layouts, cover.gpus) or cover.layouts
    optimality = {
        "lower_bound": cover.lower_bound, "proof": cover.proof,
        "certificate": dict((n, str(w)) for n, w in zip(names, cover.certificate or ()) if w),
        "layouts_considered": len(layouts), "nodes_explored": cover.nodes,
    }
    return [_layout_dict(names, vec) for vec in chosen], optimality


def _fewest_layouts(demand, layouts, gpus):
    """A cover with exactly ``gpus`` GPUs using one or two distinct layouts (fewer NodePools), or None."""
    for vec in layouts:
        if all(gpus * c >= d for c, d in zip(vec, demand)):
            return [vec] * gpus
    for a in range(len(layouts)):
        for b in range(a + 1, len(layouts)):
            one, two = layouts[a], layouts[b]
            low, high = 0, gpus  # x GPUs of ``one`` and gpus - x of ``two``: x*one_i + (gpus-x)*two_i >= d_i
            for c1, c2, d in zip(one, two, demand):
                slope, need = c1 - c2, d - gpus * c2
                if slope > 0:
                    low = max(low, -(-need // slope))
                elif slope < 0:
                    high = min(high, (-need) // (-slope))
                elif need > 0:
                    low, high = 1, 0
                if low > high:
                    break
            if low <= high:
                return [one] * high + [two] * (gpus - high)
    return None


def _pack_nodes(gpu_layouts, instance_counts, gpu_count_of):
    """Put per-GPU layouts onto instances; return [(instance type, [layout per GPU index])]."""
    remaining = collections.Counter(_layout_key(layout) for layout in gpu_layouts)
    order = sorted(instance_counts.items(), key=lambda kv: (-gpu_count_of[kv[0]], kv[0]))
    overall = max(remaining, key=lambda k: (remaining[k], k))
    nodes = []
    for type_name, count in order:
        size = gpu_count_of[type_name]
        for _n in range(count):
            slots = []
            while len(slots) < size and sum(remaining.values()):
                key = max(remaining, key=lambda k: (remaining[k], k))
                take = min(size - len(slots), remaining[key])
                slots.extend([key] * take)
                remaining[key] -= take
                if not remaining[key]:
                    del remaining[key]
            if not slots:
                slots = [overall]
            if len(slots) < size:
                common = collections.Counter(slots).most_common(1)[0][0]
                slots.extend([common] * (size - len(slots)))
            nodes.append((type_name, sorted(slots, key=lambda k: (-slots.count(k), k))))
    return [(t, [collections.OrderedDict(k) for k in keys]) for t, keys in nodes]


def _node_entries(model, layouts):
    """mig-parted entries for one node kind; ``devices: all`` when every GPU has the same layout."""
    filters = list(model.pci_device_ids)
    groups = collections.OrderedDict()
    for index, layout in enumerate(layouts):
        groups.setdefault(_layout_key(layout), []).append(index)
    entries = []
    for key, indexes in groups.items():
        entry = collections.OrderedDict()
        entry["device-filter"] = filters
        entry["devices"] = "all" if len(groups) == 1 else indexes
        entry["mig-enabled"] = True
        entry["mig-devices"] = collections.OrderedDict(key)
        entries.append(entry)
    return entries


def _plan_model(cand, demand, workloads, strategy, headroom, name):
    model = cand.model
    resolved, unknown = resolve_names(list(demand), model)
    if unknown:
        return None, ("%s has no MIG profile %s; valid: %s"
                      % (model.product_name, ", ".join(repr(u) for u in unknown),
                         ", ".join(p.name for p in model.profiles)))
    requested = collections.OrderedDict()
    for key, count in demand.items():
        requested[resolved[key]] = requested.get(resolved[key], 0) + count
    order = [p.name for p in model.profiles]
    names = sorted(requested, key=order.index)
    effective = collections.OrderedDict((n, _with_headroom(requested[n], headroom)) for n in names)
    warnings = []
    if strategy == "single":
        for wl in workloads:
            kinds = set(resolved[k] for k, c in wl.resources.items() if c and wl.replicas and k in resolved)
            if len(kinds) > 1:
                raise PlanError(
                    "single strategy: workload %s asks for %s at once; under single every slice is nvidia.com/gpu and a "
                    "node holds one profile type, so a pod cannot get different profiles; use strategy mixed"
                    % (wl.name or "(unnamed)", ", ".join(sorted(kinds))))
        groups = []
        for n in names:
            per_gpu = maximal_layouts(model, [n])[0][0]
            groups.append(([collections.OrderedDict([(n, per_gpu)])] * -(-effective[n] // per_gpu), [n]))
        # one profile per node: ceil(demand / per-GPU maximum) GPUs per profile is the minimum by definition
        optimality = {"lower_bound": sum(len(g[0]) for g in groups), "proof": "single-strategy",
                      "certificate": dict((n, "1/%d" % g[0][0][n]) for g in groups for n in g[1]),
                      "layouts_considered": len(names), "nodes_explored": 0}
    else:
        for wl in workloads:
            if wl.replicas and sum(wl.resources.values()) > 1:
                warnings.append("workload %s asks for %d slices per pod; the plan counts slices, it does not check that "
                                "every pod's slices land on one node" % (wl.name or "(unnamed)", sum(wl.resources.values())))
        vec = tuple(effective[n] for n in names)
        gpu_layouts, optimality = _gpu_layouts_mixed(model, names, vec)
        groups = [(gpu_layouts, names)]
    gpu_count_of = dict((t[0], t[1]) for t in cand.types)
    total_cost = 0.0
    cost_known = bool(cand.types)
    instances = collections.OrderedDict()
    packed = []
    for gpu_layouts, _names in groups:
        choice = cheapest_instances(len(gpu_layouts), cand.types)
        if choice.hourly_cost is None:
            cost_known = False
        else:
            total_cost += choice.hourly_cost
        for t, c in choice.counts.items():
            instances[t] = instances.get(t, 0) + c
        if cand.types:
            packed.extend(_pack_nodes(gpu_layouts, choice.counts, gpu_count_of))
    if any(t[2] is None for t in cand.types) and cost_known:
        unpriced = [t[0] for t in cand.types if t[2] is None and t[0] not in instances]
        if unpriced:
            warnings.append("no hourly price for %s: not used while priced types of %s exist (give a price to compare)"
                            % (", ".join(unpriced), model.product_name))
    gpus = sum(len(g[0]) for g in groups)
    plan = _assemble(model, strategy, name, requested, effective, groups, packed, instances, gpus)
    warnings.extend(_unhostable(workloads, resolved, plan["nodes"]))
    plan.update({
        "hourly_cost": round(total_cost, 6) if cost_known else None,
        "optimality": optimality,
        "warnings": warnings,
    })
    return plan, None


def _unhostable(workloads, resolved, nodes):
    """Warnings for multi-slice pods that no planned node can hold at all (they would stay Pending)."""
    out = []
    for wl in workloads:
        need = collections.Counter()
        for key, count in wl.resources.items():
            if key in resolved:
                need[resolved[key]] += count
        if not wl.replicas or sum(need.values()) < 2 or not nodes:
            continue
        fits = False
        for node in nodes:
            have = collections.Counter()
            for layout in node["gpu_layouts"]:
                have.update(layout)
            fits = fits or all(have[n] >= c for n, c in need.items())
        if not fits:
            out.append("no planned node holds all %s of one pod of workload %s; raise the demand or plan it separately"
                       % (", ".join("%dx %s" % (c, n) for n, c in sorted(need.items())), wl.name or "(unnamed)"))
    return out


def _assemble(model, strategy, name, requested, effective, groups, packed, instances, gpus):
    per_gpu = collections.OrderedDict()
    for gpu_layouts, _names in groups:
        for layout in gpu_layouts:
            key = _layout_key(layout)
            if key not in per_gpu:
                found = placement.find_layout(layout, model.profiles, model.memory_slots)
                if found is None:  # the enumeration and placement.py disagree: a bug, never silently
                    raise PlanError("internal error: layout %s does not fit %s" % (_describe(layout), model.product_name))
                per_gpu[key] = {"layout": dict(layout), "placement": [[n, s] for n, s in found], "gpus": 0,
                                "description": _describe(layout)}
            per_gpu[key]["gpus"] += 1
    kinds = collections.OrderedDict()
    for type_name, layouts in packed:
        key = (type_name, tuple(_layout_key(x) for x in layouts))
        if key not in kinds:
            kinds[key] = {"instance_type": type_name, "count": 0, "gpu_layouts": layouts}
        kinds[key]["count"] += 1
    node_kinds = []
    doc_configs = collections.OrderedDict()
    nodepools = []
    provisioned = 0
    capacity_total = collections.Counter()
    for index, kind in enumerate(kinds.values(), 1):
        label = "%s-%d" % (name, index)
        layouts = kind["gpu_layouts"]
        entries = _node_entries(model, layouts)
        doc_configs[label] = entries
        node_capacity = dict(capacity.resources_for_gpus(layouts, strategy, what="node kind %s" % label))
        uniform = len(set(_layout_key(x) for x in layouts)) == 1
        provisioned += kind["count"] * len(layouts)
        for layout in layouts:
            for prof, count in layout.items():
                capacity_total[prof] += count * kind["count"]
        node_kinds.append({
            "name": label, "instance_type": kind["instance_type"], "count": kind["count"], "mig_config": label,
            "gpu_layouts": [dict(x) for x in layouts], "uniform": uniform, "capacity": node_capacity,
        })
        settings = collections.OrderedDict([
            ("name", label), ("instance_types", [kind["instance_type"]]), ("mig_config", label),
            ("mig_strategy", strategy), ("node_overlay", True),
        ])
        if uniform:
            settings["mig_layout"] = dict(layouts[0])
        else:
            settings["mig_parted_config"] = {"version": "v1", "mig-configs": {label: entries}}
        nodepools.append({"name": label, "nodes": kind["count"], "capacity": node_capacity, "settings": dict(settings)})
    if not packed:  # GPU model without EC2 instance types: plan GPUs only
        for gpu_layouts, _names in groups:
            for layout in gpu_layouts:
                for prof, count in layout.items():
                    capacity_total[prof] += count
        provisioned = gpus
    slices_per_gpu = max(p.compute_slices for p in model.profiles)
    compute = dict((p.name, p.compute_slices) for p in model.profiles)
    demanded_slices = sum(compute[n] * c for n, c in requested.items())
    utilisation = {
        "compute_slices_demanded": demanded_slices,
        "compute_slices_provisioned": slices_per_gpu * provisioned,
        "percent": round(100.0 * demanded_slices / (slices_per_gpu * provisioned), 1) if provisioned else 0.0,
        "by_profile": dict((n, {"demand": requested[n], "with_headroom": effective[n], "capacity": capacity_total[n]})
                           for n in requested),
    }
    return {
        "gpu_model": model.key, "gpu_product": model.product_name, "strategy": strategy,
        "demand": dict(requested), "demand_with_headroom": dict(effective),
        "gpus": gpus, "provisioned_gpus": provisioned, "spare_gpus": provisioned - gpus,
        "gpu_layouts": list(per_gpu.values()), "instances": dict(instances),
        "nodes": node_kinds, "utilisation": utilisation,
        "mig_config": {"version": "v1", "mig-configs": dict(doc_configs)} if doc_configs else None,
        "nodepools": nodepools,
    }


def plan(demand, candidates=None, strategy="mixed", headroom=0, objective="gpus", name=DEFAULT_NAME):
    """Plan MIG layouts, GPUs, instances, a mig-parted config and Karpenter NodePool settings for ``demand``.

    Returns a dict (see the mig_plan module's RETURN); raises PlanError on bad input or when no candidate
    GPU model offers every demanded profile.
    """
    if strategy not in STRATEGIES:
        raise PlanError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    if objective not in OBJECTIVES:
        raise PlanError("objective must be one of %s, got %r" % (", ".join(OBJECTIVES), objective))
    if not isinstance(name, str) or not name or len(name) > 50 or not _label_ok(name):
        raise PlanError("name must be 1-50 characters of a-z, 0-9 and '-', starting and ending alphanumeric, got %r"
                        % (name,))
    headroom = _headroom(headroom)
    totals, workloads = parse_demand(demand)
    cands = parse_candidates(candidates)
    plans, rejected = [], []
    for rank, cand in enumerate(cands.values()):
        result, reason = _plan_model(cand, totals, workloads, strategy, headroom, name)
        if result is None:
            rejected.append({"gpu_model": cand.model.key, "feasible": False, "reason": reason})
        else:
            plans.append((rank, result))
    if not plans:
        raise PlanError("no candidate GPU model offers every demanded profile: %s"
                        % "; ".join("%s: %s" % (r["gpu_model"], r["reason"]) for r in rejected))

    def rank_key(item):
        rank, p = item
        cost = (p["hourly_cost"] is None, p["hourly_cost"] or 0.0)
        if objective == "cost":
            return cost + (p["gpus"], p["provisioned_gpus"], rank)
        return (p["gpus"],) + cost + (p["provisioned_gpus"], rank)

    plans.sort(key=rank_key)
    best = _plain_data(plans[0][1])
    best["objective"] = objective
    best["headroom_percent"] = float(headroom)
    best["alternatives"] = [
        {"gpu_model": p["gpu_model"], "feasible": True, "gpus": p["gpus"], "provisioned_gpus": p["provisioned_gpus"],
         "instances": p["instances"], "hourly_cost": p["hourly_cost"]} for _r, p in plans
    ] + rejected
    return best


def _plain_data(value):
    """dicts, lists and scalars only (no OrderedDict/tuples), as Ansible variables and JSON want them."""
    if isinstance(value, dict):
        return dict((k, _plain_data(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain_data(v) for v in value]
    return value


def _label_ok(name):
    return bool(_NAME_RE.match(name))
