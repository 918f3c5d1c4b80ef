# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mig_partition pauses the GPU clients the drain leaves running (issue 15 item 10), on a real control plane.

DCGM and its exporter are DaemonSets: the drain skips them, they keep the GPU open and the driver refuses the change
("In use by another client"). The role sets their node labels (nvidia.com/gpu.deploy.*) to paused-for-mig-change
after the drain, waits until their pods have left the node, and sets the labels back to true after the change,
also when it fails.

Here the GPU clients are real DaemonSets: the real DaemonSet controller creates their pods (nodeSelector on the
deploy label, as the GPU Operator's), the real scheduler binds them, the kubelet stand-in runs them and finalizes
them when deleted. The exporter's pod stops slowly: a finalizer holds it on the node until the role has shown
that it waits for it (its wait task retries), so the GPU change happens after the pod is gone only if the role
waits. The witness is the nvidia-smi the role runs: a wrapper that records, at every MIG create, the Node's labels
and the pods bound to it, read from the API server, before handing over to the simulator (or failing, to drive
the role's rescue path).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import sys
import time

import pytest

pytest.importorskip("kubernetes")  # kubernetes.core's modules and the witness need it

from ansible_collections.gpu_slicing.eks.tests.support import control_plane  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.roles import mig_partition_harness as harness  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import legs  # noqa: E402

# CI time: these role runs against the real API server are proven on the main leg; on 2.21 the roles_cluster
# integration target runs the roles against a real API server too
pytestmark = pytest.mark.skipif(not legs.on_main_leg(), reason=legs.skip_reason())

DCGM_EXPORTER = "nvidia.com/gpu.deploy.dcgm-exporter"
DCGM = "nvidia.com/gpu.deploy.dcgm"
GFD = "nvidia.com/gpu.deploy.gpu-feature-discovery"
PAUSED = "paused-for-mig-change"
SLOW_EXIT = "gpu-slicing.test/slow-exit"
WITNESS = """#!{python}
import json, os, sys, time
if "-cgi" in sys.argv:
    import kubernetes
    core = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config({kubeconfig!r}))
    node = core.read_node({node!r})
    pods = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=" + {node!r}).items
    record = dict(time=time.time(), labels=node.metadata.labels or {{}},
                  pods=[dict(app=(pod.metadata.labels or {{}}).get("app"), uid=pod.metadata.uid,
                             terminating=pod.metadata.deletion_timestamp is not None) for pod in pods])
    with open({log!r}, "a") as handle:
        handle.write(json.dumps(record) + "\\n")
    if os.path.exists({fail_flag!r}):
        sys.stderr.write("Unable to create a GPU instance: In use by another client (witness)\\n")
        sys.exit(1)
os.execv({real!r}, [{real!r}] + sys.argv[1:])
"""


@pytest.fixture(scope=harness.FIXTURE_SCOPE)
def kube():
    with control_plane.cluster() as cluster:
        yield cluster


class Witness:
    def __init__(self, tmp_path, node, real):
        self.log = tmp_path / "at-create.jsonl"
        self.fail_flag = tmp_path / "fail-create"
        self.path = tmp_path / "nvidia-smi-witness"
        self.path.write_text(WITNESS.format(python=sys.executable, kubeconfig=str(node.kube.kubeconfig), node=node.name,
                                            log=str(self.log), fail_flag=str(self.fail_flag), real=real))
        self.path.chmod(0o755)

    def records(self):
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


class SlowExit:
    """Holds a pod on the node (a finalizer) until the role shows it is waiting for it: the first retry of the role's
    wait for the paused pods to leave. A role that does not wait never prints that line, so its GPU commands run
    while the pod is still there (the witness records it); ``stop`` releases the pod in any case."""

    WAITING = "Wait until no pod selecting a paused label runs on the node"

    def __init__(self, node, pod):
        self.node, self.path = node, "/api/v1/namespaces/%s/pods/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"])
        self.released = None
        status, answer = node.kube.api.request("PATCH", self.path, {"metadata": {"finalizers": [SLOW_EXIT]}},
                                               content_type="application/merge-patch+json")
        assert status == 200, answer

    def on_line(self, line):
        if self.released is None and line.startswith("FAILED - RETRYING: ") and self.WAITING in line:
            self.release()

    def release(self):
        status, answer = self.node.kube.api.request("PATCH", self.path, {"metadata": {"finalizers": None}},
                                                    content_type="application/merge-patch+json")
        assert status in (200, 404), answer
        self.released = time.time()

    def stop(self):
        if self.released is None:
            self.release()  # never leave a pod the namespace deletion cannot remove


