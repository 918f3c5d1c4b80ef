#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scale-up loop, stage by stage: pending MIG pods -> NodeClaims -> booted hosts -> ready Nodes -> bound pods.

tests/support/scale_up_bridge.py's ScaleUpLoop (private real control plane, real Karpenter v1.14.1 with the kwok
provider, the p5.48xlarge ``all-1g.10gb`` pool from karpenter_nodepool, one fresh simulated host per NodeClaim that
runs the pool's AL2023 userData shell part over SSH) for each pod count; the times are from the first pod created.
Per boot: SSH host creation, the shell part (download + SHA-256 + applier on the simulated GPUs) and the Node write.

    PYTHONPATH=build/collections .venv/bin/python bench/scale_up_bench.py [--pods 56 168] [--ssh-hosts MODE] [--append]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile

from ansible_collections.gpu_slicing.eks.bench._results import write_section
from ansible_collections.gpu_slicing.eks.tests.support import scale_up_bridge as sub

START = "<!-- scale_up bench: start -->"
END = "<!-- scale_up bench: end -->"
POOL = dict(name="bench-mig-1g", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", mig_strategy="mixed")
RESOURCE = "nvidia.com/mig-1g.10gb"
STAGES = ("pods created", "NodeClaim created", "hosts booted and partitioned", "Nodes ready with resources", "pods bound")


def measure(pods, ssh_mode, workdir):
    with sub.ScaleUpLoop(workdir, POOL, ssh_mode=ssh_mode, log=lambda text: print("  " + text, file=sys.stderr)) as loop:
        setup = dict((s.name, s.seconds) for s in loop.setup)
        result = loop.run(RESOURCE, pods, timeout=600)
        stages = dict((s.name, s.seconds) for s in result["stages"])
        boots = result["boots"]

        def per_boot(start, end):
            return statistics.median(b["times"][end] - b["times"][start] for b in boots)

        return {"pods": pods, "claims": len(loop.nodeclaims()), "setup": setup, "stages": stages,
                "host": per_boot("boot_start", "host_up"), "part": per_boot("host_up", "partitioned"),
                "write": per_boot("partitioned", "node_ready"), "mig_calls": max(b["mig_calls"] for b in boots),
                "mode": loop.ssh_mode, "load": os.getloadavg()[0]}


def render(rows):
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [START, "## Scale-up loop: pending pods to bound pods through a booted node (bench/scale_up_bench.py)", "",
             "%s, %s, Python %s, %d cores shared with other jobs (load average in the table). Seconds from the first "
             "pod created; real kube-apiserver/scheduler and Karpenter v1.14.1 (kwok provider), simulated p5.48xlarge "
             "hosts (8 x H100, MIG disabled at boot) over SSH, applier downloaded over HTTP. Per boot (median): SSH host "
             "creation, the userData shell part (download, SHA-256, applier: MIG mode + 56 instances), Node status write."
             % (when, platform.machine(), platform.python_version(), os.cpu_count() or 0), "",
             "| pods | NodeClaims | SSH hosts | " + " | ".join(STAGES) + " | host | part | Node write | GPU commands "
             "(mutating, max/boot) | load |",
             "|---:|---:|---|" + "---:|" * len(STAGES) + "---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append("| %d | %d | %s | %s | %.1f | %.1f | %.1f | %d | %.1f |" % (
            row["pods"], row["claims"], row["mode"], " | ".join("%.1f" % row["stages"].get(s, float("nan")) for s in STAGES),
            row["host"], row["part"], row["write"], row["mig_calls"], row["load"]))
    setup = rows[0]["setup"]
    lines += ["", "Setup of each run (not in the table): control plane %.1f s, Karpenter %.1f s, pool + bridge %.1f s. "
              "Boots run in parallel (4 workers); on this 2-core machine the shell parts of several nodes compete for the "
              "CPU, so 'part' grows with the node count. No real EC2 boot, no real GPU: the times of a real node (instance "
              "launch, AMI boot, nvidia-smi on real GPUs) are not measured here." % (
                  setup.get("control plane", 0), setup.get("karpenter", 0), setup.get("pool", 0)), END]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, nargs="+", default=[56, 168])
    parser.add_argument("--ssh-hosts", default=None, help="netns | sshd | asyncssh (default: the best available)")
    parser.add_argument("--append", action="store_true", help="write the table into bench/RESULTS.md")
    args = parser.parse_args(argv)
    rows = []
    for pods in args.pods:
        with tempfile.TemporaryDirectory(prefix="scale-up-bench-") as workdir:
            rows.append(measure(pods, args.ssh_hosts, workdir))
        print("%(pods)d pods: %(claims)d NodeClaims, stages %(stages)s" % rows[-1], file=sys.stderr)
    section = render(rows)
    print(section)
    if args.append:
        write_section(START, END, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
