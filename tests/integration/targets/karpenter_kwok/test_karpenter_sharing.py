# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Karpenter decides for shared GPUs (issue 18): time-slicing capacity in karpenter_nodepool's NodeOverlays.

Same machinery as test_karpenter_decides.py (real kube-apiserver, etcd, kube-scheduler, kube-controller-manager and
Karpenter v1.14.1 with the kwok provider, instance types generated from the catalog; its World and control plane are
reused). The pool is g5.12xlarge (4 A10G, no MIG) with the device plugin's time-slicing at 10 replicas, the pods
request one shared GPU each, and the assertions are on Karpenter's NodeClaims and their instance types.

Only stand-in, as there: the Node status a kubelet and the device plugin would write once kwok created the Node. Here
it also applies the node's device plugin config (label nvidia.com/device-plugin.config) with the sharing engine, as
the real plugin would advertise it; assertions are on NodeClaims, never on that status.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os

import pytest

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import karpenter_kwok as kk  # noqa: E402


def _sibling(name):
    """The scenarios' shared helpers (World, the control plane fixture) from test_karpenter_decides.py."""
    spec = importlib.util.spec_from_file_location("_karpenter_%s" % name, os.path.join(os.path.dirname(__file__), name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


decides = _sibling("test_karpenter_decides")
plane = decides.plane  # module-scoped fixture: a private control plane for this file

RENAMED = {"mode": "time-slicing", "replicas": 10, "rename_by_default": True}
PLAIN = {"mode": "time-slicing", "replicas": 10}
CONFIGS = {"ts-10-renamed": RENAMED, "ts-10": PLAIN}  # the device plugin's named configs (device_plugin role)


class SharingStatusStandIn(kk.NodeStatusStandIn):
    """NodeStatusStandIn plus the device plugin's sharing: the node's named config (label) applied to its GPUs."""

    def status_for(self, node):
        status = super(SharingStatusStandIn, self).status_for(node)
        config = (node.metadata.labels or {}).get(sharing.CONFIG_LABEL)
        if config:
            gpus = dict((k, int(v)) for k, v in status["capacity"].items() if k.startswith("nvidia.com/"))
            shared = sharing.shared_capacity(gpus, CONFIGS[config])
            status["capacity"].update((k, str(v)) for k, v in shared.items())
            status["allocatable"] = dict(status["capacity"])
        return status


class SharingWorld(decides.World):
    def start_karpenter(self, node_overlay=True, mig_parted_configs=None):
        self.karpenter = kk.Karpenter(self.plane.kubeconfig, self.workdir, node_overlay=node_overlay).start()
        self.stand_in = SharingStatusStandIn(self.client, mig_parted_configs).__enter__()
        return self.karpenter


@pytest.fixture
def world(plane, tmp_path):  # pylint: disable=redefined-outer-name
    world = SharingWorld(plane, tmp_path)
    yield world
    world.cleanup()


def test_g5_12xlarge_is_in_the_kwok_instance_types():
    types = dict((t["name"], t) for t in kk.instance_types())
    assert types["g5.12xlarge"]["resources"]["nvidia.com/gpu"] == "4"
    assert types["g5.12xlarge"]["offerings"], "g5.12xlarge has no offering (no catalog price)"


@pytest.mark.parametrize("pods, nodes", [(40, 1), (41, 2)])
def test_renamed_shared_gpus_one_g5_12xlarge_per_40_pods(world, pods, nodes):
    world.start_karpenter(node_overlay=True)
    result = world.pool(name="ts-renamed", instance_types=["g5.12xlarge"], sharing=RENAMED,
                        device_plugin_config="ts-10-renamed", node_overlay=True)
    assert result["overlay_conflicts"] == []
    assert result["nodeoverlays"][0]["spec"]["capacity"] == {"nvidia.com/gpu": "0", "nvidia.com/gpu.shared": "40"}
    namespace = world.pods("nvidia.com/gpu.shared", pods)
    claims = world.decided([namespace])
    assert decides.by_type(claims) == {"g5.12xlarge": nodes} and world.unschedulable_pods == 0
    assert all(decides.overlay_applied(c) for c in claims)
    assert all(c["metadata"]["labels"][sharing.CONFIG_LABEL] == "ts-10-renamed" for c in claims)
    assert sorted(int(c["spec"]["resources"]["requests"]["nvidia.com/gpu.shared"]) for c in claims) == sorted(
        [40] * (pods // 40) + ([pods % 40] if pods % 40 else []))


def test_renamed_shared_gpus_without_overlay_no_node(world):
    world.start_karpenter(node_overlay=True)
    world.pool(name="ts-renamed-no-overlay", instance_types=["g5.12xlarge"], sharing=RENAMED,
               device_plugin_config="ts-10-renamed", node_overlay=False)
    namespace = world.pods("nvidia.com/gpu.shared", 40)
    claims = world.decided([namespace])
    assert claims == []
    assert world.unschedulable_pods == 40
    events = world.karpenter_events(namespace, "FailedScheduling")
    assert len(set(e.involved_object.name for e in events)) == 40
    assert all("nvidia.com/gpu.shared" in e.message for e in events), events[0].message


@pytest.mark.parametrize("overlay, nodes", [(True, 1), (False, 10)])
def test_time_sliced_gpu_one_node_instead_of_ten(world, overlay, nodes):
    world.start_karpenter(node_overlay=True)
    result = world.pool(name="ts-plain", instance_types=["g5.12xlarge"], sharing=PLAIN, device_plugin_config="ts-10",
                        node_overlay=overlay)
    if overlay:
        assert result["nodeoverlays"][0]["spec"]["capacity"] == {"nvidia.com/gpu": "40"}
    namespace = world.pods("nvidia.com/gpu", 40)
    claims = world.decided([namespace])
    assert decides.by_type(claims) == {"g5.12xlarge": nodes}
    assert all(decides.overlay_applied(c) == overlay for c in claims)