@pytest.fixture
def gpu_clients(tmp_path, kube):
    """A GPU node with the device plugin, DCGM exporter and GFD DaemonSets running on it, and a witness nvidia-smi."""
    state, real = harness.make_gpu(tmp_path)
    labels = {DCGM_EXPORTER: "true", DCGM: "false", GFD: "true"}
    with harness.gpu_node(kube, labels=labels, capacity={"nvidia.com/gpu": "1"}, nvidia_smi=real) as node:
        node.daemonset("nvidia-device-plugin", {"nvidia.com/gpu.present": "true"},
                       labels={harness.DEVICE_PLUGIN_LABEL: "nvidia-device-plugin"})
        for name, label in (("dcgm-exporter", DCGM_EXPORTER), ("dcgm", DCGM), ("gfd", GFD)):
            node.daemonset(name, {label: "true"})
        before = {app: node.running(app)[0] for app in ("nvidia-device-plugin", "dcgm-exporter", "gfd")}
        assert not [pod for pod in node.pods() if pod["metadata"]["labels"]["app"] == "dcgm"], "label false must run no pod"
        for pod in before.values():
            assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"  # made by the DaemonSet controller
        slow = SlowExit(node, before["dcgm-exporter"])
        try:
            yield node, Witness(tmp_path, node, real), before, slow, state
        finally:
            slow.stop()


def apps(record, terminating=None):
    return sorted(pod["app"] for pod in record["pods"] if terminating is None or pod["terminating"] == terminating)


def test_gpu_clients_leave_the_node_before_the_change_and_come_back_after(tmp_path, gpu_clients):
    node, witness, before, slow, _state = gpu_clients
    proc, out = harness.run_role(tmp_path, node, str(witness.path), on_line=slow.on_line, mig_partition_pause_timeout=120,
                                 mig_partition_boot_unit=False, mig_partition_wait_retries=60, mig_partition_wait_delay=1)
    assert proc.returncode == 0, out
    seen = witness.records()
    assert seen, "no MIG create ran: %s" % out
    assert slow.released is not None, "the role never waited for the paused exporter pod: %s" % out
    for record in seen:
        assert record["labels"][DCGM_EXPORTER] == PAUSED
        assert record["labels"][DCGM] == "false"  # was not true: left alone
        assert record["labels"][GFD] == "true"  # not in mig_partition_pause_labels
        # the exporter's pod was gone (not merely terminating) when the GPU changed: the role waited for it
        assert "dcgm-exporter" not in apps(record), record
        assert record["time"] > slow.released
        # the DaemonSets that select no paused label kept running through the change
        assert apps(record, terminating=False) == ["gfd", "nvidia-device-plugin"], record
    after = node.node()
    labels = after["metadata"]["labels"]
    assert labels[DCGM_EXPORTER] == "true" and labels[DCGM] == "false" and labels[GFD] == "true"
    assert not after["spec"].get("unschedulable") and labels["gpu-slicing.eks/mig-state"] != "failed"
    assert after["status"]["allocatable"]["nvidia.com/mig-1g.10gb"] == "7"
    # the real DaemonSet controller started a new exporter pod once the label was true again; GFD's never left
    exporter = node.running("dcgm-exporter")
    assert [pod["metadata"]["uid"] for pod in exporter] != [before["dcgm-exporter"]["metadata"]["uid"]]
    assert [pod["metadata"]["uid"] for pod in node.running("gfd")] == [before["gfd"]["metadata"]["uid"]]


