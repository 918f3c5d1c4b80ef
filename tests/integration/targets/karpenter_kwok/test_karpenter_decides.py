# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Karpenter decides: the collection's NodePools and NodeOverlays in front of the real controller.

Everything that decides is real: kube-apiserver, etcd, kube-scheduler and kube-controller-manager
(tests/support/control_plane.py) and Karpenter v1.14.1 built from its Go module with the kwok cloud provider
(tests/support/karpenter_kwok.py), whose instance types are generated from the collection's GPU catalog. Pods are
plain pods; the real kube-scheduler marks them Unschedulable and Karpenter acts on that. NodePools and NodeOverlays
are what ``karpenter_nodepool`` renders for EKS (run in-process, every option as a playbook would pass it), except
``node_class``, which references a KWOKNodeClass. The assertions are on Karpenter's decisions: its NodeClaims,
their instance types and count, and its events.

Only stand-in: NodeStatusStandIn writes the Node status a kubelet and the device plugin would, after kwok created
the Node object (see its docstring); it never touches pods or NodeClaims.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import contextlib
import io
import math
import os
import random
import sys
import time
import uuid

import pytest

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.plugins.filter import report  # noqa: E402
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity, sizing  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import karpenter_kwok as kk  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support.control_plane import ControlPlane, api_client  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import run_module  # noqa: E402

KARPENTER_SH = ("karpenter.sh", "v1")
# Karpenter batches pods for BATCH_IDLE after the last one (BATCH_MAX at most); quiet this long = decided.
QUIET = 12.0


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    crds = [str(path) for path in kk.crd_paths()]
    with ControlPlane(workdir=str(tmp_path_factory.mktemp("control-plane")), crds=crds) as control_plane:
        client = api_client(control_plane.kubeconfig)
        kubernetes.client.CustomObjectsApi(client).create_cluster_custom_object(
            kk.KWOK_NODECLASS_GROUP, kk.KWOK_NODECLASS_VERSION, "kwoknodeclasses", kk.kwok_nodeclass())
        yield control_plane


