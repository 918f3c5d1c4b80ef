# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""device_plugin role with named configs (GPU sharing per node), on the real kube-apiserver + controllers.

One A10G node (g5.12xlarge, 4 GPUs, no MIG: the nvidia-smi simulator) carries the host variable
``device_plugin_config: a10g-shared``. The role must write ONE ConfigMap with a key per named config (each the
sharing engine's ``plugin_config``), label the Node ``nvidia.com/device-plugin.config=a10g-shared`` and run the
plugin with NVIDIA's config-manager (init container + sidecar) and ``CONFIG_FILE``. The real DaemonSet controller
creates the pod; the kubelet stand-in plays the plugin: it reads the pod's config-manager settings, the ConfigMap
and the Node's label, and advertises what the plugin would (``configured_resources``, written from the plugin's
README independently of the engine). The Node must then advertise what the engine computes for a g5.12xlarge:
``nvidia.com/gpu.shared: 16``. Bad input fails before anything is written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

yaml = pytest.importorskip("yaml")

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import collections_root, control_plane  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import legs  # noqa: E402

# CI time: these role runs against the real API server are proven on the main leg; on 2.21 the roles_cluster
# integration target runs the roles against a real API server too
pytestmark = pytest.mark.skipif(not legs.on_main_leg(), reason=legs.skip_reason())

COLLECTIONS_ROOT = collections_root()
COLLECTION = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "gpu_slicing", "eks")
SIM_CTL = os.path.join(COLLECTION, "tests", "simulators", "nvidia-smi-sim")
SHARED = {"mode": "time-slicing", "replicas": 4, "rename_by_default": True}
CONFIGS = {"whole": {"mig_strategy": "none"}, "a10g-shared": {"mig_strategy": "none", "sharing": SHARED}}


@pytest.fixture(scope="module")
def kube():
    with control_plane.cluster() as running:
        yield running


@pytest.fixture
def a10g(tmp_path):
    state = str(tmp_path / "g5.json")
    subprocess.run([SIM_CTL, "init", "--state", state, "--model", "a10g-24gb", "--gpus", "4"], check=True, capture_output=True)
    wrapper = str(tmp_path / "nvidia-smi")
    subprocess.run([SIM_CTL, "wrapper", "--state", state, "--out", wrapper], check=True, capture_output=True)
    return wrapper


@pytest.fixture
def names(kube):
    """A namespace, DaemonSet and Node of this test only (the session cluster is shared)."""
    suffix = uuid.uuid4().hex[:8]
    found = {"namespace": "share-%s" % suffix, "name": "dp-%s" % suffix, "node": "ip-10-9-0-%d.ec2.internal" % (int(suffix, 16) % 250)}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": found["namespace"]}}
    status, answer = kube.api.request("POST", "/api/v1/namespaces", namespace)
    assert status == 201, answer
    yield found
    kube.api.request("DELETE", "/api/v1/namespaces/%s" % found["namespace"])
    kube.api.request("DELETE", "/api/v1/nodes/%s" % found["node"])
    for kind in ("clusterroles", "clusterrolebindings"):
        kube.api.request("DELETE", "/apis/rbac.authorization.k8s.io/v1/%s/%s-config-manager" % (kind, found["name"]))


