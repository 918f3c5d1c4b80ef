# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Timings of the Kubernetes API emulator (start, admission, HTTP round trips with the real client): the demo's
fallback where Go cannot be had, not a claim about Kubernetes.

Run from the checkout:  PYTHONPATH=build/collections .venv/bin/python bench/kube_emulator_bench.py [--write]
``--write`` replaces the "Kubernetes API emulator" section of bench/RESULTS.md.
"""

import argparse
import copy
import os
import platform
import statistics
import sys
import time

import kubernetes
from kubernetes.dynamic import DynamicClient

from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator, default_crds, load_crds
from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator.admission import SchemaAdmission

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
TITLE = "## Kubernetes API emulator"
LABEL = ("Timings of the emulator itself, the demo's fallback where Go cannot be had: no claim about Kubernetes rests on them "
         "(Kubernetes behaviour is measured and tested on the real kube-apiserver; the emulator is held to its answers by "
         "tests/unit/support/test_kube_conformance*.py).")
NODEPOOL = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "np"},
            "spec": {"weight": 10, "limits": {"nvidia.com/gpu": 64},
                     "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m", "budgets": [{"nodes": "1"}]},
                     "template": {"metadata": {"labels": {"nvidia.com/mig.config": "all-1g.10gb"}},
                                  "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
                                           "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
                                           "requirements": [{"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In", "values": ["h100", "a100"]},
                                                            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}]}}}}


def timed(function, repeat):
    samples = []
    for _sample in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    return {"n": repeat, "median_ms": statistics.median(samples), "p95_ms": samples[int(0.95 * (repeat - 1))]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    rows = []

    starts = []
    for _run in range(3):
        begin = time.perf_counter()
        with KubeEmulator():
            starts.append(time.perf_counter() - begin)
    rows.append(("start subprocess with 5 CRDs until /readyz (3 runs)", "%.2f s median" % statistics.median(starts)))

    crd = load_crds(default_crds()[:1])[0]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    compile_time = timed(lambda: SchemaAdmission("nodepools.karpenter.sh", "v1", schema), 5)
    rows.append(("compile NodePool admission (schema + 20 CEL rules)", "%.0f ms median" % compile_time["median_ms"]))
    admission = SchemaAdmission("nodepools.karpenter.sh", "v1", schema)
    admit = timed(lambda: admission.admit(copy.deepcopy(NODEPOOL), None), args.repeat)
    rows.append(("admit one NodePool in-process (prune, default, schema, CEL)", "%.2f ms median, %.2f ms p95" % (admit["median_ms"], admit["p95_ms"])))
    old = copy.deepcopy(NODEPOOL)
    admission.admit(old, None)
    update = timed(lambda: admission.admit(copy.deepcopy(old), old), args.repeat)
    rows.append(("admit a NodePool update (adds oldSelf transition rules)", "%.2f ms median" % update["median_ms"]))

    nodes = [{"metadata": {"name": "node-%03d" % i, "labels": {"nvidia.com/gpu.present": "true" if i % 4 == 0 else "false"}}} for i in range(200)]
    with KubeEmulator(nodes=nodes) as kube:
        client = kube.api_client()
        core = kubernetes.client.CoreV1Api(client)
        custom = kubernetes.client.CustomObjectsApi(client)
        nodepools = DynamicClient(client).resources.get(api_version="karpenter.sh/v1", kind="NodePool")
        counter = iter(range(10 ** 6))

        def create_configmap():
            core.create_namespaced_config_map("default", {"metadata": {"name": "cm-%d" % next(counter)}, "data": {"a": "1"}})

        def create_nodepool():
            body = copy.deepcopy(NODEPOOL)
            body["metadata"]["name"] = "np-%d" % next(counter)
            custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", body)

        nodepools.server_side_apply(body=NODEPOOL, name="np", field_manager="bench")
        measures = [
            ("HTTP create ConfigMap (no admission)", timed(create_configmap, args.repeat)),
            ("HTTP create NodePool (CRD admission)", timed(create_nodepool, args.repeat)),
            ("HTTP server-side apply NodePool, no change",
             timed(lambda: nodepools.server_side_apply(body=NODEPOOL, name="np", field_manager="bench"), args.repeat)),
            ("HTTP get NodePool", timed(lambda: custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", "np"), args.repeat)),
            ("HTTP list 200 nodes, labelSelector matches 50", timed(lambda: core.list_node(label_selector="nvidia.com/gpu.present=true"), 50)),
        ]
        for label, result in measures:
            rows.append((label, "%.2f ms median, %.2f ms p95 (n=%d)" % (result["median_ms"], result["p95_ms"], result["n"])))

    section = [TITLE, "", LABEL, "",
               "`bench/kube_emulator_bench.py`, %s, Python %s, %d CPUs shared with other jobs (load matters: numbers are indicative)." % (
                   time.strftime("%Y-%m-%d"), platform.python_version(), os.cpu_count()),
               "Client: kubernetes %s over HTTP on 127.0.0.1." % kubernetes.__version__, "",
               "| what | time |", "|---|---|"] + ["| %s | %s |" % row for row in rows] + [""]
    text = "\n".join(section)
    print(text)
    if args.write:
        existing = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmarks\n\n"
        if TITLE in existing:
            head, rest = existing.partition(TITLE)[0::2]
            tail = rest[rest.find("\n## "):] if "\n## " in rest else ""
            existing = head + text + tail.lstrip("\n") if tail else head + text
        else:
            existing = existing.rstrip("\n") + "\n\n" + text
        with open(RESULTS, "w") as handle:
            handle.write(existing)
    return 0


if __name__ == "__main__":
    sys.exit(main())
