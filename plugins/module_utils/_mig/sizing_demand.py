# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet sizing, the input side (pure, stdlib): parse a demand of MIG slices (a mapping or a list of
workloads), the candidate instance types or GPU models with their prices, and the headroom. Every error is
a ``SizingError`` that names the offending entry.
"""

from __future__ import absolute_import, division, print_function
from __future__ import annotations

__metaclass__ = type

import collections
import fractions
import math
from typing import Any, Dict, Iterable, List, Tuple

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.sizing_solver import SizingError


_MAX_HEADROOM = 1000
# Upper bound of the slices one plan covers (after headroom): ~1,800 p5.48xlarge at 56 slices each, planned in ~12 s
# and ~220 MB on one core. Beyond it memory grows until the process dies (10^6 slices took 4 GB), so larger demands
# are refused with a clear message instead (issue 15).
MAX_SLICES = 100000


# ---------------------------------------------------------------------------------------------------------------
# Input parsing


def _count(value, where):
    if isinstance(value, bool):
        raise SizingError("%s must be a whole number, got %r" % (where, value))
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise SizingError("%s must be a whole number, got %r" % (where, value))
    if value < 0:
        raise SizingError("%s must not be negative, got %d" % (where, value))
    return value


Workload = collections.namedtuple("Workload", "name replicas resources")


def parse_demand(demand: Any) -> Tuple[Dict[str, int], List[Workload]]:
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
        raise SizingError("demand must be a mapping profile -> count or a list of workloads, got %s"
                          % type(demand).__name__)
    totals = collections.OrderedDict()
    for wl in workloads:
        for key, count in wl.resources.items():
            totals[key] = totals.get(key, 0) + count * wl.replicas
    totals = collections.OrderedDict((k, v) for k, v in totals.items() if v)
    if not totals:
        raise SizingError("demand is empty: ask for at least one MIG slice (for example {'1g.10gb': 4})")
    return totals, workloads


def _resources(mapping, where):
    out = collections.OrderedDict()
    if not mapping:
        return out
    for key, value in mapping.items():
        if not isinstance(key, str) or not key.strip():
            raise SizingError("%s: profile names must be non-empty strings, got %r" % (where, key))
        count = _count(value, "%s[%s]" % (where, key))
        out[key.strip()] = out.get(key.strip(), 0) + count
    return out


_WORKLOAD_KEYS = ("name", "replicas", "profile", "count", "resources")


def _workload(item, index):
    where = "demand[%d]" % index
    if not isinstance(item, dict):
        raise SizingError("%s must be a mapping with profile (and count) or resources, got %s" % (where, type(item).__name__))
    unknown = sorted(str(k) for k in item if k not in _WORKLOAD_KEYS)
    if unknown:
        raise SizingError("%s: unknown key(s) %s (allowed: %s)" % (where, ", ".join(unknown), ", ".join(_WORKLOAD_KEYS)))
    name = item.get("name")
    if name is not None:
        where = "demand[%d] (%s)" % (index, name)
    replicas = _count(item.get("replicas", 1), where + ".replicas")
    if ("profile" in item) == ("resources" in item):
        raise SizingError("%s: give either profile (+ count) or resources" % where)
    if "profile" in item:
        if not isinstance(item["profile"], str) or not item["profile"].strip():
            raise SizingError("%s.profile must be a profile name such as 1g.10gb" % where)
        resources = collections.OrderedDict([(item["profile"].strip(), _count(item.get("count", 1), where + ".count"))])
    else:
        if "count" in item:
            raise SizingError("%s: count goes with profile; with resources give a count per profile" % where)
        if not isinstance(item["resources"], dict) or not item["resources"]:
            raise SizingError("%s.resources must be a non-empty mapping profile -> count" % where)
        resources = _resources(item["resources"], where + ".resources")
    return Workload(name, replicas, resources)


def resolve_names(keys: Iterable[str], model: catalog.GpuModel) -> Tuple[Dict[str, str], List[str]]:
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


def parse_candidates(candidates: Any) -> Dict[str, Candidate]:
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
                    raise SizingError("candidates[%d] must be a name or {name, price}; unknown keys: %s"
                                      % (i, ", ".join(extra) or "(name missing)"))
                items.append((entry["name"], entry.get("price")))
            else:
                raise SizingError("candidates[%d] must be a name or {name, price}, got %s" % (i, type(entry).__name__))
    else:
        raise SizingError("candidates must be a list or a mapping name -> price, got %s" % type(candidates).__name__)
    if not items:
        raise SizingError("candidates is empty; omit it to consider every MIG-capable instance type")
    per_model = collections.OrderedDict()
    for name, price in items:
        if not isinstance(name, str):
            raise SizingError("candidate names must be strings, got %r" % (name,))
        if isinstance(price, str):
            try:
                price = float(price.strip())  # templated values may arrive as text
            except ValueError:
                pass
        if price is not None:
            if isinstance(price, bool) or not isinstance(price, (int, float)) or math.isnan(price) or price < 0:
                raise SizingError("price of %s must be a non-negative number (USD per hour), got %r" % (name, price))
            price = float(price)
        if name in catalog.INSTANCE_TYPES:
            spec = catalog.INSTANCE_TYPES[name]
            model = catalog.GPU_MODELS[spec.gpu_model]
            if not model.mig_capable:
                raise SizingError("candidate %s has %s GPUs, which do not support MIG" % (name, model.product_name))
            types = [(name, spec.gpu_count, spec.price_usd_hour if price is None else price)]
        elif name in catalog.GPU_MODELS:
            model = catalog.GPU_MODELS[name]
            if not model.mig_capable:
                raise SizingError("candidate %s (%s) does not support MIG" % (name, model.product_name))
            if price is not None:
                raise SizingError("candidate %s is a GPU model; give prices per instance type" % name)
            types = [(t, s.gpu_count, s.price_usd_hour) for t, s in catalog.INSTANCE_TYPES.items() if s.gpu_model == name]
        else:
            raise SizingError("unknown candidate %r: give MIG-capable instance types (%s) or GPU models (%s)"
                              % (name, ", ".join(catalog.mig_capable_instance_types()),
                                 ", ".join(k for k, m in catalog.GPU_MODELS.items() if m.mig_capable)))
        entry = per_model.setdefault(model.key, Candidate(model, []))
        for t in types:
            if any(t[0] == have[0] for have in entry.types):
                raise SizingError("candidate instance type %s is listed twice" % t[0])
            entry.types.append(t)
    order = list(catalog.GPU_MODELS)
    return collections.OrderedDict(sorted(per_model.items(), key=lambda kv: order.index(kv[0])))


def parse_headroom(value: Any) -> fractions.Fraction:
    """The headroom percentage (0 to _MAX_HEADROOM) as an exact fraction."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise SizingError("headroom must be a number (percent), got %r" % (value,))
    if value < 0 or value > _MAX_HEADROOM:
        raise SizingError("headroom must be between 0 and %d percent, got %r" % (_MAX_HEADROOM, value))
    return fractions.Fraction(str(value))


def with_headroom(count: int, headroom: fractions.Fraction) -> int:
    """``count`` grown by ``headroom`` percent, rounded up."""
    return int(math.ceil(count * (1 + headroom / 100)))


def check_demand_bound(totals: Dict[str, int], headroom: fractions.Fraction) -> int:
    """The number of slices to plan for (with headroom); SizingError when it exceeds MAX_SLICES."""
    total = sum(with_headroom(count, headroom) for count in totals.values())
    if total > MAX_SLICES:
        raise SizingError("demand asks for %d MIG slices%s; one plan covers at most %d (about %d GPUs): split the demand, "
                          "for example per NodePool or team, and plan each part"
                          % (total, " with %g%% headroom" % headroom if headroom else "", MAX_SLICES, MAX_SLICES // 7))
    return total
