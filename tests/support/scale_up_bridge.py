# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scale-up loop, end to end: pending MIG pods -> real Karpenter -> a booted GPU host -> the real scheduler.

What is real and what stands in:

  real        kube-apiserver, etcd, kube-scheduler, kube-controller-manager (control_plane.py); Karpenter v1.14.1
              with the kwok cloud provider (karpenter_kwok.py); the NodePool and NodeOverlay karpenter_nodepool
              writes; the AL2023 userData shell part karpenter_nodepool renders for the same pool (as an EC2NodeClass
              would carry it), run over a real SSH login; the applier it downloads over HTTP and checks against the
              pinned SHA-256; curl, sha256sum, bash.
  stand-in    the EC2 instance (kwok writes a Node object at launch); the GPUs (the nvidia-smi simulator of the
              instance type's GPU model, MIG disabled at boot); cloud-init (the bridge writes the part to the
              host's ``var/lib/cloud/instance/scripts/part-001`` and runs it); kubelet + the NVIDIA device plugin
              (the bridge writes the Node status from what the device-plugin stand-in reads from that host's
              nvidia-smi, never from kwok, the NodeClaim or the overlay).

The bridge (``ScaleUpBridge``), for every NodeClaim Karpenter registered:

 1. "boots" a fresh host: a new simulated node of the claim's instance type and a new SSH host
    (``ssh_hosts.make_hosts``: a network namespace as root, else an unprivileged sshd/asyncssh on loopback);
 2. runs the pool's rendered shell part on it through SSH, as cloud-init would, with ``GPU_SLICING_ROOT`` (the
    prefix the part supports for every path it writes) set to the host's own root directory and
    ``GPU_SLICING_NVIDIA_SMI`` to the host's simulator: so the same part runs as root (netns) or as a normal user
    (loopback hosts) and never writes outside that directory; on a real node the prefix is empty and it runs as
    root;
 3. reads the host's nvidia-smi like the device plugin at start (``fake_device_plugin.enumerate_resources``) and
    REPLACES the Node status (capacity and allocatable: cpu/memory/pods of the instance type + exactly those GPU
    resources; every other key kwok put there is dropped) and reports Ready, as kubelet would;
 4. adds the taints of the failure drop-in when the part wrote one (``/etc/eks/nodeadm.d/90-gpu-slicing-mig-
    failed.yaml``: the taints kubelet would register with), and lifts the pool's startup taint ``BOOT_TAINT``.

Why the startup taint: kwok creates the Node object at launch, with allocatable = the NodeClaim's requests (so it
already "offers" the slices the pods asked for). A real Node appears only when kubelet registers, after
cloud-final. The test pool carries ``BOOT_TAINT`` as a startup taint (Karpenter puts it on the Node at
registration and waits for it to go before it calls the node initialized); the bridge lifts it only after the boot
and the status replacement, so the scheduler can bind nothing on kwok's status. It is a device of this harness, not
something a production pool needs.

``ScaleUpLoop`` puts it together (private control plane, Karpenter, the applier's HTTP server, the pool) for the
integration target ``scale_up_loop``, ``make demo`` and ``bench/scale_up_bench.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import concurrent.futures
import contextlib
import email
import hashlib
import http.server
import os
import re
import shlex
import subprocess
import sys
import threading
import time

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog, userdata
from ansible_collections.gpu_slicing.eks.tests.simulators import nvidia_smi_sim as sim
from ansible_collections.gpu_slicing.eks.tests.support import fake_device_plugin, ssh_hosts
from ansible_collections.gpu_slicing.eks.tests.support.ports import LOOPBACK

COLLECTION = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
APPLIER_FILE = os.path.join(COLLECTION, "roles", "mig_partition", "files", "gpu-slicing-mig-apply.py")
APPLIER_NAME = "gpu-slicing-mig-apply.py"
BOOT_TAINT = {"key": "gpu-slicing.eks/simulated-boot", "value": "true", "effect": "NoSchedule"}
PART_PATH = "/var/lib/cloud/instance/scripts/part-001"   # where cloud-init writes a user-data shell part
FAILED_TAINT_KEY = userdata.FAILED_TAINT["key"]
KARPENTER_SH = ("karpenter.sh", "v1")
GPU_PREFIX = "nvidia.com/"
# Karpenter's registration taint: already removed by Karpenter when the bridge writes the Node (kwok's Node
# registered at launch), so the bridge does not put it back from the failure drop-in.
REGISTRATION_TAINT_KEY = "karpenter.sh/unregistered"
BATCH_IDLE, BATCH_MAX = "5s", "30s"


class BridgeError(RuntimeError):
    """The loop could not be set up or a stage did not happen in time; the message says which."""


# ------------------------------------------------------------------------------------------ the applier server

def serving_address(mode):
    """The address a host of ``mode`` reaches this machine at: loopback for sshd/asyncssh hosts; for network-namespace
    hosts a global IPv4 address of this machine (every namespace routes to it through its own veth)."""
    if mode != "netns":
        return LOOPBACK
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, check=False).stdout
    for line in out.splitlines():
        match = re.search(r"\sinet\s+(\d+\.\d+\.\d+\.\d+)/", line)
        if match:
            return match.group(1)
    raise BridgeError("network-namespace hosts need a global IPv4 address on this machine to download the applier "
                      "from (ip -4 addr show scope global is empty); use GPU_SLICING_SSH_HOSTS=sshd")


