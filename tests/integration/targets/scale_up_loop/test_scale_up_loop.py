# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scale-up loop, end to end, on a private real control plane with the real Karpenter (kwok provider).

Pending pods request ``nvidia.com/mig-1g.10gb``; Karpenter launches NodeClaims for the pool karpenter_nodepool wrote
(NodePool + NodeOverlay); the bridge (tests/support/scale_up_bridge.py) boots a fresh simulated p5.48xlarge host per
NodeClaim (MIG disabled) and runs the AL2023 userData shell part karpenter_nodepool renders for the same pool, over
SSH, downloading the applier over HTTP and checking its pinned SHA-256; the Node then carries what the device-plugin
stand-in reads from that host's nvidia-smi; the real kube-scheduler binds the pods. The claims rest on the boot:
the bridge replaces kwok's Node status (which echoes the pods' requests) by the simulator's view, and the Node
carries a startup taint until then, so nothing can bind on kwok's or the overlay's numbers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import os
import time

import pytest

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import fake_device_plugin, scale_up_bridge as sub  # noqa: E402

POOL = dict(name="mig-1g", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", mig_strategy="mixed")
RESOURCE = "nvidia.com/mig-1g.10gb"
FAILED_TAINT = "gpu-slicing.eks/mig-apply-failed"


def _initialized(claim):
    return any(c["type"] == "Initialized" and c["status"] == "True" for c in (claim.get("status") or {}).get("conditions", []))


def _pool_nodes(loop):
    return loop.core.list_node(label_selector="karpenter.sh/nodepool=%s" % POOL["name"]).items


@pytest.mark.parametrize("pods", [60])
def test_pending_mig_pods_bind_on_nodes_the_user_data_partitioned(tmp_path, pods):
    with sub.ScaleUpLoop(str(tmp_path / "loop"), POOL) as loop:
        per_node = capacity.mig_resources("p5.48xlarge", config="all-1g.10gb")[RESOURCE]
        planned = int(math.ceil(float(pods) / per_node))
        result = loop.run(RESOURCE, pods, timeout=300)

        claims = loop.nodeclaims()
        assert len(claims) == planned == 2, [c["metadata"]["name"] for c in claims]
        pod_list = loop.pods("scale-up")
        assert len(pod_list) == pods and all(p.spec.node_name for p in pod_list)
        boots = dict((b["node"], b) for b in result["boots"])
        assert set(boots) == set(c["status"]["nodeName"] for c in claims)
        assert set(p.spec.node_name for p in pod_list) <= set(boots)
        assert len(loop.server.downloads) == planned  # every host fetched the applier
        overlay = loop.production["overlays"]["p5.48xlarge"]
        assert overlay == {RESOURCE: 56, "nvidia.com/gpu": 0}
        for node in _pool_nodes(loop):
            boot = boots[node.metadata.name]
            assert boot["rc"] == 0 and boot["taints"] == [] and boot["mig_calls"] > 0, boot["output"][-2000:]
            assert "gpu-slicing-mig: MIG config all-1g.10gb applied" in boot["output"]
            # the Node advertises exactly what the host's nvidia-smi shows now, and that is the overlay's promise
            advertised = fake_device_plugin.enumerate_resources(boot["nvidia_smi"], "mixed")
            allocatable = node.status.allocatable
            assert sub.overlay_mismatch(allocatable, advertised) == [], (allocatable, advertised)
            assert sub.overlay_mismatch(allocatable, overlay) == [], (allocatable, overlay)
            assert allocatable == node.status.capacity
            assert not [t for t in node.spec.taints or [] if t.key in (FAILED_TAINT, sub.BOOT_TAINT["key"])]
            assert os.path.exists(os.path.join(boot["root"], "etc/gpu-slicing/mig-layout.yaml"))
        # Karpenter itself accepts the boot: the NodeClaims become Initialized (Ready, startup taint gone, requested
        # MIG resources registered on the Node)
        deadline = time.monotonic() + 60
        while not all(_initialized(c) for c in loop.nodeclaims()):
            assert time.monotonic() < deadline, [c["status"].get("conditions") for c in loop.nodeclaims()]
            time.sleep(0.5)
        assert loop.bridge.errors == []


def test_failed_boot_leaves_the_node_tainted_and_the_pods_pending(tmp_path):
    """The server hands out an applier that is not the pinned one: the part refuses it, writes the nodeadm drop-in,
    and the Node registers tainted, advertising whole GPUs, never the promised slices; no pod binds."""
    with sub.ScaleUpLoop(str(tmp_path / "loop"), POOL, tamper=True) as loop:
        result = loop.run(RESOURCE, 56, timeout=300, expect_bound=False, settle=15.0)
        # Karpenter does not count a node tainted mig-apply-failed as capacity: it launches replacements (which fail
        # the same way); boots still running when the loop settled are left out
        finished = [b for b in result["boots"] if "node_ready" in b["times"]]
        assert finished, "no boot finished: %r" % result["boots"]
        for boot in finished:
            assert boot["rc"] == 1, boot
            assert "does not have the pinned SHA-256" in boot["output"], boot["output"][-2000:]
            assert boot["mig_calls"] == 0
        pod_list = loop.pods("scale-up")
        assert len(pod_list) == 56 and not [p.metadata.name for p in pod_list if p.spec.node_name]
        nodes = _pool_nodes(loop)
        assert nodes
        for node in nodes:
            if node.metadata.name not in set(b.node for b in loop.bridge.boots.values() if "node_ready" in b.times):
                continue  # launched in the last moments, not booted yet
            keys = set(t.key for t in node.spec.taints or [])
            assert FAILED_TAINT in keys and sub.BOOT_TAINT["key"] not in keys, keys
            assert int(node.status.allocatable.get(RESOURCE, "0")) == 0
            assert node.status.allocatable.get("nvidia.com/gpu") == "8"
        assert not any(_initialized(c) for c in loop.nodeclaims())
        assert loop.bridge.errors == []
