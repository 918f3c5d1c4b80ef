# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one stand-in world of an EKS + Karpenter GPU fleet, used by `make demo`, molecule `fleet` and bench.

  EC2         moto in server mode (HTTP on 127.0.0.1), seeded with instances tagged as Karpenter and managed
              node groups tag them
  Kubernetes  one Node per instance (name = EC2 private DNS name unless the spec names it; labels, taints and
              providerID as EKS/Karpenter set them), on the project's API emulator
  GPU nodes   one real SSH host per MIG-capable instance (``ssh_hosts``: network namespace as root, else an
              unprivileged sshd, else asyncssh) running the nvidia-smi simulator of its GPU model; each node's
              files live in WORKDIR/nodes/<node>/ (the hosts share this machine's file system)
  device plugin  ``fake_device_plugin.py``: a pod per GPU node, nvidia.com/* from that node's nvidia-smi

Everything started is recorded in WORKDIR/state.json the moment it exists; ``clean_leftovers(WORKDIR)`` stops
what a killed run left (by pid, start time and command line) and ``teardown()`` stops it all.

    world = World(workdir, fleet=DEMO_FLEET)
    try:
        world.start()                       # or the start_* steps one by one (the demo prints each)
        inventory = world.write_plugin_inventory()   # or write_static_inventory() (molecule)
        rc, recap, log, failed = world.run_playbook(inventory, "site")
    finally:
        world.teardown()
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import grp
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from . import child_env, moto_server, netns, ssh_hosts

COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
SIM_CTL = os.path.join(COLLECTION, "tests", "simulators", "nvidia-smi-sim")
FAKE_DEVICE_PLUGIN = os.path.join(COLLECTION, "tests", "support", "fake_device_plugin.py")
SITE = os.path.join(COLLECTION, "playbooks", "site.yml")
EMULATOR = "ansible_collections.gpu_slicing.eks.tests.support.kube_emulator"
REGION = moto_server.DEFAULT_REGION
SSH_HOST_TAG = "gpu-slicing.eks/demo-ssh-host"
SSH_PORT_TAG = "gpu-slicing.eks/demo-ssh-port"

# role: gpu (MIG-capable, gets an SSH host), gpu-no-mig, cpu; names: node names (default: EC2 private DNS names)
Group = collections.namedtuple("Group", "role instance_type count model pool node_group names mig_config")
Group.__new__.__defaults__ = (None, None)

DEMO_FLEET = (
    Group("gpu", "p5.48xlarge", 2, "h100-80gb", "p5-mig-1g", None),
    Group("gpu", "p4d.24xlarge", 1, "a100-40gb", "p4d-mig-balanced", None),
    # no MIG on A10G: the inventory plugin leaves these out (include_non_mig: false); the node group labels its
    # nodes with a time-slicing device plugin config (SHARED_NODE_GROUPS), so they advertise nvidia.com/gpu.shared
    Group("gpu-no-mig", "g5.12xlarge", 1, "a10g-24gb", None, "g5-inference"),
    Group("cpu", "m6i.2xlarge", 2, None, None, "system"),
    Group("cpu", "c6i.4xlarge", 1, None, "default", None),
)
GPU_LABELS = {
    "p5.48xlarge": {"gpu-name": "h100", "gpu-memory": "81559", "gpu-count": "8"},
    "p4d.24xlarge": {"gpu-name": "a100", "gpu-memory": "40960", "gpu-count": "8"},
    "g5.12xlarge": {"gpu-name": "a10g", "gpu-memory": "24576", "gpu-count": "4"},
}
# GPU sharing: the device plugin's named configs site.yml deploys (device_plugin role, docs/sharing.md), and the
# config each managed node group selects with the label its node group definition puts on its nodes (as the EKS
# managed node group `labels` do). MIG nodes use the default config.
DEVICE_PLUGIN_CONFIGS = {
    "mig-mixed": {"mig_strategy": "mixed"},
    "a10g-time-sliced": {"mig_strategy": "none",
                         "sharing": {"mode": "time-slicing", "replicas": 4, "rename_by_default": True}},
}
DEVICE_PLUGIN_DEFAULT_CONFIG = "mig-mixed"
SHARED_NODE_GROUPS = {"g5-inference": "a10g-time-sliced"}
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
# The MIG layout each NodePool's nodes get.
POOL_LAYOUTS = {"p5-mig-1g": "all-1g.10gb", "p4d-mig-balanced": "all-balanced"}


def bench_fleet(nodes):
    """``nodes`` GPU nodes: 80 % p5.48xlarge (p5-mig-1g), 20 % p4d.24xlarge (p4d-mig-balanced)."""
    p5 = nodes - nodes // 5
    groups = (Group("gpu", "p5.48xlarge", p5, "h100-80gb", "p5-mig-1g", None),
              Group("gpu", "p4d.24xlarge", nodes - p5, "a100-40gb", "p4d-mig-balanced", None))
    return tuple(group for group in groups if group.count > 0)


class WorldError(RuntimeError):
    pass


KUBE_MODES = ("control-plane", "emulator")
ENV_KUBE = "GPU_SLICING_KUBE"
CONTROL_PLANE = "ansible_collections.gpu_slicing.eks.tests.support.control_plane"


def _control_plane():
    """tests/support/control_plane.py, or None when this checkout has none."""
    try:
        return importlib.import_module(CONTROL_PLANE)
    except ModuleNotFoundError as exc:
        if exc.name != CONTROL_PLANE:  # the module exists but misses a dependency: that is a bug to show
            raise
        return None


def choose_kube(requested=None, log=print):
    """``(mode, why)``: ``control-plane`` (a real kube-apiserver, etcd, scheduler and controller-manager built from
    the pinned Go module, see control_plane.py) wherever its binaries exist or Go can build them, else ``emulator``
    (the project's API emulator) with the reason. ``requested`` or $GPU_SLICING_KUBE forces one; a forced
    control plane that cannot run is an error, not a fallback. The first build takes long and says so via ``log``."""
    requested = requested or os.environ.get(ENV_KUBE) or "auto"
    if requested not in ("auto",) + KUBE_MODES:
        raise WorldError("unknown Kubernetes mode %r (choose one of auto, %s)" % (requested, ", ".join(KUBE_MODES)))
    if requested == "emulator":
        return "emulator", "requested with %s=emulator" % ENV_KUBE
    control_plane = _control_plane()
    if control_plane is None:
        reason = "this checkout has no tests/support/control_plane.py"
    else:
        try:
            control_plane.ensure_binaries(log=log)
            return "control-plane", None
        except control_plane.BuildError as exc:
            reason = str(exc)
    if requested == "control-plane":
        raise WorldError("%s=control-plane cannot run here: %s" % (ENV_KUBE, reason))
    return "emulator", reason


# ------------------------------------------------------------------------------------------ processes

_cmdline = ssh_hosts.cmdline


class Interrupted(Exception):
    """SIGINT / SIGTERM: unwind into the finally blocks that tear the world down."""


def _raise_interrupted(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def run_interruptible(function, *args):
    """``function(*args)`` with SIGINT/SIGTERM turned into ``Interrupted`` (so ``finally: world.teardown()`` runs);
    returns its result, or 130 after an interruption."""
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        return function(*args)
    except Interrupted as exc:
        print("\ninterrupted (%s): everything was torn down" % exc)
        return 130


def add_world_options(parser):
    """``--ssh-hosts`` and ``--kube`` for the scripts that build a world (demo, bench)."""
    parser.add_argument("--ssh-hosts", choices=("auto",) + ssh_hosts.MODES, default=None,
                        help="how to run the GPU nodes' SSH servers (default: $%s or auto: netns as root, else an "
                             "unprivileged sshd, else asyncssh)" % ssh_hosts.ENV_MODE)
    parser.add_argument("--kube", choices=("auto",) + KUBE_MODES, default=None,
                        help="Kubernetes (default: $%s or auto: the real control plane where Go can build it, else "
                             "the API emulator)" % ENV_KUBE)


def _kill_group(pid, marker=None, timeout=10.0):
    """SIGTERM then SIGKILL the process group led by ``pid`` (every child of the world runs in its own session).

    ``marker``: only when the pid's command line still contains it (a pid from an old state file may have been
    reused by an unrelated process).
    """
    if not pid or (marker and marker not in _cmdline(pid)):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                pass  # not our child (an old run): poll with kill(0) only
            except ProcessLookupError:
                return
            time.sleep(0.05)


def clean_leftovers(workdir):
    """Stop what an earlier, killed world left in ``workdir``: processes (by recorded pid and command line), SSH
    hosts (namespaces or loopback servers), files. Keeps ``workdir/report``. Returns what it removed."""
    removed = []
    state_path = os.path.join(workdir, "state.json")
    try:
        with open(state_path) as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        state = {}
    for name, entry in state.get("pids", {}).items():
        if _cmdline(entry["pid"]) and entry["marker"] in _cmdline(entry["pid"]):
            _kill_group(entry["pid"], entry["marker"])
            removed.append("%s (pid %d)" % (name, entry["pid"]))
    if state.get("kube_session") and _control_plane() is not None:
        removed += ["kube %s" % name for name in _control_plane().down(state["kube_session"], log=lambda _m: None)]
    if state.get("hosts"):
        ssh_hosts.destroy_state(state["hosts"])
        removed.append("%d %s SSH hosts" % (len(state["hosts"].get("hosts", [])), state["hosts"].get("mode", "netns")))
    # hosts of any earlier run whose owner process is gone (also those of other crashed test runs)
    removed += ssh_hosts.cleanup_leftovers()
    if os.path.isdir(workdir):
        for entry in os.listdir(workdir):
            if entry != "report":  # keep the last report until the new one replaces it
                path = os.path.join(workdir, entry)
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
    return removed


def _run(argv, **kwargs):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, universal_newlines=True, **kwargs).stdout


def recap_counts(recap_lines):
    """ok/changed/... of PLAY RECAP lines, summed over hosts."""
    totals = {}
    for line in recap_lines:
        for key, value in re.findall(r"(\w+)=(\d+)", line):
            totals[key] = totals.get(key, 0) + int(value)
    return totals


def _write_yaml(path, data, comment):
    import yaml

    with open(path, "w") as handle:
        handle.write("# %s\n---\n" % comment)
        yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=False)


# ------------------------------------------------------------------------------------------ the world

class World:
    """Everything the world starts, recorded in WORKDIR/state.json as soon as it exists.

    ``fleet``: ``Group`` tuples. ``ssh_mode``: netns | sshd | asyncssh | None (best available, see
    ``ssh_hosts.choose_mode``). ``kube_mode``: control-plane | emulator | None (``choose_kube``; ``kube_why`` is
    the reason the caller printed). ``detach``: let the world outlive this process (molecule's ``fleet.py up``;
    ``clean_leftovers`` / ``fleet.py down`` stop it). ``cluster``: EKS cluster name in tags and labels.
    """

    def __init__(self, workdir, fleet=DEMO_FLEET, cluster="demo", forks=5, ssh_mode=None, detach=False, kube_mode=None,
                 kube_why=None, log=print):
        self.workdir = os.path.abspath(workdir)
        self.fleet_spec = tuple(fleet)
        for group in self.fleet_spec:  # before anything starts
            if group.names and len(group.names) != group.count:
                raise WorldError("%d names for %d %s instances" % (len(group.names), group.count, group.instance_type))
            if group.role == "gpu" and not group.model:
                raise WorldError("GPU group %s needs a simulator model" % group.instance_type)
        self.cluster = cluster
        self.forks = forks
        self.detach = detach
        self.ssh_mode, self.ssh_mode_why = ssh_hosts.choose_mode(ssh_mode)
        self.state = {"pids": {}}
        self.moto = None
        self.moto_endpoint = None
        self.kube_url = None
        self.kubeconfig = None
        self.kube_backend = None
        self.kube_mode = kube_mode    # resolved by start_kube (choose_kube) unless the caller did
        self.kube_why = kube_why
        self.kube_version = None
        self.kube_session = None
        self.log = log
        self.hosts = None
        self.plugin = None
        self.instances = []   # dicts: id, type, name, private_dns, role, pool, node_group, model, mig_config, ssh
        self.playbook = None
        os.makedirs(self.workdir, exist_ok=True)

    @property
    def gpu_nodes(self):
        return [i for i in self.instances if i["role"] == "gpu"]

    def save(self):
        path = os.path.join(self.workdir, "state.json")
        with open(path + ".tmp", "w") as handle:
            json.dump(self.state, handle, indent=2)
        os.replace(path + ".tmp", path)

    def track(self, name, pid, marker):
        self.state["pids"][name] = {"pid": pid, "marker": marker}
        self.save()

    def start(self):
        """Every stage: EC2, Kubernetes, GPU nodes, device plugin."""
        self.start_ec2()
        self.start_kube()
        self.start_gpu_nodes()
        self.start_shared_gpus()
        self.start_device_plugin()
        return self

    # EC2 ------------------------------------------------------------------------------------------
    def _ec2(self):
        import boto3

        return boto3.client("ec2", endpoint_url=self.moto_endpoint, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def start_ec2(self):
        """moto over HTTP, seeded with the fleet's instances and the tags Karpenter / node groups put on them."""
        self.moto = moto_server.MotoServer(log_path=os.path.join(self.workdir, "moto.log")).start(detach=self.detach)
        self.moto_endpoint = self.moto.endpoint_url
        self.state["moto_endpoint"] = self.moto_endpoint
        self.track("moto", self.moto.process.pid, "moto.server")
        ec2 = self._ec2()
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        for group in self.fleet_spec:
            tags = [{"Key": "kubernetes.io/cluster/%s" % self.cluster, "Value": "owned"}]
            if group.pool:  # what Karpenter puts on the instances it launches
                tags += [{"Key": "karpenter.sh/nodepool", "Value": group.pool},
                         {"Key": "eks:eks-cluster-name", "Value": self.cluster},
                         {"Key": "karpenter.k8s.aws/ec2nodeclass", "Value": "gpu-al2023" if group.role == "gpu" else "default"},
                         {"Key": "karpenter.sh/managed-by", "Value": self.cluster},
                         {"Key": "karpenter.sh/capacity-type", "Value": "on-demand"}]
            if group.node_group:  # what a managed node group's launch template puts on its instances
                tags += [{"Key": "eks:cluster-name", "Value": self.cluster},
                         {"Key": "eks:nodegroup-name", "Value": group.node_group}]
            names = list(group.names or [])
            reply = ec2.run_instances(ImageId=image, InstanceType=group.instance_type, MinCount=group.count,
                                      MaxCount=group.count, Placement={"AvailabilityZone": REGION + "a"},
                                      TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
            for index, instance in enumerate(reply["Instances"]):
                name = names[index] if names else instance["PrivateDnsName"]
                if names:
                    ec2.create_tags(Resources=[instance["InstanceId"]], Tags=[{"Key": "Name", "Value": name}])
                self.instances.append({
                    "id": instance["InstanceId"], "type": group.instance_type, "name": name,
                    "private_dns": instance["PrivateDnsName"], "role": group.role, "pool": group.pool,
                    "node_group": group.node_group, "model": group.model,
                    "mig_config": group.mig_config or POOL_LAYOUTS.get(group.pool)})
        self.state["instances"] = self.instances
        self.save()
        return self.instances

    # Kubernetes -----------------------------------------------------------------------------------
    def node_object(self, instance):
        """The Node as EKS + Karpenter register it (metadata and spec; status comes from the device plugin)."""
        labels = {"node.kubernetes.io/instance-type": instance["type"], "topology.kubernetes.io/region": REGION,
                  "topology.kubernetes.io/zone": REGION + "a", "eks.amazonaws.com/compute-type": "ec2",
                  "kubernetes.io/hostname": instance["name"], "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
        taints = []
        gpu = GPU_LABELS.get(instance["type"])
        if gpu:
            labels.update({"karpenter.k8s.aws/instance-gpu-%s" % key: value for key, value in gpu.items()})
            labels["karpenter.k8s.aws/instance-gpu-manufacturer"] = "nvidia"
            labels["nvidia.com/gpu.present"] = "true"
            taints.append({"key": "nvidia.com/gpu", "effect": "NoSchedule"})
        if instance["pool"]:
            labels.update({"karpenter.sh/nodepool": instance["pool"], "karpenter.sh/capacity-type": "on-demand",
                           "karpenter.sh/registered": "true", "karpenter.sh/initialized": "true"})
        if instance["node_group"]:
            labels.update({"eks.amazonaws.com/nodegroup": instance["node_group"],
                           "eks.amazonaws.com/capacityType": "ON_DEMAND"})
            if instance["node_group"] in SHARED_NODE_GROUPS:
                labels[DEVICE_PLUGIN_CONFIG_LABEL] = SHARED_NODE_GROUPS[instance["node_group"]]
        return {"metadata": {"name": instance["name"], "labels": labels},
                "spec": {"providerID": "aws:///%sa/%s" % (REGION, instance["id"]), "taints": taints}}

    def start_kube(self):
        """Kubernetes with the Karpenter v1 + ClusterPolicy CRDs and one Node per instance, registered as a kubelet
        does: the real control plane where it can run (``choose_kube``), else the API emulator. Returns the number
        of nodes; ``kube_backend`` says in one line what runs, and why when it is the emulator."""
        if self.kube_mode in KUBE_MODES:  # the caller chose (choose_kube) and printed why
            mode, why = self.kube_mode, self.kube_why or "requested"
        else:
            mode, why = choose_kube(self.kube_mode, log=self.log)
        self.kube_mode, self.kube_why = mode, why
        kube_dir = os.path.join(self.workdir, "kube")
        nodes = [self.node_object(instance) for instance in self.instances]
        if mode == "control-plane":
            control_plane = _control_plane()
            self.state["kube_session"] = kube_dir  # up() cleans up after itself; a kill -9 later is clean_leftovers' job
            self.save()
            # a detached session (etcd, kube-apiserver, kube-scheduler, kube-controller-manager) in kube_dir
            self.kube_session = control_plane.up(kube_dir, log=self.log)[0]
            self.kubeconfig = str(self.kube_session.kubeconfig)
            self.kube_url = self.kube_session.server
            self.kube_version = self.kube_session.version
            self.kube_backend = ("a real kube-apiserver %s with etcd, kube-scheduler and kube-controller-manager "
                                 "(tests/support/control_plane.py); no kubelet: a stand-in writes Node and pod status"
                                 % self.kube_version)
            control_plane.seed_nodes(self.kube_session.api, nodes)
            return len(nodes)
        from .kube_emulator import launcher, seeding

        os.makedirs(kube_dir, exist_ok=True)
        self.kubeconfig = os.path.join(kube_dir, "kubeconfig")
        argv = [sys.executable, "-m", EMULATOR, "serve", "--host", "127.0.0.1", "--port", "0", "--kubeconfig",
                self.kubeconfig]
        if not self.detach:
            argv.append("--exit-with-parent")
        for crd in launcher.default_crds():
            argv += ["--crd", crd]
        log = open(os.path.join(kube_dir, "emulator.log"), "ab")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=child_env(), start_new_session=True,
                                universal_newlines=True)
        log.close()
        self.track("kube_emulator", proc.pid, "kube_emulator")
        line = proc.stdout.readline()
        proc.stdout.close()
        if not line:
            raise WorldError("the Kubernetes API emulator did not start; see %s" % log.name)
        self.kube_url = json.loads(line)["url"]
        self.kube_backend = "the project's Kubernetes API emulator (tests/support/kube_emulator), NOT a real " \
                            "kube-apiserver: %s" % why
        self.state["kube_url"] = self.kube_url
        self.save()
        seeding.create_nodes(self.kube_url, nodes)
        return len(nodes)

    # GPU nodes ------------------------------------------------------------------------------------
    def node_dir(self, instance):
        return os.path.join(self.workdir, "nodes", instance["name"])

    def start_gpu_nodes(self):
        """One SSH host per MIG-capable instance, its simulator state and nvidia-smi wrapper in its node dir; the
        SSH address and port become EC2 tags (the inventory plugin's compose reads them)."""
        gpu_nodes = self.gpu_nodes
        environments = [{"GPU_SLICING_NODE": i["name"], "GPU_SLICING_NODE_DIR": self.node_dir(i)} for i in gpu_nodes]
        # the demo's hosts are leftovers once this process is gone; detached (molecule) ones live with their servers
        self.hosts = ssh_hosts.make_hosts(len(gpu_nodes), mode=self.ssh_mode, owner_pid="sshd" if self.detach else None,
                                          environments=environments)
        self.state["hosts"] = ssh_hosts.fleet_state(self.hosts)
        self.save()
        ec2 = self._ec2()
        for instance, host in zip(gpu_nodes, self.hosts):
            node_dir = self.node_dir(instance)
            os.makedirs(node_dir)
            instance["sim_state"] = os.path.join(node_dir, "gpus.json")
            _run([SIM_CTL, "init", "--state", instance["sim_state"], "--model", instance["model"], "--gpus", "8",
                  "--uuid-seed", instance["name"]])
            instance["nvidia_smi"] = _run([SIM_CTL, "wrapper", "--state", instance["sim_state"],
                                           "--out", os.path.join(node_dir, "nvidia-smi")]).strip()
            instance["ssh"] = {"host": host.address, "port": host.port}
            tags = [{"Key": SSH_HOST_TAG, "Value": host.address}, {"Key": SSH_PORT_TAG, "Value": str(host.port)}]
            ec2.create_tags(Resources=[instance["id"]], Tags=tags)
        self.state["instances"] = self.instances
        self.save()
        return gpu_nodes

    @property
    def shared_gpu_nodes(self):
        """GPU nodes without MIG that have a simulator (their GPUs are shared through the device plugin config)."""
        return [i for i in self.instances if i["role"] == "gpu-no-mig" and i.get("model")]

    def start_shared_gpus(self):
        """The nvidia-smi simulator of each non-MIG GPU node with a model (no SSH host: Ansible does not log in to
        them; only the device-plugin stand-in enumerates their GPUs, as the plugin does on the node)."""
        import importlib

        catalog = importlib.import_module("ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.catalog")
        for instance in self.shared_gpu_nodes:
            node_dir = self.node_dir(instance)
            os.makedirs(node_dir, exist_ok=True)
            instance["sim_state"] = os.path.join(node_dir, "gpus.json")
            gpus = catalog.instance_type(instance["type"]).gpu_count
            _run([SIM_CTL, "init", "--state", instance["sim_state"], "--model", instance["model"], "--gpus", str(gpus),
                  "--uuid-seed", instance["name"]])
            instance["nvidia_smi"] = _run([SIM_CTL, "wrapper", "--state", instance["sim_state"],
                                           "--out", os.path.join(node_dir, "nvidia-smi")]).strip()
        self.state["instances"] = self.instances
        self.save()
        return self.shared_gpu_nodes

    def start_device_plugin(self, timeout=None):
        """What stands in for the kubelets and the device plugin.

        Real control plane: the kubelet stand-in of control_plane.py for every Node (pods bound to a node run,
        deleted pods go away, a new device-plugin pod makes the node advertise nvidia.com/* from its nvidia-smi);
        the real DaemonSet controller runs the pods of the DaemonSet that site.yml installs. Emulator (no
        controllers): ``fake_device_plugin.py`` plays the DaemonSet's pods and the plugin; waits until it runs a
        pod on every GPU node.
        """
        if self.kube_mode == "control-plane":
            return self._start_kubelet_stand_in()
        mapping_path = os.path.join(self.workdir, "device-plugin-mapping.json")
        with open(mapping_path, "w") as handle:
            json.dump({i["name"]: {"nvidia_smi": i["nvidia_smi"], "strategy": "mixed"} for i in self.gpu_nodes},
                      handle, indent=2)
        log = open(os.path.join(self.workdir, "fake-device-plugin.log"), "ab")
        self.plugin = subprocess.Popen([sys.executable, FAKE_DEVICE_PLUGIN, "--kubeconfig", self.kubeconfig,
                                        "--mapping", mapping_path, "--interval", "0.3"],
                                       stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=child_env(),
                                       start_new_session=True)
        log.close()
        self.track("fake_device_plugin", self.plugin.pid, "fake_device_plugin")
        from kubernetes import client, config

        core = client.CoreV1Api(config.new_client_from_config(config_file=self.kubeconfig))
        expected = len(self.gpu_nodes)
        deadline = time.monotonic() + (timeout or 30 + 2 * expected)
        while time.monotonic() < deadline:
            pods = core.list_namespaced_pod("kube-system", label_selector="app.kubernetes.io/name=nvidia-device-plugin").items
            if len(set(p.spec.node_name for p in pods)) >= expected:
                return
            if self.plugin.poll() is not None:
                break
            time.sleep(0.2)
        raise WorldError("the fake device plugin did not start a pod on every GPU node; see %s" % log.name)

    def _start_kubelet_stand_in(self):
        nodes_path = os.path.join(self.workdir, "kube-nodes.json")
        with open(nodes_path, "w") as handle:
            json.dump([self.node_object(instance) for instance in self.instances], handle, indent=2)
        argv = [sys.executable, "-m", CONTROL_PLANE, "kubelet", "--dir", str(self.kube_session.directory),
                "--nodes", nodes_path]
        for instance in self.gpu_nodes:
            argv += ["--device-plugin", "%s=%s:mixed" % (instance["name"], instance["nvidia_smi"])]
        for instance in self.shared_gpu_nodes:  # its pod's config (label -> ConfigMap) sets strategy and sharing
            if instance.get("nvidia_smi"):
                argv += ["--device-plugin", "%s=%s:none" % (instance["name"], instance["nvidia_smi"])]
        log = open(os.path.join(self.workdir, "kubelet-stand-in.log"), "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=child_env(),
                                start_new_session=True)
        log.close()
        self.track("kubelet_stand_in", proc.pid, "control_plane kubelet")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # it says so in its log once the Nodes are registered
            if proc.poll() is not None:
                raise WorldError("the kubelet stand-in exited (rc %d); see %s" % (proc.returncode, log.name))
            with open(log.name) as handle:
                if "kubelet stand-in for" in handle.read():
                    return
            time.sleep(0.2)
        raise WorldError("the kubelet stand-in did not start within 30 s; see %s" % log.name)

    # Ansible --------------------------------------------------------------------------------------
    def ssh_vars(self, control_persist="300s"):
        """Connection variables every GPU node shares (address and port are per node)."""
        ssh_vars = self.hosts[0].hostvars(python_interpreter=sys.executable)
        del ssh_vars["ansible_host"]
        ssh_vars.pop("ansible_port", None)
        # one SSH master per node for the whole run (tasks on a busy machine are often > 5 s apart); teardown
        # closes them
        ssh_vars["ansible_ssh_args"] = ssh_vars["ansible_ssh_args"].replace("ControlPersist=5s",
                                                                            "ControlPersist=%s" % control_persist)
        return ssh_vars

    def node_vars(self):
        """The variables that point the roles at the world: simulator paths, per-node boot files, kubeconfig."""
        return {
            "gpu_slicing_cluster_mode": "device_plugin",
            "gpu_slicing_report_dir": os.path.join(self.workdir, "report"),
            "gpu_slicing_node_dir": os.path.join(self.workdir, "nodes", "{{ inventory_hostname }}"),
            # node name = inventory name
            "mig_partition_nvidia_smi_path": "{{ gpu_slicing_node_dir }}/nvidia-smi",
            "nvidia_driver_nvidia_smi_path": "{{ gpu_slicing_node_dir }}/nvidia-smi",
            "gpu_sim_state": "{{ gpu_slicing_node_dir }}/gpus.json",
            "mig_partition_strategy": "mixed",
            "mig_partition_kubeconfig": self.kubeconfig,
            "mig_partition_become": False,
            "mig_partition_allow_gpu_reset": True,  # no GPU clients run in the simulator
            "mig_partition_serial": "100%",
            "mig_partition_wait_delay": 1,
            "mig_partition_wait_retries": 30,
            "mig_partition_drain_timeout": 30,
            # the SSH hosts share this machine's file system: keep each node's boot files in its own directory
            "mig_partition_persist_path": "{{ gpu_slicing_node_dir }}/etc/mig-layout.yaml",
            "mig_partition_boot_unit_dir": "{{ gpu_slicing_node_dir }}/systemd",
            "mig_partition_boot_script_path": "{{ gpu_slicing_node_dir }}/sbin/gpu-slicing-mig-apply",
            "mig_partition_boot_state_dir": "{{ gpu_slicing_node_dir }}/state",
            "mig_partition_boot_enable": False,  # no systemd on a simulated node
            # the nodes' login user (root on namespace hosts, the current user on loopback hosts) owns its boot files
            "mig_partition_boot_owner": self.hosts[0].hostvars()["ansible_user"],
            "mig_partition_boot_group": "root" if self.ssh_mode == "netns" else grp.getgrgid(os.getgid()).gr_name,
            "device_plugin_kubeconfig": self.kubeconfig,
            "device_plugin_mig_strategy": "mixed",
            "device_plugin_configs": DEVICE_PLUGIN_CONFIGS,
            "device_plugin_default_config": DEVICE_PLUGIN_DEFAULT_CONFIG,
            # real control plane: the DaemonSet controller + kubelet stand-in make the pods Ready, so wait as on EKS;
            # emulator: no DaemonSet controller, the device plugin stand-in plays the pods
            "device_plugin_wait": self.kube_mode == "control-plane",
            "karpenter_gpu_kubeconfig": self.kubeconfig,
            "karpenter_gpu_cluster_name": self.cluster,
        }

    def write_plugin_inventory(self, pools=None):
        """An inventory directory as a user would have it: gpu_nodes plugin config (-> moto) + group_vars."""
        inventory = os.path.join(self.workdir, "inventory")
        os.makedirs(os.path.join(inventory, "group_vars"))
        with open(os.path.join(inventory, "%s.gpu_nodes.yml" % self.cluster), "w") as handle:
            handle.write(PLUGIN_INVENTORY.format(cluster=self.cluster, region=REGION, host_tag=SSH_HOST_TAG,
                                                 port_tag=SSH_PORT_TAG))
        group_vars = dict(self.ssh_vars(), **self.node_vars())
        group_vars["karpenter_gpu_pools"] = pools if pools is not None else [
            {"name": "p5-mig-1g", "instance_types": ["p5.48xlarge"], "mig_config": POOL_LAYOUTS["p5-mig-1g"],
             "limits": {"nvidia.com/gpu": 16}},
            {"name": "p4d-mig-balanced", "instance_types": ["p4d.24xlarge"], "mig_config": POOL_LAYOUTS["p4d-mig-balanced"]},
        ]
        _write_yaml(os.path.join(inventory, "group_vars", "all.yml"), group_vars,
                    "group_vars of the stand-in world: SSH to the simulated GPU nodes, simulator paths, kubeconfig")
        for pool, layout in POOL_LAYOUTS.items():
            _write_yaml(os.path.join(inventory, "group_vars", "nodepool_%s.yml" % pool.replace("-", "_")),
                        {"mig_partition_config": layout}, "MIG layout of the nodes of Karpenter NodePool %s" % pool)
        return inventory

    def write_static_inventory(self, extra_vars=None):
        """One YAML inventory file: gpu_nodes with per-host SSH address/port and MIG config, a controller group,
        plus ``fleet.gpu_nodes.yml`` (the same nodes as the EC2 inventory plugin sees them)."""
        hosts = {}
        for instance, host in zip(self.gpu_nodes, self.hosts):
            hosts[instance["name"]] = {"ansible_host": host.address, "ansible_port": instance["ssh"]["port"],
                                       "instance_type": instance["type"], "mig_partition_config": instance["mig_config"]}
        all_vars = dict(self.ssh_vars(control_persist="5s"), **self.node_vars())
        all_vars.update({"gpu_slicing_fleet_dir": self.workdir, "aws_endpoint_url": self.moto_endpoint})
        all_vars.update(extra_vars or {})
        inventory = {"all": {"vars": all_vars, "children": {
            "gpu_nodes": {"hosts": hosts},
            "controller": {"hosts": {"localhost": {"ansible_connection": "local",
                                                   "ansible_python_interpreter": sys.executable}}}}}}
        path = os.path.join(self.workdir, "inventory.yml")
        with open(path, "w") as handle:
            json.dump(inventory, handle, indent=2)
        with open(os.path.join(self.workdir, "fleet.gpu_nodes.yml"), "w") as handle:
            json.dump({"plugin": "gpu_slicing.eks.gpu_nodes", "regions": [REGION], "cluster_name": self.cluster,
                       "endpoint_url": self.moto_endpoint, "hostnames": ["tag:Name"], "ansible_host": "none"},
                      handle, indent=2)
        return path

    def ansible_env(self):
        env = child_env(**self.moto.env(REGION)) if self.moto else child_env()
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(COLLECTION, "build", "collections"),
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_FORKS": str(self.forks),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_PIPELINING": "true",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "true",
            "K8S_AUTH_KUBECONFIG": self.kubeconfig,
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.workdir, "ansible-tmp"),
            "PYTHONUNBUFFERED": "1",  # progress lines as they happen, not per 4 KiB block
        })
        return env

    def run_playbook(self, inventory, label, playbook=SITE, on_line=None, extra_args=()):
        """ansible-playbook ``playbook``; ``on_line(text)`` for each play and failure line; the full output in
        WORKDIR/<label>.log. Returns (rc, recap lines, log path, failed)."""
        log_path = os.path.join(self.workdir, "%s.log" % label)
        # serial is a play keyword: it sees extra vars, not group_vars. One batch for the whole fleet.
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, playbook,
                "--extra-vars", "mig_partition_serial=100%"] + list(extra_args)
        recap, failed = [], False
        started = time.monotonic()
        with open(log_path, "w") as log:
            self.playbook = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.ansible_env(),
                                             cwd=self.workdir, universal_newlines=True, start_new_session=True)
            self.track("ansible_playbook", self.playbook.pid, "ansible-playbook")
            in_recap = False
            for line in self.playbook.stdout:
                log.write("[%6.1fs] %s" % (time.monotonic() - started, line))
                log.flush()
                if line.startswith("PLAY RECAP"):
                    in_recap = True
                elif line.startswith("PLAY ["):
                    if on_line:
                        on_line("play: %s" % line[6:].split("]")[0])
                elif re.match(r"^(fatal|failed):", line):
                    failed = True
                    if on_line:
                        on_line(line.rstrip()[:300])
                elif in_recap and line.strip():
                    recap.append(line.rstrip())
            rc = self.playbook.wait()
        self.playbook = None
        self.state["pids"].pop("ansible_playbook", None)
        self.save()
        return rc, recap, log_path, failed

    # teardown -------------------------------------------------------------------------------------
    def teardown(self):
        """Stop everything this world started (also what a failed start left); returns error strings.

        A second Ctrl-C while it runs is ignored: it must not cut the teardown short.
        """
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return self._teardown()
        finally:
            signal.signal(signal.SIGINT, previous)

    def _teardown(self):
        errors = []
        if self.playbook is not None:
            _kill_group(self.playbook.pid)
        for name in ("fake_device_plugin", "kubelet_stand_in", "kube_emulator"):
            entry = self.state["pids"].get(name)
            if entry:
                _kill_group(entry["pid"], entry["marker"])
        if self.state.get("kube_session"):
            try:
                _control_plane().down(self.state["kube_session"], log=lambda _m: None)
            except Exception as exc:  # report, keep tearing down the rest
                errors.append("control plane: %s" % exc)
        if self.moto is not None:
            self.moto.stop()
        if self.hosts is not None:
            try:
                self.hosts.destroy()  # namespaces: kills every pid in each; loopback: masters, then servers
            except (netns.NetnsError, ssh_hosts.HostsError, OSError) as exc:
                errors.append(str(exc))
        try:
            os.unlink(os.path.join(self.workdir, "state.json"))
        except OSError:
            pass
        return errors


PLUGIN_INVENTORY = """\
# The gpu_slicing.eks.gpu_nodes inventory plugin, as for a real cluster; the EC2 endpoint (moto) comes
# from AWS_ENDPOINT_URL in the environment.
plugin: gpu_slicing.eks.gpu_nodes
regions: [{region}]
cluster_name: {cluster}
include_non_mig: false
hostnames: [private-dns-name, instance-id]
# a missing SSH tag must fail loudly, not fall back to the (unreachable) private IP
strict: true
compose:
  # stand-in world only: reach the SSH host that plays this node (real clusters: private IP or SSM)
  ansible_host: ec2_tags['{host_tag}']
  ansible_port: ec2_tags['{port_tag}'] | int
keyed_groups:
  - key: ec2_tags['karpenter.sh/capacity-type'] | default('unknown')
    prefix: capacity
"""
