# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-scheduler, kube-controller-manager.

The binaries are built from the pinned Go module ``tests/support/kube/go.mod`` (``k8s.io/kubernetes`` with
its staging modules replaced by their published versions, ``go.etcd.io/etcd/server/v3``) into a cache keyed
by go.mod + go.sum, so only the first run pays for the build. A throwaway CA signs the API server's serving
certificate and an admin client certificate (``O=system:masters``); service-account keys are generated too.

No kubelet runs: Node objects and their status (capacity, allocatable, conditions) are written by test
stand-ins through the API, as a kubelet would (``seed_nodes``, ``KubeletStandIn``). Two deviations from a
production cluster, both because no kubelet exists: the node-lifecycle-controller runs (it lifts the
``node.kubernetes.io/not-ready`` taint once a Node reports Ready) but with a node-monitor grace period of 10
years, so Nodes whose stand-in status is not refreshed are never tainted unreachable nor their pods evicted;
and the ``ServiceAccount`` admission plugin is off (it rejects pods in a namespace until the
controller-manager has created its ``default`` ServiceAccount, a race no kubelet-less test should depend on;
envtest does the same).

Python API::

    with ControlPlane() as cp:          # cp.kubeconfig, cp.server, cp.version, cp.bin_dir
        cp.seed_nodes([{"metadata": {"name": "gpu-1"}, "status": {"capacity": {"nvidia.com/gpu": "8"}}}])

Command line (``make cluster-up`` / ``make cluster-down`` use it)::

    python -m ansible_collections.gpu_slicing.eks.tests.support.control_plane build|up|down|status|version
    python -m ... session --dir DIR -- COMMAND ...   # run COMMAND with a session cluster (started if none)

A session cluster (``up``) keeps running after the command returns; its state is ``DIR/session.json``
(default DIR: ``<checkout>/build/kube/session``). Tests find it with ``find_session()``, which looks for
``build/kube/session/session.json`` in every parent directory of this file: that works from the checkout,
from ``build/collections`` and from ansible-test's copy under ``build/ansible-test`` (ansible-test passes no
environment variables through to the tests, so a file at a fixed place is the handle).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import base64
import contextlib
import datetime
import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

try:
    from .ports import LOOPBACK, free_port, poll
    from .reaper import die_with_parent, start_time
except ImportError:  # run as a script (the kubelet stand-in process)
    from ports import LOOPBACK, free_port, poll
    from reaper import die_with_parent, start_time

HERE = Path(__file__).resolve().parent
GO_MODULE_DIR = HERE / "kube"
COLLECTION_ROOT = HERE.parent.parent
CRD_DIR = COLLECTION_ROOT / "tests" / "data" / "crds"
DEFAULT_CRDS = tuple(str(CRD_DIR / name) for name in (
    "karpenter.sh_nodepools.yaml", "karpenter.sh_nodeclaims.yaml", "karpenter.k8s.aws_ec2nodeclasses.yaml",
    "karpenter.sh_nodeoverlays.yaml", "nvidia.com_clusterpolicies.yaml.gz"))
SESSION_SUBDIR = Path("build") / "kube" / "session"
SESSION_FILE = "session.json"
REAPER = HERE / "reaper.py"
# a directory where every ControlPlane started in this process tree records its processes and temporary work dir
# (``leak_check``, the pytest plugin the unit tests' conftest loads, sets it and checks it at the session's end)
LEDGER_ENV = "GPU_SLICING_CONTROL_PLANE_LEDGER"

# binary name -> Go main package (all from tests/support/kube/go.mod)
BINARIES = {
    "etcd": "go.etcd.io/etcd/server/v3",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
}
# bump when the build recipe (flags, binary set) changes: part of the cache key
BUILD_RECIPE = "2"
# no kubelet heartbeats Nodes: never declare one unreachable (see the module docstring)
KCM_NODE_GRACE = "87600h"


class BuildError(RuntimeError):
    """The control plane binaries could not be built; the message is one line saying what to do."""


class ControlPlaneError(RuntimeError):
    """The control plane did not start (or a session could not be found); names the component and its log."""


# ---------------------------------------------------------------------------------------------- build


def pinned_versions(go_mod=None):
    """``{"kubernetes": "v1.35.4", "etcd": "v3.6.5", "go": "1.25.0"}`` read from go.mod."""
    text = Path(go_mod or GO_MODULE_DIR / "go.mod").read_text()
    found = {}
    for key, pattern in (("kubernetes", r"^\s*k8s\.io/kubernetes\s+(v\S+)"), ("etcd", r"^\s*go\.etcd\.io/etcd/server/v3\s+(v\S+)"),
                         ("go", r"^go\s+(\S+)")):
        match = re.search(pattern, text, re.M)
        if not match:
            raise BuildError("%s: no %s version found; the file is damaged" % (GO_MODULE_DIR / "go.mod", key))
        found[key] = match.group(1)
    return found


