#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml on many simulated 8-GPU nodes: first run, then converged re-runs of this collection against an older one.

Builds the stand-in world of `make demo` (tests/support/world.py: moto, Kubernetes, one SSH host per GPU node
with the nvidia-smi simulator, the kubelet/device-plugin stand-ins) with NODES GPU nodes (80 % p5.48xlarge in
NodePool p5-mig-1g -> all-1g.10gb, 20 % p4d.24xlarge in p4d-mig-balanced -> all-balanced) and runs the real
playbooks/site.yml with FORKS forks and one batch (serial 100 %) once. Then it re-runs site.yml on the SAME
converged world ROUNDS times with each collection, alternating (new, old, old, new, ...): `old` is the collection
at commit OLD (`git archive` into WORKDIR/old, put first on ANSIBLE_COLLECTIONS_PATH, its own playbooks/site.yml),
`new` this checkout. A re-run that follows a run of the OTHER collection is not a converged re-run for it (the two
commits install different boot files, e.g. the applier built from module_utils, so it rewrites them): such runs are
shown as "after old"/"after new" and left out of the ratio, which compares only re-runs that follow a run of their
own collection (the first run is `new`, so rounds of (new, old) (old, new) give one such run per collection per two
rounds). Per run: wall time, changed count, remote tasks per node (tests/support/callback/remote_tasks.py:
tasks executed on the node itself, not skipped, not delegated) and controller CPU per node (user+system CPU of
ansible-playbook and everything it started: forks, ssh clients, local modules). Prints a Markdown section;
--append replaces the section between the markers in bench/RESULTS.md.

    PYTHONPATH=build/collections .venv/bin/python bench/site_bench.py [--nodes 50] [--forks 25] [--rounds 2]
        [--old 0048358 | --old none] [--append]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import time

from ansible_collections.gpu_slicing.eks.tests.support import world as stand_in

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALLBACK_DIR = os.path.join(ROOT, "tests", "support", "callback")
START = "<!-- site bench converged: start -->"
END = "<!-- site bench converged: end -->"
OLD_DEFAULT = "0048358"


def _load_average():
    with open("/proc/loadavg") as handle:
        return handle.read().split()[0]


def recap_totals(log_path):
    """ok/changed/failed/... of the last PLAY RECAP, summed over hosts."""
    with open(log_path) as handle:
        text = handle.read()
    recap = text.rsplit("PLAY RECAP", 1)[-1]
    totals = {}
    for key, value in re.findall(r"(\w+)=(\d+)", recap):
        totals[key] = totals.get(key, 0) + int(value)
    return totals


def remote_task_counts(path, nodes):
    """{node: remote task count} from the remote_tasks callback's file, for the GPU nodes."""
    with open(path) as handle:
        hosts = json.load(handle)["hosts"]
    return dict((node, hosts.get(node, {}).get("remote", 0)) for node in nodes)


def _say(text):
    print("[bench] %s" % text, flush=True)


def export_old(commit, workdir):
    """The collection at ``commit`` as WORKDIR/old/ansible_collections/gpu_slicing/eks (git archive); returns the
    collections root and the commit's full id."""
    full = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", commit + "^{commit}"], check=True,
                          capture_output=True, universal_newlines=True).stdout.strip()
    root = os.path.join(workdir, "old-" + full[:12])
    target = os.path.join(root, "ansible_collections", "gpu_slicing", "eks")
    if not os.path.isdir(target):
        os.makedirs(target)
        archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", full], check=True, capture_output=True)
        tar_path = os.path.join(root, "collection.tar")
        with open(tar_path, "wb") as handle:
            handle.write(archive.stdout)
        with tarfile.open(tar_path) as tar:
            tar.extractall(target)  # our own repository's commit, not untrusted input
        os.remove(tar_path)
    return root, full


