#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpu_slicing.eks.gpu_nodes vs amazon.aws.aws_ec2 on the same moto data (server mode, HTTP).

    PYTHONPATH=build/collections .venv/bin/python bench/inventory_bench.py [--instances 1200] [--repeat 3]

Seeds moto with a fleet of EKS nodes (Karpenter and managed node groups, two clusters, MIG GPUs, other GPUs,
CPU nodes, some stopped) in reservations of 1-4 instances, then runs ``ansible-inventory --list`` for both plugins
with equivalent configs (same selection: running MIG-capable GPU nodes of cluster "prod"), alternating, and
reports the median wall time, the median CPU time of the ansible-inventory process itself (user+sys from
os.wait4, so moto's own work is excluded), and the EC2 API calls moto received (moto's request recorder).
Also times moto's DescribeInstances per filter set, to show which server-side filters cost what.
Prints a markdown section for bench/RESULTS.md. Takes a few minutes; not part of `make test`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import base64
import collections
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from urllib.parse import parse_qs
from urllib.request import Request, urlopen

from ansible_collections.gpu_slicing.eks.plugins.inventory.gpu_nodes import mig_instance_type_values
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.tests.support.moto_server import MotoServer
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.inventory import ec2_fleet

REGION = "us-east-1"
ROOT = os.path.abspath(os.path.join(os.path.dirname(ec2_fleet.__file__), *([os.pardir] * 7)))
ANSIBLE_INVENTORY = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")

OURS = """plugin: gpu_slicing.eks.gpu_nodes
regions: [us-east-1]
cluster_name: prod
"""
OURS_CACHED = OURS + """cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: {cache_dir}
"""
# Equivalent selection and groups with amazon.aws: same server-side filters in the same order (state, MIG
# instance types, cluster tag key), host name = private DNS name, ansible_host = private IP, groups per
# nodepool / node group / AZ / instance type. (It cannot produce GPU facts.)
PEER = """plugin: amazon.aws.aws_ec2
regions: [us-east-1]
filters:
  instance-state-name: running
  instance-type: {types}
  tag-key: kubernetes.io/cluster/prod
hostnames: [private-dns-name]
compose:
  ansible_host: private_ip_address
keyed_groups:
  - key: ec2_tags['karpenter.sh/nodepool'] | default('')
    prefix: nodepool
  - key: ec2_tags['eks:nodegroup-name'] | default('')
    prefix: nodegroup
  - key: placement.availability_zone
    prefix: az
  - key: instance_type
    prefix: type
"""


