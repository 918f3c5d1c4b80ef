#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Karpenter's provisioning decisions for 56, 560 and 5,600 pending MIG pods: time and NodeClaims.

A real control plane (kube-apiserver, etcd, kube-scheduler, kube-controller-manager) and real Karpenter v1.14.1
(kwok cloud provider, instance types from the GPU catalog, NodeOverlay=true), one ``all-1g.10gb`` p5.48xlarge pool
and its NodeOverlay from ``karpenter_nodepool``. For each size: create the pods (8 parallel clients), wait until the
real scheduler marked them all Unschedulable, and until Karpenter's NodeClaims cover every pod and nothing moved for
the quiet period. Reports the times from the first pod created and the NodeClaims against the ideal ceil(n / 56).

    PYTHONPATH=build/collections .venv/bin/python bench/karpenter_kwok_bench.py [--sizes 56 560 5600] [--append]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import datetime
import math
import os
import platform
import sys
import tempfile
import time

import kubernetes.client

from ansible_collections.gpu_slicing.eks.bench._results import run_module, write_section
from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool
from ansible_collections.gpu_slicing.eks.tests.support import karpenter_kwok as kk
from ansible_collections.gpu_slicing.eks.tests.support.control_plane import ControlPlane, api_client

START = "<!-- karpenter_kwok bench: start -->"
END = "<!-- karpenter_kwok bench: end -->"
RESOURCE = "nvidia.com/mig-1g.10gb"
PER_NODE = 56
QUIET = 12.0


def _stamp(value):
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def measure(core, custom, karpenter, size, timeout):
    """Times (from the first create request) and NodeClaims once Karpenter decided: every pod marked Unschedulable by
    the scheduler (or already bound to a node Karpenter launched), a provisioner simulation after that, and no
    NodeClaim change for QUIET seconds."""
    namespace = "bench-%d" % size
    load_before = os.getloadavg()[0]
    started = time.time()
    kk.create_pods(core, namespace, RESOURCE, size, name="p")
    created = time.time()
    unschedulable, runs_before = None, None
    claims, last_change, last_state = [], time.time(), None
    deadline = time.time() + timeout
    while time.time() < deadline:
        if unschedulable is None:
            pods = core.list_namespaced_pod(namespace).items
            if all(p.spec.node_name or any(c.type == "PodScheduled" and c.reason == "Unschedulable"
                                           for c in (p.status.conditions or [])) for p in pods):
                unschedulable = time.time()
                runs_before = karpenter.provisioning_simulations()[0]
        claims = kk.nodeclaims(custom)
        state = len(claims)
        if state != last_state:
            last_state, last_change = state, time.time()
        if unschedulable and time.time() - last_change >= QUIET and (
                karpenter.provisioning_simulations()[0] > runs_before
                or all(p.spec.node_name for p in core.list_namespaced_pod(namespace).items)):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError("%d pods: not decided after %ss (%d NodeClaims)" % (size, timeout, len(claims)))
    created_at = sorted(_stamp(c["metadata"]["creationTimestamp"]) for c in claims)
    return {"size": size, "create_s": created - started, "unschedulable_s": unschedulable - started,
            "first_claim_s": created_at[0] - started, "last_claim_s": created_at[-1] - started,
            "claims": len(claims), "ideal": int(math.ceil(float(size) / PER_NODE)),
            "unschedulable_pods": karpenter.provisioning_simulations()[1],
            "load": (load_before, os.getloadavg()[0])}


def cleanup(core, custom, namespace):
    deadline = time.time() + 300
    while True:  # deleting 5,600 pods can exceed the API server's 60 s request timeout (504); it goes on server-side
        try:
            core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
            break
        except kubernetes.client.exceptions.ApiException as exc:
            if exc.status < 500 or time.time() > deadline:
                raise
            time.sleep(5)
    for claim in kk.nodeclaims(custom):
        custom.delete_cluster_custom_object("karpenter.sh", "v1", "nodeclaims", claim["metadata"]["name"])
    deadline = time.time() + 300
    while kk.nodeclaims(custom) or core.list_node().items:
        if time.time() > deadline:
            raise RuntimeError("NodeClaims/Nodes not gone after 300 s")
        time.sleep(1)
    core.delete_namespace(namespace)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[56, 560, 5600])
    parser.add_argument("--batch-idle", default="2s")
    parser.add_argument("--batch-max", default="10s")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--append", action="store_true", help="write the section into bench/RESULTS.md")
    args = parser.parse_args()

    rows = []
    workdir = tempfile.mkdtemp(prefix="karpenter-bench-")
    crds = [str(p) for p in kk.crd_paths()]
    with ControlPlane(workdir=os.path.join(workdir, "cp"), crds=crds) as plane:
        client = api_client(plane.kubeconfig)
        core, custom = kubernetes.client.CoreV1Api(client), kubernetes.client.CustomObjectsApi(client)
        custom.create_cluster_custom_object(kk.KWOK_NODECLASS_GROUP, kk.KWOK_NODECLASS_VERSION, "kwoknodeclasses",
                                            kk.kwok_nodeclass())
        with kk.Karpenter(plane.kubeconfig, workdir, node_overlay=True, batch_idle=args.batch_idle,
                          batch_max=args.batch_max) as karpenter, \
                kk.NodeStatusStandIn(client):
            run_module(karpenter_nodepool.main, {
                "name": "bench", "instance_types": ["p5.48xlarge"], "mig_config": "all-1g.10gb", "node_overlay": True,
                "node_class": kk.node_class_ref(), "kubeconfig": plane.kubeconfig, "wait": True, "wait_timeout": 60})
            for index, size in enumerate(args.sizes):
                row = measure(core, custom, karpenter, size, args.timeout)
                print(row, flush=True)
                rows.append(row)
                if index < len(args.sizes) - 1:  # the last size's pods go with the cluster
                    cleanup(core, custom, "bench-%d" % size)
            version = plane.version
            errors = karpenter.errors()

    lines = [
        START,
        "## Real Karpenter: time to decide for pending MIG pods",
        "",
        "`bench/karpenter_kwok_bench.py`, %s, Python %s, %d CPUs shared with other jobs (indicative: see the load average "
        "column). kube-apiserver %s, "
        "Karpenter %s (kwok provider, NodeOverlay=true, BATCH_IDLE_DURATION=%s, BATCH_MAX_DURATION=%s); one p5.48xlarge "
        "`all-1g.10gb` pool + NodeOverlay (56 `%s` per node); pods created by 8 parallel clients; times from the first "
        "pod create request. `unschedulable`: the real kube-scheduler marked every pod; `first`/`last NodeClaim`: their "
        "creationTimestamps (1 s resolution)." % (
            datetime.date.today().isoformat(), platform.python_version(), os.cpu_count(), version,
            kk.karpenter_version(), args.batch_idle, args.batch_max, RESOURCE),
        "",
        "| pending pods | pods created | all unschedulable | first NodeClaim | last NodeClaim | NodeClaims | ideal ceil(n/56) "
        "| pods Karpenter could not place | load average (1 min) before / after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append("| %d | %.1f s | %.1f s | %.1f s | %.1f s | %d | %d | %d | %.1f / %.1f |" % (
            row["size"], row["create_s"], row["unschedulable_s"], row["first_claim_s"], row["last_claim_s"], row["claims"],
            row["ideal"], row["unschedulable_pods"], row["load"][0], row["load"][1]))
    lines += ["", "Karpenter logged %d ERROR lines during the run." % len(errors), END]
    section = "\n".join(lines)
    print(section)
    if args.append:
        write_section(START, END, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