class BenchWorld(stand_in.World):
    """The world with per-run environment additions (collections path, task-count callback)."""

    extra_env = {}

    def ansible_env(self):
        env = super(BenchWorld, self).ansible_env()
        env.update(self.extra_env)
        return env


def run_site(world, inventory, label, collections_root=None, playbook=stand_in.SITE):
    """One site.yml run; returns a row dict."""
    label = label.replace(" ", "-")
    counts_path = os.path.join(world.workdir, "%s.tasks.json" % label)
    env = {"ANSIBLE_CALLBACK_PLUGINS": CALLBACK_DIR, "ANSIBLE_CALLBACKS_ENABLED": "remote_tasks",
           "GPU_SLICING_TASK_COUNT_FILE": counts_path}
    if collections_root:
        env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join([collections_root, os.path.join(ROOT, "build", "collections")])
    world.extra_env = env
    load_before = _load_average()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    rc, _recap, log_path, _failed = world.run_playbook(inventory, "site-" + label, playbook=playbook, on_line=_say)
    wall = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    nodes = [i["name"] for i in world.gpu_nodes]
    remote = remote_task_counts(counts_path, nodes) if os.path.exists(counts_path) else {}
    row = dict(label=label, rc=rc, wall=wall, cpu=cpu, totals=recap_totals(log_path), load=(load_before, _load_average()),
               remote=remote, nodes=len(nodes))
    _say("%s: rc=%d %.1fs cpu %.1fs remote/node %s %s" % (label, rc, wall, cpu, _remote_text(row), row["totals"]))
    return row


def _remote_text(row):
    values = list(row["remote"].values())
    if not values:
        return "-"
    low, high = min(values), max(values)
    return "%d" % low if low == high else "%d-%d (mean %.1f)" % (low, high, statistics.mean(values))


def describe(args, world, p5, setup, old):
    kube = "a real kube-apiserver %s" % getattr(world, "kube_version", "") if world.kube_mode == "control-plane" else "the API emulator"
    return (
        "`PYTHONPATH=build/collections .venv/bin/python bench/site_bench.py --nodes %d --forks %d --rounds %d --old %s`: "
        "the stand-in world of `make demo` (tests/support/world.py: moto, %s, one %s SSH host + nvidia-smi simulator per "
        "node, kubelet/device-plugin stand-ins) with %d x p5.48xlarge (all-1g.10gb) and %d x p4d.24xlarge "
        "(all-balanced); every stage of site.yml (driver check, device plugin, partition in one batch, Karpenter, "
        "verify report); %d forks. The first run uses this checkout; then the same converged world is re-run with the "
        "collection at %s (`old`, git archive on ANSIBLE_COLLECTIONS_PATH) and with this checkout (`new`), "
        "alternating. Setup of the world: %.0f s. %s, Python %s, %d CPUs shared with other engineers' work (1-minute "
        "load average before/after each run shown). Remote tasks = tasks executed on the node (not skipped, not "
        "delegated, not controller-only actions), counted by tests/support/callback/remote_tasks.py. Controller CPU = "
        "user+system CPU of ansible-playbook and all it started (forks, ssh clients, local kubernetes.core modules), "
        "not the API server's." % (
            args.nodes, args.forks, args.rounds, args.old, kube, world.ssh_mode, p5, args.nodes - p5, args.forks,
            old or "-", setup, platform.machine(), platform.python_version(), os.cpu_count()))


def table(rows):
    lines = ["| run | collection | after | rc | wall time | changed | remote tasks per node | controller CPU per node | load before / after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append("| %s | %s | %s | %d | %.0f s | %d | %s | %.2f s | %s / %s |" % (
            row["label"], row.get("collection", "new"), row.get("after", "-"), row["rc"], row["wall"], row["totals"].get("changed", 0),
            _remote_text(row), row["cpu"] / max(row["nodes"], 1), row["load"][0], row["load"][1]))
    return lines


