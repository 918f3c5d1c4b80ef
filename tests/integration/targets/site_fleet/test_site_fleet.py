# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml on a small simulated fleet (tests/support/world.py: real kube-apiserver + controllers, real SSH hosts
running the nvidia-smi simulator, kubelet stand-in), run twice from the same start:

- once as one run, recording when each task started and ended on each host (test callback ``task_windows``):
  the nodes of one batch must partition in parallel, the controller-side Kubernetes steps included;
- once as 4 AWX-style job slices at the same time (each slice its own inventory with only its hosts, as AWX
  builds them, plus the implicit localhost), which must end in the same state as the single run: Nodes, Karpenter
  objects, device plugin objects, GPU layouts, persisted layouts, and the report every slice writes.

Counts and end states only; no durations are asserted. Slow (two worlds, ~10 min on a busy 2-core machine).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import re
import subprocess

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import collections_root, control_plane, slicing, ssh_hosts, task_windows
from ansible_collections.gpu_slicing.eks.tests.support import world as stand_in

NAMES_P5 = ["gpu-a", "gpu-b", "gpu-c"]
NAMES_P4D = ["gpu-d"]
FLEET = (stand_in.Group("gpu", "p5.48xlarge", 3, "h100-80gb", "p5-mig-1g", None, names=NAMES_P5),
         stand_in.Group("gpu", "p4d.24xlarge", 1, "a100-40gb", "p4d-mig-balanced", None, names=NAMES_P4D),
         stand_in.Group("cpu", "m6i.2xlarge", 1, None, None, "system", names=["cpu-a"]))
GPU_NODES = NAMES_P5 + NAMES_P4D
SLICES = 4
RUN_ID = "slices-test"

# The per-node steps of a rollout (roles/mig_partition/tasks/rollout.yml and its includes); each must have every
# node of the batch in flight at once. Kubernetes ones run on the controller (delegate_to: localhost).
PARALLEL_STEPS = (
    "Mark the rollout as pending on the Node",
    "Cordon the node",
    "Drain the pods off the node (DaemonSet pods such as the device plugin stay)",
    "Apply the MIG layout",
    "Find the device plugin pods",
    "Delete the device plugin pod so its DaemonSet starts a fresh one",
    "Wait until the node advertises the new resources",
    "Uncordon the node",
)


def _why_not():
    try:
        control_plane.ensure_binaries(log=lambda _m: None)
    except Exception as exc:  # noqa: BLE001 - any reason the real control plane cannot run here
        return "the real control plane is not available: %s" % exc
    try:
        ssh_hosts.choose_mode()
    except ssh_hosts.HostsError as exc:
        return "no SSH hosts: %s" % exc
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))


def _strip(obj):
    """An API object without what the server or a run stamps on it (uids, versions, times, field managers)."""
    obj = copy.deepcopy(obj)
    metadata = obj.get("metadata", {})
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink"):
        metadata.pop(key, None)
    obj.pop("status", None)
    return obj


def _end_state(world):
    """What a run leaves behind, comparable between two worlds built from the same fleet spec."""
    api = world.kube_session.api
    state = {"nodes": {}, "karpenter": {}, "device_plugin": {}, "gpus": {}, "persisted": {}}
    status, nodes = api.request("GET", "/api/v1/nodes")
    assert status == 200, nodes
    for node in nodes["items"]:
        annotations = dict(node["metadata"].get("annotations") or {})
        part = annotations.pop("gpu-slicing.eks/mig-report", None)
        if part is not None:
            part = json.loads(part)
            part.pop("run")  # the slices carry their run id, the single run none
        state["nodes"][node["metadata"]["name"]] = {
            "labels": node["metadata"].get("labels"), "annotations": annotations, "report_part": part,
            "unschedulable": node["spec"].get("unschedulable", False), "taints": node["spec"].get("taints"),
            "allocatable": node["status"].get("allocatable")}
    for path in ("/apis/karpenter.sh/v1/nodepools", "/apis/karpenter.k8s.aws/v1/ec2nodeclasses",
                 "/apis/karpenter.sh/v1alpha1/nodeoverlays"):
        status, listing = api.request("GET", path)
        assert status == 200, (path, listing)
        state["karpenter"][path] = sorted((_strip(o) for o in listing["items"]), key=lambda o: o["metadata"]["name"])
    for path in ("/apis/apps/v1/namespaces/kube-system/daemonsets", "/api/v1/namespaces/kube-system/configmaps",
                 "/api/v1/namespaces/kube-system/serviceaccounts"):
        status, listing = api.request("GET", path)
        assert status == 200, (path, listing)
        state["device_plugin"][path] = sorted((_strip(o) for o in listing["items"]
                                               if "nvidia" in o["metadata"]["name"]), key=lambda o: o["metadata"]["name"])
    for instance in world.gpu_nodes:
        listing = subprocess.run([instance["nvidia_smi"], "-L"], stdout=subprocess.PIPE, universal_newlines=True,
                                 check=True).stdout
        state["gpus"][instance["name"]] = listing
        persisted = os.path.join(world.node_dir(instance), "etc", "mig-layout.yaml")
        with open(persisted) as handle:
            state["persisted"][instance["name"]] = handle.read()
    with open(os.path.join(world.workdir, "report", "mig-report.md")) as handle:
        report = handle.read()
    state["report"] = [line for line in report.splitlines() if not line.startswith(("Generated:", "# MIG report"))]
    return state