def g5_node(name):
    return {"metadata": {"name": name, "labels": {
        "node.kubernetes.io/instance-type": "g5.12xlarge", "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
        "karpenter.k8s.aws/instance-gpu-name": "a10g", "karpenter.k8s.aws/instance-gpu-count": "4"}},
        "spec": {"taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]}}


def run_role(tmp_path, kube, names, host_config, role="gpu_slicing.eks.device_plugin", role_vars=None, check=False, **overrides):
    """ansible-playbook with ``role`` on localhost; inventory group gpu_nodes = one host for ``names["node"]`` with
    ``device_plugin_config: host_config``. ``role_vars`` replaces the device plugin variables, ``overrides`` updates them.
    ``check``: with --check --diff."""
    variables = role_vars if role_vars is not None else dict(
        device_plugin_kubeconfig=str(kube.kubeconfig), device_plugin_namespace=names["namespace"], device_plugin_name=names["name"],
        device_plugin_configs=CONFIGS, device_plugin_default_config="whole", device_plugin_wait=True, device_plugin_wait_timeout=120)
    variables.update(overrides)
    inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
                         "children": {"gpu_nodes": {"hosts": {"g5-host": {"ansible_connection": "local",
                                                                          "k8s_node_name": names["node"],
                                                                          "device_plugin_config": host_config}}}}}}
    (tmp_path / "inventory.yml").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text("- name: Role\n  hosts: localhost\n  gather_facts: false\n  roles:\n"
                                       "    - role: %s\n" % role)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR="1", HOME=str(tmp_path),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    return subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-i", str(tmp_path / "inventory.yml"),
                           "-e", "@%s" % (tmp_path / "vars.json"), str(tmp_path / "play.yml")] + (["--check", "--diff"] if check else []),
                          env=env, capture_output=True, text=True, timeout=600, check=False)


def get(kube, path):
    status, answer = kube.api.request("GET", path)
    return answer if status == 200 else None


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    return predicate()


