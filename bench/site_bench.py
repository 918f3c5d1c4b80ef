#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wall time of site.yml on many simulated 8-GPU nodes, and the rerun's changed count.

Builds the same world as `make demo` (moto, the Kubernetes API emulator, one network-namespace SSH host per
GPU node with the nvidia-smi simulator, the device-plugin stand-in) but with NODES GPU nodes (80 % p5.48xlarge
in NodePool p5-mig-1g -> all-1g.10gb, 20 % p4d.24xlarge in p4d-mig-balanced -> all-balanced), runs the real
playbooks/site.yml with FORKS forks and one batch (serial 100 %), then runs it again. Prints a Markdown
section; --append replaces the section between the markers in bench/RESULTS.md.

    PYTHONPATH=build/collections .venv/bin/python bench/site_bench.py [--nodes 50] [--forks 25] [--append]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import importlib.util
import os
import platform
import re
import signal
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START = "<!-- site bench: start -->"
END = "<!-- site bench: end -->"


_DEMO = []


def _load_demo():
    """demo/run_demo.py as a module (it is a script, not a package), loaded once."""
    if _DEMO:
        return _DEMO[0]
    spec = importlib.util.spec_from_file_location("gpu_slicing_demo", os.path.join(ROOT, "demo", "run_demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _DEMO.append(module)
    return module


def _load_average():
    with open("/proc/loadavg") as handle:
        return handle.read().split()[0]


def _tasks_per_host(log_path):
    """ok/changed/failed counts of the last PLAY RECAP, summed over hosts."""
    with open(log_path) as handle:
        text = handle.read()
    recap = text.rsplit("PLAY RECAP", 1)[-1]
    totals = {}
    for key, value in re.findall(r"(\w+)=(\d+)", recap):
        totals[key] = totals.get(key, 0) + int(value)
    return totals


def run(args):
    demo = _load_demo()
    p5 = args.nodes - args.nodes // 5
    fleet = [("gpu", "p5.48xlarge", p5, "h100-80gb", "p5-mig-1g", None),
             ("gpu", "p4d.24xlarge", args.nodes - p5, "a100-40gb", "p4d-mig-balanced", None)]
    fleet = [entry for entry in fleet if entry[2] > 0]
    workdir = os.path.abspath(args.workdir)
    demo.clean_leftovers(workdir)
    os.makedirs(workdir, exist_ok=True)
    world = demo.DemoWorld(workdir, fleet=fleet, forks=args.forks)
    progress = demo.Progress()
    rows = []
    try:
        progress.stage("world with %d GPU nodes" % args.nodes)
        started = time.monotonic()
        world.start_moto()
        world.seed_ec2()
        world.start_kube()
        gpu_nodes, mapping = world.start_gpu_nodes()
        world.start_device_plugin(mapping, len(gpu_nodes))
        inventory = world.write_inventory()
        setup = time.monotonic() - started
        progress.done()
        for label in ("first run", "rerun"):
            load_before = _load_average()
            progress.stage("site.yml, %s" % label)
            print()
            started = time.monotonic()
            rc, recap, log_path, _failed = world.run_playbook(inventory, progress, "site-" + label.replace(" ", "-"))
            wall = time.monotonic() - started
            totals = _tasks_per_host(log_path)
            rows.append((label, rc, wall, totals, load_before, _load_average()))
            progress.line("%s: rc=%d %.1fs %s" % (label, rc, wall, totals))
            if rc != 0:
                break
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        world.teardown()
        signal.signal(signal.SIGINT, previous)
    lines = [
        START,
        "## site.yml on %d simulated 8-GPU nodes (bench/site_bench.py)" % args.nodes,
        "",
        "`PYTHONPATH=build/collections .venv/bin/python bench/site_bench.py --nodes %d --forks %d`: the `make demo` world "
        "(moto, API emulator, one netns SSH host + nvidia-smi simulator per node, device-plugin stand-in) with %d x p5.48xlarge "
        "(all-1g.10gb) and %d x p4d.24xlarge (all-balanced); every stage of site.yml (driver check, device plugin, partition in "
        "one batch, Karpenter, verify report); %d forks. Setup of the world: %.0f s. %s, Python %s, %d CPUs shared with other "
        "work (load average before/after each run shown)." % (
            args.nodes, args.forks, p5, args.nodes - p5, args.forks, setup, platform.machine(), platform.python_version(),
            os.cpu_count()),
        "",
        "| run | rc | wall time | ok | changed | failed | unreachable | load before / after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, rc, wall, totals, before, after in rows:
        lines.append("| %s | %d | %.0f s | %d | %d | %d | %d | %s / %s |" % (
            label, rc, wall, totals.get("ok", 0), totals.get("changed", 0), totals.get("failed", 0),
            totals.get("unreachable", 0), before, after))
    lines += ["", END]
    section = "\n".join(lines) + "\n"
    print(section)
    if args.append:
        path = os.path.join(ROOT, "bench", "RESULTS.md")
        with open(path) as handle:
            text = handle.read()
        if START in text and END in text:
            text = text[:text.index(START)] + section.rstrip("\n") + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + section
        with open(path, "w") as handle:
            handle.write(text)
    return 0 if rows and all(row[1] == 0 for row in rows) and rows[-1][3].get("changed", -1) == 0 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50, help="GPU nodes (1-64, one network namespace each)")
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--workdir", default=os.path.join(ROOT, "build", "site-bench"))
    parser.add_argument("--append", action="store_true", help="write the section into bench/RESULTS.md")
    args = parser.parse_args()
    if not 1 <= args.nodes <= 64:
        parser.error("--nodes must be between 1 and 64 (one /30 network namespace per node)")
    demo = _load_demo()
    signal.signal(signal.SIGINT, demo._raise_interrupted)
    signal.signal(signal.SIGTERM, demo._raise_interrupted)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
