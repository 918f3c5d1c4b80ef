# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the mig_partition role in a real ansible-playbook against a real Kubernetes control plane.

Kubernetes is the real kube-apiserver + kube-scheduler + kube-controller-manager (``control_plane.cluster()``: the
session cluster when one runs, else a private one); the GPU node is this host with the nvidia-smi simulator (one
H100, MIG enabled, 2x 3g.40gb) and its kubelet is ``control_plane.KubeletStandIn`` (registers the Node, runs the
pods the real scheduler binds to it, finalizes deleted pods, advertises what the device plugin enumerates when a
new device plugin pod starts). Each test gets its own Node name and namespace and holds ``control_plane.exclusive``
(it writes a cluster-scoped Node and the role lists pods cluster-wide).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid

from ansible_collections.gpu_slicing.eks.tests.support import collections_root, control_plane

# the ansible_collections tree this test was imported from (build/collections, or ansible-test's tree)
COLLECTIONS_ROOT = collections_root()
COLLECTION = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "gpu_slicing", "eks")
SIM_CTL = os.path.join(COLLECTION, "tests", "simulators", "nvidia-smi-sim")
DEVICE_PLUGIN_LABEL = "app.kubernetes.io/name"
# a private cluster per module under plain pytest; ansible-test forks every test (and then needs the session)
FIXTURE_SCOPE = "function" if control_plane.in_forked_test() else "module"


def make_gpu(tmp_path):
    """(simulator state file, nvidia-smi wrapper) for one H100 with MIG enabled and 2x 3g.40gb."""
    state = str(tmp_path / "node.json")
    subprocess.run([SIM_CTL, "init", "--state", state, "--model", "h100-80gb", "--gpus", "1",
                    "--mig", "enabled", "--layout", "3g.40gb,3g.40gb"], check=True, capture_output=True)
    wrapper = str(tmp_path / "nvidia-smi")
    subprocess.run([SIM_CTL, "wrapper", "--state", state, "--out", wrapper], check=True, capture_output=True)
    return state, wrapper


def mutating_calls(state):
    out = subprocess.run([SIM_CTL, "calls", "--state", state, "--mutating", "--count"], check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip())


class GpuNode:
    """One Node of the cluster with its kubelet stand-in and a namespace for its DaemonSets."""

    def __init__(self, kube, name, namespace, stand_in):
        self.kube, self.name, self.namespace, self.stand_in = kube, name, namespace, stand_in

    def get(self, path):
        status, answer = self.kube.api.request("GET", path)
        if status != 200:
            raise AssertionError("GET %s: HTTP %d %s" % (path, status, answer))
        return answer

    def node(self):
        return self.get("/api/v1/nodes/%s" % self.name)

    def labels(self):
        return self.node()["metadata"].get("labels") or {}

    def pods(self):
        """The pods bound to this Node (terminating ones included)."""
        return self.get("/api/v1/pods?fieldSelector=spec.nodeName%%3D%s" % self.name)["items"]

    def create(self, obj):
        kind = obj["kind"].lower() + "s"
        path = "/apis/apps/v1/namespaces/%s/%s" % (self.namespace, kind)
        status, answer = self.kube.api.request("POST", path, obj)
        if status != 201:
            raise AssertionError("POST %s: HTTP %d %s" % (path, status, answer))
        return answer

    def daemonset(self, name, node_selector, labels=None):
        """A DaemonSet that runs one pod on this Node when it carries ``node_selector`` (the real DaemonSet
        controller creates its pods, the real scheduler binds them, the kubelet stand-in runs them)."""
        labels = dict(labels or {}, app=name)
        selector = dict(node_selector, **{"kubernetes.io/hostname": self.name})  # only this test's Node
        return self.create({
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"nodeSelector": selector, "terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": "main", "image": "registry.invalid/%s:1" % name}]}}}})

    def running(self, app, timeout=60.0):
        """The Running, not terminating pods of DaemonSet ``app`` on this Node once there is one (else fails)."""
        deadline = time.monotonic() + timeout
        while True:
            pods = [pod for pod in self.pods() if (pod["metadata"].get("labels") or {}).get("app") == app
                    and not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get("phase") == "Running"]
            if pods:
                return pods
            if time.monotonic() > deadline:
                raise AssertionError("no Running pod of DaemonSet %s on %s after %.0fs: %s"
                                     % (app, self.name, timeout, [p["metadata"]["name"] for p in self.pods()]))
            time.sleep(0.2)