def test_named_configs_share_the_a10g_node(tmp_path, kube, names, a10g):
    kubelet = control_plane.KubeletStandIn(kube.api, [g5_node(names["node"])],
                                           device_plugins={names["node"]: {"nvidia_smi": a10g, "strategy": "none"}})
    with kubelet:
        result = run_role(tmp_path, kube, names, "a10g-shared")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

        config_map = get(kube, "/api/v1/namespaces/%s/configmaps/nvidia-device-plugin-configs" % names["namespace"])
        assert sorted(config_map["data"]) == ["a10g-shared", "whole"]
        # each key is the engine's plugin config, as a v1 plugin config file
        assert yaml.safe_load(config_map["data"]["a10g-shared"]) == json.loads(json.dumps(
            sharing.plugin_config(SHARED, mig_strategy="none")))
        assert yaml.safe_load(config_map["data"]["whole"]) == {"version": "v1", "flags": {"migStrategy": "none"}}

        node = get(kube, "/api/v1/nodes/%s" % names["node"])
        assert node["metadata"]["labels"][sharing.CONFIG_LABEL] == "a10g-shared"

        daemonset = get(kube, "/apis/apps/v1/namespaces/%s/daemonsets/%s" % (names["namespace"], names["name"]))
        pod = daemonset["spec"]["template"]["spec"]
        init, = pod["initContainers"]
        sidecar, plugin = pod["containers"]
        for manager, oneshot in ((init, "true"), (sidecar, "false")):
            env = dict((e["name"], e.get("value")) for e in manager["env"])
            assert manager["command"] == ["config-manager"]
            assert (env["ONESHOT"], env["NODE_LABEL"], env["DEFAULT_CONFIG"]) == (oneshot, sharing.CONFIG_LABEL, "whole")
        plugin_env = dict((e["name"], e.get("value")) for e in plugin["env"])
        assert plugin_env["CONFIG_FILE"] == "/config/config.yaml"
        assert "MIG_STRATEGY" not in plugin_env  # it would override every config's migStrategy
        assert pod["serviceAccountName"] == names["name"] and pod["shareProcessNamespace"] is True
        assert get(kube, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/%s-config-manager" % names["name"])

        # the real DaemonSet controller ran the pod; the plugin stand-in advertised the shared GPUs
        expected = dict(sharing.node_capacity("g5.12xlarge", SHARED))
        assert expected == {"nvidia.com/gpu": 0, "nvidia.com/gpu.shared": 16}

        def advertised():
            allocatable = get(kube, "/api/v1/nodes/%s" % names["node"])["status"].get("allocatable", {})
            return dict((k, int(v)) for k, v in allocatable.items() if k.startswith("nvidia.com/")) or None
        assert wait_for(lambda: advertised() and advertised().get("nvidia.com/gpu.shared")) == 16
        assert advertised().get("nvidia.com/gpu", 0) == 0
        assert not kubelet.errors

        again = run_role(tmp_path, kube, names, "a10g-shared")
        assert again.returncode == 0, again.stdout[-3000:]
        assert "changed=0" in again.stdout.split("PLAY RECAP")[-1], again.stdout[-3000:]

        # named configs dropped: the plugin runs without config-manager, and what only config-manager used goes too
        rbac = "/apis/rbac.authorization.k8s.io/v1/%s/" + names["name"] + "-config-manager"
        account = "/api/v1/namespaces/%s/serviceaccounts/%s" % (names["namespace"], names["name"])
        dropped = run_role(tmp_path, kube, names, "", device_plugin_configs={}, device_plugin_default_config="")
        assert dropped.returncode == 0, dropped.stdout[-4000:] + dropped.stderr[-2000:]
        pod = get(kube, "/apis/apps/v1/namespaces/%s/daemonsets/%s" % (names["namespace"], names["name"]))["spec"]["template"]["spec"]
        assert not pod.get("initContainers") and [c["name"] for c in pod["containers"]] == ["nvidia-device-plugin-ctr"]
        assert get(kube, "/api/v1/namespaces/%s/configmaps/nvidia-device-plugin-configs" % names["namespace"]) is None
        assert get(kube, account) is None
        assert get(kube, rbac % "clusterroles") is None and get(kube, rbac % "clusterrolebindings") is None
        assert recap_unchanged(run_role(tmp_path, kube, names, "", device_plugin_configs={}, device_plugin_default_config=""))


MPS = {"mode": "mps", "replicas": 4}
MPS_CONFIGS = {"whole": {"mig_strategy": "none"}, "a10g-mps": {"mig_strategy": "none", "sharing": MPS}}


def live_pods(kube, namespace, app):
    answer = get(kube, "/api/v1/namespaces/%s/pods?labelSelector=app.kubernetes.io%%2Fname%%3D%s" % (namespace, app)) or {}
    return [p for p in answer.get("items", []) if not p["metadata"].get("deletionTimestamp")]


def recap_unchanged(result):
    return result.returncode == 0 and "changed=0" in result.stdout.split("PLAY RECAP")[-1]


def test_mps_runs_the_control_daemon_on_the_mps_nodes_only(tmp_path, kube, names, a10g):
    """MPS through the standalone plugin, as the plugin's Helm chart deploys it: the plugin with MPS_ROOT and the
    MPS mounts, and a second DaemonSet (NVIDIA's mps-control-daemon) that the real DaemonSet controller and scheduler
    place on the node whose config uses MPS and NOT on a node of another config. The plugin stand-in refuses what
    the plugin's validateFlags refuses (e.g. DEVICE_LIST_STRATEGY=envvar overriding the config's cdi-cri) and
    advertises the MPS replicas only once a control daemon pod runs on that node."""
    mps_node, whole_node = names["node"], names["node"].replace("ip-10-9-0-", "ip-10-9-1-")
    other = g5_node(whole_node)
    other["metadata"]["labels"][sharing.CONFIG_LABEL] = "whole"  # e.g. a node group's label
    plugin = {"nvidia_smi": a10g, "strategy": "none"}
    kubelet = control_plane.KubeletStandIn(kube.api, [g5_node(mps_node), other], device_plugins={mps_node: plugin, whole_node: plugin})
    namespace, mps_name = names["namespace"], "%s-mps-control-daemon" % names["name"]
    ds_path = "/apis/apps/v1/namespaces/%s/daemonsets/%%s" % namespace
    try:
        with kubelet:
            result = run_role(tmp_path, kube, names, "a10g-mps", device_plugin_configs=MPS_CONFIGS)
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

            config_map = get(kube, "/api/v1/namespaces/%s/configmaps/nvidia-device-plugin-configs" % namespace)
            mps_config = yaml.safe_load(config_map["data"]["a10g-mps"])
            assert mps_config == json.loads(json.dumps(sharing.plugin_config(MPS, mig_strategy="none")))
            assert mps_config["sharing"]["mps"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
            assert mps_config["flags"]["plugin"]["deviceListStrategy"] == "cdi-cri"

            plugin_ds, mps_ds = get(kube, ds_path % names["name"]), get(kube, ds_path % mps_name)
            assert plugin_ds and mps_ds
            # two DaemonSets must never select each other's pods
            assert plugin_ds["spec"]["selector"] != mps_ds["spec"]["selector"]
            ctr = [c for c in plugin_ds["spec"]["template"]["spec"]["containers"] if c["name"] == "nvidia-device-plugin-ctr"][0]
            env = dict((e["name"], e.get("value")) for e in ctr["env"])
            assert env["MPS_ROOT"] == "/run/nvidia/mps" and "DEVICE_LIST_STRATEGY" not in env
            assert set(m["mountPath"] for m in ctr["volumeMounts"]) >= {"/mps", "/dev/shm", "/var/run/cdi"}

            pod = mps_ds["spec"]["template"]["spec"]
            assert pod["hostPID"] is True and not pod.get("shareProcessNamespace")
            mounts, init_cm = pod["initContainers"]
            assert mounts["command"] == ["mps-control-daemon", "mount-shm"] and mounts["securityContext"]["privileged"] is True
            assert mounts["volumeMounts"] == [{"name": "mps-root", "mountPath": "/mps", "mountPropagation": "Bidirectional"}]
            sidecar, daemon = pod["containers"]
            assert daemon["command"] == ["mps-control-daemon"]
            for manager in (init_cm, sidecar):
                manager_env = dict((e["name"], e.get("value")) for e in manager["env"])
                assert manager["command"] == ["config-manager"]
                assert (manager_env["NODE_LABEL"], manager_env["DEFAULT_CONFIG"]) == (sharing.CONFIG_LABEL, "whole")
            assert dict((e["name"], e.get("value")) for e in sidecar["env"])["PROCESS_TO_SIGNAL"] == "/usr/bin/mps-control-daemon"
            volumes = dict((v["name"], v) for v in pod["volumes"])
            assert volumes["mps-root"]["hostPath"] == {"path": "/run/nvidia/mps", "type": "DirectoryOrCreate"}
            assert volumes["mps-shm"]["hostPath"]["path"] == "/run/nvidia/mps/shm"
            assert volumes["available-configs"]["configMap"]["name"] == "nvidia-device-plugin-configs"
            for term in pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]:
                assert {"key": sharing.CONFIG_LABEL, "operator": "In", "values": ["a10g-mps"]} in term["matchExpressions"]

            # the real DaemonSet controller + scheduler: the control daemon on the MPS node only
            def daemon_nodes():
                return sorted(p["spec"].get("nodeName", "") for p in live_pods(kube, namespace, "nvidia-device-plugin-mps-control-daemon"))
            assert wait_for(lambda: daemon_nodes() == [mps_node]) and daemon_nodes() == [mps_node]

            def advertised(node):
                allocatable = get(kube, "/api/v1/nodes/%s" % node)["status"].get("allocatable", {})
                return dict((k, int(v)) for k, v in allocatable.items() if k.startswith("nvidia.com/") and int(v) > 0)
            expected = dict((k, v) for k, v in sharing.node_capacity("g5.12xlarge", MPS).items() if v)
            assert expected == {"nvidia.com/gpu": 16}
            assert wait_for(lambda: advertised(mps_node) == expected), (advertised(mps_node), kubelet.errors)
            assert wait_for(lambda: advertised(whole_node) == {"nvidia.com/gpu": 4}), advertised(whole_node)
            assert not kubelet.errors, kubelet.errors

            # idempotent, and check mode + diff on the converged cluster change nothing
            again = run_role(tmp_path, kube, names, "a10g-mps", device_plugin_configs=MPS_CONFIGS)
            assert recap_unchanged(again), again.stdout[-3000:]
            checked = run_role(tmp_path, kube, names, "a10g-mps", device_plugin_configs=MPS_CONFIGS, check=True)
            assert recap_unchanged(checked), checked.stdout[-3000:]

            # MPS dropped from the configs: the control daemon goes, the plugin stays
            dropped = run_role(tmp_path, kube, names, "whole", device_plugin_configs={"whole": {"mig_strategy": "none"}})
            assert dropped.returncode == 0, dropped.stdout[-3000:]
            assert get(kube, ds_path % mps_name) is None and get(kube, ds_path % names["name"])
            plugin_env = [c for c in get(kube, ds_path % names["name"])["spec"]["template"]["spec"]["containers"]
                          if c["name"] == "nvidia-device-plugin-ctr"][0]["env"]
            assert "MPS_ROOT" not in [e["name"] for e in plugin_env]

            # state absent with MPS configs: both DaemonSets and the ConfigMap go
            run_role(tmp_path, kube, names, "a10g-mps", device_plugin_configs=MPS_CONFIGS)
            assert get(kube, ds_path % mps_name)
            gone = run_role(tmp_path, kube, names, "a10g-mps", device_plugin_configs=MPS_CONFIGS, device_plugin_state="absent")
            assert gone.returncode == 0, gone.stdout[-3000:]
            assert get(kube, ds_path % mps_name) is None and get(kube, ds_path % names["name"]) is None
            assert get(kube, "/api/v1/namespaces/%s/configmaps/nvidia-device-plugin-configs" % namespace) is None
    finally:
        kube.api.request("DELETE", "/api/v1/nodes/%s" % whole_node)


@pytest.mark.parametrize("host_config, role_vars, message", [
    ("no-such-config", {}, "device_plugin_config 'no-such-config' is not one of the device plugin configs"),
    ("a10g-shared", {"device_plugin_default_config": "missing"}, "the default device plugin config 'missing' is not one"),
    ("", {"device_plugin_configs": {"bad name": {}}, "device_plugin_default_config": "bad name"},
     "is not a valid device plugin config name"),
    ("x", {"device_plugin_configs": {"x": {"sharing": {"mode": "time-slicing", "replicas": 1}}},
           "device_plugin_default_config": "x"}, "replicas must be at least 2"),
    # what the plugin v0.20 refuses with MPS (validateFlags; README "With CUDA MPS"), refused before any write
    ("x", {"device_plugin_configs": {"x": {"sharing": {"mode": "mps", "replicas": 2}, "mig_strategy": "mixed"}},
           "device_plugin_default_config": "x"}, "MPS with the mixed MIG strategy is refused by the device plugin"),
    ("x", {"device_plugin_configs": {"x": {"sharing": {"mode": "mps", "replicas": 2, "resources": ["nvidia.com/mig-1g.10gb"]},
                                           "mig_strategy": "mixed"}},
           "device_plugin_default_config": "x"}, "MPS shares only nvidia.com/gpu on full GPUs"),
    ("x", {"device_plugin_configs": {"x": {"sharing": {"mode": "mps", "replicas": 1}, "mig_strategy": "none"}},
           "device_plugin_default_config": "x"}, "replicas must be at least 2"),
    ("x", {"device_plugin_configs": {"x": {"sharing": {"mode": "mps", "replicas": 2}, "mig_strategy": "none"}},
           "device_plugin_default_config": "x", "device_plugin_device_list_strategy": "volume-mounts"},
     "need a CDI device list strategy"),
    ("x", {"device_plugin_configs": {"x": {"sharing": {"mode": "mps", "replicas": 2}, "mig_strategy": "none"}},
           "device_plugin_default_config": "x", "device_plugin_mps_root": "run/mps"},
     "device_plugin_mps_root must be an absolute directory path"),
])
def test_bad_input_changes_nothing(tmp_path, kube, names, host_config, role_vars, message):
    control_plane.seed_nodes(kube.api, [g5_node(names["node"])])
    result = run_role(tmp_path, kube, names, host_config, **role_vars)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]
    assert get(kube, "/api/v1/namespaces/%s/configmaps/nvidia-device-plugin-configs" % names["namespace"]) is None
    assert get(kube, "/apis/apps/v1/namespaces/%s/daemonsets/%s" % (names["namespace"], names["name"])) is None
    assert get(kube, "/apis/apps/v1/namespaces/%s/daemonsets/%s-mps-control-daemon" % (names["namespace"], names["name"])) is None
    labels = get(kube, "/api/v1/nodes/%s" % names["node"])["metadata"].get("labels") or {}
    assert sharing.CONFIG_LABEL not in labels
