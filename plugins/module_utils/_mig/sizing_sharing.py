# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time-slicing on GPUs without MIG as an alternative to a MIG plan (pure, stdlib; used by ``mig_plan``).

A demand of MIG slices (``{"1g.10gb": 20}``) can also be served by time-slicing whole GPUs of a cheaper instance type
(g4dn T4, g5 A10G, g6 L4, g6e L40S): every slice becomes one pod requesting one shared ``nvidia.com/gpu``. Time-slicing
enforces nothing, so the sizing assumes each workload needs at most the memory of the slice it replaces (the
``<M>gb`` of the profile name) and puts ``floor(GPU memory / largest slice memory)`` replicas on a GPU, so that the
workloads of one GPU fit its memory together. A GPU that cannot hold two such workloads is not offered.

What the choice gives up (device plugin README "Shared Access to GPUs"): no memory or fault isolation -- a workload
that allocates more than its share, or crashes the GPU, hurts every workload on that GPU; compute is time-shared, not
partitioned; requesting more than one shared GPU gives no more compute or memory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import fractions
import math
import re

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sizing_demand
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.sizing_solver import SizingError

_SLICE = re.compile(r"(?:^|mig-)([0-9]+)g\.([0-9]+)gb")
ASSUMPTION = ("each time-sliced workload uses at most the memory of the MIG slice it replaces (time-slicing does not "
              "enforce it); replicas per GPU = GPU memory // largest slice memory")


def slice_memory_gb(key):
    """The ``<M>`` of a ``<G>g.<M>gb`` profile or ``nvidia.com/mig-<G>g.<M>gb`` resource name, in GB."""
    match = _SLICE.search(key or "")
    if not match:
        raise SizingError("cannot read the memory of %r: expected a MIG profile such as 1g.10gb" % (key,))
    return int(match.group(2))


def non_mig_instance_types():
    """Priced catalog instance types whose GPUs have no MIG (the time-slicing candidates by default)."""
    return [t for t, spec in catalog.INSTANCE_TYPES.items()
            if not catalog.GPU_MODELS[spec.gpu_model].mig_capable and spec.price_usd_hour is not None]


def _candidates(candidates):
    names = non_mig_instance_types() if candidates is None else candidates
    if not isinstance(names, (list, tuple)) or not names:
        raise SizingError("time_slicing_candidates must be a non-empty list of instance types, got %r" % (candidates,))
    out = []
    for name in names:
        try:
            spec = catalog.instance_type(name)
        except catalog.CatalogError as exc:
            raise SizingError("time_slicing_candidates: %s" % exc)
        if catalog.GPU_MODELS[spec.gpu_model].mig_capable:
            raise SizingError("time_slicing_candidates: %s has MIG-capable GPUs; the time-slicing alternative is for GPUs "
                              "without MIG (%s)" % (name, ", ".join(non_mig_instance_types())))
        if name not in [s.name for s in out]:
            out.append(spec)
    return out


def time_slicing_options(demand, headroom=0, candidates=None, name="ts-plan"):
    """Every candidate's time-slicing answer to ``demand`` (cheapest feasible first), and warnings.

    Returns ``{"slices", "largest_slice_gb", "assumption", "isolation", "options": [...], "warnings": [...]}``; each
    option is ``{instance_type, gpu_model, feasible, ...}`` with, when feasible, ``replicas_per_gpu``, ``nodes``,
    ``hourly_cost``, ``sharing`` (the karpenter_nodepool / device_plugin dict), ``capacity`` (one node's, from the
    sharing engine) and ``settings`` (karpenter_nodepool options); else ``reason``.
    """
    headroom = sizing_demand.parse_headroom(headroom)
    totals, workloads = sizing_demand.parse_demand(demand)
    sizing_demand.check_demand_bound(totals, headroom)
    slices = sum(sizing_demand.with_headroom(count, headroom) for count in totals.values())
    need_gb = max(slice_memory_gb(key) for key in totals)
    warnings = []
    multi = sorted(set(wl.name or "demand" for wl in workloads if sum(wl.resources.values()) > 1))
    if multi:
        warnings.append("time-slicing: workload(s) %s ask for several slices per pod; a pod that requests several shared "
                        "GPUs gets no more memory or compute than one (device plugin README), so size them as one"
                        % ", ".join(multi))
    options = []
    for spec in _candidates(candidates):
        model = catalog.GPU_MODELS[spec.gpu_model]
        entry = collections.OrderedDict([("instance_type", spec.name), ("gpu_model", model.key),
                                         ("gpu_product", model.product_name)])
        memory_gb = fractions.Fraction(model.memory_mib, 1024)
        replicas = int(memory_gb // need_gb)
        if replicas < 2:
            entry["feasible"] = False
            entry["reason"] = ("%s has %.1f GiB: fewer than two %d GB workloads fit one GPU, so time-slicing would not "
                               "share it" % (model.product_name, float(memory_gb), need_gb))
            options.append(entry)
            continue
        shared = collections.OrderedDict([("mode", "time-slicing"), ("replicas", replicas), ("rename_by_default", False),
                                          ("fail_requests_greater_than_one", True), ("resources", None)])
        per_node = spec.gpu_count * replicas
        nodes = int(math.ceil(float(slices) / per_node))
        pool = "%s-%s" % (name, spec.name.replace(".", "-"))
        entry.update([
            ("feasible", True), ("replicas_per_gpu", replicas), ("nodes", nodes),
            ("hourly_cost", round(nodes * spec.price_usd_hour, 6)),
            ("sharing", dict(shared)),
            ("capacity", dict(sharing.node_capacity(spec.name, shared))),
            ("settings", {"name": pool, "instance_types": [spec.name], "sharing": dict(shared),
                          "device_plugin_config": pool, "node_overlay": True}),
        ])
        options.append(entry)
    options.sort(key=lambda o: (not o["feasible"], o.get("hourly_cost") or 0.0, o["instance_type"]))
    return {"slices": slices, "largest_slice_gb": need_gb, "assumption": ASSUMPTION,
            "isolation": sharing.isolation("time-slicing"), "options": options, "warnings": warnings}