def cache_key():
    """sha256 of go.mod + go.sum + the build recipe (16 hex digits): a new pin means a new cache entry."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((GO_MODULE_DIR / name).read_bytes())
    digest.update(BUILD_RECIPE.encode())
    return digest.hexdigest()[:16]


def cache_dir():
    """``$GPU_SLICING_CACHE/kube/<key>`` (default ``~/.cache/gpu-slicing/kube/<key>``)."""
    root = os.environ.get("GPU_SLICING_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gpu-slicing")
    return Path(root) / "kube" / cache_key()


def _ldflags(kubernetes_version):
    match = re.match(r"v(\d+)\.(\d+)\.", kubernetes_version)
    major, minor = match.groups()
    prefix = "k8s.io/component-base/version."
    pairs = (("gitMajor", major), ("gitMinor", minor), ("gitVersion", kubernetes_version), ("gitTreeState", "clean"),
             ("buildDate", "1970-01-01T00:00:00Z"))
    return " ".join(["-s", "-w"] + ["-X %s%s=%s" % (prefix, key, value) for key, value in pairs])


def _binaries_present(bin_dir):
    return (bin_dir / "BUILD-INFO.json").is_file() and all((bin_dir / name).is_file() for name in BINARIES)


_MODULE_AT = re.compile(r"([A-Za-z0-9][\w.\-~/]*@v[\w.\-+]+)")


def _explain_go_failure(step, lines, log_path, versions):
    """One line for a failed ``go`` run: which module/package, why, and what to do."""
    text = "\n".join(lines)
    where = "full log: %s" % log_path
    proxy = os.environ.get("GOPROXY") or "https://proxy.golang.org,direct (default)"
    match = re.search(r"go\.mod requires go >= (\S+) \(running go ([^;)\s]+)", text)
    if match:
        return "Go %s is too old: tests/support/kube/go.mod needs Go >= %s; install a newer Go (https://go.dev/dl/) " \
               "or allow GOTOOLCHAIN=auto to fetch one; %s" % (match.group(2), match.group(1), where)
    for line in lines:
        if any(word in line for word in ("reading http", "verifying ", "dial tcp", "Get \"http", "410 Gone", "404 Not Found",
                                         "403 Forbidden", "checksum mismatch", "no such host", "connection refused",
                                         "i/o timeout", "TLS handshake")):
            module = _MODULE_AT.search(line)
            return "the Go module proxy refused %s: %s; check GOPROXY (%s) and network access to it, then re-run; %s" % (
                module.group(1) if module else "a module", line.strip()[:300], proxy, where)
    if "signal: killed" in text or "out of memory" in text.lower():
        return "the Go toolchain was killed during %s (out of memory? linking kube-apiserver needs ~2 GB); free memory " \
               "and re-run; %s" % (step, where)
    package, error = None, None
    for index, line in enumerate(lines):
        if line.startswith("# "):
            package = line[2:].strip()
            error = next((later.strip() for later in lines[index + 1:] if later.strip()), "")
            break
    if package:
        return "building %s (k8s.io/kubernetes %s, etcd %s) failed: %s; %s" % (
            package, versions["kubernetes"], versions["etcd"], error[:300], where)
    last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
    return "%s failed (k8s.io/kubernetes %s, etcd %s): %s; %s" % (step, versions["kubernetes"], versions["etcd"], last[:300], where)


def _run_go(argv, step, log_handle, log, env, progress_total=None):
    """Run ``go`` with stderr streamed to the log; progress every 20 s. Returns (rc, output lines)."""
    log_handle.write("$ %s\n" % " ".join(argv))
    log_handle.flush()
    process = subprocess.Popen(argv, cwd=str(GO_MODULE_DIR), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                               universal_newlines=True, errors="replace", start_new_session=True)
    lines = []
    state = {"done": False}
    started = time.monotonic()

    def ticker():
        while not state["done"]:
            time.sleep(1)
            elapsed = int(time.monotonic() - started)
            if not state["done"] and elapsed and elapsed % 20 == 0:
                packages = sum(1 for line in lines if line and not line.startswith(("go: ", "#", " ", "\t")))
                total = "/%d" % progress_total if progress_total else ""
                last = lines[-1].strip() if lines else "-"
                log("  %s: %dm%02ds, %d%s packages compiled (last: %s)" % (step, elapsed // 60, elapsed % 60, packages, total, last[:80]))

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            log_handle.write(line)
        rc = process.wait()
    finally:
        state["done"] = True
        if process.poll() is None:  # interrupted: stop go and the compilers it started
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log_handle.flush()
    return rc, lines


def ensure_binaries(log=print):
    """The directory holding etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kubectl.

    Built once per go.mod/go.sum into ``cache_dir()/bin`` (another process building the same key is waited
    for); later calls return at once. Raises ``BuildError`` (one line) when Go is missing, the module proxy
    refuses a module, or the build fails. Nothing half-built is left in ``bin``.
    """
    target = cache_dir()
    bin_dir = target / "bin"
    if _binaries_present(bin_dir):
        return bin_dir
    # Under ansible-test GPU_SLICING_CACHE does not reach us: the session cluster's binaries of the same key do.
    session = None if os.environ.get("GPU_SLICING_CACHE") else find_session()
    if session is not None and session.bin_dir.parent.name == target.name and _binaries_present(session.bin_dir):
        return session.bin_dir
    versions = pinned_versions()
    go = shutil.which("go")
    if not go:
        raise BuildError("Go is not installed (no `go` on PATH): the Kubernetes control plane (k8s.io/kubernetes %s, etcd %s) "
                         "is built from tests/support/kube/go.mod; install Go >= %s from https://go.dev/dl/ and re-run"
                         % (versions["kubernetes"], versions["etcd"], versions["go"]))
    target.mkdir(parents=True, exist_ok=True)
    import fcntl
    with open(str(target / ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log("another process is building the control plane into %s; waiting for it" % target)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if _binaries_present(bin_dir):
            return bin_dir
        return _build(go, target, bin_dir, versions, log)


def _exe_name(package):
    """The file ``go build -o DIR/`` writes for a main package: its last element, or the one before a ``/vN``."""
    parts = package.rstrip("/").split("/")
    return parts[-2] if re.match(r"v\d+$", parts[-1]) else parts[-1]


def _build(go, target, bin_dir, versions, log):
    log_path = target / "build.log"
    staging = Path(tempfile.mkdtemp(prefix="bin-", dir=str(target)))
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "")
    env["GOFLAGS"] = (env["GOFLAGS"] + " -mod=readonly").strip()
    started = time.monotonic()
    try:
        go_version = subprocess.run([go, "version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                                    check=False).stdout.strip()
        log("building the Kubernetes control plane: k8s.io/kubernetes %s, etcd %s with %s into %s" % (
            versions["kubernetes"], versions["etcd"], go_version, bin_dir))
        log("  first build: ~900 MB of modules, ~5 min on an idle 2-core machine, much longer under load (later runs reuse the cache); log: %s" % log_path)
        packages = list(BINARIES.values())
        with open(str(log_path), "w") as log_handle:
            rc, lines = _run_go([go, "list", "-deps", "-f", "{{.ImportPath}}"] + packages, "resolving modules", log_handle, log, env)
            if rc != 0:
                raise BuildError(_explain_go_failure("go list (module download)", lines, log_path, versions))
            total = sum(1 for line in lines if line and not line.startswith("go: "))
            argv = [go, "build", "-v", "-trimpath", "-ldflags", _ldflags(versions["kubernetes"]), "-o", str(staging) + os.sep] + packages
            rc, lines = _run_go(argv, "go build", log_handle, log, env, progress_total=total)
            if rc != 0:
                raise BuildError(_explain_go_failure("go build", lines, log_path, versions))
        # `go build` names a .../server/v3 main "server"
        built = {name: staging / _exe_name(package) for name, package in BINARIES.items()}
        for name, path in built.items():
            if not path.is_file():
                raise BuildError("go build succeeded but %s is missing from %s; full log: %s" % (name, staging, log_path))
            if path.name != name:
                path.rename(staging / name)
        seconds = round(time.monotonic() - started)
        info = dict(versions, go_version=go_version, build_seconds=seconds, key=cache_key(),
                    built_at=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        (staging / "BUILD-INFO.json").write_text(json.dumps(info, indent=1) + "\n")
        if bin_dir.exists():
            shutil.rmtree(str(bin_dir))
        staging.rename(bin_dir)
        log("built the control plane in %dm%02ds: %s" % (seconds // 60, seconds % 60, bin_dir))
        return bin_dir
    finally:
        shutil.rmtree(str(staging), ignore_errors=True)


# ---------------------------------------------------------------------------------------------- PKI


def _write_private(path, data):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def make_pki(directory):
    """A throwaway CA, the API server's serving certificate, an admin client certificate in ``system:masters``
    and the service-account signing key pair, as PEM files in ``directory``. Returns ``{name: path}``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def key_pem(private):
        return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def name(common, org=None):
        parts = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
        if org:
            parts.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        return x509.Name(parts)

    ca_key = key()
    ca_name = name("gpu-slicing-test-ca")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    # key identifiers: Python 3.13's default TLS context (VERIFY_X509_STRICT) refuses certificates without them

    def leaf(subject, usage, sans=None):
        private = key()
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), private

    dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
    serving, serving_key = leaf(name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH,
                                [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(a)) for a in (LOOPBACK, "10.0.0.1")])
    admin, admin_key = leaf(name("gpu-slicing-admin", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH)
    sa_key = key()
    files = {
        "ca.crt": ca.public_bytes(serialization.Encoding.PEM),
        "apiserver.crt": serving.public_bytes(serialization.Encoding.PEM), "apiserver.key": key_pem(serving_key),
        "admin.crt": admin.public_bytes(serialization.Encoding.PEM), "admin.key": key_pem(admin_key),
        "sa.key": key_pem(sa_key),
        "sa.pub": sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    }
    paths = {}
    for filename, data in files.items():
        _write_private(directory / filename, data)
        paths[filename] = str(directory / filename)
    return paths


def write_kubeconfig(path, server, pki, context="gpu-slicing-test"):
    """A kubeconfig for ``server`` with the CA and the admin client certificate embedded (mode 0600)."""
    def data(name):
        return base64.b64encode(Path(pki[name]).read_bytes()).decode()

    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": context, "preferences": {},
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": data("ca.crt")}}],
        "users": [{"name": context, "user": {"client-certificate-data": data("admin.crt"), "client-key-data": data("admin.key")}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}],
    }
    _write_private(path, yaml.safe_dump(config, default_flow_style=False).encode())
    return str(path)


