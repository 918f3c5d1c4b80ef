# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real clients against the Kubernetes API emulator: kubectl (subprocess) and kubernetes.core 6.2.0
modules run by ansible-playbook."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

kubernetes = pytest.importorskip("kubernetes")
pytest.importorskip("kmock")

from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator, fixture_scope  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator.launcher import collections_parent  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import legs  # noqa: E402

# the emulator (the demo's fallback) does not depend on ansible-core: the main leg is enough
pytestmark = pytest.mark.skipif(not legs.on_main_leg(), reason=legs.skip_reason())

KUBECTL = shutil.which("kubectl")
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kube_emulator_kubernetes_core.yml")
NODES = [{"metadata": {"name": "gpu-1", "labels": {"nvidia.com/gpu.present": "true", "node.kubernetes.io/instance-type": "p5.48xlarge"}}},
         {"metadata": {"name": "cpu-1", "labels": {"node.kubernetes.io/instance-type": "m5.large"}}}]
NODEPOOL_YAML = """\
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: gpu
spec:
  template:
    metadata:
      labels:
        nvidia.com/mig.config: all-1g.10gb
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: gpu}
      requirements:
        - {key: karpenter.k8s.aws/instance-gpu-name, operator: In, values: [h100]}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: gpu
spec:
  role: KarpenterNodeRole
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
---
apiVersion: karpenter.sh/v1alpha1
kind: NodeOverlay
metadata:
  name: gpu-mig
spec:
  requirements: [{key: karpenter.sh/nodepool, operator: In, values: [gpu]}]
  capacity: {nvidia.com/mig-1g.10gb: "56"}
"""


@pytest.fixture(scope=fixture_scope)
def kube():
    with KubeEmulator(nodes=NODES) as emulator:
        yield emulator


