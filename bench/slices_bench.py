#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml as N AWX job slices at once on many simulated 8-GPU nodes: wall time, controller CPU and remote tasks per node.

The world of bench/site_bench.py (tests/support/world.py, `bench_fleet(NODES)`), a static inventory cut into
SLICES inventories as AWX does (tests/support/slicing.py), every slice started at the same time with FORKS forks and
the same gpu_slicing_run_id, then the same again (re-run). With --single, first the same fleet in a second world,
run once as one job, so both rows come from one bench run on the same machine. Controller CPU = user + system
time of every ansible-playbook process tree (the node-side modules run under the SSH servers and are not counted).
Prints a Markdown section; --append replaces the section between the markers in bench/RESULTS.md.

    PYTHONPATH=build/collections .venv/bin/python bench/slices_bench.py [--nodes 50] [--slices 4] [--forks 25] [--single] [--append]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import platform
import re
import resource
import sys
import time

from ansible_collections.gpu_slicing.eks.bench._results import write_section
from ansible_collections.gpu_slicing.eks.tests.support import slicing
from ansible_collections.gpu_slicing.eks.tests.support import world as stand_in

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALLBACK_DIR = os.path.join(ROOT, "tests", "support", "callback")
START = "<!-- slices bench: start -->"
END = "<!-- slices bench: end -->"


def _say(text):
    print("[bench] %s" % text, flush=True)


def _load_average():
    with open("/proc/loadavg") as handle:
        return handle.read().split()[0]


def _recap(log_paths):
    """ok/changed/failed/... of every log's last PLAY RECAP, summed over hosts (localhost of each slice included)."""
    totals = {}
    for path in log_paths:
        with open(path) as handle:
            recap = handle.read().rsplit("PLAY RECAP", 1)[-1]
        for key, value in re.findall(r"(\w+)=(\d+)", recap):
            totals[key] = totals.get(key, 0) + int(value)
    return totals


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def count_env(workdir, name):
    """slice_env for slicing.run_slices: each slice's remote_tasks callback writes WORKDIR/<name>-<i>.tasks.json."""
    def env(index):
        return {"ANSIBLE_CALLBACK_PLUGINS": CALLBACK_DIR, "ANSIBLE_CALLBACKS_ENABLED": "remote_tasks",
                "GPU_SLICING_TASK_COUNT_FILE": os.path.join(workdir, "%s-%d.tasks.json" % (name, index))}
    return env


def remote_tasks_per_node(workdir, name, slices, nodes):
    """(min, max) remote tasks per GPU node over every slice's remote_tasks file; a node no file names counts 0
    (it ran nothing: that is what the row must show, not hide)."""
    counts = {}
    for index in range(1, slices + 1):
        path = os.path.join(workdir, "%s-%d.tasks.json" % (name, index))
        if os.path.exists(path):
            with open(path) as handle:
                for host, host_counts in json.load(handle)["hosts"].items():
                    counts[host] = counts.get(host, 0) + host_counts.get("remote", 0)
    values = [counts.get(node, 0) for node in nodes]
    return (min(values), max(values)) if values else (0, 0)


def _measure(label, world, name, slices, fn):
    nodes = [i["name"] for i in world.gpu_nodes]
    load = _load_average()
    cpu, started = _children_cpu(), time.monotonic()
    codes, logs = fn()
    row = dict(label=label, codes=codes, wall=time.monotonic() - started, cpu=_children_cpu() - cpu, nodes=len(nodes),
               totals=_recap(logs), load=(load, _load_average()),
               remote=remote_tasks_per_node(world.workdir, name, slices, nodes))
    _say("%s: rc=%s %.0fs controller cpu %.0fs remote tasks/node %s %s" % (
        label, codes, row["wall"], row["cpu"], _span(row["remote"]), row["totals"]))
    return row


def _span(low_high):
    return "%d" % low_high[0] if low_high[0] == low_high[1] else "%d-%d" % low_high


def _world(args, name):
    workdir = os.path.join(os.path.abspath(args.workdir), name)
    stand_in.clean_leftovers(workdir)
    return stand_in.World(workdir, fleet=stand_in.bench_fleet(args.nodes), cluster="demo", forks=args.forks,
                          ssh_mode=args.ssh_hosts, kube_mode=args.kube, log=_say)