class Recorder:
    """moto's request recorder (MOTO_RECORDER_FILEPATH is read when the server starts)."""

    def __init__(self, server):
        self.server = server

    def _call(self, path, method="POST"):
        request = Request(self.server.endpoint_url + "/moto-api/recorder/" + path, method=method,
                          data=b"" if method == "POST" else None)
        with urlopen(request, timeout=60) as response:
            return response.read()

    def start(self):
        self._call("start-recording")

    def reset(self):
        self._call("reset-recording")

    def actions(self):
        counts = collections.Counter()
        for line in self._call("download-recording", method="GET").decode("utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode("utf-8", "replace")
            counts[parse_qs(body).get("Action", ["?"])[0]] += 1
        return dict(counts)


def run_inventory(path, env):
    """One ``ansible-inventory --list``: (wall s, child CPU s, parsed JSON)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([ANSIBLE_INVENTORY, "-i", path, "--list"], env=env, stdout=out, stderr=err)
        dummy, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError("%s failed: %s" % (path, err.read().decode("utf-8", "replace")[-2000:]))
        return wall, usage.ru_utime + usage.ru_stime, json.loads(out.read().decode("utf-8"))


def moto_filter_costs(endpoint_url, types):
    """Time moto's DescribeInstances (one call, MaxResults=1000 unless noted) per filter set."""
    ec2 = ec2_fleet.ec2_client(endpoint_url, REGION)
    state = {"Name": "instance-state-name", "Values": ["running"]}
    itype = {"Name": "instance-type", "Values": types}
    cluster = {"Name": "tag-key", "Values": ["kubernetes.io/cluster/prod", "eks:cluster-name"]}
    eks_tag = {"Name": "tag:eks:eks-cluster-name", "Values": ["prod"]}
    cases = [
        ("no filter", [], 1000),
        ("state", [state], 1000),
        ("tag:eks:eks-cluster-name only", [eks_tag], 1000),
        ("tag-key (cluster) only", [cluster], 1000),
        ("state, tag-key (cluster)", [state, cluster], 1000),
        ("state, instance-type (MIG families)", [state, itype], 1000),
        ("tag-key (cluster), state, instance-type", [cluster, state, itype], 1000),
        ("state, instance-type, tag-key (cluster) = gpu_nodes", [state, itype, cluster], 1000),
        ("same, default page size (100 reservations/page)", [state, itype, cluster], None),
    ]
    rows = []
    for label, filters, page in cases:
        kwargs = {"Filters": filters}
        if page:
            kwargs["MaxResults"] = page
        calls = instances = 0
        started = time.perf_counter()
        while True:
            reply = ec2.describe_instances(**kwargs)
            calls += 1
            instances += sum(len(r["Instances"]) for r in reply["Reservations"])
            if not reply.get("NextToken"):
                break
            kwargs["NextToken"] = reply["NextToken"]
        rows.append((label, instances, calls, time.perf_counter() - started))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="inventory-bench-")
    os.environ["MOTO_RECORDER_FILEPATH"] = os.path.join(work, "moto_recording")
    server = MotoServer(log_path=os.path.join(work, "moto.log")).start()
    try:
        started = time.perf_counter()
        counts = ec2_fleet.seed_bench_fleet(server.endpoint_url, REGION, args.instances)
        seed_time = time.perf_counter() - started
        recorder = Recorder(server)
        recorder.start()

        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=ROOT, ANSIBLE_INVENTORY_UNPARSED_FAILED="true",
                   HOME=work, ANSIBLE_LOCAL_TEMP=os.path.join(work, "tmp"), **server.env(REGION))
        types = sorted(t for t in catalog.mig_capable_instance_types())
        paths = {}
        for name, text in (("ours", OURS), ("ours_cached", OURS_CACHED.format(cache_dir=os.path.join(work, "cache"))),
                           ("peer", PEER.format(types=json.dumps(types))), ("floor", "localhost\n")):
            suffix = {"peer": "aws_ec2.yml", "floor": "ini"}.get(name, "gpu_nodes.yml")
            paths[name] = os.path.join(work, "%s.%s" % (name, suffix))
            with open(paths[name], "w") as handle:
                handle.write(text)

        # warm-up (bytecode, page cache) and selection check
        ours_inv = run_inventory(paths["ours"], env)[2]
        peer_inv = run_inventory(paths["peer"], env)[2]
        ours_hosts = set(ours_inv["_meta"]["hostvars"])
        peer_hosts = set(peer_inv["_meta"]["hostvars"])
        if ours_hosts != peer_hosts:
            raise SystemExit("selections differ: %d ours vs %d peer" % (len(ours_hosts), len(peer_hosts)))
        run_inventory(paths["ours_cached"], env)  # fills the cache

        samples = collections.defaultdict(list)
        calls = {}
        for dummy in range(args.repeat):
            for name in ("peer", "ours", "ours_cached", "floor"):
                recorder.reset()
                wall, cpu, dummy_inv = run_inventory(paths[name], env)
                samples[name].append((wall, cpu))
                calls[name] = recorder.actions()
        filter_rows = moto_filter_costs(server.endpoint_url, mig_instance_type_values())
    finally:
        server.stop()

    med = dict((name, (statistics.median(w for w, c in s), statistics.median(c for w, c in s))) for name, s in samples.items())
    fleet = collections.Counter()
    for key, value in counts.items():
        if isinstance(key, tuple):
            fleet[key[1]] += value
    lines = [
        "## gpu_nodes inventory (bench/inventory_bench.py)",
        "",
        "%s; %d CPUs shared with other jobs (load avg %.2f at the end); Python %s; moto server mode over HTTP on loopback." % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), os.getloadavg()[0], platform.python_version()),
        "Fleet: %d instances in %d reservations (MIG GPUs %d, other GPUs %d, CPU %d; clusters prod/dev; Karpenter and"
        " managed node groups; ~5%% stopped), seeded in %.1f s. Selection: running MIG-capable GPU nodes of cluster prod ="
        " %d hosts, identical for both plugins." % (
            args.instances, counts["reservations"], fleet["mig"], fleet["gpu"], fleet["cpu"], seed_time, len(ours_hosts)),
        "`ansible-inventory --list`, median of %d alternating runs after a warm-up; CPU = user+sys of the"
        " ansible-inventory process (os.wait4), excluding moto; API calls as received by moto (its request recorder)." % args.repeat,
        "",
        "| run | wall s | CPU s | wall vs aws_ec2 | CPU vs aws_ec2 | EC2 API calls |",
        "|---|---|---|---|---|---|",
    ]
    peer_wall, peer_cpu = med["peer"]
    for name, label in (("peer", "amazon.aws.aws_ec2 10.1.2 (equivalent config)"), ("ours", "gpu_slicing.eks.gpu_nodes"),
                        ("ours_cached", "gpu_slicing.eks.gpu_nodes, cache hit"),
                        ("floor", "floor: ansible-inventory on a one-host INI file")):
        wall, cpu = med[name]
        api = ", ".join("%s %d" % item for item in sorted(calls[name].items())) or "none"
        lines.append("| %s | %.2f | %.2f | %.2fx | %.2fx | %s |" % (label, wall, cpu, wall / peer_wall, cpu / peer_cpu, api))
    lines += [
        "",
        "moto's DescribeInstances cost per filter set (one client, same fleet; filters in the order listed):",
        "",
        "| filters | instances returned | calls | s |",
        "|---|---|---|---|",
    ]
    for label, instances, ncalls, seconds in filter_rows:
        lines.append("| %s | %d | %d | %.2f |" % (label, instances, ncalls, seconds))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
