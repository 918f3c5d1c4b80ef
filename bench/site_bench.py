#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wall time of site.yml on many simulated 8-GPU nodes, and the rerun's changed count.

Builds the stand-in world of `make demo` (tests/support/world.py: moto, Kubernetes, one SSH host per GPU node
with the nvidia-smi simulator, the device-plugin stand-in) but with NODES GPU nodes (80 % p5.48xlarge
in NodePool p5-mig-1g -> all-1g.10gb, 20 % p4d.24xlarge in p4d-mig-balanced -> all-balanced), runs the real
playbooks/site.yml with FORKS forks and one batch (serial 100 %), then runs it again. Prints a Markdown
section; --append replaces the section between the markers in bench/RESULTS.md.

    PYTHONPATH=build/collections .venv/bin/python bench/site_bench.py [--nodes 50] [--forks 25] [--append]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import os
import platform
import re
import sys
import time

from ansible_collections.gpu_slicing.eks.tests.support import world as stand_in

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START = "<!-- site bench: start -->"
END = "<!-- site bench: end -->"


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


def _say(text):
    print("[bench] %s" % text, flush=True)


def describe(args, world, p5, setup):
    """The paragraph above the table: command line, world, machine."""
    kube = "a real kube-apiserver %s" % world.kube_version if world.kube_mode == "control-plane" else "the API emulator"
    return (
        "`PYTHONPATH=build/collections .venv/bin/python bench/site_bench.py --nodes %d --forks %d --ssh-hosts %s --kube %s`: "
        "the stand-in world of `make demo` (tests/support/world.py: moto, %s, one %s SSH host + nvidia-smi simulator per "
        "node, kubelet/device-plugin stand-ins) with %d x p5.48xlarge (all-1g.10gb) and %d x p4d.24xlarge (all-balanced); "
        "every stage of site.yml (driver check, device plugin, partition in one batch, Karpenter, verify report); %d forks. "
        "Setup of the world: %.0f s. %s, Python %s, %d CPUs shared with other work (load average before/after each run "
        "shown)." % (args.nodes, args.forks, world.ssh_mode, world.kube_mode, kube, world.ssh_mode, p5, args.nodes - p5,
                     args.forks, setup, platform.machine(), platform.python_version(), os.cpu_count()))


def run(args):
    workdir = os.path.abspath(args.workdir)
    stand_in.clean_leftovers(workdir)
    world = stand_in.World(workdir, fleet=stand_in.bench_fleet(args.nodes), cluster="demo", forks=args.forks,
                           ssh_mode=args.ssh_hosts)
    p5 = sum(g.count for g in world.fleet_spec if g.instance_type == "p5.48xlarge")
    rows = []
    try:
        _say("world with %d GPU nodes (%s SSH hosts)" % (args.nodes, world.ssh_mode))
        started = time.monotonic()
        world.start()
        inventory = world.write_plugin_inventory()
        setup = time.monotonic() - started
        for label in ("first run", "rerun"):
            load_before = _load_average()
            _say("site.yml, %s" % label)
            started = time.monotonic()
            rc, recap, log_path, _failed = world.run_playbook(inventory, "site-" + label.replace(" ", "-"), on_line=_say)
            wall = time.monotonic() - started
            totals = _tasks_per_host(log_path)
            rows.append((label, rc, wall, totals, load_before, _load_average()))
            _say("%s: rc=%d %.1fs %s" % (label, rc, wall, totals))
            if rc != 0:
                break
    finally:
        world.teardown()
    lines = [
        START,
        "## site.yml on %d simulated 8-GPU nodes (bench/site_bench.py)" % args.nodes,
        "",
        describe(args, world, p5, setup),
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
    parser.add_argument("--nodes", type=int, default=50, help="GPU nodes (1-64 with network namespaces, else 1-512)")
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--workdir", default=os.path.join(ROOT, "build", "site-bench"))
    parser.add_argument("--append", action="store_true", help="write the section into bench/RESULTS.md")
    stand_in.add_world_options(parser)
    args = parser.parse_args()
    if not 1 <= args.nodes <= 512:
        parser.error("--nodes must be between 1 and 512")
    return stand_in.run_interruptible(run, args)


if __name__ == "__main__":
    sys.exit(main())