def run(args):
    rows, setup = [], {}
    if args.single:
        world = _world(args, "single")
        try:
            started = time.monotonic()
            world.start()
            inventory = world.write_static_inventory()
            setup["single"] = time.monotonic() - started
            rows.append(_measure("one job, first run", world, "single", 1, lambda: slicing.run_slices(
                world, [inventory], label="single", slice_env=count_env(world.workdir, "single"))))
        finally:
            world.teardown()
    world = _world(args, "sliced")
    try:
        started = time.monotonic()
        world.start()
        inventories = slicing.slice_inventories(world.write_static_inventory(), args.slices)
        setup["sliced"] = time.monotonic() - started
        extra = ["--extra-vars", "gpu_slicing_run_id=bench"]
        for label, name in (("first run", "first-run"), ("re-run", "re-run"))[:2 if args.rerun else 1]:
            row = _measure("%d slices, %s" % (args.slices, label), world, name, args.slices,
                           lambda name=name: slicing.run_slices(world, inventories, extra, label=name,
                                                                slice_env=count_env(world.workdir, name)))
            rows.append(row)
            if any(row["codes"]):
                break
    finally:
        world.teardown()
    section = render(args, world, rows, setup)
    print(section)
    if args.append:
        write_section(START, END, section)
    return 0 if rows and not any(any(row["codes"]) for row in rows) else 1


def render(args, world, rows, setup):
    p5 = sum(g.count for g in world.fleet_spec if g.instance_type == "p5.48xlarge")
    lines = [
        START,
        "## site.yml as %d job slices on %d simulated 8-GPU nodes (bench/slices_bench.py)" % (args.slices, args.nodes),
        "",
        "`PYTHONPATH=build/collections .venv/bin/python bench/slices_bench.py --nodes %d --slices %d --forks %d%s`: the "
        "world of bench/site_bench.py (%s SSH hosts, %s) with %d x p5.48xlarge (all-1g.10gb) and %d x p4d.24xlarge "
        "(all-balanced), a static inventory cut into %d inventories of only their hosts (as AWX slices), all slices "
        "started at once with %d forks each and the same `gpu_slicing_run_id`; one batch per slice (serial 100 %%). "
        "Controller CPU = user + system time of the ansible-playbook process trees (every fork, the delegated "
        "Kubernetes modules, the SSH clients), not the node-side modules. Setup: %s. %s, Python %s, %d CPUs shared with "
        "other work (load average before/after each run shown)." % (
            args.nodes, args.slices, args.forks, " --single" if args.single else "", world.ssh_mode,
            "a real kube-apiserver %s" % world.kube_version if world.kube_mode == "control-plane" else "the API emulator",
            p5, args.nodes - p5, args.slices, args.forks,
            ", ".join("%s world %.0f s" % item for item in sorted(setup.items())), platform.machine(),
            platform.python_version(), os.cpu_count()),
        "",
        "| run | rc per job | wall time | controller CPU | CPU per node | remote tasks per node | ok | changed | failed "
        "| load before / after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        totals = row["totals"]
        lines.append("| %s | %s | %.0f s | %.0f s | %.2f s | %s | %d | %d | %d | %s / %s |" % (
            row["label"], ",".join(str(c) for c in row["codes"]), row["wall"], row["cpu"], row["cpu"] / row["nodes"],
            _span(row["remote"]), totals.get("ok", 0), totals.get("changed", 0), totals.get("failed", 0), row["load"][0], row["load"][1]))
    lines += ["", END]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50, help="GPU nodes (1-64 with network namespaces, else 1-512)")
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--forks", type=int, default=25, help="forks of each slice (AWX: the job template's)")
    parser.add_argument("--no-rerun", dest="rerun", action="store_false", help="only the first run of the slices")
    parser.add_argument("--single", action="store_true", help="first run the fleet once as one job, in its own world")
    parser.add_argument("--workdir", default=os.path.join(ROOT, "build", "slices-bench"))
    parser.add_argument("--append", action="store_true", help="write the section into bench/RESULTS.md")
    stand_in.add_world_options(parser)
    args = parser.parse_args()
    if not 1 <= args.nodes <= 512 or not 1 <= args.slices <= args.nodes:
        parser.error("--nodes must be between 1 and 512 and --slices between 1 and --nodes")
    return stand_in.run_interruptible(run, args)


if __name__ == "__main__":
    sys.exit(main())
