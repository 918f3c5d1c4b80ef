# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet sizing (pure, stdlib): from a demand of MIG slices to the fewest GPUs, the cheapest EC2 instances,
the nodes, one mig-parted config and the Karpenter NodePool settings. This is what ``mig_plan`` (module and
filter) returns. Not to be confused with ``planner``, which reconfigures the GPUs of one node.

For each candidate GPU model: the exact minimum GPU cover and the cheapest instances (``sizing_solver``),
then nodes: per-GPU layouts into instances (uniform nodes first), spare GPUs of a node get a copy of that
node's most common layout; identical nodes form one node kind, which becomes one mig-parted config label
and one Karpenter NodePool with NodeOverlay capacity. Inputs are parsed by ``sizing_demand``.

Tie-breaks (documented in the module): fewest GPUs, then lowest known hourly cost (instance types
without a price are used only when the model has no priced candidate), then fewest provisioned
GPUs, then fewest instances, then catalog order. ``objective='cost'`` ranks GPU models by cost
first. Strategy ``single`` allows one profile type per node (the device plugin's rule), so each
demanded profile gets its own uniform nodes.
"""

from __future__ import absolute_import, division, print_function
from __future__ import annotations

__metaclass__ = type

import collections
import re
from typing import Any, Dict

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import placement
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.sizing_demand import (
    check_demand_bound, parse_candidates, parse_demand, parse_headroom, resolve_names, with_headroom,
)
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.sizing_solver import (
    SizingError, basic_cuts, cheapest_instances, maximal_layouts, min_gpu_cover,
)

STRATEGIES = capacity.STRATEGIES
OBJECTIVES = ("gpus", "cost")
DEFAULT_NAME = "mig-plan"

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")

__all__ = ["DEFAULT_NAME", "OBJECTIVES", "STRATEGIES", "SizingError", "size_fleet"]


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
    cover = min_gpu_cover(demand_vec, layouts, basic_cuts(model, names, layouts))
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


def _plan_model(cand, demand, workloads, strategy, headroom, name, pool_limits=True, pool_weight=None):
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
    effective = collections.OrderedDict((n, with_headroom(requested[n], headroom)) for n in names)
    warnings = []
    if strategy == "single":
        for wl in workloads:
            kinds = set(resolved[k] for k, c in wl.resources.items() if c and wl.replicas and k in resolved)
            if len(kinds) > 1:
                raise SizingError(
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
    plan = _assemble(model, strategy, name, requested, effective, groups, packed, instances, gpus, pool_limits, pool_weight)
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


def _pool_limits(strategy, nodes, gpus_per_node, node_capacity):
    """NodePool limits that let Karpenter launch exactly ``nodes`` nodes of one node kind, inside one batch too.

    Karpenter v1.14.1 compares a pool's limits with the capacity of each instance type *after* the NodeOverlays and
    subtracts each new NodeClaim's capacity from what remains (``nodes`` is not in that capacity, so it does not bind
    inside a batch). Mixed strategy: the overlay's MIG resources, nodes x per node. Single strategy: the overlay's
    resource is ``nvidia.com/gpu`` (slices), which ``karpenter_nodepool`` reads as physical GPUs and translates to the
    slices of those GPUs; so the limit is the kind's physical GPUs, which becomes nodes x slices per node.
    """
    if strategy == "single":
        return {capacity.GPU_RESOURCE: nodes * gpus_per_node}
    return dict((resource, count * nodes) for resource, count in sorted(node_capacity.items()) if count)


def _assemble(model, strategy, name, requested, effective, groups, packed, instances, gpus, pool_limits=True,
              pool_weight=None):
    per_gpu = collections.OrderedDict()
    for gpu_layouts, _names in groups:
        for layout in gpu_layouts:
            key = _layout_key(layout)
            if key not in per_gpu:
                found = placement.find_layout(layout, model.profiles, model.memory_slots)
                if found is None:  # the enumeration and placement.py disagree: a bug, never silently
                    raise SizingError("internal error: layout %s does not fit %s" % (_describe(layout), model.product_name))
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
        if pool_limits:
            settings["limits"] = _pool_limits(strategy, kind["count"], len(layouts), node_capacity)
        if pool_weight is not None:
            settings["weight"] = pool_weight
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


def size_fleet(demand: Any, candidates: Any = None, strategy: str = "mixed", headroom: float = 0, objective: str = "gpus",
               name: str = DEFAULT_NAME, pool_limits: bool = True, pool_weight: Any = None) -> Dict[str, Any]:
    """Plan MIG layouts, GPUs, instances, a mig-parted config and Karpenter NodePool settings for ``demand``.

    ``pool_limits``: each node kind's NodePool settings carry ``limits`` of exactly its planned capacity (see
    ``_pool_limits``), so Karpenter buys the plan and no more; ``pool_weight``: NodePool ``weight`` (1..100) of every
    node kind, or None. Returns a dict (see the mig_plan module's RETURN); raises SizingError on bad input or when no
    candidate GPU model offers every demanded profile.
    """
    if not isinstance(pool_limits, bool):
        raise SizingError("pool_limits must be true or false, got %r" % (pool_limits,))
    if pool_weight is not None and (isinstance(pool_weight, bool) or not isinstance(pool_weight, int)
                                    or not 1 <= pool_weight <= 100):
        raise SizingError("pool_weight must be a whole number in 1..100 (Karpenter's NodePool weight), got %r"
                          % (pool_weight,))
    if strategy not in STRATEGIES:
        raise SizingError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    if objective not in OBJECTIVES:
        raise SizingError("objective must be one of %s, got %r" % (", ".join(OBJECTIVES), objective))
    if not isinstance(name, str) or not name or len(name) > 50 or not _label_ok(name):
        raise SizingError("name must be 1-50 characters of a-z, 0-9 and '-', starting and ending alphanumeric, got %r"
                          % (name,))
    headroom = parse_headroom(headroom)
    totals, workloads = parse_demand(demand)
    check_demand_bound(totals, headroom)
    cands = parse_candidates(candidates)
    plans, rejected = [], []
    for rank, cand in enumerate(cands.values()):
        result, reason = _plan_model(cand, totals, workloads, strategy, headroom, name, pool_limits, pool_weight)
        if result is None:
            rejected.append({"gpu_model": cand.model.key, "feasible": False, "reason": reason})
        else:
            plans.append((rank, result))
    if not plans:
        raise SizingError("no candidate GPU model offers every demanded profile: %s"
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
