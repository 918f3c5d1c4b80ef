# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create or update Node objects through the API, filling what a registering kubelet would set."""

import copy
import json
import urllib.error
import urllib.request

SEED_MANAGER = "kube-emulator-seed"


def node_object(node):
    """A complete Node from a partial dict (labels, capacity, ... may be given; the rest is defaulted)."""
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
    status.setdefault("conditions", [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}])
    status.setdefault("nodeInfo", {"kubeletVersion": "v1.33.0-eks", "containerRuntimeVersion": "containerd://1.7.27",
                                   "operatingSystem": "linux", "architecture": labels["kubernetes.io/arch"], "osImage": "Amazon Linux 2023",
                                   "kernelVersion": "6.1.0", "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""})
    node.setdefault("spec", {})
    return node


def _apply(url, path, body):
    request = urllib.request.Request(
        url + path + "?fieldManager=%s&force=true" % SEED_MANAGER, data=json.dumps(body).encode(), method="PATCH",
        headers={"Content-Type": "application/apply-patch+yaml"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError("seeding %s failed: HTTP %d %s" % (path, exc.code, exc.read().decode(errors="replace")))


def create_nodes(url, nodes):
    """Server-side apply each node, then its status (Node status is a sub-resource). Returns the stored nodes."""
    stored = []
    for raw in nodes:
        node = node_object(raw)
        name = node["metadata"]["name"]
        _apply(url, "/api/v1/nodes/%s" % name, {k: v for k, v in node.items() if k != "status"})
        stored.append(_apply(url, "/api/v1/nodes/%s/status" % name, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": node["status"]}))
    return stored
