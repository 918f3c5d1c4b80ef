# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real Karpenter controller (``sigs.k8s.io/karpenter``, kwok cloud provider) against a real control plane.

Karpenter is the upstream controller built from the Go module pinned in ``tests/support/karpenter/go.mod``; only
the cloud is simulated: its kwok provider "launches" an instance by writing a Node object, from the instance
types of a JSON file. That file is generated here from the collection's GPU catalog
(``plugins/module_utils/_mig/catalog.py``): GPU count as ``nvidia.com/gpu``, vCPU and memory as on EC2, the
on-demand price, and the AWS well-known labels (``karpenter.k8s.aws/instance-gpu-name``, ...) as offering
requirements, which kwok registers as well-known labels so NodePool requirements on them work.

    binary = ensure_binary()                      # builds once into ~/.cache/gpu-slicing/karpenter/<key>/bin
    with ControlPlane(crds=...) as cp:            # tests/support/control_plane.py; CRDs: crd_paths()
        with Karpenter(cp.kubeconfig, workdir, node_overlay=True) as karpenter:
            ...                                   # NodePools, NodeOverlays, pods; assert on NodeClaims

From a shell (``make cluster-up``)::

    python -m ansible_collections.gpu_slicing.eks.tests.support.karpenter_kwok build
    python -m ansible_collections.gpu_slicing.eks.tests.support.karpenter_kwok crds
    python -m ansible_collections.gpu_slicing.eks.tests.support.karpenter_kwok serve --kubeconfig K --workdir D
    python -m ansible_collections.gpu_slicing.eks.tests.support.karpenter_kwok stop --workdir D
    python -m ansible_collections.gpu_slicing.eks.tests.support.karpenter_kwok up --session-dir build/kube/session

Facts and upstream paths: the kwok main is ``kwok/main.go`` (wraps the provider with ``overlay.Decorate``),
options ``kwok/options/options.go`` (``INSTANCE_TYPES_FILE_PATH``), the JSON format
``kwok/cloudprovider/helpers.go``, settings ``pkg/operator/options/options.go``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity, catalog
from ansible_collections.gpu_slicing.eks.tests.support.ports import LOOPBACK, free_port
from ansible_collections.gpu_slicing.eks.tests.support.reaper import die_with_parent

MODULE_DIR = Path(__file__).resolve().parent / "karpenter"
KARPENTER_MODULE = "sigs.k8s.io/karpenter"
MAIN_PACKAGE = "sigs.k8s.io/karpenter/kwok"
BINARY_NAME = "karpenter-kwok"
# CRDs the controller needs, as paths inside the module (the kwok chart's crds/ is a symlink that module zips drop).
CRD_FILES = (
    "pkg/apis/crds/karpenter.sh_nodepools.yaml",
    "pkg/apis/crds/karpenter.sh_nodeclaims.yaml",
    "pkg/apis/crds/karpenter.sh_nodeoverlays.yaml",
    "pkg/apis/crds/autoscaling.x-k8s.io_capacitybuffers.yaml",
    "kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml",
)
KWOK_NODECLASS_GROUP = "karpenter.kwok.sh"
KWOK_NODECLASS_KIND = "KWOKNodeClass"
KWOK_NODECLASS_VERSION = "v1alpha1"
CAPACITY_OVERLAY_ANNOTATION = "karpenter.sh/capacity-overlay-applied"
GPU = "nvidia.com/gpu"

# Where the simulated instances live: one offering per zone, on-demand only (the catalog has on-demand prices).
REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


class BuildError(RuntimeError):
    """Karpenter could not be built; the message is one line (Go missing, proxy refusal, build failure)."""


class KarpenterError(RuntimeError):
    """The controller did not start or stopped; the message ends with the tail of its log."""


# ---------------------------------------------------------------------------------------------- build

