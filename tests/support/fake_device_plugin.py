# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in for the NVIDIA device plugin DaemonSet (controller + plugin) in the test world.

For every Node named in a mapping file (node name -> nvidia-smi executable of that simulated node
+ MIG strategy) it behaves like the DaemonSet controller: when the device-plugin Pod on that node is
missing it creates a new one. Each time it (re)creates the Pod it behaves like the plugin at start:
it enumerates the node's GPUs and MIG devices by running that node's ``nvidia-smi -L`` and patches
the Node's status capacity/allocatable. It enumerates ONLY at (re)start, like the real plugin, so a
reconfiguration without a plugin restart leaves stale resources (what the roles must avoid).

It talks to the Kubernetes API (the project's emulator) over HTTP with the real ``kubernetes``
client. Resource rules follow k8s-device-plugin v0.20 ``internal/rm/device_map.go``; this module is
written independently of the collection's filters so each checks the other.

Usage::

    python fake_device_plugin.py --kubeconfig KUBECONFIG --mapping nodes.json [--interval 0.5]
                                 [--pidfile F] [--once]

mapping (JSON)::

    {"node1": {"nvidia_smi": "/tmp/fleet/node1/nvidia-smi", "strategy": "mixed"}, ...}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

LABELS = {"app.kubernetes.io/name": "nvidia-device-plugin", "app.kubernetes.io/managed-by": "fake-device-plugin"}
IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.20.0"
_GPU = re.compile(r"^GPU (\d+): ")
_MIG = re.compile(r"^\s+MIG (\S+)\s+Device\s+\d+: ")


class EnumerationError(Exception):
    pass


def enumerate_resources(nvidia_smi, strategy):
    """Run the node's nvidia-smi like the plugin does at start; return {resource: count}."""
    env = dict(os.environ, LC_ALL="C")
    listing = subprocess.run([nvidia_smi, "-L"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, env=env, check=False)
    modes = subprocess.run([nvidia_smi, "--query-gpu=index,mig.mode.current", "--format=csv,noheader"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, check=False)
    if listing.returncode != 0 or modes.returncode != 0:
        raise EnumerationError("nvidia-smi failed: %s %s" % (listing.stderr.strip(), modes.stderr.strip()))
    enabled = {}
    for line in modes.stdout.splitlines():
        if line.strip():
            index, mode = [p.strip() for p in line.split(",", 1)]
            enabled[int(index)] = mode == "Enabled"
    devices, current = {}, None
    for line in listing.stdout.splitlines():
        gpu, mig = _GPU.match(line), _MIG.match(line)
        if gpu:
            current = int(gpu.group(1))
            devices[current] = []
        elif mig and current is not None:
            devices[current].append(mig.group(1))
    resources = {}
    if strategy == "single" and any(enabled.values()):
        profiles = set(p for gpu in devices.values() for p in gpu)
        valid = all(enabled.get(i) for i in devices) and len(profiles) == 1 and all(devices.values())
        # The real plugin refuses to start on an invalid single layout; GFD labels the product -MIG-INVALID.
        resources["nvidia.com/gpu"] = sum(len(v) for v in devices.values()) if valid else 0
        return resources
    for index, profiles in sorted(devices.items()):
        if strategy == "none" or not enabled.get(index):
            resources["nvidia.com/gpu"] = resources.get("nvidia.com/gpu", 0) + 1
            continue
        for profile in profiles:  # an empty MIG-enabled GPU only warns under mixed
            key = "nvidia.com/mig-" + profile.replace("+", ".")  # v0.20 names 1g.10gb+me mig-1g.10gb.me
            resources[key] = resources.get(key, 0) + 1
    return resources


def _env(container):
    return dict((e.get("name"), e.get("value")) for e in container.get("env") or [] if "value" in e)


def selected_config(pod, node, read_config_map):
    """The named config a device-plugin pod of ``node`` runs with, as NVIDIA's config-manager picks it, or None when
    the pod reads no config file (flags/env only).

    Follows the plugin's Helm chart (deployments/helm/nvidia-device-plugin/templates/daemonset-device-plugin.yml):
    the plugin container has ``CONFIG_FILE``; a ``config-manager`` container names the node label (``NODE_LABEL``),
    the default (``DEFAULT_CONFIG``) and the directory (``CONFIG_FILE_SRCDIR``) where a ConfigMap volume holds one
    key per config. The node's label value (else the default) is the key. ``read_config_map(namespace, name)``
    returns the ConfigMap's ``data``. Returns ``(name, parsed config)``; raises EnumerationError where the real
    config-manager fails (unknown config name, no label and no default, unreadable config).
    """
    import yaml

    spec = pod.get("spec") or {}
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    if not any("CONFIG_FILE" in _env(c) for c in containers):
        return None
    managers = [c for c in containers if (c.get("command") or [None])[0] == "config-manager"]
    if not managers:
        raise EnumerationError("the plugin reads CONFIG_FILE but no config-manager container provides it")
    env = _env(managers[0])
    mounts = dict((m.get("name"), m.get("mountPath")) for m in managers[0].get("volumeMounts") or [])
    volume = [v for v in spec.get("volumes") or [] if v.get("configMap") and mounts.get(v.get("name")) == env.get("CONFIG_FILE_SRCDIR")]
    if not volume:
        raise EnumerationError("no ConfigMap volume is mounted at CONFIG_FILE_SRCDIR %r" % env.get("CONFIG_FILE_SRCDIR"))
    data = read_config_map(pod["metadata"]["namespace"], volume[0]["configMap"]["name"]) or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = labels.get(env.get("NODE_LABEL") or "nvidia.com/device-plugin.config") or env.get("DEFAULT_CONFIG")
    if not name:
        raise EnumerationError("the node has no %s label and the config-manager no DEFAULT_CONFIG" % env.get("NODE_LABEL"))
    if name not in data:
        raise EnumerationError("config %r is not in the ConfigMap (keys: %s)" % (name, ", ".join(sorted(data))))
    try:
        config = yaml.safe_load(data[name])
    except yaml.YAMLError as exc:
        raise EnumerationError("config %r is not YAML: %s" % (name, exc))
    if not isinstance(config, dict) or config.get("version") != "v1":
        raise EnumerationError("config %r is not a v1 plugin config" % name)
    return name, config


def configured_resources(nvidia_smi, config):
    """What the plugin advertises with a parsed v1 config file: the devices enumerated under ``flags.migStrategy``
    (the plugin's default is none), then its sharing section as the plugin README documents it ("Shared Access to
    GPUs"): each listed resource is advertised ``replicas`` times, under ``<name>.shared`` INSTEAD of ``<name>``
    with ``renameByDefault`` (or a resource's own ``rename``). Written from the README, independently of the
    collection's sharing engine, so the demo and the tests check one against the other."""
    strategy = ((config.get("flags") or {}).get("migStrategy")) or "none"
    resources = enumerate_resources(nvidia_smi, strategy)
    sharing = config.get("sharing") or {}
    for mode in ("timeSlicing", "mps"):
        body = sharing.get(mode) or {}
        for item in body.get("resources") or []:
            name = item["name"] if "/" in item["name"] else "nvidia.com/" + item["name"]
            replicas = int(item.get("replicas", 1))
            if name not in resources or replicas < 2:
                continue
            count = resources.pop(name) * replicas
            renamed = item.get("rename") or (name + ".shared" if body.get("renameByDefault") else name)
            resources[renamed] = resources.get(renamed, 0) + count
    return resources


def _plugin_container(pod):
    for container in (pod.get("spec") or {}).get("containers") or []:
        if (container.get("command") or [None])[0] == "nvidia-device-plugin" or container.get("name") == "nvidia-device-plugin-ctr":
            return container
    return {}


def _strategies(value):
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def uses_mps(config):
    """True when a parsed v1 config shares with MPS (api/config/v1 sharing.go: some resource with replicas > 1)."""
    body = ((config or {}).get("sharing") or {}).get("mps") or {}
    return any(int(r.get("replicas", 1)) > 1 for r in body.get("resources") or [])


def plugin_start_error(pod, config):
    """Why the plugin in ``pod`` would refuse to start with the parsed config, else None: the checks of
    cmd/nvidia-device-plugin/main.go ``validateFlags`` (v0.20) on the effective settings, where an environment
    variable of the plugin container (DEVICE_LIST_STRATEGY, MIG_STRATEGY) overrides the config file's flags."""
    env = _env(_plugin_container(pod))
    flags = (config or {}).get("flags") or {}
    mig = env.get("MIG_STRATEGY") or flags.get("migStrategy") or "none"
    lists = _strategies(env.get("DEVICE_LIST_STRATEGY") or (flags.get("plugin") or {}).get("deviceListStrategy") or "envvar")
    if not uses_mps(config):
        return None
    if mig == "mixed":
        return "using --mig-strategy=mixed is not supported with MPS"
    if not any(s.startswith("cdi-") for s in lists):
        return "using MPS requires CDI (device list strategy %s)" % ",".join(lists)
    for refused in ("envvar", "volume-mounts"):
        if refused in lists:
            return "using MPS is incompatible with --device-list-strategy=%s" % refused
    return None


def mps_daemon_running(plugin_pod, node_pods):
    """Whether an MPS control daemon runs next to ``plugin_pod``: a Running pod on the node with a container whose
    command is ``mps-control-daemon``, mounting at /mps the same host directory as the plugin's MPS_ROOT."""
    root = _env(_plugin_container(plugin_pod)).get("MPS_ROOT")
    if not root:
        return False
    for pod in node_pods:
        spec = pod.get("spec") or {}
        if (pod.get("status") or {}).get("phase") != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        host_paths = dict((v.get("name"), (v.get("hostPath") or {}).get("path")) for v in spec.get("volumes") or [])
        for container in spec.get("containers") or []:
            if (container.get("command") or [None])[0] != "mps-control-daemon":
                continue
            mounts = dict((m.get("mountPath"), host_paths.get(m.get("name"))) for m in container.get("volumeMounts") or [])
            if mounts.get("/mps") == root:
                return True
    return False


class FakeDevicePlugin(object):
    def __init__(self, kubeconfig, mapping, namespace="kube-system", log=sys.stderr):
        from kubernetes import client, config  # imported here so --help works without the library

        api_client = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(api_client)
        self.mapping = mapping
        self.namespace = namespace
        self.log = log
        self.restarts = dict((name, 0) for name in mapping)

    def _say(self, message):
        self.log.write("fake-device-plugin: %s\n" % message)
        self.log.flush()

    def pods_by_node(self):
        selector = ",".join("%s=%s" % kv for kv in sorted(LABELS.items()))
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        found = {}
        for pod in pods:
            if pod.metadata.deletion_timestamp is None and pod.spec.node_name:
                found.setdefault(pod.spec.node_name, []).append(pod)
        return found

    def start_pod(self, node):
        self.restarts[node] += 1
        name = "nvidia-device-plugin-%s-%d" % (node, self.restarts[node])
        body = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": self.namespace, "labels": dict(LABELS),
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "nvidia-device-plugin",
                                              "uid": "fake-device-plugin-daemonset", "controller": True}]},
            "spec": {"nodeName": node, "priorityClassName": "system-node-critical",
                     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                     "containers": [{"name": "nvidia-device-plugin-ctr", "image": IMAGE,
                                     "env": [{"name": "MIG_STRATEGY", "value": self.mapping[node].get("strategy", "mixed")}]}]},
        }
        self.core.create_namespaced_pod(self.namespace, body)
        self.advertise(node)
        return name

    def advertise(self, node):
        spec = self.mapping[node]
        try:
            resources = enumerate_resources(spec["nvidia_smi"], spec.get("strategy", "mixed"))
        except (EnumerationError, OSError) as exc:
            self._say("%s: %s (advertising nothing)" % (node, exc))
            resources = {}
        current = self.core.read_node(node)
        stale = [k for k in (current.status.capacity or {}) if k.startswith("nvidia.com/") and k not in resources]
        values = dict((k, str(v)) for k, v in resources.items())
        values.update((k, "0") for k in stale)  # the kubelet zeroes resources of a plugin that stopped advertising them
        self.core.patch_node_status(node, {"status": {"capacity": values, "allocatable": values}})
        self._say("%s: advertised %s" % (node, ", ".join("%s=%s" % kv for kv in sorted(values.items())) or "nothing"))

    def reconcile(self):
        running = self.pods_by_node()
        started = []
        for node in sorted(self.mapping):
            if not running.get(node):
                try:
                    self.core.read_node(node)
                except Exception:  # node not registered yet: nothing to schedule on
                    continue
                started.append(self.start_pod(node))
        return started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--mapping", required=True, help="JSON file: node -> {nvidia_smi, strategy}")
    parser.add_argument("--namespace", default="kube-system")
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--pidfile")
    parser.add_argument("--once", action="store_true", help="reconcile once and exit")
    args = parser.parse_args(argv)
    with open(args.mapping) as handle:
        mapping = json.load(handle)
    for node, spec in mapping.items():
        if not isinstance(spec, dict) or not spec.get("nvidia_smi") or spec.get("strategy", "mixed") not in ("none", "single", "mixed"):
            parser.error("mapping entry %r needs nvidia_smi and a strategy none|single|mixed" % node)
    if args.pidfile:
        with open(args.pidfile, "w") as handle:
            handle.write("%d\n" % os.getpid())
    plugin = FakeDevicePlugin(args.kubeconfig, mapping, args.namespace)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    while not stop:
        try:
            plugin.reconcile()
        except Exception as exc:  # keep serving like a controller; the API may be restarting
            plugin._say("reconcile failed: %s" % exc)
        if args.once:
            break
        time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