# ---------------------------------------------------------------------------------------------- API access


class Api:
    """Minimal HTTPS client for the control plane (stdlib only): ``request(method, path, body)``."""

    def __init__(self, server, ca_file, cert_file, key_file):
        self.server = server
        match = re.match(r"https://([^:/]+):(\d+)", server)
        self.host, self.port = match.group(1), int(match.group(2))
        self.context = ssl.create_default_context(cafile=ca_file)
        self.context.load_cert_chain(cert_file, key_file)

    def request(self, method, path, body=None, content_type="application/json", timeout=30):
        """(status, decoded JSON or text) for one request."""
        connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)
        try:
            payload = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            headers = {"Accept": "application/json"}
            if payload is not None:
                headers["Content-Type"] = content_type
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode(errors="replace")

    def apply(self, path, obj, manager="gpu-slicing-tests", subresource=""):
        """Server-side apply ``obj`` at ``path`` (+ ``/status`` etc.); raises ``ControlPlaneError`` on failure."""
        status, answer = self.request("PATCH", "%s%s?fieldManager=%s&force=true" % (path, subresource, manager), obj,
                                      content_type="application/apply-patch+yaml")
        if status >= 300:
            raise ControlPlaneError("apply %s%s: HTTP %d %s" % (path, subresource, status, answer))
        return answer