def karpenter_version():
    """The pinned ``sigs.k8s.io/karpenter`` version from go.mod (``v1.14.1``)."""
    match = re.search(r"^\s*%s\s+(v\S+)" % re.escape(KARPENTER_MODULE), (MODULE_DIR / "go.mod").read_text(), re.M)
    if not match:
        raise BuildError("%s has no requirement on %s" % (MODULE_DIR / "go.mod", KARPENTER_MODULE))
    return match.group(1)


def _ldflags():
    return "-s -w -X sigs.k8s.io/karpenter/pkg/operator.Version=%s" % karpenter_version()


def cache_dir():
    """``$GPU_SLICING_CACHE/karpenter/<key>`` (default ``~/.cache/gpu-slicing``); the key hashes go.sum + flags."""
    root = Path(os.environ.get("GPU_SLICING_CACHE") or Path.home() / ".cache" / "gpu-slicing")
    digest = hashlib.sha256((MODULE_DIR / "go.sum").read_bytes())
    digest.update(_ldflags().encode())
    return root / "karpenter" / digest.hexdigest()[:16]


def _go():
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if not found:
        raise BuildError("Go is not installed (need go >= 1.26.6 on PATH or /usr/local/go/bin/go) to build %s" % MAIN_PACKAGE)
    return found


def _go_env():
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-mod=readonly")
    env["CGO_ENABLED"] = "0"
    return env


def _first_error(output):
    """The line that names what went wrong: a module the proxy refused, else the first Go error."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for pattern in (r"(reading https?://\S+|verifying|404 Not Found|410 Gone|proxy)", r"^go: ", r"error|cannot|undefined"):
        for line in lines:
            if re.search(pattern, line, re.I):
                return line
    return lines[-1] if lines else "no output"


def _run_go(args, log, what):
    log("karpenter: %s" % what)
    proc = subprocess.run([_go()] + args, cwd=str(MODULE_DIR), env=_go_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    if proc.returncode != 0:
        raise BuildError("%s failed: %s" % (what, _first_error(proc.stdout)))
    return proc.stdout


def module_source_dir(log=print):
    """The module cache directory of the pinned Karpenter (downloads it through the proxy when missing)."""
    out = _run_go(["mod", "download", "-json", "%s@%s" % (KARPENTER_MODULE, karpenter_version())], log,
                  "go mod download %s@%s" % (KARPENTER_MODULE, karpenter_version()))
    info = json.loads(out)
    if info.get("Error"):
        raise BuildError("go mod download %s: %s" % (KARPENTER_MODULE, info["Error"]))
    return Path(info["Dir"])


def ensure_binary(log=print):
    """Path of the karpenter-kwok binary and its CRDs, built once per go.sum into the cache (file-locked)."""
    target = cache_dir()
    binary = target / "bin" / BINARY_NAME
    if binary.is_file() and (target / "crds").is_dir():
        return binary
    target.mkdir(parents=True, exist_ok=True)
    with open(str(target / ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file() and (target / "crds").is_dir():
            return binary
        started = time.monotonic()
        source = module_source_dir(log)
        crds = target / "crds.tmp"
        shutil.rmtree(str(crds), ignore_errors=True)
        crds.mkdir()
        for relative in CRD_FILES:
            shutil.copyfile(str(source / relative), str(crds / Path(relative).name))
        (target / "bin").mkdir(exist_ok=True)
        partial = target / "bin" / (BINARY_NAME + ".tmp")
        _run_go(["build", "-trimpath", "-ldflags", _ldflags(), "-o", str(partial), MAIN_PACKAGE], log,
                "go build %s (%s) into %s; the first build takes minutes" % (MAIN_PACKAGE, karpenter_version(), target))
        os.replace(str(partial), str(binary))
        shutil.rmtree(str(target / "crds"), ignore_errors=True)
        os.replace(str(crds), str(target / "crds"))
        log("karpenter: built in %.0f s" % (time.monotonic() - started))
    return binary


def crd_paths(log=print):
    """The CRD files Karpenter needs (NodePool, NodeClaim, NodeOverlay, CapacityBuffer, KWOKNodeClass)."""
    ensure_binary(log)
    return [cache_dir() / "crds" / Path(relative).name for relative in CRD_FILES]


# ---------------------------------------------------------------------------------------------- instance types

def _family(name):
    return name.split(".", 1)[0]


def aws_labels(spec):
    """The AWS provider's well-known labels of an instance type, from the catalog (values as Karpenter writes them)."""
    model = catalog.GPU_MODELS[spec.gpu_model]
    family = _family(spec.name)
    generation = re.match(r"^[a-z]+(\d+)", family)
    return {
        "karpenter.k8s.aws/instance-category": re.match(r"^[a-z]+", family).group(0),
        "karpenter.k8s.aws/instance-family": family,
        "karpenter.k8s.aws/instance-generation": generation.group(1) if generation else "",
        "karpenter.k8s.aws/instance-size": spec.name.split(".", 1)[1],
        "karpenter.k8s.aws/instance-cpu": str(spec.vcpu),
        "karpenter.k8s.aws/instance-memory": str(spec.memory_mib),
        "karpenter.k8s.aws/instance-gpu-name": model.karpenter_gpu_name,
        "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
        "karpenter.k8s.aws/instance-gpu-count": str(spec.gpu_count),
        "karpenter.k8s.aws/instance-gpu-memory": str(model.ec2_memory_mib),
    }


