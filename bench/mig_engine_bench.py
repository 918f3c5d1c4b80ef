#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Engine timings: the exact placement solver over every request multiset, and the minimal-diff planner.

Usage: PYTHONPATH=build/collections .venv/bin/python bench/mig_engine_bench.py [--write]
Prints a Markdown section; --write appends/replaces it in bench/RESULTS.md.
"""

from __future__ import absolute_import, division, print_function

import collections
import itertools
import os
import platform
import sys
import time

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog, placement, planner
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.model import ComputeInstance, Gpu, GpuInstance, Profile

HERE = os.path.dirname(os.path.abspath(__file__))
TITLE = "## MIG engine: placement solver and minimal-diff planner"


def all_requests(model, max_items=7):
    names = [p.name for p in model.profiles]
    for size in range(1, max_items + 1):
        for combo in itertools.combinations_with_replacement(names, size):
            yield collections.Counter(combo)


def bench_solver(model):
    times, placeable, total = [], [], 0
    for req in all_requests(model):
        start = time.perf_counter()
        found = placement.find_layout(req, model.profiles, model.memory_slots)
        took = time.perf_counter() - start
        times.append(took)
        total += 1
        if found is not None:
            placeable.append(took)
    times.sort()
    placeable.sort()
    return total, placeable, times


def _pick(values, quantile):
    return values[min(len(values) - 1, int(quantile * len(values)))] * 1e6 if values else 0.0


def bench_planner(model):
    profs = [Profile(p.name, p.typical_id, p.max_count, starts=p.starts, size=p.size) for p in model.profiles]
    by_name = dict((p.name, p) for p in profs)
    one = [p for p in model.profiles if p.size == 1][0].name
    # Worst case for keep-search: 7 single-slot instances present, a desired layout that keeps few of them.
    current = [GpuInstance(one, by_name[one].id, s, 1, 7 + s, [ComputeInstance(0, one)]) for s in range(7)]
    gpu = Gpu(0, "GPU-x", model.product_name, mig_current="Enabled", mig_pending="Enabled", profiles=profs,
              instances=current, architecture=model.architecture)
    desired = collections.OrderedDict([(one, 3), ([p.name for p in model.profiles if p.size == 4][0], 1)])
    start = time.perf_counter()
    rounds = 20
    for _i in range(rounds):
        plan = planner.plan_gpu(gpu, planner.Desired(True, desired))
    return (time.perf_counter() - start) / rounds, plan


def main():
    where = "`bench/mig_engine_bench.py` on %s, Python %s (%s)." % (
        platform.machine(), platform.python_version(), time.strftime("%Y-%m-%d"))
    lines = [TITLE, "", where, ""]
    lines.append("| GPU model | request multisets (1-7 instances) | placeable | median (all) | median (placeable) | p99 | max |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for key in ("h100-80gb", "a100-40gb", "a30-24gb"):
        model = catalog.gpu_model(key)
        total, placeable, times = bench_solver(model)
        lines.append("| %s | %d | %d | %.0f us | %.0f us | %.0f us | %.0f us |" % (
            key, total, len(placeable), _pick(times, 0.5), _pick(placeable, 0.5), _pick(times, 0.99), times[-1] * 1e6))
    per_plan, plan = bench_planner(catalog.gpu_model("h100-80gb"))
    lines += ["", "Planner worst case (H100, 7x 1g.10gb present, desired 1g.10gb x3 + 4g.40gb x1: searches keep-subsets "
              "from largest down): %.2f ms per plan; keeps %d, destroys %d, creates %d."
              % (per_plan * 1e3, len(plan.kept), len(plan.destroy), len(plan.create)), ""]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if "--write" in sys.argv:
        path = os.path.join(HERE, "RESULTS.md")
        old = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
        if TITLE in old:
            head, rest = old.split(TITLE, 1)
            tail = rest[rest.find("\n## "):] if "\n## " in rest else ""
            old = head + tail.lstrip("\n")
        with open(path, "w") as handle:
            handle.write(old.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