class World(object):
    """The cluster as one scenario sees it, and what it leaves behind removed afterwards."""

    def __init__(self, plane, workdir):
        self.plane = plane
        self.workdir = workdir
        self.client = api_client(plane.kubeconfig)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.custom = kubernetes.client.CustomObjectsApi(self.client)
        self.namespaces = []
        self.karpenter = None
        self.stand_in = None
        self.unschedulable_pods = None

    # -- Karpenter and the collection's module
    def start_karpenter(self, node_overlay=True, mig_parted_configs=None):
        self.karpenter = kk.Karpenter(self.plane.kubeconfig, self.workdir, node_overlay=node_overlay).start()
        self.stand_in = kk.NodeStatusStandIn(self.client, mig_parted_configs).__enter__()
        return self.karpenter

    def pool(self, expect_failure=False, **params):
        args = dict(params, kubeconfig=self.plane.kubeconfig, node_class=kk.node_class_ref())
        args.setdefault("wait", True)
        args.setdefault("wait_timeout", 60)
        shown = io.StringIO()
        with contextlib.redirect_stderr(shown):
            result = run_module(args)
        # Once this process has loaded controller code (the report filter), ansible-core shows a module's warnings at
        # once on stderr instead of returning them: keep them with the result, and visible.
        if shown.getvalue():
            result["warnings"] = result.get("warnings", []) + [shown.getvalue()]
            sys.stderr.write(shown.getvalue())
        assert bool(result.get("failed")) == expect_failure, result
        return result

    # -- pods
    def pods(self, resource, count, name="work"):
        namespace = "%s-%s" % (name, uuid.uuid4().hex[:8])
        self.namespaces.append(namespace)
        return kk.create_pods(self.core, namespace, resource, count, name=name)

    def pod_list(self, namespace):
        return self.core.list_namespaced_pod(namespace).items

    # -- Karpenter's decisions
    def nodeclaims(self):
        return kk.nodeclaims(self.custom)

    def karpenter_events(self, namespace, reason):
        return [e for e in self.core.list_namespaced_event(namespace).items
                if e.reason == reason and "karpenter" in (e.reporting_component, e.source.component if e.source else None)]

    def decided(self, namespaces, timeout=180):
        """NodeClaims once Karpenter has decided on the pods of ``namespaces``; also sets ``self.unschedulable_pods``.

        Decided: the real kube-scheduler marked every pod Unschedulable, Karpenter's provisioner ran a scheduling
        simulation after that (its scheduling_duration_seconds count grew), and the NodeClaims did not change for
        QUIET seconds (longer than a batch window), or every pod is already bound to a node Karpenter launched (the
        scheduler binds pods to kwok's Nodes; no kubelet runs them).
        """
        for namespace in namespaces:
            self.unschedulable(namespace)
        runs_before, _ignored = self.karpenter.provisioning_simulations()
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while True:
            claims = self.nodeclaims()
            runs, self.unschedulable_pods = self.karpenter.provisioning_simulations()
            state = sorted(c["metadata"]["name"] for c in claims)
            if state != last:
                last, since = state, time.monotonic()
            # all pods already bound to nodes Karpenter launched: nothing left for another simulation
            settled = runs > runs_before or not any(not p.spec.node_name for ns in namespaces for p in self.pod_list(ns))
            if settled and time.monotonic() - since >= QUIET:
                return claims
            if time.monotonic() > deadline:
                pytest.fail("not decided after %ss: %d NodeClaims, %d provisioner simulations since the pods were "
                            "unschedulable; karpenter log: %s" % (timeout, len(claims), runs - runs_before, self.karpenter.log_tail()))
            time.sleep(0.5)

    def unschedulable(self, namespace, timeout=90):
        """Wait until the real kube-scheduler marked every pod PodScheduled=False/Unschedulable (or, once a node that
        Karpenter launched can take it, bound it there)."""
        deadline = time.monotonic() + timeout
        while True:
            pods = self.pod_list(namespace)
            marked = [p for p in pods if p.spec.node_name or any(
                c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable" for c in (p.status.conditions or []))]
            if len(marked) == len(pods):
                return pods
            assert time.monotonic() < deadline, "kube-scheduler marked %d of %d pods Unschedulable" % (len(marked), len(pods))
            time.sleep(0.5)

    # -- leave nothing behind
    def cleanup(self):
        """Remove pods, pools and overlays; Karpenter (still running) terminates its NodeClaims and Nodes."""
        try:
            for namespace in self.namespaces:
                self.core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
            group = KARPENTER_SH[0]
            for plural, version in (("nodepools", "v1"), ("nodeoverlays", "v1alpha1")):
                for obj in self.custom.list_cluster_custom_object(group, version, plural)["items"]:
                    self.custom.delete_cluster_custom_object(group, version, plural, obj["metadata"]["name"])
            deadline = time.monotonic() + 120
            while self.nodeclaims() or self.core.list_node().items:
                if time.monotonic() > deadline:
                    raise AssertionError("NodeClaims/Nodes not gone after 120 s: %s" % self.karpenter.log_tail())
                time.sleep(0.5)
            for namespace in self.namespaces:
                self.core.delete_namespace(namespace)
        finally:
            if self.stand_in:
                self.stand_in.__exit__(None, None, None)
            if self.karpenter:
                self.karpenter.stop()
        assert not (self.stand_in and self.stand_in.errors), self.stand_in.errors


@pytest.fixture
def world(plane, tmp_path):
    world = World(plane, tmp_path)
    yield world
    world.cleanup()


def by_type(claims):
    return collections.Counter(c["metadata"]["labels"]["node.kubernetes.io/instance-type"] for c in claims)


def by_pool(claims):
    return collections.Counter((c["metadata"]["labels"]["karpenter.sh/nodepool"],
                                c["metadata"]["labels"]["node.kubernetes.io/instance-type"]) for c in claims)


def overlay_applied(claim):
    return (claim["metadata"].get("annotations") or {}).get(kk.CAPACITY_OVERLAY_ANNOTATION) == "true"


# ------------------------------------------------------------------------------------------------ scenario 1

@pytest.mark.parametrize("pods, nodes", [(56, 1), (57, 2)])
def test_overlay_makes_karpenter_buy_p5_for_mig_slices(world, pods, nodes):
    world.start_karpenter(node_overlay=True)
    result = world.pool(name="mig-1g", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", node_overlay=True)
    assert result["overlay_conflicts"] == []
    assert result["nodeoverlays"][0]["spec"]["capacity"] == {"nvidia.com/mig-1g.10gb": "56", "nvidia.com/gpu": "0"}
    namespace = world.pods("nvidia.com/mig-1g.10gb", pods)
    claims = world.decided([namespace])
    assert by_type(claims) == {"p5.48xlarge": nodes} and world.unschedulable_pods == 0
    assert all(overlay_applied(c) for c in claims)
    assert all(c["metadata"]["labels"]["nvidia.com/mig.config"] == "all-1g.10gb" for c in claims)
    assert sorted(int(c["spec"]["resources"]["requests"]["nvidia.com/mig-1g.10gb"]) for c in claims) == sorted(
        [56] * (pods // 56) + ([pods % 56] if pods % 56 else []))


# ------------------------------------------------------------------------------------------------ scenario 2

@pytest.mark.parametrize("case", ["without-overlay", "feature-gate-off"])
def test_without_overlay_or_gate_pods_stay_pending(world, case):
    gate = case != "feature-gate-off"
    world.start_karpenter(node_overlay=gate)
    result = world.pool(name=case, instance_types=["p5.48xlarge"], mig_config="all-1g.10gb",
                        node_overlay=case == "feature-gate-off", wait_timeout=10)
    if not gate:  # nobody evaluates the overlay: the module says so
        assert any("did not evaluate NodeOverlay" in w for w in result["warnings"]), result["warnings"]
    namespace = world.pods("nvidia.com/mig-1g.10gb", 56)
    claims = world.decided([namespace])
    assert claims == []
    assert world.unschedulable_pods == 56
    events = world.karpenter_events(namespace, "FailedScheduling")
    assert len(set(e.involved_object.name for e in events)) == 56
    assert all("nvidia.com/mig-1g.10gb" in e.message for e in events), events[0].message


# ------------------------------------------------------------------------------------------------ scenario 3

@pytest.mark.parametrize("overlay, nodes", [(True, 1), (False, 7)])
def test_single_strategy_overlay_one_node_not_seven(world, overlay, nodes):
    world.start_karpenter(node_overlay=True)
    world.pool(name="single-1g", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", mig_strategy="single",
               node_overlay=overlay)
    namespace = world.pods("nvidia.com/gpu", 56)
    claims = world.decided([namespace])
    assert by_type(claims) == {"p5.48xlarge": nodes}
    assert all(overlay_applied(c) == overlay for c in claims)


# ------------------------------------------------------------------------------------------------ scenario 4

def test_all_balanced_p4d_node_count_as_the_capacity_engine_predicts(world):
    world.start_karpenter(node_overlay=True)
    world.pool(name="balanced", instance_types=["p4d.24xlarge"], mig_config="all-balanced", node_overlay=True)
    per_node = capacity.mig_resources("p4d.24xlarge", config="all-balanced")
    demand = {"nvidia.com/mig-1g.5gb": 20, "nvidia.com/mig-2g.10gb": 5, "nvidia.com/mig-3g.20gb": 17}
    predicted = max(int(math.ceil(float(n) / per_node[r])) for r, n in demand.items())
    namespaces = [world.pods(r, n, name=r.split("-", 1)[1].replace(".", "-")) for r, n in demand.items()]
    claims = world.decided(namespaces)
    assert predicted == 3
    assert by_type(claims) == {"p4d.24xlarge": predicted}


# Random demands: the base seed comes from KARPENTER_KWOK_SEED or the system's randomness, and is printed with every
# plan (pytest -rA shows it for passed tests too), so any run can be repeated with KARPENTER_KWOK_SEED=<seed>.
BASE_SEED = int(os.environ.get("KARPENTER_KWOK_SEED") or random.SystemRandom().randrange(1000000))
CANDIDATES = ["p5.48xlarge", "p5.4xlarge"]


def _random_demand(rng):
    """2-4 H100 profiles, 1-24 slices each: plans of 1-11 nodes, usually of several node kinds and both instance types."""
    profiles = ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"]
    return dict((p, rng.randint(1, 24)) for p in rng.sample(profiles, rng.randint(2, 4)))


def _apply_plan(world, plan):
    """Every node kind of mig_plan's output as karpenter_nodepool gets it: ``settings`` as they are, nothing added but
    the node class (a KWOKNodeClass here) and the connection."""
    configs = dict((label, plan["mig_config"]) for label in plan["mig_config"]["mig-configs"])
    world.start_karpenter(node_overlay=True, mig_parted_configs=configs)
    for entry in plan["nodepools"]:
        world.pool(**entry["settings"])


def _pods_for(world, demand):
    return [world.pods(capacity.resource_name(profile), count, name="p%s" % profile.replace(".", "-"))
            for profile, count in sorted(demand.items())]


@pytest.mark.parametrize("index", range(5))
def test_karpenter_buys_what_mig_plan_planned(world, index):
    """mig_plan's own pools (their limits included, pool_limits defaults to true) for a random demand: Karpenter buys
    exactly the plan's instance types and counts, pool by pool, and places every pod."""
    seed = BASE_SEED + index
    demand = _random_demand(random.Random(seed))
    plan = sizing.size_fleet(demand, candidates=CANDIDATES, name="plan%d" % index)
    planned = collections.Counter(dict(((e["name"], e["settings"]["instance_types"][0]), e["nodes"]) for e in plan["nodepools"]))
    print("seed %d (KARPENTER_KWOK_SEED=%d): demand %s -> %s" % (seed, BASE_SEED, demand, dict(planned)))
    for entry in plan["nodepools"]:  # the caps come from mig_plan, not from this test
        assert entry["settings"]["limits"] == dict((r, n * entry["nodes"]) for r, n in entry["capacity"].items() if n)
    _apply_plan(world, plan)
    claims = world.decided(_pods_for(world, demand))
    context = "seed %d, demand %s, plan %s" % (seed, demand, dict(planned))
    assert by_type(claims) == collections.Counter(plan["instances"]), context
    assert by_pool(claims) == planned, context
    assert world.unschedulable_pods == 0, context


def test_two_node_kinds_without_caps_are_not_bought_as_planned(world):
    """pool_limits=false: Karpenter packs greedily, filling the first pool that fits again and again, so this two-kind
    plan (11 x 4g.40gb + 4 x 7g.80gb on 2 p5.48xlarge nodes) is bought as more nodes. What pool_limits prevents."""
    demand = {"4g.40gb": 11, "7g.80gb": 4}
    plan = sizing.size_fleet(demand, candidates=["p5.48xlarge"], name="uncapped", pool_limits=False)
    assert len(plan["nodepools"]) == 2 and sum(e["nodes"] for e in plan["nodepools"]) == 2, plan["nodepools"]
    assert not any("limits" in e["settings"] for e in plan["nodepools"])
    _apply_plan(world, plan)
    claims = world.decided(_pods_for(world, demand))
    assert len(claims) > 2, by_pool(claims)


# ------------------------------------------------------------------------------------------------ scenario 5

def test_gpu_limit_is_translated_so_it_binds(world):
    world.start_karpenter(node_overlay=True)
    result = world.pool(name="limited", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", node_overlay=True,
                        limits={"nvidia.com/gpu": 8})
    assert result["nodepool"]["spec"]["limits"] == {"nvidia.com/mig-1g.10gb": 56}
    assert any("nvidia.com/mig-1g.10gb: 56" in w for w in result["warnings"]), result["warnings"]
    namespace = world.pods("nvidia.com/mig-1g.10gb", 112)
    claims = world.decided([namespace])
    assert by_type(claims) == {"p5.48xlarge": 1}
    assert world.unschedulable_pods == 56
    messages = set(e.message for e in world.karpenter_events(namespace, "FailedScheduling"))
    assert any("exceed limits" in m for m in messages), messages


def test_gpu_limit_as_given_never_binds_under_the_overlay(world):
    world.start_karpenter(node_overlay=True)
    result = world.pool(name="unlimited", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", node_overlay=True,
                        spec={"limits": {"nvidia.com/gpu": 8}})
    assert result["nodepool"]["spec"]["limits"] == {"nvidia.com/gpu": 8}
    assert any("does not limit physical GPUs" in w for w in result["warnings"]), result["warnings"]
    namespace = world.pods("nvidia.com/mig-1g.10gb", 112)
    claims = world.decided([namespace])
    # 16 GPUs bought although the limit says 8: Karpenter counts nvidia.com/gpu: 0 per node
    assert by_type(claims) == {"p5.48xlarge": 2}


def test_nodes_limit_does_not_bind_within_one_batch(world):
    """Karpenter v1.14.1 subtracts the capacity of each new NodeClaim's instance types from the remaining limits
    (scheduler.go subtractMax); ``nodes`` is not in that capacity, so one batch of pods can exceed it."""
    world.start_karpenter(node_overlay=True)
    result = world.pool(name="nodes-limited", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", node_overlay=True,
                        limits={"nodes": 1})
    assert any("limits.nodes" in w for w in result["warnings"]), result["warnings"]
    namespace = world.pods("nvidia.com/mig-1g.10gb", 112)
    claims = world.decided([namespace])
    assert by_type(claims) == {"p5.48xlarge": 2}


# ------------------------------------------------------------------------------------------------ scenario 6

def test_conflicting_overlay_is_reported_and_changes_the_decision(world):
    world.start_karpenter(node_overlay=True)
    # An overlay of the same (default) weight for the same instance type, named later in the alphabet: Karpenter keeps
    # it and rejects ours with reason Conflict.
    world.custom.create_cluster_custom_object("karpenter.sh", "v1alpha1", "nodeoverlays", {
        "apiVersion": "karpenter.sh/v1alpha1", "kind": "NodeOverlay", "metadata": {"name": "zz-hand-made"},
        "spec": {"requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["p5.48xlarge"]}],
                 "capacity": {"nvidia.com/mig-1g.10gb": "28"}}})
    result = world.pool(name="conflicted", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", node_overlay=True)
    assert result["overlay_conflicts"] == [
        {"name": "conflicted-p5-48xlarge", "reason": "Conflict", "message": "conflict with another overlay"}]
    assert any("rejected NodeOverlay conflicted-p5-48xlarge" in w for w in result["warnings"]), result["warnings"]
    again = world.pool(name="conflicted", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", node_overlay=True,
                       wait=False)
    assert not again["changed"] and again["overlay_conflicts"] == result["overlay_conflicts"]
    # the verify playbook's report, from the overlays as it reads them (k8s_info: the objects with their status)
    overlays = world.custom.list_cluster_custom_object("karpenter.sh", "v1alpha1", "nodeoverlays")["items"]
    rows = dict((r["name"], r) for r in report.karpenter_summary([dict(o, kind="NodeOverlay") for o in overlays]))
    assert rows["conflicted-p5-48xlarge"]["problem"] == "rejected by Karpenter (Conflict): conflict with another overlay"
    assert rows["zz-hand-made"]["problem"] == "" and rows["zz-hand-made"]["summary"].endswith("Karpenter: applied")
    markdown = report.mig_report_markdown({"nodes": [], "karpenter": list(rows.values())})
    assert "**1 Karpenter problem(s):**" in markdown and "- NodeOverlay `conflicted-p5-48xlarge`: rejected by Karpenter" in markdown
    namespace = world.pods("nvidia.com/mig-1g.10gb", 56)
    claims = world.decided([namespace])
    assert by_type(claims) == {"p5.48xlarge": 2}  # 28 slices per node, as the winning overlay says


# ------------------------------------------------------------------------------------------------ scenario 7

def test_h200_and_b200_pools_use_their_own_catalog_figures(world):
    """p5en.48xlarge for H200: p5e.48xlarge has no on-demand price (see catalog.py), so kwok gives it no offering and a
    pool of it could never launch; the capacity of both H200 types is the same catalog figure."""
    world.start_karpenter(node_overlay=True)
    h200 = world.pool(name="h200", instance_types=["p5en.48xlarge"], mig_config="all-1g.18gb", node_overlay=True)
    b200 = world.pool(name="b200", instance_types=["p6-b200.48xlarge"], mig_config="all-1g.23gb", node_overlay=True)
    assert h200["mig_capacity"]["p5en.48xlarge"] == {"nvidia.com/mig-1g.18gb": 56, "nvidia.com/gpu": 0}
    assert capacity.mig_resources("p5e.48xlarge", config="all-1g.18gb") == h200["mig_capacity"]["p5en.48xlarge"]
    assert b200["mig_capacity"]["p6-b200.48xlarge"] == {"nvidia.com/mig-1g.23gb": 56, "nvidia.com/gpu": 0}
    namespaces = [world.pods("nvidia.com/mig-1g.18gb", 57, name="h200"), world.pods("nvidia.com/mig-1g.23gb", 56, name="b200")]
    claims = world.decided(namespaces)
    assert by_pool(claims) == {("h200", "p5en.48xlarge"): 2, ("b200", "p6-b200.48xlarge"): 1}
    assert all(overlay_applied(c) for c in claims)
