#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP requests and wall time of karpenter_nodepool runs against the real kube-apiserver.

Runs the real module in-process (real argument parsing, real kubernetes client, HTTPS to the real kube-apiserver
of tests/support/control_plane.py: the session cluster when one runs, else a private one)
for: create (NodePool + EC2NodeClass + 2 NodeOverlays), converged repeat, one-field update, check mode,
delete. Requests are counted with a hook on the kubernetes client's REST layer (a measurement, not a
stand-in: every request still goes over HTTP). Prints a Markdown section; --append adds it to
bench/RESULTS.md.

    PYTHONPATH=build/collections .venv/bin/python bench/karpenter_bench.py [--rounds 5] [--append]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import collections
import os
import platform
import statistics
import sys
import time

import kubernetes.client.rest

from ansible_collections.gpu_slicing.eks.bench._results import run_module, write_section
from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool
from ansible_collections.gpu_slicing.eks.tests.support import control_plane

START = "<!-- karpenter_nodepool bench: start -->"
END = "<!-- karpenter_nodepool bench: end -->"
REQUESTS = collections.Counter()
_original_request = kubernetes.client.rest.RESTClientObject.request


def _counting_request(self, method, url, *args, **kwargs):
    REQUESTS[method] += 1
    return _original_request(self, method, url, *args, **kwargs)


def run(args, check_mode=False):
    REQUESTS.clear()
    result, elapsed = run_module(karpenter_nodepool.main, dict(args, _ansible_check_mode=check_mode))
    return result, dict(REQUESTS), elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--append", action="store_true", help="append the section to bench/RESULTS.md")
    options = parser.parse_args()
    kubernetes.client.rest.RESTClientObject.request = _counting_request

    rows = collections.OrderedDict()
    with control_plane.cluster() as cluster, control_plane.exclusive(cluster) as kube:
        for round_index in range(options.rounds):
            pool = dict(name="bench-%d" % round_index, kubeconfig=kube.kubeconfig, gpu_names=["h100"], mig_config="all-1g.10gb",
                        node_overlay=True, weight=10, cluster_name="bench",
                        node_class={"name": "bench-%d" % round_index, "role": "KarpenterNodeRole-bench"})
            steps = [
                ("create (pool + class + 2 overlays)", pool, False),
                ("converged repeat", pool, False),
                ("update one field (weight)", dict(pool, weight=20), False),
                ("check mode, would change", dict(pool, weight=30), True),
                ("delete (pool + class + 2 overlays)", dict(pool, state="absent", delete_node_class=True), False),
                ("delete again (nothing left)", dict(pool, state="absent", delete_node_class=True), False),
            ]
            for label, args, check in steps:
                result, requests, elapsed = run(args, check_mode=check)
                row = rows.setdefault(label, {"requests": requests, "changed": result["changed"], "times": []})
                assert row["requests"] == requests, (label, row["requests"], requests)  # deterministic per step
                row["times"].append(elapsed)

    lines = [
        START,
        "## karpenter_nodepool: API requests and time per run",
        "",
        "`bench/karpenter_bench.py --rounds %d` on %s, Python %s, %d CPUs (shared); module in-process, real kubernetes "
        "client over HTTPS to the real kube-apiserver %s (tests/support/control_plane.py, Karpenter v1.14.1 CRDs). Requests counted at the "
        "client's REST layer; identical in every round. Times are wall clock with a 1-minute load average of %.1f "
        "(other engineers' jobs): compare request counts, not milliseconds."
        % (options.rounds, time.strftime("%Y-%m-%d"), platform.python_version(), os.cpu_count(), kube.version, os.getloadavg()[0]),
        "",
        "| run | changed | HTTP requests | by method | median ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        by_method = ", ".join("%s %d" % (m, n) for m, n in sorted(row["requests"].items()))
        cells = (label, row["changed"], sum(row["requests"].values()), by_method,
                 statistics.median(row["times"]) * 1000, max(row["times"]) * 1000)
        lines.append("| %s | %s | %d | %s | %.0f | %.0f |" % cells)
    lines += ["", "Every run first asks discovery whether NodeOverlay is served (one GET of karpenter.sh/v1alpha1: clusters "
              "with Karpenter < 1.7 have no such CRD). Every present run then reads GET pool, LIST own overlays, GET class, "
              "then dry-runs the apply of all 4 objects "
              "(PATCH dryRun=All: server admission before any write); only objects whose dry-run answer differs from the "
              "live object are applied for real. So a converged run writes nothing, an update writes one object.", ""]
    lines.append(END)
    text = "\n".join(lines)
    print(text)
    if options.append:
        write_section(START, END, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
