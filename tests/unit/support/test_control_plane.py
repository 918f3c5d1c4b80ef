# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/support/control_plane.py: the real control plane starts, answers, runs its controllers and leaves
nothing behind; build faults (Go missing, a proxy refusing modules, a failing build) are one clear line."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import control_plane

SCRIPT = control_plane.__file__


def _processes_running(exes):
    """pids whose argv[0] is one of ``exes``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    argv0 = handle.read().split(b"\0", 1)[0].decode(errors="replace")
            except OSError:
                continue
            if argv0 in exes:
                found.append(int(entry))
    return found


# ---------------------------------------------------------------------------------------------- build faults


def test_go_missing_is_one_line_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("GPU_SLICING_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no go here
    with pytest.raises(control_plane.BuildError) as error:
        control_plane.ensure_binaries(log=lambda _message: None)
    message = str(error.value)
    assert "\n" not in message
    assert "Go is not installed" in message and "https://go.dev/dl/" in message
    assert control_plane.pinned_versions()["kubernetes"] in message


class _Refusing(BaseHTTPRequestHandler):
    """A module proxy that refuses everything with 410 Gone."""

    def do_GET(self):
        body = b"gone: not served here\n"
        self.send_response(410)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.skipif(not control_plane.shutil.which("go"), reason="needs Go (the refusal comes from the real go command)")
def test_proxy_refusal_names_the_module_and_what_to_do(tmp_path, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("GPU_SLICING_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GOPROXY", "http://127.0.0.1:%d" % server.server_port)
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "modcache"))  # empty: every module must come from the proxy
    monkeypatch.setenv("GOSUMDB", "off")
    monkeypatch.setenv("GOTOOLCHAIN", "local")
    monkeypatch.setenv("GOFLAGS", "-modcacherw")
    try:
        with pytest.raises(control_plane.BuildError) as error:
            control_plane.ensure_binaries(log=lambda _message: None)
    finally:
        server.shutdown()
        server.server_close()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("the Go module proxy refused "), message
    assert "@v" in message.split()[5] and "410 Gone" in message and "GOPROXY" in message, message
    assert not (control_plane.cache_dir() / "bin").exists()
    assert not [p for p in control_plane.cache_dir().iterdir() if p.name.startswith("bin-")]


@pytest.mark.parametrize("output,expected", [
    (["# k8s.io/kubernetes/pkg/foo", "pkg/foo/bar.go:12:3: undefined: Baz", "note: module requires go >= 1.25"],
     "building k8s.io/kubernetes/pkg/foo (k8s.io/kubernetes v"),
    (["go: go.mod requires go >= 1.25.0 (running go 1.22.1; GOTOOLCHAIN=local)"], "Go 1.22.1 is too old"),
    (["go: downloading k8s.io/api v0.35.4", "go: k8s.io/api@v0.35.4: verifying module: checksum mismatch"],
     "the Go module proxy refused k8s.io/api@v0.35.4"),
    (["signal: killed"], "out of memory?"),
])
def test_go_failures_are_explained_in_one_line(output, expected):
    message = control_plane._explain_go_failure("go build", output, "/tmp/build.log", control_plane.pinned_versions())
    assert "\n" not in message and expected in message and "/tmp/build.log" in message, message


# ---------------------------------------------------------------------------------------------- the real thing


@pytest.fixture(scope="module")
def bin_dir():
    return control_plane.ensure_binaries(log=lambda _message: None)


def test_private_control_plane_runs_real_controllers_and_leaves_nothing(bin_dir, tmp_path):
    plane = control_plane.ControlPlane(bin_dir=bin_dir, log=lambda _message: None)
    with plane:
        workdir = plane.workdir
        pids = [pid for pid, _exe, _log in plane.processes.values()]
        assert sorted(plane.processes) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
        assert plane.version == control_plane.pinned_versions()["kubernetes"]
        kubectl = [str(bin_dir / "kubectl"), "--kubeconfig", plane.kubeconfig]
        version = json.loads(subprocess.run(kubectl + ["version", "-o", "json"], capture_output=True, text=True, check=True).stdout)
        assert version["serverVersion"]["gitVersion"] == plane.version == version["clientVersion"]["gitVersion"]
        crd = subprocess.run(kubectl + ["get", "crd", "nodeoverlays.karpenter.sh", "-o", "name"], capture_output=True, text=True, check=False)
        assert crd.returncode == 0 and crd.stdout.strip() == "customresourcedefinition.apiextensions.k8s.io/nodeoverlays.karpenter.sh"

        with control_plane.KubeletStandIn(plane.api, [{"metadata": {"name": "gpu-1"}, "status": {"capacity": {
                "cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/mig-1g.10gb": "7"}}}]) as kubelet:
            _scheduler_and_controllers_act(plane, kubelet)
            assert kubelet.errors == []
    assert not workdir.exists()
    assert not [pid for pid in pids if control_plane._pid_alive(pid)]


def _wait(what, probe, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.2)


def _pods(plane):
    return {p["metadata"]["name"]: p for p in plane.api.request("GET", "/api/v1/namespaces/default/pods")[1]["items"]}


def _scheduler_and_controllers_act(plane, kubelet):
    api = plane.api
    status, node = api.request("GET", "/api/v1/nodes/gpu-1")
    assert node["status"]["allocatable"]["nvidia.com/mig-1g.10gb"] == "7"

    # the real scheduler binds a pod asking for a MIG slice and leaves one asking for too many Unschedulable
    def pod(name, slices, labels=None):
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": {"containers": [{
            "name": "c", "image": "busybox", "resources": {"limits": {"nvidia.com/mig-1g.10gb": str(slices)}}}]}}
    for body in (pod("slice-a", 1, {"app": "w"}), pod("slice-b", 1, {"app": "w"}), pod("too-big", 8)):
        assert api.request("POST", "/api/v1/namespaces/default/pods", body)[0] == 201
    _wait("binding and Unschedulable", lambda: (
        all(_pods(plane)[n]["spec"].get("nodeName") == "gpu-1" and _pods(plane)[n]["status"].get("phase") == "Running"
            for n in ("slice-a", "slice-b"))
        and [c for c in _pods(plane)["too-big"]["status"].get("conditions", [])
             if c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"]))

    # the real controller-manager turns a Deployment into a ReplicaSet and pods
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    assert api.request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment)[0] == 201
    _wait("deployment pods", lambda: len([n for n in _pods(plane) if n.startswith("web-")]) == 2)

    # evictions honour a PodDisruptionBudget once the disruption controller has computed it
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "w"},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "w"}}}}
    assert api.request("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb)[0] == 201
    _wait("PDB status", lambda: api.request("GET", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/w")[1]
          .get("status", {}).get("disruptionsAllowed") == 1)

    def evict(name):
        return api.request("POST", "/api/v1/namespaces/default/pods/%s/eviction" % name,
                           {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}})[0]
    assert evict("slice-a") == 201
    _wait("the evicted pod to be gone", lambda: "slice-a" not in _pods(plane))  # the kubelet stand-in finalizes it
    assert evict("slice-b") == 429  # would violate minAvailable=1

    # a device plugin advertising other devices: the kubelet reports new allocatable
    kubelet.set_resources("gpu-1", {"cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/mig-3g.40gb": "2"})
    allocatable = api.request("GET", "/api/v1/nodes/gpu-1")[1]["status"]["allocatable"]
    assert allocatable.get("nvidia.com/mig-3g.40gb") == "2" and "nvidia.com/mig-1g.10gb" not in allocatable


def fake_bin_dir(bin_dir, directory, apiserver_script):
    """``directory``/bin with the real etcd and a kube-apiserver that is the shell script ``apiserver_script``."""
    fake = directory / "bin"
    fake.mkdir()
    (fake / "etcd").symlink_to(bin_dir / "etcd")
    apiserver = fake / "kube-apiserver"
    apiserver.write_text("#!/bin/sh\n" + apiserver_script)
    apiserver.chmod(0o755)
    return fake


def test_a_component_that_fails_to_start_leaves_nothing(bin_dir, tmp_path):
    fake = fake_bin_dir(bin_dir, tmp_path, "echo 'E1130 00:00:00.000000 1 run.go:72] \"command failed\" err=\"broken on purpose\"' >&2\nexit 1\n")
    plane = control_plane.ControlPlane(bin_dir=fake, log=lambda _message: None, startup_timeout=30)
    with pytest.raises(control_plane.ControlPlaneError) as error:
        plane.start()
    assert "kube-apiserver did not become ready" in str(error.value) and "broken on purpose" in str(error.value)
    assert plane.processes == {}
    assert not plane.workdir.exists()
    assert not _processes_running([str(fake / "etcd")])


def test_cli_up_status_down(bin_dir, tmp_path):
    session_dir = tmp_path / "session"
    env = dict(os.environ, GPU_SLICING_CACHE=str(bin_dir.parent.parent.parent))

    def cli(*args):
        return subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True, env=env, timeout=300, check=False)

    up = cli("up", "--dir", str(session_dir), "--no-scheduler")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "export KUBECONFIG=%s" % (session_dir / "kubeconfig") in up.stdout
    assert "kube-apiserver %s" % control_plane.pinned_versions()["kubernetes"] in up.stdout
    record = json.loads((session_dir / "session.json").read_text())
    assert sorted(p["name"] for p in record["processes"]) == ["etcd", "kube-apiserver", "kube-controller-manager"]
    again = cli("up", "--dir", str(session_dir))
    assert again.returncode == 0 and json.loads((session_dir / "session.json").read_text()) == record  # reused
    status = cli("status", "--dir", str(session_dir), "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["server"] == record["server"]
    down = cli("down", "--dir", str(session_dir))
    assert down.returncode == 0 and "stopped kube-controller-manager, kube-apiserver, etcd" in down.stdout, down.stdout
    assert not session_dir.exists()
    assert not [p for p in record["processes"] if control_plane._pid_alive(p["pid"])]
    assert cli("status", "--dir", str(session_dir)).returncode == 1
    assert "nothing" in cli("down", "--dir", str(session_dir)).stdout


def test_pki_passes_strict_x509_verification(tmp_path):
    """Python 3.13 verifies with VERIFY_X509_STRICT by default, which refuses certificates without key
    identifiers: the throwaway CA must satisfy it on every Python (the 2.21 leg runs 3.13)."""
    import socket
    import ssl

    pytest.importorskip("cryptography")
    pki = control_plane.make_pki(tmp_path / "pki")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pki["apiserver.crt"], pki["apiserver.key"])
    client_context = ssl.create_default_context(cafile=pki["ca.crt"])
    client_context.verify_flags |= ssl.VERIFY_X509_STRICT
    client_context.load_cert_chain(pki["admin.crt"], pki["admin.key"])
    listener = socket.create_server(("127.0.0.1", 0))
    errors = []

    def serve():
        connection = listener.accept()[0]
        try:
            with server_context.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError) as exc:  # pragma: no cover - only when the client refuses
            errors.append(exc)

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    with socket.create_connection(listener.getsockname(), timeout=10) as raw:
        with client_context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.getpeercert()["subject"] == ((("commonName", "kube-apiserver"),),)
            tls.sendall(b"x")
    worker.join(10)
    listener.close()
    assert not errors