def summary(rows):
    """Median re-run wall time of new over old, and the remote-task maximum of the new re-runs."""
    converged = [r for r in rows if r.get("after") == r.get("collection")]  # the first run has no "after"
    old = [r["wall"] for r in converged if r.get("collection") == "old"]
    new = [r["wall"] for r in converged if r.get("collection") == "new"]
    lines = []
    if old and new:
        lines.append("Converged re-run wall time (each after a run of its own collection), median new / median old: "
                     "%.0f s / %.0f s = %.2fx." % (
                         statistics.median(new), statistics.median(old), statistics.median(new) / statistics.median(old)))
    new_remote = [v for r in converged if r.get("collection") == "new" for v in r["remote"].values()]
    if new_remote:
        lines.append("Remote tasks per node on a converged re-run (new): at most %d." % max(new_remote))
    return lines


def run(args):
    workdir = os.path.abspath(args.workdir)
    stand_in.clean_leftovers(workdir)
    old_root = old_id = None
    if args.old != "none":
        old_root, old_id = export_old(args.old, os.path.join(os.path.dirname(workdir), "site-bench-old"))
    world = BenchWorld(workdir, fleet=stand_in.bench_fleet(args.nodes), cluster="demo", forks=args.forks,
                       ssh_mode=args.ssh_hosts)
    p5 = sum(g.count for g in world.fleet_spec if g.instance_type == "p5.48xlarge")
    rows = []
    try:
        _say("world with %d GPU nodes (%s SSH hosts)" % (args.nodes, world.ssh_mode))
        started = time.monotonic()
        world.start()
        inventory = world.write_plugin_inventory()
        setup = time.monotonic() - started
        rows.append(run_site(world, inventory, "first run"))
        rows[0]["collection"] = "new"
        for index in range(args.rounds if rows[-1]["rc"] == 0 else 0):
            order = ("new", "old") if index % 2 == 0 else ("old", "new")
            for which in order:
                if which == "old" and old_root is None:
                    continue
                label = "re-run %d" % (index + 1)
                if which == "old":
                    playbook = os.path.join(old_root, "ansible_collections", "gpu_slicing", "eks", "playbooks", "site.yml")
                    row = run_site(world, inventory, label + "-old", old_root, playbook)
                else:
                    row = run_site(world, inventory, label + "-new")
                row.update(label=label, collection=which, after=rows[-1]["collection"])
                rows.append(row)
                # the table so far, so that a run cut short (deadline, Ctrl-C) still leaves its numbers
                _say("table so far:\n" + "\n".join(table(rows) + summary(rows)))
    finally:
        world.teardown()
    old_text = "%s (%s)" % (args.old, old_id[:12]) if old_id else None
    lines = [START, "## site.yml on %d simulated 8-GPU nodes: converged re-run, old vs new (bench/site_bench.py)" % args.nodes,
             "", describe(args, world, p5, setup, old_text), ""] + table(rows) + [""] + summary(rows) + ["", END]
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
    # a converged re-run changes nothing; one after the other collection may rewrite that collection's boot files
    ok = rows and all(r["rc"] == 0 for r in rows) and all(
        r["totals"].get("changed", -1) == 0 for r in rows[1:] if r.get("after") == r.get("collection"))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50, help="GPU nodes (1-64 with network namespaces, else 1-512)")
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=2, help="re-runs per collection after the first run")
    parser.add_argument("--old", default=OLD_DEFAULT, help="commit of the collection to compare with, or 'none'")
    parser.add_argument("--workdir", default=os.path.join(ROOT, "build", "site-bench"))
    parser.add_argument("--append", action="store_true", help="write the section into bench/RESULTS.md")
    stand_in.add_world_options(parser)
    args = parser.parse_args()
    if not 1 <= args.nodes <= 512:
        parser.error("--nodes must be between 1 and 512")
    if args.rounds < 0:
        parser.error("--rounds must be 0 or more")
    return stand_in.run_interruptible(run, args)


if __name__ == "__main__":
    sys.exit(main())