def _env(world, **extra):
    """The world's ansible environment with this collection as the tests see it (ansible-test runs a copy)."""
    env = world.ansible_env()
    env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join([collections_root(), env["ANSIBLE_COLLECTIONS_PATH"]])
    env.update(extra)
    return env


def _new_world(tmp_path_factory, name):
    workdir = str(tmp_path_factory.mktemp(name))
    world = stand_in.World(workdir, fleet=FLEET, cluster="demo", forks=SLICES * 2, kube_mode="control-plane",
                           kube_why="test", log=lambda _m: None)
    return world


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    """site.yml once over the whole fleet, task windows recorded; the world is gone before the slices start."""
    world = _new_world(tmp_path_factory, "single")
    try:
        world.start()
        inventory = world.write_static_inventory()
        windows_path = os.path.join(world.workdir, "windows.jsonl")
        env = _env(world, **task_windows.callback_env(windows_path))
        with open(os.path.join(world.workdir, "site.log"), "w") as log:
            rc = subprocess.call(slicing.playbook_argv(inventory), env=env, cwd=world.workdir, stdout=log,
                                 stderr=subprocess.STDOUT)
        assert rc == 0, "site.yml failed; see %s" % log.name
        return task_windows.load(windows_path), _end_state(world)
    finally:
        world.teardown()


def test_one_batch_partitions_its_nodes_in_parallel(single_run):
    """Every node of the batch (serial 100 %, forks >= nodes) is inside each rollout step at the same moment: none
    of the steps - the Kubernetes ones on the controller included - holds a node back until another is done."""
    windows, _state = single_run
    in_flight = {}
    for step in PARALLEL_STEPS:
        hosts = task_windows.find(windows, "gpu_slicing.eks.mig_partition : " + step)
        assert sorted(hosts) == GPU_NODES, (step, sorted(hosts))
        in_flight[step] = task_windows.max_in_flight(hosts)
    assert in_flight == dict((step, len(GPU_NODES)) for step in PARALLEL_STEPS)


def test_four_slices_at_once_end_like_one_run(single_run, tmp_path_factory):
    """4 slices of site.yml at the same time (AWX job slicing) leave the cluster, the GPUs and the report as one
    run does; every slice's report covers all nodes."""
    _windows, expected = single_run
    world = _new_world(tmp_path_factory, "sliced")
    try:
        world.start()
        inventories = slicing.slice_inventories(world.write_static_inventory(), SLICES)
        codes, logs = slicing.run_slices(world, inventories, ["--extra-vars", "gpu_slicing_run_id=" + RUN_ID],
                                         env=_env(world))
        assert codes == [0] * SLICES, "a slice failed; see %s" % logs
        for index in range(SLICES):  # each slice verified only its own host, and its report shows every node
            with open(logs[index]) as handle:
                text = handle.read()
            recap = text.rsplit("PLAY RECAP", 1)[-1]
            assert sorted(re.findall(r"^(gpu-\w)\s+:", recap, re.M)) == [sorted(GPU_NODES)[index]]
            assert all(("## %s" % name) in text for name in GPU_NODES), "slice %d report misses nodes" % (index + 1)
        actual = _end_state(world)
    finally:
        world.teardown()
    for key in ("nodes", "karpenter", "device_plugin", "gpus", "persisted", "report"):
        assert actual[key] == expected[key], key
    assert "no report part" not in "\n".join(actual["report"])