def instance_type(spec):
    """One kwok instance type (``kwok/cloudprovider/helpers.go`` InstanceTypeOptions) for a catalog entry.

    An instance type without an on-demand price in the catalog gets no offering, so Karpenter never launches it
    (p5e.48xlarge: the price table the catalog cites has no on-demand entry for it).
    """
    labels = aws_labels(spec)
    offerings = []
    if spec.price_usd_hour is not None:
        for zone in ZONES:
            requirements = [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]},
                            {"key": "topology.kubernetes.io/region", "operator": "In", "values": [REGION]}]
            requirements.extend({"key": key, "operator": "In", "values": [value]} for key, value in sorted(labels.items()))
            offerings.append({"Price": spec.price_usd_hour, "Available": True, "Requirements": requirements})
    return {
        "name": spec.name,
        "architecture": "amd64",
        "operatingSystems": ["linux"],
        "resources": {"cpu": str(spec.vcpu), "memory": "%dMi" % spec.memory_mib, GPU: str(spec.gpu_count)},
        "offerings": offerings,
    }


def instance_types(names=None):
    """kwok instance types for ``names`` (default: every catalog type on an x86 host)."""
    specs = [catalog.instance_type(name) for name in names] if names else [
        spec for spec in catalog.INSTANCE_TYPES.values() if not spec.name.startswith("p6e-gb200")]  # arm64 Grace host
    return [instance_type(spec) for spec in specs]


def write_instance_types(path, names=None):
    path = Path(path)
    path.write_text(json.dumps(instance_types(names), indent=1, sort_keys=True))
    return path


def kwok_nodeclass(name="default"):
    """A KWOKNodeClass (its CRD defaults status to Ready, which NodePool readiness needs)."""
    return {"apiVersion": "%s/%s" % (KWOK_NODECLASS_GROUP, KWOK_NODECLASS_VERSION), "kind": KWOK_NODECLASS_KIND,
            "metadata": {"name": name}, "spec": {}}


def node_class_ref(name="default"):
    """The ``node_class`` option of karpenter_nodepool that points a NodePool at a KWOKNodeClass."""
    return {"group": KWOK_NODECLASS_GROUP, "kind": KWOK_NODECLASS_KIND, "name": name}


# ---------------------------------------------------------------------------------------------- pods and decisions

TOLERATION = {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}