def kubectl(kube, *args, stdin=None, check=True):
    result = subprocess.run([KUBECTL, "--kubeconfig", kube.kubeconfig] + list(args), input=stdin, capture_output=True, text=True, timeout=60,
                            check=False)
    if check:
        assert result.returncode == 0, "kubectl %s: %s%s" % (" ".join(args), result.stdout, result.stderr)
    return result


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_applies_lists_and_deletes_karpenter_objects(kube):
    # No --validate=false needed: /openapi/v3 advertises fieldValidation, so kubectl validates on the server.
    applied = kubectl(kube, "apply", "--server-side", "-f", "-", stdin=NODEPOOL_YAML)
    assert "nodepool.karpenter.sh/gpu serverside-applied" in applied.stdout
    assert "nodeoverlay.karpenter.sh/gpu-mig serverside-applied" in applied.stdout
    table = kubectl(kube, "get", "nodepools").stdout.splitlines()
    assert table[0].split() == ["NAME", "NODECLASS", "NODES", "READY", "AGE"]  # the CRD's additionalPrinterColumns
    assert table[1].split()[:2] == ["gpu", "gpu"]
    listing = kubectl(kube, "get", "nodepools,ec2nodeclasses,nodeoverlays", "-o", "name")
    assert listing.stdout.split() == ["nodepool.karpenter.sh/gpu", "ec2nodeclass.karpenter.k8s.aws/gpu", "nodeoverlay.karpenter.sh/gpu-mig"]
    nodepool = json.loads(kubectl(kube, "get", "nodepool", "gpu", "-o", "json").stdout)
    assert nodepool["spec"]["template"]["metadata"]["labels"] == {"nvidia.com/mig.config": "all-1g.10gb"}
    assert nodepool["spec"]["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
    assert "manager: kubectl" in kubectl(kube, "get", "nodepool", "gpu", "-o", "yaml", "--show-managed-fields").stdout
    # Re-applying the same file changes nothing.
    rv = nodepool["metadata"]["resourceVersion"]
    kubectl(kube, "apply", "--server-side", "--validate=false", "-f", "-", stdin=NODEPOOL_YAML)
    assert json.loads(kubectl(kube, "get", "nodepool", "gpu", "-o", "json").stdout)["metadata"]["resourceVersion"] == rv
    invalid = kubectl(kube, "apply", "--server-side", "--validate=false", "-f", "-", check=False,
                      stdin=NODEPOOL_YAML.replace("operator: In", "operator: Maybe", 1))
    assert invalid.returncode != 0 and "spec.template.spec.requirements[0].operator" in invalid.stderr
    unknown = kubectl(kube, "apply", "--server-side", "-f", "-", check=False, stdin=NODEPOOL_YAML.replace("requirements:", "bogus: 1\n      requirements:", 1))
    assert unknown.returncode != 0 and ".spec.template.spec.bogus: field not declared in schema" in unknown.stderr
    client_side = kubectl(kube, "apply", "-f", "-", stdin=NODEPOOL_YAML.replace("KarpenterNodeRole", "GpuNodeRole"))
    assert "ec2nodeclass.karpenter.k8s.aws/gpu configured" in client_side.stdout
    assert kubectl(kube, "get", "ec2nodeclass", "gpu", "-o", "jsonpath={.spec.role}").stdout == "GpuNodeRole"
    assert "consolidationPolicy\t<string>" in kubectl(kube, "explain", "nodepool.spec.disruption").stdout
    kubectl(kube, "delete", "nodeoverlay", "gpu-mig")
    assert kubectl(kube, "get", "nodeoverlays", "-o", "name").stdout.strip() == ""


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_nodes_cordon_drain_uncordon(kube):
    assert kubectl(kube, "get", "nodes", "-o", "name").stdout.split() == ["node/cpu-1", "node/gpu-1"]
    assert kubectl(kube, "get", "nodes", "-l", "nvidia.com/gpu.present=true", "-o", "name").stdout.split() == ["node/gpu-1"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kubectl-victim", "namespace": "default"},
           "spec": {"nodeName": "gpu-1", "containers": [{"name": "c", "image": "busybox"}]}}
    kubectl(kube, "create", "--validate=false", "-f", "-", stdin=json.dumps(pod))  # the flag still works
    watcher = subprocess.Popen([KUBECTL, "--kubeconfig", kube.kubeconfig, "get", "nodes", "gpu-1", "-w"], stdout=subprocess.PIPE, text=True)
    guard = threading.Timer(30, watcher.kill)  # a missing line must fail the test, not hang it
    guard.start()
    try:
        assert "gpu-1" in watcher.stdout.readline() + watcher.stdout.readline()  # header and the current row
        kubectl(kube, "cordon", "gpu-1")
        assert "Ready,SchedulingDisabled" in watcher.stdout.readline()  # the watch event, printed as a Table row
    finally:
        guard.cancel()
        watcher.terminate()
        watcher.wait(timeout=10)
        watcher.stdout.close()
    rows = [line.split() for line in kubectl(kube, "get", "nodes", "-o", "wide").stdout.splitlines()]
    assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INSTANCE-TYPE"]
    assert [row[:2] for row in rows[1:]] == [["cpu-1", "Ready"], ["gpu-1", "Ready,SchedulingDisabled"]]
    assert rows[2][-1] == "p5.48xlarge"
    assert json.loads(kubectl(kube, "get", "node", "gpu-1", "-o", "json").stdout)["spec"]["unschedulable"] is True
    before = kube.request("GET", "/emulator/state")[1]["counters"].get("eviction_requests", 0)
    drained = kubectl(kube, "drain", "gpu-1", "--force", "--timeout=30s")
    assert "pod/kubectl-victim evicted" in drained.stdout
    assert kube.request("GET", "/emulator/state")[1]["counters"]["eviction_requests"] == before + 1
    assert kubectl(kube, "get", "pods", "-A", "-o", "name").stdout.strip() == ""
    kubectl(kube, "uncordon", "gpu-1")
    assert "unschedulable" not in json.loads(kubectl(kube, "get", "node", "gpu-1", "-o", "json").stdout)["spec"]


def test_kubernetes_core_modules_through_ansible_playbook(tmp_path):
    parent = collections_parent()
    if parent is None or not os.path.isdir(os.path.join(parent, "ansible_collections", "kubernetes", "core")):
        pytest.skip("kubernetes.core is not installed next to this collection")
    with KubeEmulator(nodes=NODES, workdir=str(tmp_path / "kube"), simulate_controllers=True) as kube:
        env = dict(os.environ, K8S_AUTH_KUBECONFIG=kube.kubeconfig, ANSIBLE_COLLECTIONS_PATH=parent, ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   ANSIBLE_DEPRECATION_WARNINGS="false", HOME=str(tmp_path))
        result = subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-i", "localhost,", "-c", "local",
                                 "-e", "ansible_python_interpreter=%s" % sys.executable, PLAYBOOK],
                                capture_output=True, text=True, env=env, timeout=300, check=False)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert "failed=0" in result.stdout and "ignored=1" in result.stdout
        # The drain went through pods/eviction, not plain deletes.
        assert kube.request("GET", "/emulator/state")[1]["counters"]["eviction_requests"] == 2
        nodepool = kubernetes.client.CustomObjectsApi(kube.api_client()).get_cluster_custom_object("karpenter.sh", "v1", "nodepools", "gpu")
        assert nodepool["spec"]["weight"] == 10  # the check-mode apply of weight 50 stored nothing
        assert [entry["manager"] for entry in nodepool["metadata"]["managedFields"]] == ["ansible-test"]
