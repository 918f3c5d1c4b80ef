# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring the molecule "fleet" world up and down.

    python fleet.py up --dir DIR     # SSH GPU nodes in network namespaces + simulators, Kubernetes
                                     # emulator with matching Nodes, moto with matching instances,
                                     # fake device plugin; writes DIR/inventory.yml and DIR/state.json
    python fleet.py down --dir DIR   # kill every process started by `up` (by pid) and the namespaces

Nodes: two p5.48xlarge (8x H100 80GB) and one p4d.24xlarge (8x A100 40GB).
Run with PYTHONPATH=<dir holding ansible_collections>.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from ansible_collections.gpu_slicing.eks.tests.support import moto_server, netns

COLLECTION = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SIM_CTL = os.path.join(COLLECTION, "tests", "simulators", "nvidia-smi-sim")
CRDS = os.path.join(COLLECTION, "tests", "data", "crds")
NODES = [
    # name, EC2 instance type, simulator model, Karpenter GPU name, MIG config of the rollout
    ("gpu-h100-a", "p5.48xlarge", "h100-80gb", "h100", "all-1g.10gb"),
    ("gpu-h100-b", "p5.48xlarge", "h100-80gb", "h100", "all-1g.10gb"),
    ("gpu-a100-a", "p4d.24xlarge", "a100-40gb", "a100", "all-balanced"),
]
CLUSTER = "fleet"


def _run(argv, **kwargs):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, universal_newlines=True, **kwargs).stdout


def _start_emulator(workdir, env):
    kubeconfig = os.path.join(workdir, "kubeconfig")
    crds = [os.path.join(CRDS, f) for f in sorted(os.listdir(CRDS)) if f.endswith(".yaml") and "_" in f and "mig-parted" not in f]
    argv = [sys.executable, "-m", "ansible_collections.gpu_slicing.eks.tests.support.kube_emulator", "serve",
            "--host", "127.0.0.1", "--port", "0", "--kubeconfig", kubeconfig]
    for crd in crds:
        argv += ["--crd", crd]
    log = open(os.path.join(workdir, "kube-emulator.log"), "ab")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True, universal_newlines=True)
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("kube emulator did not start; see %s" % log.name)
    info = json.loads(line)
    proc.stdout.close()
    return proc.pid, info["url"], kubeconfig