def create_pods(core, namespace, resource, count, name="work", workers=8):
    """Create namespace ``namespace`` and ``count`` pause pods requesting one ``resource`` each (parallel requests).

    Plain pods: no node name, no scheduling gates; the real kube-scheduler marks them Unschedulable.
    """
    import concurrent.futures
    core.create_namespace({"metadata": {"name": namespace}})

    def create(index):
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": "%s-%d" % (name, index), "labels": {"app": name}},
            "spec": {"tolerations": [TOLERATION], "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {resource: "1"}, "limits": {resource: "1"}}}]}})
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(create, range(count)))
    return namespace


def nodeclaims(custom):
    """Karpenter's decisions: every NodeClaim (karpenter.sh/v1)."""
    return custom.list_cluster_custom_object("karpenter.sh", "v1", "nodeclaims")["items"]


# ---------------------------------------------------------------------------------------------- the controller

class Karpenter(object):
    """One karpenter-kwok process against ``kubeconfig``; a context manager.

    ``node_overlay`` sets the feature gate NodeOverlay; ``batch_idle``/``batch_max`` are Karpenter's batch windows
    (short so tests decide fast; idle long enough that pods created together are decided together).
    """

    def __init__(self, kubeconfig, workdir, node_overlay=True, instance_type_names=None, batch_idle="2s",
                 batch_max="10s", log_level="info", binary=None, detach=False):
        self.kubeconfig = str(kubeconfig)
        self.workdir = Path(workdir)
        self.node_overlay = node_overlay
        self.instance_type_names = instance_type_names
        self.batch_idle = batch_idle
        self.batch_max = batch_max
        self.log_level = log_level
        self.binary = binary
        self.detach = detach
        self.process = None
        self.log_path = self.workdir / "karpenter.log"
        self.health_port = None
        self.metrics_port = None

    @property
    def feature_gates(self):
        return "NodeOverlay=%s" % ("true" if self.node_overlay else "false")

    def env(self):
        return {
            "KUBECONFIG": self.kubeconfig,
            "FEATURE_GATES": self.feature_gates,
            "DISABLE_LEADER_ELECTION": "true",
            "INSTANCE_TYPES_FILE_PATH": str(self.workdir / "instance-types.json"),
            "BATCH_IDLE_DURATION": self.batch_idle,
            "BATCH_MAX_DURATION": self.batch_max,
            "METRICS_PORT": str(self.metrics_port),
            "HEALTH_PROBE_PORT": str(self.health_port),
            "LOG_LEVEL": self.log_level,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
        }

    def start(self, timeout=90):
        binary = Path(self.binary) if self.binary else ensure_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_instance_types(self.workdir / "instance-types.json", self.instance_type_names)
        self.health_port, self.metrics_port = free_port(), free_port()
        with open(str(self.log_path), "ab") as log:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                [str(binary)], env=self.env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=str(self.workdir), start_new_session=True,
                preexec_fn=None if self.detach else die_with_parent)  # pylint: disable=subprocess-popen-preexec-fn
        try:
            (self.workdir / "karpenter.pid").write_text(str(self.process.pid))
            deadline = time.monotonic() + timeout
            while True:
                if self.process.poll() is not None:
                    raise KarpenterError("karpenter exited with %s before it was ready: %s" % (self.process.returncode, self.log_tail()))
                if self.ready():
                    return self
                if time.monotonic() > deadline:
                    raise KarpenterError("karpenter not ready after %d s: %s" % (timeout, self.log_tail()))
                time.sleep(0.2)
        except BaseException:  # not ready, interrupted, any error: nothing half-started keeps running
            self.stop()
            raise

    def ready(self):
        try:
            with urlopen("http://%s:%d/readyz" % (LOOPBACK, self.health_port), timeout=2) as response:
                return response.status == 200
        except (URLError, OSError):
            return False

    def metrics(self):
        """Karpenter's Prometheus metrics: {'name{label="value",...}': float} (series as printed, labels sorted)."""
        with urlopen("http://%s:%d/metrics" % (LOOPBACK, self.metrics_port), timeout=10) as response:
            text = response.read().decode("utf-8", "replace")
        series = {}
        for line in text.splitlines():
            match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)", line)
            if match and not line.startswith("#"):
                labels = ",".join(sorted(re.findall(r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"', match.group(3) or "")))
                series["%s{%s}" % (match.group(1), labels)] = float(match.group(4))
        return series

    def provisioning_simulations(self):
        """(simulations run by the provisioner so far, pods it could not schedule in the last one)."""
        series = self.metrics()
        runs = series.get('karpenter_scheduler_scheduling_duration_seconds_count{controller="provisioner"}', 0.0)
        unschedulable = series.get('karpenter_scheduler_unschedulable_pods_count{controller="provisioner"}', 0.0)
        return int(runs), int(unschedulable)

    def log_tail(self, lines=15):
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def errors(self):
        """ERROR lines Karpenter logged (JSON log lines with level ERROR)."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if '"level":"ERROR"' in line:
                found.append(line)
        return found

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class NodeStatusStandIn(object):
    """What the kubelet and the NVIDIA device plugin would write into a Node that kwok "launched".

    kwok creates the Node with odd status (capacity = the requests of the pods it was created for, allocatable from
    the instance type *without* overlays, so ``nvidia.com/gpu: 8`` even on a MIG node). A real node reports its
    instance type's CPU, memory and pods and what the device plugin advertises for its ``nvidia.com/mig.config``
    label under the pool's MIG strategy. This stand-in polls the Nodes of Karpenter NodePools and writes that status
    once per Node, so Karpenter's later batches see real in-flight capacity. Assertions are on NodeClaims (the
    decision), never on this status. ``mig_parted_configs``: label -> parsed mig-parted v1 document, for labels that
    are not built in (``mig_plan`` output), like the GPU Operator's ConfigMap.
    """

    MARK = "gpu-slicing.eks/status-stand-in"

    def __init__(self, api_client, mig_parted_configs=None, interval=0.2):
        import kubernetes.client  # pylint: disable=import-outside-toplevel  # only the stand-in needs it
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.configs = dict(mig_parted_configs or {})
        self.interval = interval
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-status-stand-in", daemon=True)

    def status_for(self, node):
        labels = node.metadata.labels or {}
        spec = catalog.instance_type(labels["node.kubernetes.io/instance-type"])
        resources = {"cpu": str(spec.vcpu), "memory": "%dMi" % spec.memory_mib, "pods": "110"}
        config = labels.get("nvidia.com/mig.config")
        if config:
            pool = self.custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", labels["karpenter.sh/nodepool"])
            strategy = (pool["metadata"].get("annotations") or {}).get("gpu-slicing.eks/mig-strategy", "mixed")
            document = self.configs.get(config)
            advertised = capacity.mig_resources(spec.name, config=document or config, config_label=config if document else None,
                                                strategy=strategy)
        else:
            advertised = {GPU: spec.gpu_count}
        resources.update((name, str(count)) for name, count in advertised.items())
        return {"capacity": resources, "allocatable": dict(resources)}

    def sync_once(self):
        for node in self.core.list_node(label_selector="karpenter.sh/nodepool").items:
            if (node.metadata.annotations or {}).get(self.MARK):
                continue
            try:
                self.core.patch_node_status(node.metadata.name, {"status": self.status_for(node)})
                self.core.patch_node(node.metadata.name, {"metadata": {"annotations": {self.MARK: "written"}}})
            except Exception as exc:  # pylint: disable=broad-except  # kept and reported by the test
                self.errors.append("%s: %s" % (node.metadata.name, exc))

    def _run(self):
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception as exc:  # pylint: disable=broad-except  # API hiccup: retried on the next poll
                self.errors.append(str(exc))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def stop_pidfile(pidfile, timeout=15):
    """Stop a controller started by ``serve`` (by the pid it wrote), if it still runs."""
    try:
        pid = int(Path(pidfile).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def up_in_session(directory, node_overlay=True, log=print):
    """Karpenter for the session cluster in ``directory`` (``make cluster-up``): its CRDs, the KWOKNodeClass
    ``default``, the controller detached and registered with the session so that ``make cluster-down`` stops it."""
    from ansible_collections.gpu_slicing.eks.tests.support import control_plane  # pylint: disable=import-outside-toplevel
    session = control_plane.read_session(directory)
    if session is None or not session.alive():
        raise KarpenterError("no live session cluster in %s: run the control plane's `up` first" % directory)
    for process in session.record.get("processes", []):
        if process["name"] == "karpenter" and control_plane._pid_runs(process["pid"], process["exe"]):  # pylint: disable=protected-access
            log("karpenter already runs (pid %d), log %s" % (process["pid"], process["log"]))
            return process
    binary = ensure_binary(log)
    session.extra_crds([str(path) for path in crd_paths(log)])
    nodeclass = kwok_nodeclass()
    session.api.apply("/apis/%s/%s/kwoknodeclasses/default" % (KWOK_NODECLASS_GROUP, KWOK_NODECLASS_VERSION), nodeclass)
    karpenter = Karpenter(session.kubeconfig, Path(directory) / "karpenter", node_overlay=node_overlay, binary=binary,
                          detach=True).start()
    control_plane.register_process(directory, "karpenter", karpenter.process.pid, str(binary), str(karpenter.log_path))
    log("karpenter %s (kwok provider, %s) runs: log %s" % (karpenter_version(), karpenter.feature_gates, karpenter.log_path))
    log("NodePools reference its node class with karpenter_nodepool node_class: %s" % json.dumps(node_class_ref()))
    return {"name": "karpenter", "pid": karpenter.process.pid, "exe": str(binary), "log": str(karpenter.log_path)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or find) the cached binary; print its path")
    sub.add_parser("crds", help="print the CRD file paths Karpenter needs, one per line")
    types = sub.add_parser("instance-types", help="print the kwok instance types generated from the GPU catalog")
    types.add_argument("names", nargs="*")
    serve = sub.add_parser("serve", help="start karpenter-kwok in the background and wait until it is ready")
    serve.add_argument("--kubeconfig", required=True)
    serve.add_argument("--workdir", required=True)
    serve.add_argument("--node-overlay", choices=["true", "false"], default="true")
    stop = sub.add_parser("stop", help="stop the controller `serve` started")
    stop.add_argument("--workdir", required=True)
    session_up = sub.add_parser("up", help="start Karpenter in a running session cluster (make cluster-up)")
    session_up.add_argument("--session-dir", required=True)
    session_up.add_argument("--node-overlay", choices=["true", "false"], default="true")
    args = parser.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr)

    try:
        if args.command == "build":
            print(ensure_binary(log))
        elif args.command == "crds":
            print("\n".join(str(p) for p in crd_paths(log)))
        elif args.command == "instance-types":
            print(json.dumps(instance_types(args.names or None), indent=1, sort_keys=True))
        elif args.command == "serve":
            karpenter = Karpenter(args.kubeconfig, args.workdir, node_overlay=args.node_overlay == "true", detach=True)
            karpenter.binary = ensure_binary(log)
            karpenter.start()
            print(json.dumps({"pid": karpenter.process.pid, "log": str(karpenter.log_path),
                              "feature_gates": karpenter.feature_gates, "health_port": karpenter.health_port}))
        elif args.command == "up":
            up_in_session(args.session_dir, node_overlay=args.node_overlay == "true", log=log)
        else:
            stop_pidfile(Path(args.workdir) / "karpenter.pid")
    except (BuildError, KarpenterError, OSError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
