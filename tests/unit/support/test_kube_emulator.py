# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes API emulator as a tool (the demo's fallback where Go cannot be had): its state file, its command
line, its opt-in stand-in controllers, and that it dies with its parent. These are claims about the emulator, not
about Kubernetes: what Kubernetes does is tested against the real kube-apiserver, and the emulator is held to the
same answers by test_kube_conformance.py / test_kube_conformance_admission.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import time

import pytest

kubernetes = pytest.importorskip("kubernetes")
pytest.importorskip("kmock")

from kubernetes.client import ApiException  # noqa: E402

from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import admission, launcher  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.support.kube_backends import nodepool  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import legs  # noqa: E402

# the emulator and the real server do not depend on ansible-core: the main leg is enough
pytestmark = pytest.mark.skipif(not legs.on_main_leg(), reason=legs.skip_reason())

GPU_NODE = {"metadata": {"name": "gpu-1", "labels": {"node.kubernetes.io/instance-type": "p5.48xlarge", "nvidia.com/gpu.present": "true",
                                                     "karpenter.sh/nodepool": "gpu"}},
            "status": {"capacity": {"cpu": "192", "memory": "2Ti", "pods": "110", "nvidia.com/gpu": "8"}}}
CPU_NODE = {"metadata": {"name": "cpu-1", "labels": {"node.kubernetes.io/instance-type": "m5.large"}}}


def test_state_file_survives_a_restart(tmp_path):
    state = str(tmp_path / "state.json")
    crds = [path for path in launcher.default_crds() if "nodepools" in path]
    with KubeEmulator(crds=crds, nodes=[CPU_NODE], workdir=str(tmp_path / "one"), state_file=state) as first:
        kubernetes.client.CustomObjectsApi(first.api_client()).create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool("kept"))
        core = kubernetes.client.CoreV1Api(first.api_client())
        core.patch_node("cpu-1", {"metadata": {"labels": {"kept": "yes"}}})
        rv = core.read_node("cpu-1").metadata.resource_version
    with KubeEmulator(crds=[], workdir=str(tmp_path / "two"), state_file=state) as second:
        core = kubernetes.client.CoreV1Api(second.api_client())
        node = core.read_node("cpu-1")
        assert node.metadata.labels["kept"] == "yes" and node.metadata.resource_version == rv
        # The CRD came back from the state file, with its admission: the NodePool is served and still validated.
        custom = kubernetes.client.CustomObjectsApi(second.api_client())
        assert custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", "kept")["spec"]["disruption"]["consolidateAfter"] == "0s"
        with pytest.raises(ApiException) as invalid:
            custom.patch_cluster_custom_object("karpenter.sh", "v1", "nodepools", "kept", {"spec": {"weight": 0}})
        assert invalid.value.status == 422
        core.create_namespaced_config_map("default", {"metadata": {"name": "after"}})
        assert int(core.read_namespaced_config_map("after", "default").metadata.resource_version) > int(rv)


def test_cli_serve_and_seed_nodes(tmp_path):
    kubeconfig, pidfile, nodes = tmp_path / "kc", tmp_path / "pid", tmp_path / "nodes.json"
    nodes.write_text(json.dumps([{"metadata": {"name": "seeded", "labels": {"nvidia.com/gpu.present": "true"}}}]))
    env = dict(os.environ, PYTHONPATH=launcher._python_path())
    argv = [sys.executable, "-m", launcher.MODULE]
    server = subprocess.Popen(argv + ["serve", "--port", "0", "--kubeconfig", str(kubeconfig), "--pidfile", str(pidfile)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        ready = json.loads(server.stdout.readline())
        assert ready["pid"] == server.pid and int(pidfile.read_text()) == server.pid
        seeded = subprocess.run(argv + ["seed-nodes", "--kubeconfig", str(kubeconfig), "--nodes", str(nodes)],
                                capture_output=True, text=True, env=env, check=True)
        assert json.loads(seeded.stdout) == {"nodes": ["seeded"]}
        kubernetes.config.load_kube_config(config_file=str(kubeconfig))
        node = kubernetes.client.CoreV1Api().read_node("seeded")
        assert node.metadata.labels["nvidia.com/gpu.present"] == "true"
        assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
        bad = subprocess.run(argv + ["seed-nodes", "--kubeconfig", str(kubeconfig), "--nodes", str(tmp_path / "missing.json")],
                             capture_output=True, text=True, env=env, check=False)
        assert bad.returncode != 0
    finally:
        server.terminate()
        assert server.wait(timeout=10) == 0
        server.stdout.close()
    assert not pidfile.exists()


WEB_DEPLOYMENT = {
    "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"app": "w"}},
             "template": {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "w", "image": "x"}]}}},
}