@contextlib.contextmanager
def gpu_node(kube, labels=None, capacity=None, nvidia_smi=None, strategy="mixed"):
    """A fresh Node (unique name) registered by a KubeletStandIn, its namespace, and the cluster lock.

    With ``nvidia_smi`` the stand-in also plays the kubelet's device plugin side: a new nvidia-device-plugin pod
    on the Node makes it advertise the MIG devices that nvidia-smi lists (under the device plugin ``strategy``)."""
    suffix = uuid.uuid4().hex[:8]
    name = "ip-10-0-0-1-%s.ec2.internal" % suffix
    namespace = "mig-partition-%s" % suffix
    node = {"metadata": {"name": name, "labels": dict(labels or {}, **{"nvidia.com/gpu.present": "true"})},
            "status": {"capacity": dict({"cpu": "16", "memory": "256Gi", "pods": "110"}, **(capacity or {}))}}
    plugins = {name: {"nvidia_smi": nvidia_smi, "strategy": strategy}} if nvidia_smi else None
    with control_plane.exclusive(kube):
        status, answer = kube.api.request("POST", "/api/v1/namespaces",
                                          {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        if status != 201:
            raise AssertionError("create namespace %s: HTTP %d %s" % (namespace, status, answer))
        stand_in = control_plane.KubeletStandIn(kube.api, [node], device_plugins=plugins)
        try:
            with stand_in:
                yield GpuNode(kube, name, namespace, stand_in)
                assert not stand_in.errors, stand_in.errors
        finally:
            # the pods still on the Node are garbage-collected with it (the namespace deletion does the rest)
            kube.api.request("DELETE", "/api/v1/namespaces/%s" % namespace)
            kube.api.request("DELETE", "/api/v1/nodes/%s" % name)


def role_vars(node, nvidia_smi, **overrides):
    variables = dict(mig_partition_node_name=node.name, mig_partition_kubeconfig=str(node.kube.kubeconfig),
                     mig_partition_config="all-1g.10gb", mig_partition_nvidia_smi_path=nvidia_smi,
                     mig_partition_become=False, mig_partition_wait_retries=1, mig_partition_wait_delay=0,
                     mig_partition_device_plugin_namespace=node.namespace)
    variables.update(overrides)
    return variables


def run_playbook(tmp_path, tasks, variables, on_line=None):
    """ansible-playbook on localhost with ``tasks`` (a list of task dicts) and ``variables`` as play vars.

    ``on_line(line)`` is called for every output line as it comes (stdout and stderr merged), e.g. to act on the
    cluster when the role reaches a task."""
    # play vars (vars_files), not extra vars: a task's include_role vars must be able to override them
    play_vars = tmp_path / "vars.json"
    play_vars.write_text(json.dumps(variables))
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"name": "Partition", "hosts": "localhost", "gather_facts": False,
                                     "vars_files": [str(play_vars)], "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR="1", HOME=str(tmp_path),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    argv = [sys.executable, "-m", "ansible.cli.playbook", "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)]
    if on_line is None:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
    else:
        env["PYTHONUNBUFFERED"] = "1"
        lines = []
        with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as child:
            for line in child.stdout:
                lines.append(line)
                on_line(line)
        proc = subprocess.CompletedProcess(argv, child.returncode, "".join(lines), "")
    return proc, " ".join((proc.stdout + proc.stderr).split())


def include_role(**role_overrides):
    """A task running the role (with ``role_overrides`` on top of the play's extra vars)."""
    task = {"name": "Run mig_partition", "ansible.builtin.include_role": {"name": "gpu_slicing.eks.mig_partition"}}
    if role_overrides:
        task["vars"] = role_overrides
    return task


def run_role(tmp_path, node, nvidia_smi, on_line=None, **overrides):
    """The role once; returns (CompletedProcess, output on one line)."""
    return run_playbook(tmp_path, [include_role()], role_vars(node, nvidia_smi, **overrides), on_line=on_line)
