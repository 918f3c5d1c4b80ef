# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start the emulator as a subprocess and hand out its URL, kubeconfig and API clients."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import gzip
import urllib.request

import yaml

from .. import child_env, collections_root

# tests/support/kube_emulator/launcher.py -> collection root (tests/..) and the directory holding ansible_collections/.
_HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(_HERE)))
CRD_DIR = os.path.join(COLLECTION_ROOT, "tests", "data", "crds")
DEFAULT_CRD_FILES = (
    "karpenter.sh_nodepools.yaml", "karpenter.sh_nodeclaims.yaml", "karpenter.k8s.aws_ec2nodeclasses.yaml",
    "karpenter.sh_nodeoverlays.yaml", "nvidia.com_clusterpolicies.yaml.gz",
)
MODULE = "ansible_collections.gpu_slicing.eks.tests.support.kube_emulator"


class KubeEmulatorError(RuntimeError):
    pass


def default_crds():
    """The 4 Karpenter CRDs and the GPU Operator ClusterPolicy CRD from tests/data/crds."""
    return tuple(os.path.join(CRD_DIR, name) for name in DEFAULT_CRD_FILES)


def load_crds(paths):
    """The CustomResourceDefinition documents in ``paths`` (YAML files, ``.gz`` read transparently).

    ``.gz``: a byte-for-byte copy kept compressed (the ClusterPolicy CRD has Unicode quotes that
    ansible-test sanity rejects in any text file of the collection).
    """
    docs = []
    for path in paths:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            # The C loader when PyYAML has it: the ClusterPolicy CRD alone takes ~0.7 s with the pure-Python one.
            for doc in yaml.load_all(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    docs.append(doc)
    return docs


def fixture_scope(**_pytest_args):
    """pytest fixture scope for an emulator: ``module`` normally, ``function`` under ``ansible-test units``.

    ansible-test runs every test in a fork that ends with ``os._exit``: a module-scoped fixture is set up
    again in each fork and never torn down. Usage: ``@pytest.fixture(scope=fixture_scope)``.
    """
    return "function" if "ansible_forked" in os.environ.get("PYTEST_PLUGINS", "") else "module"


def collections_parent():
    """The directory holding the ``ansible_collections`` tree this package was imported from."""
    return collections_root()


def _python_path():
    """PYTHONPATH that makes ``ansible_collections.gpu_slicing.eks`` importable in the child process
    (under ``ansible-test units`` only its pytest plugin makes it importable)."""
    return child_env()["PYTHONPATH"]


def write_kubeconfig(path, url, context="kube-emulator", namespace="default"):
    """Write a kubeconfig for ``url`` (plain HTTP, a dummy token: the emulator does not authenticate)."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": context, "preferences": {},
        "clusters": [{"name": context, "cluster": {"server": url}}],
        "users": [{"name": context, "user": {"token": "kube-emulator"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
    }
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as handle:
        yaml.safe_dump(config, handle, default_flow_style=False)
    os.chmod(handle.name, 0o600)
    os.replace(handle.name, path)
    return path


class KubeEmulator:
    """Context manager: run ``python -m ...kube_emulator serve`` and wait until it answers.

    ``crds``: CRD YAML files to install (default: ``default_crds()``); ``nodes``: Node objects (dicts;
    ``apiVersion``/``kind`` optional) created after start; ``port=0`` lets the server pick a free port;
    ``workdir``: where kubeconfig, log and (optional) state file go (a temporary directory by default,
    removed on stop); ``state_file``: persist objects across restarts; ``simulate_controllers``: let stand-in
    controllers write ready status (see ``controllers``).
    """

    def __init__(self, crds=None, nodes=None, host="127.0.0.1", port=0, workdir=None, state_file=None, startup_timeout=60.0,
                 simulate_controllers=False):
        self.crds = default_crds() if crds is None else tuple(crds)
        self.nodes = list(nodes or [])
        self.host = host
        self.port = port
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="kube-emulator-")
        self.state_file = state_file
        self.simulate_controllers = simulate_controllers
        self.startup_timeout = startup_timeout
        self.kubeconfig = os.path.join(self.workdir, "kubeconfig")
        self.log_path = os.path.join(self.workdir, "emulator.log")
        self.url = None
        self.pid = None
        self._process = None
        self._log = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        argv = [sys.executable, "-m", MODULE, "serve", "--host", self.host, "--port", str(self.port), "--kubeconfig", self.kubeconfig,
                "--exit-with-parent"]
        for crd in self.crds:
            argv += ["--crd", crd]
        if self.state_file:
            argv += ["--state-file", self.state_file]
        if self.simulate_controllers:
            argv.append("--simulate-controllers")
        env = dict(os.environ, PYTHONPATH=_python_path())
        self._log = open(self.log_path, "ab")
        self._process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log, env=env, start_new_session=True)
        line = self._read_ready_line()
        info = json.loads(line)
        self.url, self.pid = info["url"], info["pid"]
        self._wait_ready()
        if self.nodes:
            self.seed_nodes(self.nodes)
        return self

    def _read_ready_line(self):
        deadline = time.monotonic() + self.startup_timeout
        import selectors
        selector = selectors.DefaultSelector()
        selector.register(self._process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = self._process.stdout.readline().decode()
                if line.strip():
                    return line
            if self._process.poll() is not None:
                break
        self.stop()
        raise KubeEmulatorError("the emulator did not start; log %s:\n%s" % (self.log_path, self._tail()))

    def _tail(self):
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read()[-3000:].decode(errors="replace")
        except OSError:
            return ""

    def _wait_ready(self):
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise KubeEmulatorError("the emulator at %s did not answer /readyz" % self.url)

    def stop(self):
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stdout:
            self._process.stdout.close()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def api_client(self):
        """A real ``kubernetes.client.ApiClient`` configured from the kubeconfig."""
        import kubernetes.client
        import kubernetes.config
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=self.kubeconfig, client_configuration=configuration)
        return kubernetes.client.ApiClient(configuration)

    def request(self, method, path, body=None, content_type="application/json"):
        """Raw HTTP to the emulator (for tests of the protocol itself); returns (status, decoded JSON)."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def seed_nodes(self, nodes):
        """Create Node objects (through the API, like a kubelet registering)."""
        from . import seeding
        return seeding.create_nodes(self.url, nodes)
