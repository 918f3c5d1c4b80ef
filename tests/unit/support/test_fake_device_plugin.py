# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fake device plugin: the demo's device-plugin stand-in ONLY when it falls back to the emulator (no Go), run
against the emulator and the nvidia-smi simulator (CLI). Claims about the tool, not about Kubernetes: on the real
kube-apiserver the real DaemonSet controller runs the plugin pods and ``control_plane.KubeletStandIn(device_plugins=...)``
plays the plugin (tests/integration/targets/roles_cluster); the emulator's API answers are held to the real server's
by tests/unit/support/test_kube_conformance*.py.

What the demo's fallback relies on: a missing plugin pod is recreated like a DaemonSet would, and devices are
enumerated ONLY when the pod (re)starts (as the NVIDIA plugin does), so a reconfiguration without a restart leaves
stale resources.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import subprocess

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import fake_device_plugin
from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator
from ansible_collections.gpu_slicing.eks.tests.support import legs

# the emulator and the real server do not depend on ansible-core: the main leg is enough
pytestmark = pytest.mark.skipif(not legs.on_main_leg(), reason=legs.skip_reason())

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
SIM_CTL = os.path.join(ROOT, "tests", "simulators", "nvidia-smi-sim")


def _init(state, *args):
    subprocess.run([SIM_CTL, "init", "--state", state, "--model", "h100-80gb", "--gpus", "2"] + list(args),
                   check=True, stdout=subprocess.PIPE)


@pytest.fixture(scope="module")
def kube():
    with KubeEmulator(nodes=[{"metadata": {"name": "n1"}}, {"metadata": {"name": "n2"}}]) as emulator:
        yield emulator


def _nvidia(core, node):
    allocatable = core.read_node(node).status.allocatable
    return dict((k, v) for k, v in allocatable.items() if k.startswith("nvidia.com/"))


def test_enumerates_only_when_the_pod_restarts(kube, tmp_path):
    from kubernetes import client

    state = str(tmp_path / "gpus.json")
    _init(state)
    wrapper = subprocess.run([SIM_CTL, "wrapper", "--state", state, "--out", str(tmp_path / "nvidia-smi")],
                             check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    plugin = fake_device_plugin.FakeDevicePlugin(kube.kubeconfig, {"n1": {"nvidia_smi": wrapper, "strategy": "mixed"}},
                                                 log=io.StringIO())
    core = client.CoreV1Api(kube.api_client())

    assert plugin.reconcile() == ["nvidia-device-plugin-n1-1"]
    pod = core.read_namespaced_pod("nvidia-device-plugin-n1-1", "kube-system")
    assert pod.spec.node_name == "n1"
    assert pod.metadata.owner_references[0].kind == "DaemonSet"  # so the fallback's drains (ignore_daemonsets) leave it alone
    assert not any("nvidia.com" in str(c.resources) for c in pod.spec.containers)
    assert _nvidia(core, "n1") == {"nvidia.com/gpu": "2"}
    assert _nvidia(core, "n2") == {}  # not in the mapping: untouched

    _init(state, "--mig", "enabled", "--layout", "3g.40gb,2g.20gb,1g.10gb,1g.10gb")
    assert plugin.reconcile() == []                      # pod still there: no re-enumeration
    assert _nvidia(core, "n1") == {"nvidia.com/gpu": "2"}  # stale, as with the real plugin

    core.delete_namespaced_pod("nvidia-device-plugin-n1-1", "kube-system", _preload_content=False)
    assert plugin.reconcile() == ["nvidia-device-plugin-n1-2"]
    assert _nvidia(core, "n1") == {"nvidia.com/gpu": "0", "nvidia.com/mig-1g.10gb": "4",
                                   "nvidia.com/mig-2g.20gb": "2", "nvidia.com/mig-3g.40gb": "2"}


def test_broken_nvidia_smi_advertises_nothing(kube, tmp_path):
    from kubernetes import client

    log = io.StringIO()
    plugin = fake_device_plugin.FakeDevicePlugin(kube.kubeconfig, {"n2": {"nvidia_smi": str(tmp_path / "missing"), "strategy": "mixed"}},
                                                 log=log)
    assert plugin.reconcile() == ["nvidia-device-plugin-n2-1"]
    assert "advertising nothing" in log.getvalue()
    assert _nvidia(client.CoreV1Api(kube.api_client()), "n2") == {}


def test_mapping_is_validated(tmp_path):
    mapping = tmp_path / "m.json"
    mapping.write_text('{"n1": {"strategy": "mixed"}}')
    with pytest.raises(SystemExit):
        fake_device_plugin.main(["--kubeconfig", "x", "--mapping", str(mapping), "--once"])


MPS_CONFIG = {"version": "v1", "flags": {"migStrategy": "none", "plugin": {"deviceListStrategy": "cdi-cri"}},
              "sharing": {"mps": {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}}}


def _plugin_pod(*env):
    return {"spec": {"containers": [{"name": "nvidia-device-plugin-ctr", "command": ["nvidia-device-plugin"],
                                     "env": [{"name": k, "value": v} for k, v in env]}]}}


@pytest.mark.parametrize("env, config, refusal", [
    ((), MPS_CONFIG, None),
    ((("DEVICE_LIST_STRATEGY", "envvar"),), MPS_CONFIG, "using MPS requires CDI"),  # the env var overrides the file
    ((("DEVICE_LIST_STRATEGY", "cdi-cri,envvar"),), MPS_CONFIG, "incompatible with --device-list-strategy=envvar"),
    ((("MIG_STRATEGY", "mixed"),), MPS_CONFIG, "--mig-strategy=mixed is not supported with MPS"),
    ((), dict(MPS_CONFIG, flags={"migStrategy": "none"}), "using MPS requires CDI"),  # plugin default: envvar
    ((("DEVICE_LIST_STRATEGY", "envvar"),), {"version": "v1", "flags": {"migStrategy": "none"}}, None),
    ((), dict(MPS_CONFIG, sharing={"mps": {"resources": [{"name": "nvidia.com/gpu", "replicas": 1}]}}, flags={}), None),
])
def test_plugin_refuses_what_validate_flags_refuses(env, config, refusal):
    found = fake_device_plugin.plugin_start_error(_plugin_pod(*env), config)
    assert (found is None) if refusal is None else (refusal in found), found


def test_mps_daemon_must_run_on_the_node_with_the_plugins_root():
    plugin = _plugin_pod(("MPS_ROOT", "/run/nvidia/mps"))

    def daemon(root, phase="Running"):
        return {"metadata": {}, "status": {"phase": phase}, "spec": {
            "volumes": [{"name": "mps-root", "hostPath": {"path": root}}],
            "containers": [{"command": ["mps-control-daemon"], "volumeMounts": [{"name": "mps-root", "mountPath": "/mps"}]}]}}
    assert fake_device_plugin.mps_daemon_running(plugin, [daemon("/run/nvidia/mps")])
    assert not fake_device_plugin.mps_daemon_running(plugin, [])
    assert not fake_device_plugin.mps_daemon_running(plugin, [daemon("/run/nvidia/mps", phase="Pending")])
    assert not fake_device_plugin.mps_daemon_running(plugin, [daemon("/var/mps")])
    assert not fake_device_plugin.mps_daemon_running(_plugin_pod(), [daemon("/run/nvidia/mps")])  # no MPS_ROOT
