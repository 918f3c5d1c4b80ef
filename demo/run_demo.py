# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: the real site.yml against a local stand-in for an EKS + Karpenter GPU fleet.

Nothing here touches AWS, a cluster or a GPU. The world (tests/support/world.py, shared with molecule `fleet`
and bench/site_bench.py):

  EC2         moto in server mode (HTTP on 127.0.0.1), seeded with a small EKS fleet: Karpenter p5 and p4d GPU
              nodes, a managed node group (A10G GPUs without MIG) and CPU nodes
  Kubernetes  one Node per instance (names = EC2 private DNS names, labels as EKS/Karpenter set them) with the
              real Karpenter v1 CRDs
  GPU nodes   one real SSH server per MIG-capable node running the nvidia-smi simulator of its GPU model: a
              network namespace as root, else an unprivileged sshd on a loopback port, else asyncssh (the demo
              prints which); a fake device plugin publishes nvidia.com/* resources from each node's nvidia-smi

Then `ansible-playbook playbooks/site.yml` runs with the gpu_slicing.eks.gpu_nodes inventory plugin pointed at
moto, a progress line per stage, the verification report at the end. Last, the scale-up loop (`run_scale_up`,
unless --skip-scale-up): pending pods requesting MIG slices, the real Karpenter (kwok provider) on a private control
plane, a fresh simulated GPU host per NodeClaim that runs the pool's AL2023 userData shell part, the real scheduler
binding the pods (tests/support/scale_up_bridge.py), each stage with its timing. Everything is torn down on exit,
Ctrl-C or SIGTERM; leftovers of a killed run are removed by name at the next start.

    PYTHONPATH=build/collections .venv/bin/python demo/run_demo.py [--workdir DIR] [--rerun] [--ssh-hosts MODE]
"""

from __future__ import absolute_import, division, print_function

import argparse
import getpass
import os
import sys
import time

from ansible_collections.gpu_slicing.eks.tests.support import ssh_hosts, world as stand_in

COLLECTION = stand_in.COLLECTION
DEFAULT_WORKDIR = os.path.join(COLLECTION, "build", "demo")
CLUSTER = "demo"


class Progress:
    """One visible line per stage, with the seconds it took."""

    def __init__(self):
        self.start = time.monotonic()
        self.stage_start = self.start
        self.open = False

    def stage(self, text):
        self.stage_start = time.monotonic()
        self.open = True
        sys.stdout.write("[%5.1fs] %s ... " % (time.monotonic() - self.start, text))
        sys.stdout.flush()

    def done(self, detail=""):
        prefix = "" if self.open else "[%5.1fs]   ... " % (time.monotonic() - self.start)
        self.open = False
        print("%sok (%.1fs)%s" % (prefix, time.monotonic() - self.stage_start, ("  " + detail) if detail else ""), flush=True)

    def line(self, text):
        if self.open:  # a stage line waits for its "ok": finish it first
            print(flush=True)
            self.open = False
        print("[%5.1fs]   %s" % (time.monotonic() - self.start, text), flush=True)


def start_shared_gpus(world, progress):
    """The A10G node group (no MIG): its simulated GPUs, for the device-plugin stand-in (no SSH host needed)."""
    progress.stage("A10G nodes (no MIG): nvidia-smi simulator for GPU sharing")
    shared = world.start_shared_gpus()
    progress.done()
    for instance in shared:
        progress.line("%-28s %s, node group %s, device plugin config %s (node label)"
                      % (instance["name"], instance["type"], instance["node_group"],
                         stand_in.SHARED_NODE_GROUPS.get(instance["node_group"], "-")))


def show_shared_gpus(world, progress):
    """What each shared-GPU Node advertises after site.yml, next to what the sharing engine expects for it.
    Returns False when a Node advertises something else (the demo then fails)."""
    from kubernetes import client, config

    from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing

    if not world.shared_gpu_nodes:
        return True
    if world.kube_mode != "control-plane":
        progress.line("shared GPUs: not shown on the API emulator (no DaemonSet controller runs the plugin pods "
                      "with their config-manager)")
        return True
    core = client.CoreV1Api(config.new_client_from_config(config_file=world.kubeconfig))
    print("\nShared GPUs (time-slicing through the device plugin's named configs, docs/sharing.md):")
    ok = True
    for instance in world.shared_gpu_nodes:
        node = core.read_node(instance["name"])
        name = (node.metadata.labels or {}).get(sharing.CONFIG_LABEL, stand_in.DEVICE_PLUGIN_DEFAULT_CONFIG)
        spec = stand_in.DEVICE_PLUGIN_CONFIGS.get(name, {}).get("sharing")
        expected = dict((k, v) for k, v in sharing.node_capacity(instance["type"], spec).items() if v)
        advertised = dict((k, int(v)) for k, v in (node.status.allocatable or {}).items()
                          if k.startswith("nvidia.com/") and int(v) > 0)
        ok = ok and advertised == expected
        print("  %s (%s, %s): config %s = %s x%s -> allocatable %s; the engine expects %s%s"
              % (instance["name"], instance["type"], instance["model"], name, (spec or {}).get("mode", "no sharing"),
                 (spec or {}).get("replicas", 1), _resources(advertised), _resources(expected),
                 "" if advertised == expected else "  MISMATCH"))
        if spec:
            print("    isolation: %s" % sharing.isolation(spec["mode"]))
    return ok


def _resources(resources):
    return ", ".join("%s=%d" % kv for kv in sorted(resources.items())) or "nothing"


def run(args):
    progress = Progress()
    workdir = os.path.abspath(args.workdir)
    print("gpu_slicing.eks demo: the real site.yml against SIMULATORS on this machine (no AWS, no cluster, no GPU)")
    print("  EC2 = moto over HTTP, GPUs = the nvidia-smi simulator behind real SSH servers, kubelet/device plugin =")
    print("  stand-ins that read each node's nvidia-smi; which Kubernetes runs is said below.")
    try:
        mode, why = ssh_hosts.choose_mode(args.ssh_hosts)
    except ssh_hosts.HostsError as exc:
        print("error: the demo needs SSH hosts for its GPU nodes: %s" % exc, file=sys.stderr)
        return 2
    print("  SSH hosts: %s: %s (%s)" % (mode, ssh_hosts.describe(mode), why))
    try:
        kube_mode, kube_why = stand_in.choose_kube(args.kube, log=lambda text: print("  " + text, flush=True))
    except stand_in.WorldError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    if kube_mode == "control-plane":
        kube_line = "the real control plane (kube-apiserver, etcd, kube-scheduler, kube-controller-manager from " \
                    "tests/support/kube/go.mod)"
    else:
        kube_line = "the project's API emulator, NOT a real kube-apiserver: %s" % kube_why
    print("  Kubernetes: %s\n" % kube_line)
    progress.stage("cleaning leftovers of earlier runs")
    removed = stand_in.clean_leftovers(workdir)
    progress.done("removed: %s" % ", ".join(removed) if removed else "none found")
    world = stand_in.World(workdir, fleet=stand_in.DEMO_FLEET, cluster=CLUSTER, ssh_mode=mode, kube_mode=kube_mode,
                           kube_why=kube_why, log=progress.line)
    try:
        progress.stage("EC2: moto server with an EKS fleet")
        world.start_ec2()
        progress.done("%d instances at %s" % (len(world.instances), world.moto_endpoint))
        for instance in world.instances:
            owner = ("NodePool " + instance["pool"]) if instance["pool"] else ("node group " + instance["node_group"])
            progress.line("%-13s %-28s %s, %s" % (instance["type"], instance["name"], instance["id"], owner))

        progress.stage("Kubernetes: API with the Karpenter v1 CRDs and one Node per instance")
        count = world.start_kube()
        progress.done("%d nodes at %s" % (count, world.kube_url))
        progress.line("Kubernetes = %s" % world.kube_backend)

        progress.stage("GPU nodes: %s SSH hosts with the nvidia-smi simulator" % mode)
        gpu_nodes = world.start_gpu_nodes()
        progress.done()
        for instance, host in zip(gpu_nodes, world.hosts):
            progress.line("%-28s ssh -p %d %s@%s  8x %s"
                          % (instance["name"], host.port, host.user, host.address, instance["model"]))

        start_shared_gpus(world, progress)

        if world.kube_mode == "control-plane":
            progress.stage("kubelet stand-in: Node/pod status, nvidia.com/* from each node's nvidia-smi when its "
                           "device-plugin pod starts")
        else:
            progress.stage("device plugin stand-in: a pod per GPU node, nvidia.com/* from each node's nvidia-smi")
        world.start_device_plugin()
        progress.done()

        inventory = world.write_plugin_inventory()
        progress.line("inventory: %s (gpu_nodes plugin -> moto)" % inventory)
        progress.stage("ansible-playbook playbooks/site.yml")
        rc, recap, log_path, _failed = world.run_playbook(inventory, "site", on_line=progress.line)
        totals = stand_in.recap_counts(recap)
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
            rc2, recap2, log2, _failed = world.run_playbook(inventory, "site-rerun", on_line=progress.line)
            changed = stand_in.recap_counts(recap2).get("changed", -1)
            progress.line("rerun rc=%d, changed=%d%s" % (rc2, changed, "" if changed == 0 else "  (NOT idempotent, see %s)" % log2))
            if rc2 != 0 or changed != 0:
                return 1

        if not show_shared_gpus(world, progress):
            return 1

        report = os.path.join(workdir, "report", "mig-report.md")
        print("\n" + "=" * 100)
        with open(report) as handle:
            print(handle.read().rstrip())
        print("=" * 100)
        print("Verification report (HTML): %s" % os.path.join(workdir, "report", "mig-report.html"))
        print("Markdown: %s   ansible-playbook output: %s" % (report, log_path))
        print("This ran against stand-ins (moto, %s, the nvidia-smi simulator behind %s SSH hosts), not real GPUs."
              % ("a real kube-apiserver %s without kubelets" % world.kube_version if world.kube_mode == "control-plane"
                 else "the Kubernetes API emulator", mode))
        if not args.skip_scale_up:
            return run_scale_up(progress, workdir, mode, world.kube_mode)
        return 0
    finally:
        sys.stdout.write("[%5.1fs] tearing down (stand-ins, Kubernetes, moto, SSH hosts) ... "
                         % (time.monotonic() - progress.start))
        sys.stdout.flush()
        errors = world.teardown()
        print("done" if not errors else "errors: %s" % "; ".join(errors))
        print("[%5.1fs] total" % (time.monotonic() - progress.start))


# ---------------------------------------------------------------------------------------------- scale-up loop

SCALE_UP_POOL = dict(name="p5-mig-1g", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", mig_strategy="mixed")
SCALE_UP_RESOURCE = "nvidia.com/mig-1g.10gb"
SCALE_UP_PODS = 60


def run_scale_up(progress, workdir, ssh_mode, kube_mode):
    """Pending MIG pods -> real Karpenter -> booted, partitioned GPU hosts -> bound pods (tests/support/scale_up_bridge.py).

    Its own private control plane and Karpenter (Karpenter acts on every pending pod of a cluster), the stages with
    their timings. Returns the exit status: 0 when every pod was bound on Nodes whose resources equal the overlay.
    """
    from ansible_collections.gpu_slicing.eks.tests.support import karpenter_kwok, scale_up_bridge  # pylint: disable=import-outside-toplevel
    print("\n" + "=" * 100)
    print("Scale-up loop: %d pending pods requesting %s -> real Karpenter -> a fresh SIMULATED GPU host per NodeClaim runs "
          "the pool's AL2023 userData shell part -> real kube-scheduler" % (SCALE_UP_PODS, SCALE_UP_RESOURCE))
    if kube_mode != "control-plane":
        print("scale-up loop NOT run: Karpenter needs the real control plane, this machine has the emulator only")
        return 0
    progress.stage("Karpenter %s (kwok provider): find or build the binary" % karpenter_kwok.karpenter_version())
    try:
        karpenter_kwok.ensure_binary(log=progress.line)
    except karpenter_kwok.BuildError as exc:
        progress.line("scale-up loop NOT run: %s" % exc)
        return 1
    progress.done()
    user = "root" if ssh_mode == "netns" else getpass.getuser()
    loop = scale_up_bridge.ScaleUpLoop(os.path.join(workdir, "scale-up"), SCALE_UP_POOL, ssh_mode=ssh_mode, log=progress.line)
    try:
        progress.stage("private control plane + Karpenter + pool %s (karpenter_nodepool, NodeOverlay)" % SCALE_UP_POOL["name"])
        loop.start()
        progress.done()
        for stage in loop.setup:
            progress.line("%-30s %6.1fs  %s" % (stage.name, stage.seconds, stage.detail))
        progress.stage("%d pods requesting %s, following them through the loop" % (SCALE_UP_PODS, SCALE_UP_RESOURCE))
        result = loop.run(SCALE_UP_RESOURCE, SCALE_UP_PODS)
        progress.done()
        for stage in result["stages"]:
            progress.line("+%5.1fs  %-30s %s" % (stage.seconds, stage.name, stage.detail))
        overlay = loop.production["overlays"]["p5.48xlarge"]
        bad = []
        for node in loop.core.list_node(label_selector="karpenter.sh/nodepool=%s" % SCALE_UP_POOL["name"]).items:
            mismatch = scale_up_bridge.overlay_mismatch(node.status.allocatable, overlay)
            progress.line("Node %s allocatable %s %s" % (node.metadata.name, ", ".join(
                "%s=%s" % kv for kv in sorted(node.status.allocatable.items()) if kv[0].startswith("nvidia.com/")),
                "== the NodeOverlay" if not mismatch else "DIFFERS from the NodeOverlay: %s" % mismatch))
            bad.extend(mismatch)
        claims = loop.nodeclaims()
        progress.line("%d NodeClaims for %d pods at %d slices per node" % (len(claims), SCALE_UP_PODS, overlay[SCALE_UP_RESOURCE]))
        print("The shell part ran over SSH as %s (%s hosts) with GPU_SLICING_ROOT=<node dir>/root, so every file it wrote is "
              "under %s; a real AL2023 node runs it as root with no prefix. GPUs: the nvidia-smi simulator, not real GPUs; "
              "EC2: kwok Node objects, no real boot." % (user, ssh_mode, os.path.join(workdir, "scale-up", "nodes")))
        return 1 if bad else 0
    except RuntimeError as exc:  # BridgeError, ControlPlaneError, KarpenterError, HostsError: one line, then teardown
        progress.line("scale-up loop FAILED: %s" % exc)
        return 1
    finally:
        errors = loop.stop()
        if errors:
            progress.line("scale-up loop teardown: %s" % "; ".join(errors))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=DEFAULT_WORKDIR, help="state, logs and the report (default: build/demo)")
    parser.add_argument("--rerun", action="store_true", help="run site.yml a second time and require changed=0")
    parser.add_argument("--skip-scale-up", action="store_true",
                        help="leave out the scale-up loop (pending MIG pods -> Karpenter -> booted GPU hosts)")
    stand_in.add_world_options(parser)
    args = parser.parse_args(argv)
    return stand_in.run_interruptible(run, args)


if __name__ == "__main__":
    sys.exit(main())