def _seed_nodes(workdir, kubeconfig, env):
    nodes = []
    for name, itype, _model, gpu_name, _config in NODES:
        nodes.append({"metadata": {"name": name, "labels": {
            "node.kubernetes.io/instance-type": itype,
            "karpenter.k8s.aws/instance-gpu-name": gpu_name,
            "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
            "karpenter.k8s.aws/instance-gpu-count": "8",
            "nvidia.com/gpu.present": "true"}},
            "spec": {"taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]}})
    path = os.path.join(workdir, "nodes.json")
    with open(path, "w") as handle:
        json.dump(nodes, handle)
    _run([sys.executable, "-m", "ansible_collections.gpu_slicing.eks.tests.support.kube_emulator", "seed-nodes",
          "--kubeconfig", kubeconfig, "--nodes", path], env=env)


def _seed_ec2(endpoint):
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=moto_server.DEFAULT_REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    for name, itype, _model, _gpu, _config in NODES:
        pool = "p5-mig-1g" if itype.startswith("p5") else "p4d-mig-balanced"
        ec2.run_instances(ImageId=image, InstanceType=itype, MinCount=1, MaxCount=1, TagSpecifications=[{
            "ResourceType": "instance", "Tags": [
                {"Key": "Name", "Value": name}, {"Key": "eks:eks-cluster-name", "Value": CLUSTER},
                {"Key": "karpenter.sh/nodepool", "Value": pool}, {"Key": "karpenter.k8s.aws/ec2nodeclass", "Value": "gpu-al2023"},
                {"Key": "kubernetes.io/cluster/%s" % CLUSTER, "Value": "owned"}]}])


def up(workdir, extra_h100=0):
    NODES.extend(("gpu-h100-x%d" % i, "p5.48xlarge", "h100-80gb", "h100", "all-1g.10gb") for i in range(extra_h100))
    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    env = dict(os.environ)
    state = {"workdir": workdir, "pids": {}}
    state_path = os.path.join(workdir, "state.json")

    def save():
        with open(state_path, "w") as handle:
            json.dump(state, handle, indent=2)

    # netns picks a short /tmp work dir: the SSH ControlPath socket must fit in 108 bytes
    fleet = netns.make_hosts(len(NODES), owner_pid="sshd")
    state["netns"] = fleet.state()
    save()
    mapping, hosts = {}, {}
    for (name, itype, model, _gpu, config), host in zip(NODES, fleet):
        node_dir = os.path.join(workdir, name)
        os.makedirs(node_dir, exist_ok=True)
        sim_state = os.path.join(node_dir, "gpus.json")
        _run([SIM_CTL, "init", "--state", sim_state, "--model", model, "--gpus", "8", "--uuid-seed", name])
        wrapper = _run([SIM_CTL, "wrapper", "--state", sim_state, "--out", os.path.join(node_dir, "nvidia-smi")]).strip()
        mapping[name] = {"nvidia_smi": wrapper, "strategy": "mixed"}
        hostvars = host.hostvars(python_interpreter=sys.executable)
        hostvars.update({
            "instance_type": itype,
            "gpu_sim_state": sim_state,
            "mig_partition_node_name": name,
            "mig_partition_config": config,
            "mig_partition_nvidia_smi_path": wrapper,
            "mig_partition_allow_gpu_reset": True,  # no GPU clients run in the simulator
            "nvidia_driver_nvidia_smi_path": wrapper,
            # namespaces share the file system: keep each node's boot files in its own directory
            "mig_partition_persist_path": os.path.join(node_dir, "etc", "mig-layout.yaml"),
            "mig_partition_boot_unit_dir": os.path.join(node_dir, "systemd"),
            "mig_partition_boot_script_path": os.path.join(node_dir, "sbin", "gpu-slicing-mig-apply"),
            "mig_partition_boot_state_dir": os.path.join(node_dir, "state"),
        })
        hosts[name] = hostvars
    moto = moto_server.MotoServer(log_path=os.path.join(workdir, "moto.log")).start(detach=True)
    state["pids"]["moto"] = moto.process.pid
    state["moto_endpoint"] = moto.endpoint_url
    save()
    _seed_ec2(moto.endpoint_url)
    pid, url, kubeconfig = _start_emulator(workdir, env)
    state["pids"]["kube_emulator"] = pid
    state["kube_url"] = url
    save()
    _seed_nodes(workdir, kubeconfig, env)
    mapping_path = os.path.join(workdir, "device-plugin-mapping.json")
    with open(mapping_path, "w") as handle:
        json.dump(mapping, handle, indent=2)
    plugin_log = open(os.path.join(workdir, "fake-device-plugin.log"), "ab")
    plugin = subprocess.Popen([sys.executable, os.path.join(COLLECTION, "tests", "support", "fake_device_plugin.py"),
                               "--kubeconfig", kubeconfig, "--mapping", mapping_path, "--interval", "0.3"],
                              stdout=plugin_log, stderr=plugin_log, env=env, start_new_session=True)
    state["pids"]["fake_device_plugin"] = plugin.pid
    save()
    inventory = {
        "all": {
            "vars": {
                "gpu_slicing_fleet_dir": workdir,
                "mig_partition_kubeconfig": kubeconfig,
                "mig_partition_become": False,
                "mig_partition_boot_enable": False,
                "mig_partition_wait_delay": 1,
                "mig_partition_wait_retries": 30,
                "mig_partition_drain_timeout": 30,
                "mig_partition_serial": "100%",
                "mig_partition_max_fail_percentage": 50,
                "karpenter_gpu_kubeconfig": kubeconfig,
                "karpenter_gpu_cluster_name": CLUSTER,
                "aws_endpoint_url": moto.endpoint_url,
                "gpu_slicing_cluster_mode": "device_plugin",
                "device_plugin_kubeconfig": kubeconfig,
                "device_plugin_wait": False,  # the emulator runs no DaemonSet controller
                "gpu_slicing_report_dir": os.path.join(workdir, "report"),
            },
            "children": {
                "gpu_nodes": {"hosts": hosts},
                "controller": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}},
            },
        }
    }
    with open(os.path.join(workdir, "inventory.yml"), "w") as handle:
        json.dump(inventory, handle, indent=2)
    # the same nodes as EC2 sees them (the discover stage on a real cluster)
    with open(os.path.join(workdir, "fleet.gpu_nodes.yml"), "w") as handle:
        json.dump({"plugin": "gpu_slicing.eks.gpu_nodes", "regions": [moto_server.DEFAULT_REGION], "cluster_name": CLUSTER,
                   "endpoint_url": moto.endpoint_url, "hostnames": ["tag:Name"], "ansible_host": "none"}, handle, indent=2)
    _wait_for_plugin_pods(kubeconfig)
    print(json.dumps({"inventory": os.path.join(workdir, "inventory.yml"), "kubeconfig": kubeconfig}))


def _wait_for_plugin_pods(kubeconfig, timeout=30.0):
    from kubernetes import client, config

    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod("kube-system", label_selector="app.kubernetes.io/name=nvidia-device-plugin").items
        if len(set(p.spec.node_name for p in pods)) == len(NODES):
            return
        time.sleep(0.3)
    raise RuntimeError("the fake device plugin did not start a pod on every node; see fake-device-plugin.log")


def _stop(pid):
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def down(workdir):
    state_path = os.path.join(os.path.abspath(workdir), "state.json")
    try:
        with open(state_path) as handle:
            state = json.load(handle)
    except FileNotFoundError:
        print("no %s: nothing to tear down" % state_path)
        return
    for name in ("fake_device_plugin", "kube_emulator", "moto"):
        pid = state["pids"].get(name)
        if pid:
            _stop(pid)
    for host in state.get("netns", {}).get("hosts", []):
        netns.destroy_namespace(host["name"], host["veth"], host["workdir"])
    if state.get("netns", {}).get("workdir"):
        shutil.rmtree(state["netns"]["workdir"], ignore_errors=True)
    os.unlink(state_path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--dir", required=True)
    parser.add_argument("--extra-h100", type=int, default=0, help="more 8x H100 nodes (bench)")
    args = parser.parse_args(argv)
    if args.command == "up":
        try:
            up(args.dir, args.extra_h100)
        except BaseException:
            down(args.dir)
            raise
    else:
        down(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
