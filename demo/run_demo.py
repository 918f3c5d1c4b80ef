# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: the real site.yml against a local stand-in for an EKS + Karpenter GPU fleet.

Nothing here touches AWS, a cluster or a GPU:

  EC2         moto in server mode (HTTP on 127.0.0.1), seeded with a small EKS fleet: Karpenter p5 and p4d GPU
              nodes, a managed node group (A10G GPUs without MIG) and CPU nodes
  Kubernetes  the project's API emulator with the real Karpenter v1 CRDs and one Node per instance
              (names = EC2 private DNS names, labels as EKS/Karpenter set them)
  GPU nodes   one network-namespace SSH host per MIG-capable GPU node, running the nvidia-smi simulator of
              its GPU model; a fake device plugin publishes nvidia.com/* resources from each node's nvidia-smi

Then `ansible-playbook playbooks/site.yml` runs with the gpu_slicing.eks.gpu_nodes inventory plugin pointed at
moto, a progress line per stage, the verification report at the end. Everything is torn down on exit,
Ctrl-C or SIGTERM; leftovers of a killed run are removed by name at the next start.

    PYTHONPATH=build/collections .venv/bin/python demo/run_demo.py [--workdir DIR] [--rerun]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from ansible_collections.gpu_slicing.eks.tests.support import child_env, moto_server, netns
from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator.launcher import KubeEmulator, default_crds

COLLECTION = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SIM_CTL = os.path.join(COLLECTION, "tests", "simulators", "nvidia-smi-sim")
FAKE_DEVICE_PLUGIN = os.path.join(COLLECTION, "tests", "support", "fake_device_plugin.py")
SITE = os.path.join(COLLECTION, "playbooks", "site.yml")
DEFAULT_WORKDIR = os.path.join(COLLECTION, "build", "demo")

CLUSTER = "demo"
REGION = moto_server.DEFAULT_REGION
SSH_HOST_TAG = "gpu-slicing.eks/demo-ssh-host"

# (role, EC2 instance type, count, simulator model or None, Karpenter NodePool or None, managed node group or None)
FLEET = [
    ("gpu", "p5.48xlarge", 2, "h100-80gb", "p5-mig-1g", None),
    ("gpu", "p4d.24xlarge", 1, "a100-40gb", "p4d-mig-balanced", None),
    # no MIG on A10G: the inventory leaves these out (include_non_mig: false)
    ("gpu-no-mig", "g5.2xlarge", 1, None, None, "g5-inference"),
    ("cpu", "m6i.2xlarge", 2, None, None, "system"),
    ("cpu", "c6i.4xlarge", 1, None, "default", None),
]
GPU_LABELS = {
    "p5.48xlarge": {"gpu-name": "h100", "gpu-memory": "81559", "gpu-count": "8"},
    "p4d.24xlarge": {"gpu-name": "a100", "gpu-memory": "40960", "gpu-count": "8"},
    "g5.2xlarge": {"gpu-name": "a10g", "gpu-memory": "24576", "gpu-count": "1"},
}
# The MIG layout each NodePool's nodes get (group_vars per nodepool_<name> group of the inventory plugin).
POOL_LAYOUTS = {"p5-mig-1g": "all-1g.10gb", "p4d-mig-balanced": "all-balanced"}


class Interrupted(Exception):
    """SIGINT / SIGTERM: unwind into the finally blocks that tear everything down."""


def _raise_interrupted(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


class Progress:
    """One visible line per stage, with the seconds it took."""

    def __init__(self):
        self.start = time.monotonic()
        self.count = 0

    def stage(self, text):
        self.count += 1
        self.stage_start = time.monotonic()
        sys.stdout.write("[%5.1fs] %s ... " % (time.monotonic() - self.start, text))
        sys.stdout.flush()

    def done(self, detail=""):
        print("ok (%.1fs)%s" % (time.monotonic() - self.stage_start, ("  " + detail) if detail else ""))

    def line(self, text):
        print("[%5.1fs]   %s" % (time.monotonic() - self.start, text))


# ------------------------------------------------------------------------------------------ leftovers

def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _kill_group(pid, marker=None, timeout=10.0):
    """SIGTERM then SIGKILL the process group led by ``pid`` (all our children run in their own session).

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
    """Stop what an earlier, killed demo left: its processes (by recorded pid and command line) and namespaces."""
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
    for host in state.get("netns", []):
        netns.destroy_namespace(host["name"], host["veth"], host["workdir"])
    if state.get("netns_workdir"):
        shutil.rmtree(state["netns_workdir"], ignore_errors=True)
    # namespaces of any earlier run whose owner process is gone (also those of other crashed test runs)
    removed += netns.cleanup_leftovers()
    if os.path.isdir(workdir):
        for entry in os.listdir(workdir):
            if entry != "report":  # keep the last report until the new one replaces it
                path = os.path.join(workdir, entry)
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
    return removed


# ------------------------------------------------------------------------------------------ the world

class DemoWorld:
    """Everything the demo starts, recorded in WORKDIR/state.json as soon as it exists."""

    def __init__(self, workdir, fleet=None, forks=5):
        self.workdir = workdir
        self.fleet_spec = fleet or FLEET
        self.forks = forks
        self.state = {"pids": {}, "netns": []}
        self.moto = None
        self.kube = None
        self.fleet = None
        self.plugin = None
        self.instances = []   # dicts: id, type, private_dns, pool, node_group, model, ssh_host
        self.playbook = None

    def save(self):
        with open(os.path.join(self.workdir, "state.json"), "w") as handle:
            json.dump(self.state, handle, indent=2)

    def track(self, name, pid, marker):
        self.state["pids"][name] = {"pid": pid, "marker": marker}
        self.save()

    # EC2 ------------------------------------------------------------------------------------------
    def start_moto(self):
        self.moto = moto_server.MotoServer(log_path=os.path.join(self.workdir, "moto.log")).start()
        self.track("moto", self.moto.process.pid, "moto.server")

    def seed_ec2(self):
        import boto3

        ec2 = boto3.client("ec2", endpoint_url=self.moto.endpoint_url, region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        for role, itype, count, model, pool, node_group in self.fleet_spec:
            tags = [{"Key": "kubernetes.io/cluster/%s" % CLUSTER, "Value": "owned"}]
            if pool:  # what Karpenter puts on the instances it launches
                tags += [{"Key": "karpenter.sh/nodepool", "Value": pool}, {"Key": "eks:eks-cluster-name", "Value": CLUSTER},
                         {"Key": "karpenter.k8s.aws/ec2nodeclass", "Value": "gpu-al2023" if role == "gpu" else "default"},
                         {"Key": "karpenter.sh/managed-by", "Value": CLUSTER},
                         {"Key": "karpenter.sh/capacity-type", "Value": "on-demand"}]
            if node_group:  # what a managed node group's launch template puts on its instances
                tags += [{"Key": "eks:cluster-name", "Value": CLUSTER}, {"Key": "eks:nodegroup-name", "Value": node_group}]
            reply = ec2.run_instances(ImageId=image, InstanceType=itype, MinCount=count, MaxCount=count,
                                      Placement={"AvailabilityZone": REGION + "a"},
                                      TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
            for instance in reply["Instances"]:
                self.instances.append({"id": instance["InstanceId"], "type": itype, "private_dns": instance["PrivateDnsName"],
                                       "role": role, "pool": pool, "node_group": node_group, "model": model})

    # Kubernetes -----------------------------------------------------------------------------------
    def start_kube(self):
        nodes = [self._node(instance) for instance in self.instances]
        self.kube = KubeEmulator(crds=default_crds(), nodes=nodes, workdir=os.path.join(self.workdir, "kube"))
        self.kube.start()
        self.track("kube_emulator", self.kube.pid, "kube_emulator")
        return len(nodes)

    @staticmethod
    def _node(instance):
        labels = {"node.kubernetes.io/instance-type": instance["type"], "topology.kubernetes.io/region": REGION,
                  "topology.kubernetes.io/zone": REGION + "a", "eks.amazonaws.com/compute-type": "ec2"}
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
            labels.update({"eks.amazonaws.com/nodegroup": instance["node_group"], "eks.amazonaws.com/capacityType": "ON_DEMAND"})
        return {"metadata": {"name": instance["private_dns"], "labels": labels},
                "spec": {"providerID": "aws:///%sa/%s" % (REGION, instance["id"]), "taints": taints}}

    # GPU nodes ------------------------------------------------------------------------------------
    def start_gpu_nodes(self):
        gpu_nodes = [i for i in self.instances if i["role"] == "gpu"]
        # owner = this process: after a kill -9 of the demo, the next run's cleanup_leftovers() removes them
        self.fleet = netns.make_hosts(len(gpu_nodes))
        self.state["netns_workdir"] = self.fleet.workdir
        self.state["netns"] = [{"name": h.name, "veth": h.veth, "workdir": h.workdir} for h in self.fleet]
        self.save()
        mapping = {}
        for instance, host in zip(gpu_nodes, self.fleet):
            node_dir = os.path.join(self.workdir, "nodes", instance["private_dns"])
            os.makedirs(node_dir)
            sim_state = os.path.join(node_dir, "gpus.json")
            _run([SIM_CTL, "init", "--state", sim_state, "--model", instance["model"], "--gpus", "8",
                  "--uuid-seed", instance["private_dns"]])
            wrapper = _run([SIM_CTL, "wrapper", "--state", sim_state, "--out", os.path.join(node_dir, "nvidia-smi")]).strip()
            instance["ssh_host"] = host.address
            mapping[instance["private_dns"]] = {"nvidia_smi": wrapper, "strategy": "mixed"}
        # the SSH address is a tag, so the inventory plugin's compose sets ansible_host from EC2 itself
        import boto3

        ec2 = boto3.client("ec2", endpoint_url=self.moto.endpoint_url, region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        for instance in gpu_nodes:
            ec2.create_tags(Resources=[instance["id"]], Tags=[{"Key": SSH_HOST_TAG, "Value": instance["ssh_host"]}])
        mapping_path = os.path.join(self.workdir, "device-plugin-mapping.json")
        with open(mapping_path, "w") as handle:
            json.dump(mapping, handle, indent=2)
        return gpu_nodes, mapping_path

    def start_device_plugin(self, mapping_path, expected_nodes):
        log = open(os.path.join(self.workdir, "fake-device-plugin.log"), "ab")
        self.plugin = subprocess.Popen([sys.executable, FAKE_DEVICE_PLUGIN, "--kubeconfig", self.kube.kubeconfig,
                                        "--mapping", mapping_path, "--interval", "0.3"],
                                       stdout=log, stderr=log, env=child_env(), start_new_session=True)
        log.close()
        self.track("fake_device_plugin", self.plugin.pid, "fake_device_plugin")
        from kubernetes import client, config

        core = client.CoreV1Api(config.new_client_from_config(config_file=self.kube.kubeconfig))
        deadline = time.monotonic() + 30 + 2 * expected_nodes
        while time.monotonic() < deadline:
            pods = core.list_namespaced_pod("kube-system", label_selector="app.kubernetes.io/name=nvidia-device-plugin").items
            if len(set(p.spec.node_name for p in pods)) >= expected_nodes:
                return
            if self.plugin.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("the fake device plugin did not start a pod on every GPU node; see %s" % log.name)

    # Ansible --------------------------------------------------------------------------------------
    def write_inventory(self):
        """An inventory directory as a user would have it: plugin config + group_vars (no per-host files)."""
        inventory = os.path.join(self.workdir, "inventory")
        os.makedirs(os.path.join(inventory, "group_vars"))
        host = self.fleet[0]
        with open(os.path.join(inventory, "demo.gpu_nodes.yml"), "w") as handle:
            handle.write(INVENTORY.format(cluster=CLUSTER, region=REGION, tag=SSH_HOST_TAG))
        ssh_vars = host.hostvars(python_interpreter=sys.executable)
        del ssh_vars["ansible_host"]  # per host, from the EC2 tag (compose)
        # one SSH master per node for the whole run (tasks on a busy machine are often > 5 s apart); the masters
        # end when teardown kills the namespaces' sshd
        ssh_vars["ansible_ssh_args"] = ssh_vars["ansible_ssh_args"].replace("ControlPersist=5s", "ControlPersist=300s")
        group_vars = dict(ssh_vars, **{
            "gpu_slicing_cluster_mode": "device_plugin",
            "gpu_slicing_report_dir": os.path.join(self.workdir, "report"),
            "demo_node_dir": os.path.join(self.workdir, "nodes", "{{ inventory_hostname }}"),
            # node name = inventory name = EC2 private DNS name (the plugin's default hostnames)
            "mig_partition_nvidia_smi_path": "{{ demo_node_dir }}/nvidia-smi",
            "nvidia_driver_nvidia_smi_path": "{{ demo_node_dir }}/nvidia-smi",
            "nvidia_driver_instance_type": "{{ instance_type }}",
            "mig_partition_strategy": "mixed",
            "mig_partition_kubeconfig": self.kube.kubeconfig,
            "mig_partition_become": False,
            "mig_partition_allow_gpu_reset": True,  # no GPU clients run in the simulator
            "mig_partition_serial": "100%",
            "mig_partition_wait_delay": 1,
            "mig_partition_wait_retries": 30,
            "mig_partition_drain_timeout": 30,
            # the namespaces share this machine's file system: keep each node's boot files in its own directory
            "mig_partition_persist_path": "{{ demo_node_dir }}/etc/mig-layout.yaml",
            "mig_partition_boot_unit_dir": "{{ demo_node_dir }}/systemd",
            "mig_partition_boot_script_path": "{{ demo_node_dir }}/sbin/gpu-slicing-mig-apply",
            "mig_partition_boot_state_dir": "{{ demo_node_dir }}/state",
            "mig_partition_boot_enable": False,  # no systemd inside a network namespace
            "device_plugin_kubeconfig": self.kube.kubeconfig,
            "device_plugin_mig_strategy": "mixed",
            "device_plugin_wait": False,  # the emulator runs no DaemonSet controller; the fake plugin plays its pods
            "karpenter_gpu_kubeconfig": self.kube.kubeconfig,
            "karpenter_gpu_cluster_name": CLUSTER,
            "karpenter_gpu_pools": [
                {"name": "p5-mig-1g", "instance_types": ["p5.48xlarge"], "mig_config": POOL_LAYOUTS["p5-mig-1g"],
                 "limits": {"nvidia.com/gpu": 16}},
                {"name": "p4d-mig-balanced", "instance_types": ["p4d.24xlarge"], "mig_config": POOL_LAYOUTS["p4d-mig-balanced"]},
            ],
        })
        _write_yaml(os.path.join(inventory, "group_vars", "all.yml"), group_vars,
                    "Demo group_vars: SSH to the namespace hosts, simulator paths, the emulator's kubeconfig")
        for pool, layout in POOL_LAYOUTS.items():
            _write_yaml(os.path.join(inventory, "group_vars", "nodepool_%s.yml" % pool.replace("-", "_")),
                        {"mig_partition_config": layout}, "MIG layout of the nodes of Karpenter NodePool %s" % pool)
        return inventory

    def ansible_env(self):
        env = child_env(**self.moto.env(REGION))
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(COLLECTION, "build", "collections"),
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_FORKS": str(self.forks),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_PIPELINING": "true",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "true",
            "K8S_AUTH_KUBECONFIG": self.kube.kubeconfig,
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.workdir, "ansible-tmp"),
            "PYTHONUNBUFFERED": "1",  # progress lines as they happen, not per 4 KiB block
        })
        return env

    def run_playbook(self, inventory, progress, label):
        """ansible-playbook site.yml; a progress line per play; the full output in WORKDIR/<label>.log."""
        log_path = os.path.join(self.workdir, "%s.log" % label)
        # serial is a play keyword: it sees extra vars, not group_vars. One batch for the whole small fleet.
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, SITE,
                "--extra-vars", "mig_partition_serial=100%"]
        recap, failed = [], False
        with open(log_path, "w") as log:
            self.playbook = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.ansible_env(),
                                             cwd=self.workdir, universal_newlines=True, start_new_session=True)
            self.track("ansible_playbook", self.playbook.pid, "ansible-playbook")
            in_recap = False
            for line in self.playbook.stdout:
                log.write("[%6.1fs] %s" % (time.monotonic() - progress.start, line))
                log.flush()
                if line.startswith("PLAY RECAP"):
                    in_recap = True
                elif line.startswith("PLAY ["):
                    progress.line("play: %s" % line[6:].split("]")[0])
                elif re.match(r"^(fatal|failed):", line):
                    failed = True
                    progress.line(line.rstrip()[:300])
                elif in_recap and line.strip():
                    recap.append(line.rstrip())
            rc = self.playbook.wait()
        self.playbook = None
        return rc, recap, log_path, failed

    # teardown -------------------------------------------------------------------------------------
    def teardown(self):
        errors = []
        if self.playbook is not None:
            _kill_group(self.playbook.pid)
        if self.plugin is not None:
            _kill_group(self.plugin.pid)
        if self.kube is not None:
            self.kube.stop()
        if self.moto is not None:
            self.moto.stop()
        if self.fleet is not None:
            try:
                self.fleet.destroy()  # kills every pid in each namespace, then deletes it and its veth
            except netns.NetnsError as exc:
                errors.append(str(exc))
        try:
            os.unlink(os.path.join(self.workdir, "state.json"))
        except OSError:
            pass
        return errors


INVENTORY = """\
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
  # demo only: reach the network-namespace host that plays this node (real clusters: private IP or SSM)
  ansible_host: ec2_tags['{tag}']
keyed_groups:
  - key: ec2_tags['karpenter.sh/capacity-type'] | default('unknown')
    prefix: capacity
"""


def _write_yaml(path, data, comment):
    import yaml

    with open(path, "w") as handle:
        handle.write("# %s\n---\n" % comment)
        yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=False)


def _run(argv):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout


def _recap_counts(recap):
    totals = {}
    for line in recap:
        for key, value in re.findall(r"(\w+)=(\d+)", line):
            totals[key] = totals.get(key, 0) + int(value)
    return totals


def run(args):
    progress = Progress()
    workdir = os.path.abspath(args.workdir)
    print("gpu_slicing.eks demo: the real site.yml against SIMULATORS on this machine (no AWS, no cluster, no GPU)")
    print("  EC2 = moto, Kubernetes = the project's API emulator, GPUs = the nvidia-smi simulator in SSH hosts")
    print("  in network namespaces, device plugin = a stand-in that reads each node's nvidia-smi.\n")
    reason = netns.netns_unavailable_reason()
    if reason:
        print("error: the demo needs network-namespace SSH hosts: %s" % reason, file=sys.stderr)
        return 2
    progress.stage("cleaning leftovers of earlier runs")
    removed = clean_leftovers(workdir)
    os.makedirs(workdir, exist_ok=True)
    progress.done("removed: %s" % ", ".join(removed) if removed else "none found")
    world = DemoWorld(workdir)
    try:
        progress.stage("EC2: moto server with an EKS fleet")
        world.start_moto()
        world.seed_ec2()
        progress.done("%d instances at %s" % (len(world.instances), world.moto.endpoint_url))
        for instance in world.instances:
            owner = ("NodePool " + instance["pool"]) if instance["pool"] else ("node group " + instance["node_group"])
            progress.line("%-13s %-28s %s, %s" % (instance["type"], instance["private_dns"], instance["id"], owner))

        progress.stage("Kubernetes: API emulator with the Karpenter v1 CRDs and the Nodes")
        count = world.start_kube()
        progress.done("%d nodes at %s" % (count, world.kube.url))

        progress.stage("GPU nodes: SSH hosts in network namespaces with the nvidia-smi simulator")
        gpu_nodes, mapping_path = world.start_gpu_nodes()
        progress.done()
        for instance in gpu_nodes:
            progress.line("%-28s ssh root@%s  8x %s" % (instance["private_dns"], instance["ssh_host"], instance["model"]))

        progress.stage("device plugin stand-in: a pod per GPU node, nvidia.com/* from each node's nvidia-smi")
        world.start_device_plugin(mapping_path, len(gpu_nodes))
        progress.done()

        inventory = world.write_inventory()
        progress.line("inventory: %s (gpu_nodes plugin -> moto)" % inventory)
        progress.stage("ansible-playbook playbooks/site.yml")
        print()
        rc, recap, log_path, failed = world.run_playbook(inventory, progress, "site")
        totals = _recap_counts(recap)
        summary = ", ".join("%s=%d" % kv for kv in sorted(totals.items()))
        progress.line("site.yml finished rc=%d in %.1fs: %s" % (rc, time.monotonic() - progress.stage_start, summary))
        for line in recap:
            print("           " + line)
        if rc != 0:
            print("\nsite.yml FAILED (rc %d); full output: %s" % (rc, log_path))
            return 1

        if args.rerun:
            progress.stage("ansible-playbook playbooks/site.yml again (must change nothing)")
            print()
            rc2, recap2, log2, _failed = world.run_playbook(inventory, progress, "site-rerun")
            changed = _recap_counts(recap2).get("changed", -1)
            progress.line("rerun rc=%d, changed=%d%s" % (rc2, changed, "" if changed == 0 else "  (NOT idempotent, see %s)" % log2))
            if rc2 != 0 or changed != 0:
                return 1

        report = os.path.join(workdir, "report", "mig-report.md")
        print("\n" + "=" * 100)
        with open(report) as handle:
            print(handle.read().rstrip())
        print("=" * 100)
        print("Verification report (HTML): %s" % os.path.join(workdir, "report", "mig-report.html"))
        print("Markdown: %s   ansible-playbook output: %s" % (report, log_path))
        print("This ran against simulators (moto, the Kubernetes API emulator, the nvidia-smi simulator), not real GPUs.")
        return 0
    finally:
        sys.stdout.write("[%5.1fs] tearing down (device plugin stand-in, emulator, moto, namespaces) ... "
                         % (time.monotonic() - progress.start))
        sys.stdout.flush()
        # a second Ctrl-C must not cut the teardown short
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        errors = world.teardown()
        signal.signal(signal.SIGINT, previous)
        print("done" if not errors else "errors: %s" % "; ".join(errors))
        print("[%5.1fs] total" % (time.monotonic() - progress.start))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=DEFAULT_WORKDIR, help="state, logs and the report (default: build/demo)")
    parser.add_argument("--rerun", action="store_true", help="run site.yml a second time and require changed=0")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        return run(args)
    except Interrupted as exc:
        print("\ninterrupted (%s): everything was torn down" % exc)
        return 130


if __name__ == "__main__":
    sys.exit(main())