class ApplierServer(object):
    """HTTP server for the applier, as an S3/HTTPS bucket would host it; ``content`` replaces the bytes (tampering)."""

    def __init__(self, address, content=None):
        if content is None:
            with open(APPLIER_FILE, "rb") as handle:
                content = handle.read()
        self.content = content
        self.address = address
        self.downloads = []
        self.server = None

    @property
    def sha256(self):
        return hashlib.sha256(self.content).hexdigest()

    @property
    def url(self):
        return "http://%s:%d/%s" % (self.address, self.server.server_address[1], APPLIER_NAME)

    def start(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path.split("?", 1)[0] != "/" + APPLIER_NAME:
                    self.send_error(404)
                    return
                outer.downloads.append(self.client_address[0])
                self.send_response(200)
                self.send_header("Content-Type", "text/x-python")
                self.send_header("Content-Length", str(len(outer.content)))
                self.end_headers()
                self.wfile.write(outer.content)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((self.address, 0), Handler)
        threading.Thread(target=self.server.serve_forever, name="applier-server", daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ------------------------------------------------------------------------------------------ the pool

def production_pool(params, applier_url, applier_sha256=None, cluster_name="scale-up"):
    """What ``karpenter_nodepool`` renders for this pool on EKS: the NodePool, the NodeOverlays and the EC2NodeClass
    whose userData carries the MIG shell part (``desired_objects``: the module's own code, no API server).

    Returns {"nodepool", "overlays": {instance type: {resource: int}}, "script": the shell part, "user_data"}.
    """
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # pylint: disable=import-outside-toplevel
    from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool  # pylint: disable=import-outside-toplevel
    args = dict(params, node_overlay=True, mig_user_data=True, mig_applier_url=applier_url, cluster_name=cluster_name,
                node_class={"name": "gpu-al2023", "role": "KarpenterNodeRole-%s" % cluster_name})
    if applier_sha256:
        args["mig_applier_sha256"] = applier_sha256
    validated = ArgumentSpecValidator(karpenter_nodepool.argument_spec()).validate(args)
    if validated.error_messages:
        raise BridgeError("karpenter_nodepool refuses the pool: %s" % "; ".join(validated.error_messages))
    objects = karpenter_nodepool.desired_objects(validated.validated_parameters)[0]
    user_data = objects["ec2nodeclass"]["spec"]["userData"]
    message = email.message_from_string(user_data)
    scripts = [p.get_payload(decode=True).decode("utf-8") for p in message.walk()
               if p.get_content_type() == "text/x-shellscript" and userdata.JOURNAL_TAG in p.get_payload(decode=True).decode("utf-8")]
    if len(scripts) != 1:
        raise BridgeError("the rendered userData has %d gpu_slicing.eks shell parts, expected 1" % len(scripts))
    overlays = {}
    for overlay in objects["nodeoverlays"]:
        for requirement in overlay["spec"]["requirements"]:
            if requirement["key"] == "node.kubernetes.io/instance-type":
                for name in requirement["values"]:
                    overlays[name] = dict((k, int(v)) for k, v in overlay["spec"]["capacity"].items())
    return {"nodepool": objects["nodepool"], "overlays": overlays, "script": scripts[0], "user_data": user_data}


# ------------------------------------------------------------------------------------------ the bridge

def _condition(obj, kind):
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition.get("status") == "True"
    return False


def _taint_key(taint):
    return (taint.get("key"), taint.get("effect"))


def dropin_taints(path):
    """Taints of the nodeadm failure drop-in (the ``--register-with-taints`` flag it sets), as dicts."""
    with open(path) as handle:
        text = handle.read()
    match = re.search(r"--register-with-taints=([^\"\s]+)", text)
    if not match:
        raise BridgeError("%s sets no --register-with-taints flag: %r" % (path, text[:300]))
    taints = []
    for item in match.group(1).split(","):
        key_value, effect = item.rsplit(":", 1)
        key, _sep, value = key_value.partition("=")
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        taints.append(taint)
    return taints


class Boot(object):
    """One NodeClaim's boot: what happened, when (time.monotonic()), and what the Node got."""

    def __init__(self, claim, node, instance_type, pool, seen):
        self.claim = claim
        self.node = node
        self.instance_type = instance_type
        self.pool = pool
        self.times = {"claim_seen": seen}
        self.host = None
        self.rc = None
        self.output = ""
        self.resources = None
        self.taints = []
        self.mig_calls = 0
        self.nvidia_smi = None
        self.root = None
        self.error = None

    def summary(self):
        return {"claim": self.claim, "node": self.node, "instance_type": self.instance_type, "pool": self.pool,
                "host": self.host, "rc": self.rc, "nvidia_smi": self.nvidia_smi, "root": self.root,
                "mig_calls": self.mig_calls, "output": self.output, "resources": self.resources, "taints": self.taints,
                "error": self.error, "times": dict(self.times)}


class ScaleUpBridge(object):
    """Boots a host for every NodeClaim Karpenter registered; a context manager (see the module docstring).

    ``pools``: {NodePool name: {"script": shell part, "strategy": MIG strategy}}; claims of other pools are left alone.
    """

    def __init__(self, api_client, workdir, pools, ssh_mode=None, log=None, interval=0.2, workers=4):
        import kubernetes.client  # pylint: disable=import-outside-toplevel  # only the bridge needs it
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.workdir = os.path.abspath(workdir)
        self.pools = pools
        self.ssh_mode = ssh_hosts.choose_mode(ssh_mode)[0]
        self.log = log or (lambda text: None)
        self.interval = interval
        self.boots = collections.OrderedDict()
        self.errors = []
        self.fleets = []
        self._lock = threading.Lock()
        self._hosts_lock = threading.Lock()
        self._stop = threading.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="boot")
        self._thread = threading.Thread(target=self._run, name="scale-up-bridge", daemon=True)

    # -- the loop
    def _run(self):
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # pylint: disable=broad-except  # API hiccup: retried next poll, kept for the test
                self.errors.append("poll: %s" % exc)
            self._stop.wait(self.interval)

    def poll(self):
        for claim in self.custom.list_cluster_custom_object(KARPENTER_SH[0], KARPENTER_SH[1], "nodeclaims")["items"]:
            name = claim["metadata"]["name"]
            labels = claim["metadata"].get("labels") or {}
            pool = labels.get("karpenter.sh/nodepool")
            with self._lock:
                if name in self.boots or pool not in self.pools:
                    continue
                node = (claim.get("status") or {}).get("nodeName")
                if not node or not _condition(claim, "Registered"):
                    continue  # kwok has not created the Node yet, or Karpenter has not registered it (taints synced)
                boot = Boot(name, node, labels["node.kubernetes.io/instance-type"], pool, time.monotonic())
                self.boots[name] = boot
            self._executor.submit(self._boot_safely, boot)

    def _boot_safely(self, boot):
        try:
            self.boot(boot)
        except Exception as exc:  # pylint: disable=broad-except  # reported through boot.error / self.errors
            boot.error = "%s: %s" % (type(exc).__name__, exc)
            self.errors.append("%s: %s" % (boot.claim, boot.error))
            self.log("boot of %s FAILED in the bridge: %s" % (boot.claim, boot.error))

    # -- one boot
    def boot(self, boot):
        spec = catalog.instance_type(boot.instance_type)
        pool = self.pools[boot.pool]
        directory = os.path.join(self.workdir, "nodes", boot.claim)
        os.makedirs(directory)
        root = os.path.join(directory, "root")
        boot.times["boot_start"] = time.monotonic()
        node = sim.SimNode.create(os.path.join(directory, "gpu-state.json"), model=spec.gpu_model, gpus=spec.gpu_count)
        smi = node.write_wrapper(os.path.join(directory, "nvidia-smi"))
        boot.nvidia_smi, boot.root = smi, root
        if any(gpu["mig_current"] for gpu in node.state()["gpus"]):
            raise BridgeError("a fresh simulated %s node must start with MIG disabled" % spec.gpu_model)
        os.makedirs(os.path.join(directory, "ssh"))
        with self._hosts_lock:  # ssh_hosts/netns probe and clean up by process-wide names: one fleet at a time
            fleet = ssh_hosts.make_hosts(1, mode=self.ssh_mode, workdir=os.path.join(directory, "ssh"))
            self.fleets.append(fleet)
        host = fleet.hosts[0] if hasattr(fleet, "hosts") else list(fleet)[0]
        boot.host = "%s@%s:%s (%s)" % (host.user, host.address, host.port, self.ssh_mode)
        boot.times["host_up"] = time.monotonic()

        part = root + PART_PATH
        os.makedirs(os.path.dirname(part))
        with open(part, "w") as handle:
            handle.write(pool["script"])
        os.chmod(part, 0o700)
        python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
        command = shlex.join(["env", "GPU_SLICING_ROOT=" + root, "GPU_SLICING_NVIDIA_SMI=" + smi,
                              "GPU_SLICING_PYTHON=" + python, part])
        node.clear_calls()
        proc = subprocess.run(host.ssh_argv(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, universal_newlines=True, timeout=600, check=False)
        boot.rc, boot.output = proc.returncode, proc.stdout
        boot.mig_calls = len(node.mutating_calls())
        with open(os.path.join(directory, "cloud-init-output.log"), "w") as handle:
            handle.write(proc.stdout)
        boot.times["partitioned"] = time.monotonic()

        resources = fake_device_plugin.enumerate_resources(smi, pool.get("strategy", "mixed"))
        dropin = root + userdata.NODEADM_DROPIN
        taints = [t for t in dropin_taints(dropin) if t["key"] != REGISTRATION_TAINT_KEY] if os.path.exists(dropin) else []
        if boot.rc != 0 and not taints:
            raise BridgeError("the shell part exited %d without writing the failure drop-in %s: %s"
                              % (boot.rc, dropin, proc.stdout[-500:]))
        boot.resources, boot.taints = resources, taints
        self.write_node(boot.node, spec, resources, taints)
        boot.times["node_ready"] = time.monotonic()
        self.log("%s: %s booted on %s, part exit %d, advertises %s%s"
                 % (boot.claim, boot.instance_type, boot.host, boot.rc,
                    ", ".join("%s=%d" % kv for kv in sorted(resources.items())),
                    (", tainted " + ",".join(t["key"] for t in taints)) if taints else ""))

    def write_node(self, name, spec, resources, taints, attempts=10):
        """Replace the Node's status as kubelet + device plugin would (Ready, exactly these resources), then add the
        drop-in's taints and lift the startup taint ``BOOT_TAINT`` (status first: the scheduler sees the boot's
        resources before it may bind anything)."""
        import kubernetes.client  # pylint: disable=import-outside-toplevel
        from kubernetes.client.rest import ApiException  # pylint: disable=import-outside-toplevel
        values = {"cpu": str(spec.vcpu), "memory": "%dMi" % spec.memory_mib, "pods": "110"}
        values.update((key, str(count)) for key, count in resources.items())
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for attempt in range(attempts):
            node = self.core.read_node(name)
            node.status.capacity = dict(values)
            node.status.allocatable = dict(values)
            node.status.conditions = [kubernetes.client.V1NodeCondition(
                type="Ready", status="True", reason="KubeletReady", message="kubelet is posting ready status (scale-up bridge)",
                last_heartbeat_time=now, last_transition_time=now)]
            node.status.phase = "Running"
            try:
                self.core.replace_node_status(name, node)
                break
            except ApiException as exc:
                if exc.status != 409 or attempt == attempts - 1:
                    raise
        for attempt in range(attempts):
            node = self.core.read_node(name)
            current = [t for t in (node.spec.taints or []) if t.key != BOOT_TAINT["key"]]
            have = set((t.key, t.effect) for t in current)
            current += [kubernetes.client.V1Taint(key=t["key"], value=t.get("value"), effect=t["effect"])
                        for t in taints if _taint_key(t) not in have]
            node.spec.taints = current or None
            try:
                self.core.replace_node(name, node)
                return
            except ApiException as exc:
                if exc.status != 409 or attempt == attempts - 1:
                    raise

    # -- lifecycle
    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._executor.shutdown(wait=True)
        for fleet in self.fleets:
            try:
                fleet.destroy()
            except Exception as exc:  # pylint: disable=broad-except  # reported, the others still go
                self.errors.append("destroying %s: %s" % (getattr(fleet, "workdir", fleet), exc))
        self.fleets = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ------------------------------------------------------------------------------------------ the whole loop

Stage = collections.namedtuple("Stage", "name seconds detail")


class ScaleUpLoop(object):
    """Private control plane + Karpenter + applier server + the collection's pool + the bridge; a context manager.

    ``pool``: karpenter_nodepool options of the MIG pool (name, instance_types, mig_config, mig_strategy, ...);
    ``tamper``: the server hands out an applier that is not the pinned one (the boot must fail).
    """

    def __init__(self, workdir, pool, ssh_mode=None, tamper=False, log=None, kube_bin_dir=None):
        self.workdir = os.path.abspath(workdir)
        self.pool_params = dict(pool)
        self.ssh_mode = ssh_hosts.choose_mode(ssh_mode)[0]
        self.tamper = tamper
        self.log = log or (lambda text: None)
        self.kube_bin_dir = kube_bin_dir
        self.plane = self.karpenter = self.server = self.bridge = None
        self.client = self.core = self.custom = None
        self.pool = None         # what karpenter_nodepool returned for the kwok pool
        self.production = None   # what it renders for the same pool on EKS (userData, overlays)
        self.setup = []          # Stage tuples of start()

    def _stage(self, name, started, detail=""):
        self.setup.append(Stage(name, time.monotonic() - started, detail))

    def start(self):
        import kubernetes.client  # pylint: disable=import-outside-toplevel
        from ansible_collections.gpu_slicing.eks.tests.support import control_plane, karpenter_kwok as kk  # pylint: disable=import-outside-toplevel
        os.makedirs(self.workdir, exist_ok=True)
        try:
            started = time.monotonic()
            crds = [str(p) for p in kk.crd_paths(log=self.log)]
            self.plane = control_plane.ControlPlane(workdir=os.path.join(self.workdir, "kube"), crds=crds,
                                                    bin_dir=self.kube_bin_dir).start()
            self.client = control_plane.api_client(self.plane.kubeconfig)
            self.core = kubernetes.client.CoreV1Api(self.client)
            self.custom = kubernetes.client.CustomObjectsApi(self.client)
            self.custom.create_cluster_custom_object(kk.KWOK_NODECLASS_GROUP, kk.KWOK_NODECLASS_VERSION,
                                                     "kwoknodeclasses", kk.kwok_nodeclass())
            self._stage("control plane", started, "kube-apiserver %s at %s" % (self.plane.version, self.plane.server))

            started = time.monotonic()
            # Karpenter decides per batch of pending pods (BATCH_IDLE_DURATION after the last one, default 1s): pods
            # created slowly on a busy machine split into two batches and an extra node for the stragglers. A wider
            # idle window, as a cluster whose pods arrive slowly would set, keeps one batch per wave of pods.
            self.karpenter = kk.Karpenter(self.plane.kubeconfig, os.path.join(self.workdir, "karpenter"),
                                          node_overlay=True, batch_idle=BATCH_IDLE, batch_max=BATCH_MAX).start()
            self._stage("karpenter", started, "v%s kwok provider, %s" % (kk.karpenter_version().lstrip("v"),
                                                                         self.karpenter.feature_gates))

            started = time.monotonic()
            content = None
            if self.tamper:
                with open(APPLIER_FILE, "rb") as handle:
                    content = handle.read() + b"\n# tampered on its way to the node\n"
            self.server = ApplierServer(serving_address(self.ssh_mode), content).start()
            self.production = production_pool(self.pool_params, self.server.url)
            self.pool = run_nodepool(dict(self.pool_params, kubeconfig=self.plane.kubeconfig,
                                          node_class=kk.node_class_ref(), node_overlay=True,
                                          startup_taints=[BOOT_TAINT], wait=True, wait_timeout=60))
            self.check_same_pool()
            self.bridge = ScaleUpBridge(self.client, self.workdir, {self.pool_params["name"]: {
                "script": self.production["script"], "strategy": self.pool_params.get("mig_strategy", "mixed")}},
                ssh_mode=self.ssh_mode, log=self.log).start()
            self._stage("pool", started, "NodePool %s + NodeOverlay via karpenter_nodepool; applier served at %s%s"
                        % (self.pool_params["name"], self.server.url, " (TAMPERED copy)" if self.tamper else ""))
        except BaseException:
            self.stop()
            raise
        return self

    def check_same_pool(self):
        """The kwok pool in the cluster and the EKS pool whose userData the bridge runs are the same pool: same node
        labels (nvidia.com/mig.config ...) and the same NodeOverlay capacity per instance type."""
        applied = {}
        for overlay in self.pool["nodeoverlays"]:
            for requirement in overlay["spec"]["requirements"]:
                if requirement["key"] == "node.kubernetes.io/instance-type":
                    applied.update((n, dict((k, int(v)) for k, v in overlay["spec"]["capacity"].items()))
                                   for n in requirement["values"])
        if applied != self.production["overlays"]:
            raise BridgeError("NodeOverlay capacity in the cluster %r differs from the EKS pool's %r"
                              % (applied, self.production["overlays"]))
        labels = self.pool["nodepool"]["spec"]["template"].get("metadata", {}).get("labels")
        wanted = self.production["nodepool"]["spec"]["template"].get("metadata", {}).get("labels")
        if labels != wanted:
            raise BridgeError("NodePool template labels %r differ from the EKS pool's %r" % (labels, wanted))

    # -- one run
    def create_pods(self, resource, count, namespace="scale-up"):
        from ansible_collections.gpu_slicing.eks.tests.support import karpenter_kwok as kk  # pylint: disable=import-outside-toplevel
        return kk.create_pods(self.core, namespace, resource, count)

    def nodeclaims(self):
        return [c for c in self.custom.list_cluster_custom_object(KARPENTER_SH[0], KARPENTER_SH[1], "nodeclaims")["items"]
                if (c["metadata"].get("labels") or {}).get("karpenter.sh/nodepool") == self.pool_params["name"]]

    def pods(self, namespace):
        return self.core.list_namespaced_pod(namespace).items

    def run(self, resource, count, namespace="scale-up", timeout=300, expect_bound=True, settle=15.0):
        """Create the pods and follow them through the loop; returns {"stages": [Stage], "boots": [...], ...}.

        ``expect_bound``: wait until every pod is bound (else until every claim's boot finished and ``settle``
        seconds passed with pods still unbound). Raises BridgeError on a timeout, with what was reached.
        """
        stages = []
        t0 = time.monotonic()
        self.create_pods(resource, count, namespace)
        stages.append(Stage("pods created", time.monotonic() - t0, "%d pods requesting 1 %s in namespace %s"
                            % (count, resource, namespace)))
        deadline = t0 + timeout
        first_claim = booted = ready = None
        while True:
            now = time.monotonic()
            claims = self.nodeclaims()
            pods = self.pods(namespace)
            bound = [p for p in pods if p.spec.node_name]
            boots = list(self.bridge.boots.values())
            if claims and first_claim is None:
                first_claim = now
                stages.append(Stage("NodeClaim created", now - t0, "by Karpenter: %s" % ", ".join(
                    "%s (%s)" % (c["metadata"]["name"], _claim_types(c)) for c in claims)))
            done = [b for b in boots if "node_ready" in b.times or b.error]
            if boots and len(done) == len(boots) == len(claims) and booted is None:
                booted = now
                partitioned = max(b.times.get("partitioned", now) for b in boots)
                stages.append(Stage("hosts booted and partitioned", partitioned - t0, "; ".join(
                    "%s: part exit %s after %.1fs on %s" % (b.claim, b.rc, b.times.get("partitioned", now) - b.times["boot_start"], b.host)
                    for b in boots)))
                ready = max(b.times.get("node_ready", now) for b in boots)
                stages.append(Stage("Nodes ready with resources", ready - t0, "; ".join(
                    "%s: %s%s" % (b.node, ", ".join("%s=%d" % kv for kv in sorted((b.resources or {}).items())),
                                  (" TAINTED " + ",".join(t["key"] for t in b.taints)) if b.taints else "")
                    for b in boots)))
            if self.bridge.errors:
                raise BridgeError("the bridge failed: %s" % "; ".join(self.bridge.errors))
            if expect_bound and pods and len(bound) == len(pods) and booted is not None:
                stages.append(Stage("pods bound", now - t0, "%d of %d by kube-scheduler onto %d Nodes" % (
                    len(bound), len(pods), len(set(p.spec.node_name for p in bound)))))
                break
            if not expect_bound and booted is not None and now - booted >= settle:
                stages.append(Stage("pods still pending", now - t0, "%d of %d bound %.0fs after the boots"
                                    % (len(bound), len(pods), now - booted)))
                break
            if now > deadline:
                raise BridgeError("after %.0fs: %d NodeClaims, %d boots (%d finished), %d of %d pods bound; karpenter: %s"
                                  % (timeout, len(claims), len(boots), len(done), len(bound), len(pods),
                                     self.karpenter.log_tail(5)))
            time.sleep(0.2)
        return {"stages": stages, "boots": [b.summary() for b in self.bridge.boots.values()], "ready": ready}

    def stop(self):
        errors = []
        for step in (lambda: self.bridge and self.bridge.stop(), lambda: self.server and self.server.stop(),
                     lambda: self.karpenter and self.karpenter.stop(), lambda: self.plane and self.plane.stop()):
            try:
                step()
            except Exception as exc:  # pylint: disable=broad-except  # stop the rest, report
                errors.append(str(exc))
        if self.bridge is not None:
            errors.extend(self.bridge.errors)
        return errors

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run_nodepool(args):
    """karpenter_nodepool's main() in this process with ``args``, as a playbook task would run it; its result."""
    import io  # pylint: disable=import-outside-toplevel
    import json  # pylint: disable=import-outside-toplevel
    from ansible.module_utils.common import warnings  # pylint: disable=import-outside-toplevel
    from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool  # pylint: disable=import-outside-toplevel
    from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.module_args import patch_module_args  # pylint: disable=import-outside-toplevel
    out = io.StringIO()
    warnings._global_warnings.clear()  # pylint: disable=protected-access
    with patch_module_args(dict(args)), contextlib.redirect_stdout(out):
        try:
            karpenter_nodepool.main()
        except SystemExit:
            pass
    result = json.loads(out.getvalue())
    if result.get("failed"):
        raise BridgeError("karpenter_nodepool failed: %s" % result.get("msg"))
    return result


def _claim_types(claim):
    """The instance type(s) a NodeClaim asks for (its label appears only once kwok launched it)."""
    for requirement in claim["spec"]["requirements"]:
        if requirement["key"] == "node.kubernetes.io/instance-type":
            values = requirement.get("values") or []
            return values[0] if len(values) == 1 else "%d instance types" % len(values)
    return "any instance type"


def overlay_mismatch(allocatable, overlay):
    """[(resource, node value, overlay value)] where the Node's nvidia.com/* allocatable differs from the overlay."""
    keys = set(k for k in allocatable if k.startswith(GPU_PREFIX)) | set(overlay)
    out = []
    for key in sorted(keys):
        have = int(str(allocatable.get(key, "0")))
        if have != int(overlay.get(key, 0)):
            out.append((key, have, int(overlay.get(key, 0))))
    return out


__all__ = ["ApplierServer", "BOOT_TAINT", "BridgeError", "ScaleUpBridge", "ScaleUpLoop", "overlay_mismatch",
           "production_pool", "serving_address"]