def node_object(node):
    """A complete Node from a partial dict, with what a registering kubelet fills in (labels, capacity, Ready)."""
    import copy
    node = copy.deepcopy(node)
    node.setdefault("apiVersion", "v1")
    node.setdefault("kind", "Node")
    meta = node.setdefault("metadata", {})
    if not meta.get("name"):
        raise ValueError("every node needs metadata.name: %r" % (node,))
    labels = meta.setdefault("labels", {})
    labels.setdefault("kubernetes.io/hostname", meta["name"])
    labels.setdefault("kubernetes.io/os", "linux")
    labels.setdefault("kubernetes.io/arch", "amd64")
    status = node.setdefault("status", {})
    capacity = status.setdefault("capacity", {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"})
    status.setdefault("allocatable", dict(capacity))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    status.setdefault("conditions", [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now,
                                      "lastTransitionTime": now, "message": "kubelet is posting ready status (test stand-in)"}])
    status.setdefault("nodeInfo", {"kubeletVersion": "v1.35.0-eks", "containerRuntimeVersion": "containerd://1.7.27",
                                   "operatingSystem": "linux", "architecture": labels["kubernetes.io/arch"], "osImage": "Amazon Linux 2023",
                                   "kernelVersion": "6.1.0", "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""})
    node.setdefault("spec", {})
    return node


def seed_nodes(api, nodes, manager="kubelet-stand-in"):
    """Create/update Nodes as a kubelet does: the object, then its ``status`` sub-resource. Returns the stored Nodes."""
    stored = []
    for raw in nodes:
        node = node_object(raw)
        name = node["metadata"]["name"]
        path = "/api/v1/nodes/%s" % name
        api.apply(path, {k: v for k, v in node.items() if k != "status"}, manager=manager)
        stored.append(api.apply(path, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": node["status"]},
                                manager=manager, subresource="/status"))
    return stored


def service_account_token(api, name, namespace="default", cluster_role="cluster-admin", seconds=3600):
    """A bearer token the API server accepts: ServiceAccount ``name`` bound to ``cluster_role``, token from TokenRequest."""
    status, answer = api.request("POST", "/api/v1/namespaces/%s/serviceaccounts" % namespace, {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
    if status not in (201, 409):
        raise ControlPlaneError("create ServiceAccount %s: HTTP %d %s" % (name, status, answer))
    api.apply("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/%s" % name, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]})
    status, answer = api.request("POST", "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (namespace, name), {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}})
    if status != 201:
        raise ControlPlaneError("TokenRequest for %s: HTTP %d %s" % (name, status, answer))
    return answer["status"]["token"]


class KubeletStandIn:
    """What the kubelets of ``nodes`` would write, for a cluster without kubelets.

    Registers the Nodes (object, then the ``status`` sub-resource), then every ``interval`` seconds, for the
    pods bound to those Nodes: a new pod gets the status a kubelet reports once its containers run (phase
    Running, Ready), and a pod being deleted (``deletionTimestamp`` set, e.g. by an eviction or a drain) is
    removed with ``gracePeriodSeconds=0`` as the kubelet does after its containers stopped. Without this, a
    gracefully deleted pod stays Terminating forever and a drain never ends. ``set_resources`` writes new
    capacity/allocatable, as a kubelet does when a device plugin advertises other devices.
    """

    DEVICE_PLUGIN_SELECTOR = "app.kubernetes.io/name=nvidia-device-plugin"

    def __init__(self, api, nodes, interval=0.2, device_plugins=None):
        self.api = api
        self.nodes = [node_object(node) for node in nodes]
        self.interval = interval
        # node -> {"nvidia_smi": path, "strategy": mixed|single|none}: when a new device-plugin pod starts on the
        # node, its GPUs are enumerated with that nvidia-smi (as the plugin does at start) and the kubelet
        # reports the resources (stale nvidia.com/* ones drop to 0, as the kubelet does)
        self.device_plugins = dict(device_plugins or {})
        self._plugin_pods = {}
        self._stop = threading.Event()
        self._thread = None
        self.errors = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        seed_nodes(self.api, self.nodes)
        self._thread = threading.Thread(target=self._loop, name="kubelet-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.sync_once()
            except (OSError, http.client.HTTPException, ControlPlaneError) as exc:
                self.errors.append(str(exc))
            self._stop.wait(self.interval)

    def sync_once(self):
        for node in self.nodes:
            name = node["metadata"]["name"]
            status, pods = self.api.request("GET", "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s" % name)
            if status != 200:
                raise ControlPlaneError("list pods on %s: HTTP %d %s" % (name, status, pods))
            plugin_pods = []
            for pod in pods["items"]:
                meta = pod["metadata"]
                if not meta.get("deletionTimestamp") and self.device_plugins.get(name) and \
                        (meta.get("labels") or {}).get("app.kubernetes.io/name") == "nvidia-device-plugin":
                    plugin_pods.append(pod)
                path = "/api/v1/namespaces/%s/pods/%s" % (meta["namespace"], meta["name"])
                if meta.get("deletionTimestamp"):
                    options = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
                    self.api.request("DELETE", path, options)
                elif pod.get("status", {}).get("phase") not in ("Running", "Succeeded", "Failed"):
                    self.api.request("PATCH", path + "/status", {"status": self._running_status(pod)},
                                     content_type="application/merge-patch+json")
            if plugin_pods and self._plugin_pods.get(name) not in [p["metadata"]["uid"] for p in plugin_pods]:
                if self._advertise(name, plugin_pods[0], pods["items"]):
                    self._plugin_pods[name] = plugin_pods[0]["metadata"]["uid"]

    def _advertise(self, name, pod=None, node_pods=()):
        """Advertise what the plugin ``pod`` would; False (nothing done, retried at the next sync) while its config uses
        MPS and no MPS control daemon runs on the node: shared MPS GPUs are usable only once the daemon runs."""
        try:
            from . import fake_device_plugin
        except ImportError:  # run as a script
            import fake_device_plugin
        spec = self.device_plugins[name]
        status, node = self.api.request("GET", "/api/v1/nodes/%s" % name)
        # a pod with NVIDIA's config-manager runs the named config the node's label selects (GPU sharing, MIG
        # strategy); one without it the strategy given for the node
        try:
            selected = fake_device_plugin.selected_config(pod or {}, node, self._config_map_data)
            if selected is None:
                resources = fake_device_plugin.enumerate_resources(spec["nvidia_smi"], spec.get("strategy", "mixed"))
            else:
                refused = fake_device_plugin.plugin_start_error(pod, selected[1])
                if refused:
                    raise fake_device_plugin.EnumerationError("config %s: %s" % (selected[0], refused))
                if fake_device_plugin.uses_mps(selected[1]) and not fake_device_plugin.mps_daemon_running(pod, node_pods):
                    return False
                resources = fake_device_plugin.configured_resources(spec["nvidia_smi"], selected[1])
        except fake_device_plugin.EnumerationError as exc:  # the real plugin would not start: nothing advertised
            self.errors.append("device plugin on %s: %s" % (name, exc))
            resources = {}
        capacity = dict((k, v) for k, v in node["status"].get("capacity", {}).items() if not k.startswith("nvidia.com/"))
        capacity.update((k, "0") for k in node["status"].get("capacity", {}) if k.startswith("nvidia.com/"))
        capacity.update((k, str(v)) for k, v in resources.items())
        self.set_resources(name, capacity)
        return True

    def _config_map_data(self, namespace, name):
        status, answer = self.api.request("GET", "/api/v1/namespaces/%s/configmaps/%s" % (namespace, name))
        if status != 200:
            raise ControlPlaneError("get configmap %s/%s: HTTP %d %s" % (namespace, name, status, answer))
        return answer.get("data") or {}

    @staticmethod
    def _running_status(pod):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        conditions = [{"type": kind, "status": "True", "lastTransitionTime": now}
                      for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
        containers = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "started": True, "restartCount": 0,
                       "state": {"running": {"startedAt": now}}} for c in pod["spec"].get("containers", [])]
        return {"phase": "Running", "conditions": conditions, "containerStatuses": containers, "hostIP": LOOPBACK,
                "podIP": LOOPBACK, "startTime": now}

    def set_resources(self, name, capacity, allocatable=None):
        """New capacity/allocatable for Node ``name`` (status sub-resource), as its kubelet would report them."""
        status, node = self.api.request("GET", "/api/v1/nodes/%s" % name)
        if status != 200:
            raise ControlPlaneError("get node %s: HTTP %d %s" % (name, status, node))
        node["status"]["capacity"] = dict(capacity)
        node["status"]["allocatable"] = dict(allocatable if allocatable is not None else capacity)
        status, answer = self.api.request("PUT", "/api/v1/nodes/%s/status" % name, node)
        if status != 200:
            raise ControlPlaneError("update node %s status: HTTP %d %s" % (name, status, answer))
        return answer


def load_crds(paths):
    """The CustomResourceDefinition documents in ``paths`` (YAML, ``.gz`` read transparently)."""
    docs = []
    for path in paths:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(str(path), "rt", encoding="utf-8") as handle:
            for doc in yaml.load_all(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    docs.append(doc)
    return docs


def install_crds(api, paths, timeout=60.0):
    """Create the CRDs in ``paths`` (existing ones are replaced) and wait until each is Established."""
    names = []
    for crd in load_crds(paths):
        crd = {k: v for k, v in crd.items() if k != "status"}
        crd.get("metadata", {}).pop("creationTimestamp", None)
        name = crd["metadata"]["name"]
        api.apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s" % name, crd)
        names.append(name)
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            status, crd = api.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s" % name)
            conditions = ((crd or {}).get("status") or {}).get("conditions") or [] if status == 200 else []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise ControlPlaneError("CRD %s not Established after %.0fs: %s" % (name, timeout, conditions))
            time.sleep(0.1)
    return names


# ---------------------------------------------------------------------------------------------- processes


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _pid_runs(pid, exe):
    """True when ``pid`` is alive and still runs ``exe`` (guards against a recycled pid)."""
    if not _pid_alive(pid):
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv0 = handle.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return True
    return os.path.abspath(argv0) == os.path.abspath(exe)


def terminate(pid, exe=None, timeout=15.0):
    """SIGTERM ``pid`` (only if it still runs ``exe``), SIGKILL after ``timeout``; wait until it is gone."""
    if exe is not None and not _pid_runs(pid, exe):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 10
        time.sleep(0.05)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def _tail(path, lines=12):
    try:
        with open(str(path), "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8000))
            return handle.read().decode(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


class ControlPlane:
    """etcd + kube-apiserver (+ kube-scheduler, kube-controller-manager) on free loopback ports.

    ``workdir``: certificates, kubeconfig, etcd data and logs (a temporary directory by default, removed on
    ``stop()``); ``crds``: CRD files installed and awaited Established (default: Karpenter v1.14.1 NodePool,
    NodeClaim, EC2NodeClass, NodeOverlay and the GPU Operator ClusterPolicy); ``detached``: the processes
    outlive this Python process once ``start()`` returned (``make cluster-up``); otherwise they die with it.

    Teardown does not depend on ``stop()`` being reached: a reaper process (``reaper.py``) watches a pipe only this
    process writes to and, when the pipe closes without ``stop()`` (an ansible-test fork ending in ``os._exit``,
    SIGKILL, a fixture whose teardown never runs), SIGKILLs every component still running and removes the
    temporary work dir. Components started from the main thread also get PR_SET_PDEATHSIG=SIGKILL. A detached
    plane hands its processes over once it is up, so a ``cluster-up`` killed half-way leaves nothing either.
    Attributes after ``start()``: ``kubeconfig`` (absolute path), ``server`` (https URL), ``version``
    (the API server's gitVersion), ``bin_dir``, ``api`` (an ``Api``), ``processes`` ({name: (pid, exe, log)}).
    """

    def __init__(self, workdir=None, crds=DEFAULT_CRDS, scheduler=True, controller_manager=True, bin_dir=None, log=None,
                 detached=False, startup_timeout=120.0):
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else None
        self.crds = tuple(crds or ())
        self.scheduler = scheduler
        self.controller_manager = controller_manager
        self.bin_dir = Path(bin_dir) if bin_dir else None
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self.detached = detached
        self.startup_timeout = startup_timeout
        self.kubeconfig = self.server = self.version = self.api = None
        self.etcd_url = None
        self.processes = {}
        self._popen = {}
        self._started = []  # every component ever started: {"name", "pid", "start_time", "exe"} (the ledger's record)
        self._reaper = self._orders = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- lifecycle

    def start(self):
        """Build (or reuse) the binaries, start every component, install the CRDs. On any failure every process
        started so far is stopped and the temporary work dir removed before the error is raised."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        if self.detached:
            self._disarm_reaper(release=True)
        return self

    def _start(self):
        self.bin_dir = self.bin_dir or ensure_binaries(log=self.log)
        self._arm_reaper()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="gpu-slicing-kube-"))
            self._order("dir %s" % self.workdir)
        self._ledger_write()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = self.workdir.resolve()
        pki = make_pki(self.workdir / "pki")
        self._pki = pki
        started = time.monotonic()

        self.etcd_url = self._start_component("etcd", self._etcd_argv, self._etcd_ready)
        self.server = self._start_component("kube-apiserver", lambda port: self._apiserver_argv(port, pki), self._apiserver_ready)
        self.api = Api(self.server, pki["ca.crt"], pki["admin.crt"], pki["admin.key"])
        self.kubeconfig = write_kubeconfig(self.workdir / "kubeconfig", self.server, pki)
        status, version = self.api.request("GET", "/version")
        self.version = (version or {}).get("gitVersion") if status == 200 else None
        if not self.version:
            raise ControlPlaneError("kube-apiserver /version answered HTTP %s %r (built without version ldflags?)" % (status, version))
        if self.crds:
            install_crds(self.api, self.crds)
        if self.controller_manager:
            self._start_component("kube-controller-manager", lambda port: self._kcm_argv(port, pki), self._healthz_ready)
        if self.scheduler:
            self._start_component("kube-scheduler", self._scheduler_argv, self._healthz_ready)
        self._wait_default_namespace()
        self.log("control plane up in %.1fs: kube-apiserver %s at %s (kubeconfig %s)" % (
            time.monotonic() - started, self.version, self.server, self.kubeconfig))

    def stop(self):
        """Stop every process (reverse start order) and remove the work dir if this object created it."""
        for name in reversed(list(self.processes)):
            pid, exe, _log = self.processes[name]
            terminate(pid, exe)
            popen = self._popen.pop(name, None)
            if popen is not None:
                try:
                    popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    popen.kill()
                    popen.wait()
        self.processes = {}
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(str(self.workdir), ignore_errors=True)
        self._disarm_reaper()

    # -- the reaper and the ledger (see the class docstring)

    def _arm_reaper(self):
        if self._reaper is not None:
            return
        read_end, write_end = os.pipe()  # both non-inheritable (PEP 446): no component holds the write end
        try:
            self._reaper = subprocess.Popen([sys.executable, str(REAPER), "--fd", str(read_end)], pass_fds=(read_end,),  # pylint: disable=consider-using-with
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        self._orders = os.fdopen(write_end, "w", buffering=1)

    def _order(self, line):
        if self._orders is not None:
            try:
                self._orders.write(line + "\n")
            except OSError:  # the reaper is gone: PR_SET_PDEATHSIG and stop() remain
                pass

    def _disarm_reaper(self, release=False):
        """Close the reaper's pipe (after ``release``: it leaves everything running) and wait until it has finished."""
        if self._orders is not None:
            if release:
                self._order("release")
            try:
                self._orders.close()
            except OSError:
                pass
            self._orders = None
        if self._reaper is not None:
            try:
                self._reaper.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._reaper.kill()
                self._reaper.wait()
            self._reaper = None

    def _ledger_write(self):
        """Record this plane's processes and temporary work dir in ``$GPU_SLICING_CONTROL_PLANE_LEDGER`` if set."""
        directory = os.environ.get(LEDGER_ENV)
        if not directory or not os.path.isdir(directory):
            return
        record = {"owner": os.getpid(), "detached": self.detached, "processes": self._started,
                  "workdir": str(self.workdir) if self._own_workdir and self.workdir is not None else None}
        path = os.path.join(directory, "%d-%x.json" % (os.getpid(), id(self)))
        with open(path + ".tmp", "w") as handle:
            json.dump(record, handle)
        os.replace(path + ".tmp", path)

    # -- components

    def _start_component(self, name, argv_for_port, ready, attempts=3):
        """Start ``name`` on a free port (retried when the port was taken meanwhile); return its URL once ready."""
        exe = str(self.bin_dir / name)
        log_path = self.workdir / ("%s.log" % name)
        for attempt in range(attempts):
            port = free_port()
            argv = [exe] + argv_for_port(port)
            # PR_SET_PDEATHSIG fires when the *thread* that started the child ends: only from the main thread
            tied_to_owner = not self.detached and threading.current_thread() is threading.main_thread()
            with open(str(log_path), "ab") as log_handle:
                popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_handle, stderr=log_handle, cwd=str(self.workdir),
                                         start_new_session=True, preexec_fn=die_with_parent if tied_to_owner else None)
            self._popen[name] = popen
            self.processes[name] = (popen.pid, exe, str(log_path))
            started_at = start_time(popen.pid)
            self._order("proc %d %s %s" % (popen.pid, started_at, exe))
            self._started.append({"name": name, "pid": popen.pid, "start_time": started_at, "exe": exe})
            self._ledger_write()
            url = ready(name, port, popen)
            if url:
                return url
            tail = _tail(log_path)
            del self.processes[name]
            self._popen.pop(name, None)
            if popen.poll() is None:
                terminate(popen.pid)
            popen.wait()
            if any("address already in use" in line for line in tail) and attempt + 1 < attempts:
                continue
            error = next((line for line in reversed(tail) if re.search(r"\b(E\d{4}|error|fatal|panic)", line, re.I)), tail[-1] if tail else "")
            raise ControlPlaneError("%s did not become ready (exit code %s): %s; log: %s" % (name, popen.returncode, error.strip()[:400], log_path))
        raise ControlPlaneError("%s: no free port after %d attempts" % (name, attempts))

    def _poll(self, popen, probe):
        return poll(probe, self.startup_timeout, interval=0.1, alive=lambda: popen.poll() is None,
                    errors=(OSError, http.client.HTTPException, ssl.SSLError))

    def _etcd_argv(self, port):
        peer = free_port()
        data = self.workdir / "etcd"
        return ["--name=default", "--data-dir=%s" % data, "--listen-client-urls=http://%s:%d" % (LOOPBACK, port),
                "--advertise-client-urls=http://%s:%d" % (LOOPBACK, port), "--listen-peer-urls=http://%s:%d" % (LOOPBACK, peer),
                "--initial-advertise-peer-urls=http://%s:%d" % (LOOPBACK, peer), "--initial-cluster=default=http://%s:%d" % (LOOPBACK, peer),
                "--unsafe-no-fsync=true", "--log-level=warn"]

    def _etcd_ready(self, _name, port, popen):
        def probe():
            connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
            try:
                connection.request("GET", "/health")
                return json.loads(connection.getresponse().read()).get("health") == "true"
            finally:
                connection.close()
        return "http://%s:%d" % (LOOPBACK, port) if self._poll(popen, probe) else None

    def _apiserver_argv(self, port, pki):
        return ["--etcd-servers=%s" % self.etcd_url, "--bind-address=%s" % LOOPBACK, "--advertise-address=%s" % LOOPBACK,
                "--secure-port=%d" % port, "--cert-dir=%s" % (self.workdir / "apiserver"),
                "--tls-cert-file=%s" % pki["apiserver.crt"], "--tls-private-key-file=%s" % pki["apiserver.key"],
                "--client-ca-file=%s" % pki["ca.crt"], "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
                "--authorization-mode=RBAC", "--service-account-issuer=https://%s:%d/" % (LOOPBACK, port),
                "--service-account-key-file=%s" % pki["sa.pub"], "--service-account-signing-key-file=%s" % pki["sa.key"],
                "--disable-admission-plugins=ServiceAccount", "--profiling=false"]

    def _apiserver_ready(self, _name, port, popen):
        url = "https://%s:%d" % (LOOPBACK, port)
        api = Api(url, self._pki["ca.crt"], self._pki["admin.crt"], self._pki["admin.key"])

        def probe():
            status, body = api.request("GET", "/readyz", timeout=5)
            return status == 200
        return url if self._poll(popen, probe) else None

    def _admin_kubeconfig(self):
        return str(self.workdir / "kubeconfig")

    def _kcm_argv(self, port, pki):
        return ["--kubeconfig=%s" % self._admin_kubeconfig(), "--leader-elect=false", "--bind-address=%s" % LOOPBACK,
                "--secure-port=%d" % port, "--cert-dir=%s" % (self.workdir / "kube-controller-manager"),
                "--service-account-private-key-file=%s" % pki["sa.key"], "--root-ca-file=%s" % pki["ca.crt"],
                "--use-service-account-credentials=false", "--node-monitor-grace-period=%s" % KCM_NODE_GRACE,
                "--node-startup-grace-period=%s" % KCM_NODE_GRACE, "--profiling=false"]

    def _scheduler_argv(self, port):
        return ["--kubeconfig=%s" % self._admin_kubeconfig(), "--leader-elect=false", "--bind-address=%s" % LOOPBACK,
                "--secure-port=%d" % port, "--cert-dir=%s" % (self.workdir / "kube-scheduler"), "--profiling=false"]

    def _healthz_ready(self, _name, port, popen):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # self-signed serving cert of a loopback health endpoint

        def probe():
            connection = http.client.HTTPSConnection(LOOPBACK, port, context=context, timeout=2)
            try:
                connection.request("GET", "/healthz")
                return connection.getresponse().status == 200
            finally:
                connection.close()
        return "https://%s:%d" % (LOOPBACK, port) if self._poll(popen, probe) else None

    def _wait_default_namespace(self):
        deadline = time.monotonic() + self.startup_timeout
        while self.api.request("GET", "/api/v1/namespaces/default")[0] != 200:
            if time.monotonic() > deadline:
                raise ControlPlaneError("namespace default was not created within %.0fs" % self.startup_timeout)
            time.sleep(0.1)

    # -- helpers for tests

    def extra_crds(self, paths):
        """Install more CRDs (e.g. Karpenter's kwok ones) and wait until they are Established."""
        return install_crds(self.api, paths)

    def seed_nodes(self, nodes):
        """Nodes as a kubelet would register them (object, then status sub-resource)."""
        return seed_nodes(self.api, nodes)

    def api_client(self):
        """A ``kubernetes.client.ApiClient`` configured from the kubeconfig."""
        return api_client(self.kubeconfig)

    def session_record(self):
        return {"kubeconfig": self.kubeconfig, "server": self.server, "version": self.version, "bin_dir": str(self.bin_dir),
                "workdir": str(self.workdir), "etcd": self.etcd_url, "pki": self._pki,
                "processes": [{"name": name, "pid": pid, "exe": exe, "log": log} for name, (pid, exe, log) in self.processes.items()]}


def api_client(kubeconfig):
    import kubernetes.client
    import kubernetes.config
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return kubernetes.client.ApiClient(configuration)


# ---------------------------------------------------------------------------------------------- session cluster


class Session:
    """A running session cluster described by ``DIR/session.json`` (``up`` writes it)."""

    def __init__(self, directory, record):
        self.directory = Path(directory)
        self.record = record
        self.kubeconfig = record["kubeconfig"]
        self.server = record["server"]
        self.version = record["version"]
        self.bin_dir = Path(record["bin_dir"])
        pki = record["pki"]
        self.api = Api(self.server, pki["ca.crt"], pki["admin.crt"], pki["admin.key"])

    def alive(self):
        try:
            return self.api.request("GET", "/readyz", timeout=5)[0] == 200
        except (OSError, http.client.HTTPException, ssl.SSLError):
            return False

    def seed_nodes(self, nodes):
        return seed_nodes(self.api, nodes)

    def extra_crds(self, paths):
        return install_crds(self.api, paths)

    def api_client(self):
        return api_client(self.kubeconfig)


def read_session(directory):
    """The ``Session`` in ``directory`` (None when there is no session.json)."""
    path = Path(directory) / SESSION_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return Session(directory, record)


def find_session():
    """The live session cluster this checkout's ``make cluster-up`` (or a test stage) started, else None.

    Looks for ``build/kube/session/session.json`` in every parent of this file (see the module docstring).
    """
    for parent in Path(os.path.abspath(__file__)).parents:
        session = read_session(parent / SESSION_SUBDIR)
        if session is not None:
            return session if session.alive() else None
    return None


# cluster-scoped kinds tests create; ``exclusive()`` empties them before a test (group, version, plural)
RESET_KINDS = (("karpenter.sh", "v1", "nodepools"), ("karpenter.sh", "v1", "nodeclaims"), ("karpenter.k8s.aws", "v1", "ec2nodeclasses"),
               ("karpenter.sh", "v1alpha1", "nodeoverlays"), ("nvidia.com", "v1", "clusterpolicies"))


@contextlib.contextmanager
def exclusive(kube, reset=RESET_KINDS, timeout=60.0):
    """Hold the cluster for one test that writes cluster-scoped objects, starting from none of ``reset``.

    ansible-test runs unit tests in parallel workers against the one session cluster; tests that create or
    list NodePools, Nodes etc. take this file lock (``tests.lock`` next to the kubeconfig) so they do not see
    each other's objects. Dry-run-only tests need no lock.
    """
    import fcntl
    lock_path = os.path.join(os.path.dirname(str(kube.kubeconfig)), "tests.lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for group, version, plural in reset:
                path = "/apis/%s/%s/%s" % (group, version, plural)
                status, answer = kube.api.request("DELETE", path)
                if status == 404:  # CRD not installed
                    continue
                if status >= 300:
                    raise ControlPlaneError("DELETE %s: HTTP %d %s" % (path, status, answer))
                deadline = time.monotonic() + timeout
                while kube.api.request("GET", path)[1].get("items"):
                    if time.monotonic() > deadline:
                        raise ControlPlaneError("%s not gone after %.0fs (finalizers?)" % (path, timeout))
                    time.sleep(0.1)
            yield kube
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def in_forked_test():
    """True under ``ansible-test units``: every test runs in its own fork, fixtures never outlive one test."""
    return "ansible_forked" in os.environ.get("PYTEST_PLUGINS", "")


@contextlib.contextmanager
def cluster(**options):
    """For test fixtures: the session cluster when one runs, else a private ``ControlPlane`` (stopped afterwards).

    Under ansible-test's per-test forks a private control plane per test would cost minutes, so there a
    missing session is an error naming the fix.
    """
    session = find_session()
    plane = None
    if session is None:
        if in_forked_test():
            raise ControlPlaneError("no session control plane (build/kube/session/session.json): `make units` starts one; "
                                    "for a manual ansible-test run, `make cluster-up` first")
        plane = ControlPlane(**options).start()
    try:
        yield session or plane
    finally:
        if plane is not None:
            plane.stop()


def register_process(directory, name, pid, exe, log=None):
    """Add a process another tool started for the session (e.g. Karpenter) so that ``down`` stops it too."""
    import fcntl
    path = Path(directory) / SESSION_FILE
    with open(str(Path(directory) / "session.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = json.loads(path.read_text())
        record["processes"].append({"name": name, "pid": pid, "exe": exe, "log": log})
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(path)


def up(directory, log=print, **options):
    """Start a detached session cluster in ``directory`` (reused when one is alive there). Returns (Session, started)."""
    directory = Path(directory).resolve()
    existing = read_session(directory)
    if existing is not None:
        if existing.alive():
            return existing, False
        log("stale session in %s (its API server does not answer): cleaning up" % directory)
        down(directory, log=log)
    if directory.exists():
        shutil.rmtree(str(directory))
    directory.mkdir(parents=True)
    plane = ControlPlane(workdir=directory, detached=True, log=log, **options)
    try:
        plane.start()
    except BaseException:
        shutil.rmtree(str(directory), ignore_errors=True)
        raise
    tmp = directory / (SESSION_FILE + ".tmp")
    tmp.write_text(json.dumps(plane.session_record(), indent=1))
    tmp.replace(directory / SESSION_FILE)
    return read_session(directory), True


def down(directory, log=print):
    """Stop every process of the session in ``directory`` (last started first) and remove the directory."""
    directory = Path(directory)
    session = read_session(directory)
    stopped = []
    if session is not None:
        for process in reversed(session.record.get("processes", [])):
            if _pid_runs(process["pid"], process["exe"]):
                terminate(process["pid"], process["exe"])
                stopped.append(process["name"])
    if directory.exists():
        shutil.rmtree(str(directory), ignore_errors=True)
    log("cluster down: stopped %s" % (", ".join(stopped) or "nothing (no cluster was running)"))
    return stopped


def _print_session(session, log):
    kubectl = session.bin_dir / "kubectl"
    log("kube-apiserver %s at %s" % (session.version, session.server))
    log("export KUBECONFIG=%s" % session.kubeconfig)
    log("kubectl (same version as the server): %s" % kubectl)


def _run_with_session(args, command, log):
    """Run ``command`` with a session cluster; when none can be started, say so loudly, run the command anyway
    (its Kubernetes tests then fail naming the missing session, the others still run) and return non-zero."""
    try:
        session, started = up(args.dir, log=log, scheduler=not args.no_scheduler, controller_manager=not args.no_controller_manager)
    except (BuildError, ControlPlaneError) as exc:
        print("error: no Kubernetes control plane for this stage: %s" % exc, file=sys.stderr, flush=True)
        subprocess.call(command)
        return 2
    log("%s session cluster: kube-apiserver %s at %s" % ("started a" if started else "reusing the", session.version, session.server))
    try:
        return _call_forwarding_signals(command)
    finally:
        if started:
            down(args.dir, log=log)


def _call_forwarding_signals(command):
    """``subprocess.call(command)``, but SIGTERM/SIGHUP sent to this process go to the command and are waited for,
    so the caller's ``finally`` (stopping the session cluster) runs instead of Python dying on the spot."""
    child = subprocess.Popen(command)  # pylint: disable=consider-using-with
    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
        try:
            code = child.wait()
            return 128 - code if code < 0 else code  # killed by signal N: exit 128+N, as a shell reports it
        except KeyboardInterrupt:  # Ctrl-C reached the command too (same process group): give it time to finish
            try:
                child.wait(timeout=30)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                pass
            raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.kill()
            child.wait()


def _kubelet(args, log):
    session = read_session(args.dir)
    if session is None or not session.alive():
        raise ControlPlaneError("no session cluster in %s: `up` first" % args.dir)
    with open(args.nodes) as handle:
        nodes = yaml.safe_load(handle)
    plugins = {}
    for item in args.device_plugin:
        node, _sep, rest = item.partition("=")
        path, _sep, strategy = rest.partition(":")
        plugins[node] = {"nvidia_smi": path, "strategy": strategy or "mixed"}
    kubelet = KubeletStandIn(session.api, nodes, device_plugins=plugins)
    signal.signal(signal.SIGTERM, lambda *_: kubelet._stop.set())
    register_process(args.dir, "kubelet-stand-in", os.getpid(), _own_exe(), None)
    seed_nodes(session.api, kubelet.nodes)
    log("kubelet stand-in for %s (pid %d)" % (", ".join(n["metadata"]["name"] for n in kubelet.nodes), os.getpid()))
    kubelet._loop()
    return 0


def _own_exe():
    """argv[0] of this process as /proc shows it (what ``down`` compares before signalling)."""
    with open("/proc/self/cmdline", "rb") as handle:
        return handle.read().split(b"\0", 1)[0].decode()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="control_plane", description=__doc__.split("\n\n", 1)[0])
    default_dir = str(COLLECTION_ROOT / SESSION_SUBDIR)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build (or reuse) the binaries; print their directory")
    commands.add_parser("version", help="print the pinned versions and the cache directory")
    for name, text in (("up", "start a detached session cluster"), ("down", "stop the session cluster"),
                       ("status", "is the session cluster alive?"), ("session", "run COMMAND with a session cluster"),
                       ("kubelet", "run a kubelet stand-in for some Nodes until SIGTERM (registered with the session)")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--dir", default=None if name == "status" else default_dir,
                             help="session directory (default: %s)" % ("the one find_session() finds" if name == "status" else default_dir))
        if name == "status":
            command.add_argument("--json", action="store_true", help="print session.json")
        if name in ("up", "session"):
            command.add_argument("--no-scheduler", action="store_true")
            command.add_argument("--no-controller-manager", action="store_true")
        if name == "session":
            command.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
        if name == "kubelet":
            command.add_argument("--nodes", required=True, help="JSON/YAML list of (partial) Node objects")
            command.add_argument("--device-plugin", action="append", default=[], metavar="NODE=NVIDIA_SMI[:STRATEGY]",
                                 help="advertise what NVIDIA_SMI lists whenever a new device-plugin pod starts on NODE")
    args = parser.parse_args(argv)

    def log(message):
        print(message, flush=True)

    try:
        if args.command == "build":
            log(str(ensure_binaries(log=log)))
        elif args.command == "version":
            log(json.dumps(dict(pinned_versions(), cache=str(cache_dir())), indent=1))
        elif args.command == "up":
            session, _started = up(args.dir, log=log, scheduler=not args.no_scheduler, controller_manager=not args.no_controller_manager)
            _print_session(session, log)
        elif args.command == "down":
            down(args.dir, log=log)
        elif args.command == "kubelet":
            return _kubelet(args, log)
        elif args.command == "status":
            session = read_session(args.dir) if args.dir else find_session()
            if session is None or not session.alive():
                log("no session cluster running (%s)" % (args.dir or "searched build/kube/session above %s" % HERE))
                return 1
            if args.json:
                log(json.dumps(session.record, indent=1))
            else:
                _print_session(session, log)
        elif args.command == "session":
            command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            if not command:
                parser.error("session needs -- COMMAND")
            return _run_with_session(args, command, log)
    except (BuildError, ControlPlaneError) as exc:
        print("error: %s" % exc, file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