def test_failure_after_the_pause_restores_the_labels_and_the_pods_come_back(tmp_path, gpu_clients):
    """Rescue path, and the rescue message of a node read earlier in the play (item 4): a first run succeeds (it
    reads the Node while waiting for the new allocatable), a second run for another layout fails at its first MIG
    create. Its message must not carry the first run's allocatable as a drift ("Allocatable drift: ." or stale)."""
    node, witness, _before, slow, state = gpu_clients
    tasks = [harness.include_role(),
             {"name": "Make the next MIG create fail", "ansible.builtin.file": {"path": str(witness.fail_flag), "state": "touch"}},
             harness.include_role(mig_partition_config="all-3g.40gb")]
    variables = harness.role_vars(node, str(witness.path), mig_partition_pause_timeout=120, mig_partition_boot_unit=False,
                                  mig_partition_wait_retries=60, mig_partition_wait_delay=1)
    proc, out = harness.run_playbook(tmp_path, tasks, variables, on_line=slow.on_line)
    assert proc.returncode != 0, out
    failure = "MIG rollout failed on node %s at task 'Apply the MIG layout':" % node.name
    assert failure in out and "In use by another client (witness)" in out, out
    assert "Allocatable drift" not in out, out
    first, second = [r for r in witness.records() if "dcgm-exporter" not in apps(r)][:1], witness.records()[-1]
    assert first and slow.released is not None, out
    # the failed create ran with the exporter paused and gone, after a first run that had brought it back
    assert second["labels"][DCGM_EXPORTER] == PAUSED and "dcgm-exporter" not in apps(second), second
    assert second["time"] > first[0]["time"]
    current = node.node()
    labels = current["metadata"]["labels"]
    # the rescue put the paused label back; the others were never touched
    assert labels[DCGM_EXPORTER] == "true" and labels[DCGM] == "false" and labels[GFD] == "true"
    assert labels["gpu-slicing.eks/mig-state"] == "failed" and current["spec"].get("unschedulable") is True
    assert failure in current["metadata"]["annotations"]["gpu-slicing.eks/mig-message"]
    # ... and the real DaemonSet controller brought the exporter back onto the (cordoned) node
    exporter = node.running("dcgm-exporter")
    assert all(pod["metadata"]["uid"] not in [p["uid"] for p in second["pods"]] for pod in exporter)
    assert harness.mutating_calls(state) > 0


def test_wait_failure_reports_the_drift_it_read(tmp_path, kube):
    """The other side of item 4: when the wait for the new allocatable is what failed, the message carries the
    drift of the Node as that wait read it (here the device plugin runs with the single strategy, so the node
    advertises nvidia.com/gpu instead of the mixed strategy's MIG resources)."""
    _state, real = harness.make_gpu(tmp_path)
    with harness.gpu_node(kube, capacity={"nvidia.com/gpu": "1"}, nvidia_smi=real, strategy="single") as node:
        node.daemonset("nvidia-device-plugin", {"nvidia.com/gpu.present": "true"},
                       labels={harness.DEVICE_PLUGIN_LABEL: "nvidia-device-plugin"})
        node.running("nvidia-device-plugin")
        proc, out = harness.run_role(tmp_path, node, real, mig_partition_boot_unit=False, mig_partition_wait_retries=3,
                                     mig_partition_wait_delay=1)
        assert proc.returncode != 0, out
        assert "at task 'Wait until the node advertises the new resources'" in out, out
        assert ("Allocatable drift: nvidia.com/gpu: expected 0, allocatable 7; "
                "nvidia.com/mig-1g.10gb: expected 7, allocatable 0.") in out, out
        assert node.labels()["gpu-slicing.eks/mig-state"] == "failed"