def test_stand_in_controllers_are_opt_in_and_write_ready_status(tmp_path):
    with KubeEmulator(nodes=[GPU_NODE, CPU_NODE], workdir=str(tmp_path / "sim"), simulate_controllers=True) as kube:
        client = kube.api_client()
        core, apps = kubernetes.client.CoreV1Api(client), kubernetes.client.AppsV1Api(client)
        custom = kubernetes.client.CustomObjectsApi(client)
        custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool("early"))
        early = custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", "early")
        assert [(c["type"], c["status"], c["reason"]) for c in early["status"]["conditions"]] == [("Ready", "False", "NodeClassNotReady")]
        custom.create_cluster_custom_object("karpenter.k8s.aws", "v1", "ec2nodeclasses", {
            "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "default"},
            "spec": {"role": "R", "amiSelectorTerms": [{"alias": "al2023@latest"}], "subnetSelectorTerms": [{"id": "subnet-1"}],
                     "securityGroupSelectorTerms": [{"id": "sg-1"}]}})
        ready = custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", "early")
        assert [(c["type"], c["status"]) for c in ready["status"]["conditions"]] == [("Ready", "True")]
        pod_spec = {"nodeSelector": {"nvidia.com/gpu.present": "true"}, "containers": [{"name": "dp", "image": "x"}]}
        daemonset = {"metadata": {"name": "device-plugin"},
                     "spec": {"selector": {"matchLabels": {"app": "dp"}}, "template": {"metadata": {"labels": {"app": "dp"}}, "spec": pod_spec}}}
        apps.create_namespaced_daemon_set("default", daemonset)
        status = apps.read_namespaced_daemon_set("device-plugin", "default").status
        assert (status.desired_number_scheduled, status.number_ready, status.observed_generation) == (1, 1, 1)
        kube.seed_nodes([{"metadata": {"name": "gpu-9", "labels": {"nvidia.com/gpu.present": "true"}}}])
        assert apps.read_namespaced_daemon_set("device-plugin", "default").status.number_ready == 2
        deployment = apps.create_namespaced_deployment("default", WEB_DEPLOYMENT)
        assert deployment.spec.replicas == 1  # defaulted by the API, as a real server does
        assert apps.read_namespaced_deployment("web", "default").status.available_replicas == 1
        core.create_namespaced_pod("default", {"metadata": {"name": "bound"}, "spec": {"nodeName": "gpu-1", "containers": [{"name": "c", "image": "x"}]}})
        core.create_namespaced_pod("default", {"metadata": {"name": "unbound"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
        assert core.read_namespaced_pod("bound", "default").status.phase == "Running"
        assert core.read_namespaced_pod("unbound", "default").status.phase == "Pending"
    with KubeEmulator(crds=[], workdir=str(tmp_path / "plain")) as plain:
        apps = kubernetes.client.AppsV1Api(plain.api_client())
        apps.create_namespaced_deployment("default", WEB_DEPLOYMENT)
        status = apps.read_namespaced_deployment("web", "default").status
        assert status is None or not status.available_replicas  # no controllers unless asked for


def test_launched_server_exits_when_its_parent_dies(tmp_path):
    # A test run that is killed must not leave emulators behind on a shared machine.
    code = ("import os\nfrom ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator\n"
            "kube = KubeEmulator(crds=[], workdir=%r)\nkube.start()\nprint(kube.pid, flush=True)\nos._exit(0)\n" % str(tmp_path))
    parent = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=launcher._python_path()),
                            timeout=60, check=True)
    pid = int(parent.stdout.strip())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, 15)
    pytest.fail("the emulator (pid %d) outlived its parent" % pid)


def test_every_installed_crd_rule_compiles():
    # the fallback enforces every CEL rule of the bundled CRDs (none skipped); whether it answers as the real server
    # is test_kube_conformance_admission.py's job
    pytest.importorskip("celpy")
    for crd in launcher.load_crds(launcher.default_crds()):
        for version in crd["spec"]["versions"]:
            checker = admission.SchemaAdmission(crd["metadata"]["name"], version["name"], version["schema"]["openAPIV3Schema"])
            skipped = [(r.location(), r.skip_reason) for r in checker.rules if not r.enforced]
            assert skipped == []
