# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""karpenter_nodepool against a real kube-apiserver (tests/support/control_plane.py) with the real Karpenter
v1.14.1 CRDs: schema, CEL, server-side apply and dry-run are the server's own. Objects are read back with an
independent client and checked once more against the CRD schema with jsonschema.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest

jsonschema = pytest.importorskip("jsonschema")
kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.tests.unit import kube_fixtures  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import crd_schema, run_module  # noqa: E402

GROUPS = {
    "nodepools": ("karpenter.sh", "v1", "karpenter.sh_nodepools.yaml"),
    "ec2nodeclasses": ("karpenter.k8s.aws", "v1", "karpenter.k8s.aws_ec2nodeclasses.yaml"),
    "nodeoverlays": ("karpenter.sh", "v1alpha1", "karpenter.sh_nodeoverlays.yaml"),
}

# Hand-computed from NVIDIA's MIG user guide / mig-parted defaults: GPUs per instance x instances per GPU.
# p4d = 8x A100-40GB, p4de = 8x A100-80GB, p5.48xlarge = 8x H100-80GB, p5.4xlarge = 1x H100, p5e = 8x H200-141GB.
# all-balanced per GPU: 2x 1g + 1x 2g + 1x 3g.  "mixed" layout per GPU: 1x 4g + 1x 2g + 1x 1g.
CAPACITY_TABLE = [
    ("p4d.24xlarge", dict(mig_config="all-1g.5gb"), {"nvidia.com/mig-1g.5gb": "56", "nvidia.com/gpu": "0"}),
    ("p4d.24xlarge", dict(mig_config="all-balanced"),
     {"nvidia.com/mig-1g.5gb": "16", "nvidia.com/mig-2g.10gb": "8", "nvidia.com/mig-3g.20gb": "8", "nvidia.com/gpu": "0"}),
    ("p4d.24xlarge", dict(mig_config="custom-4-2-1", mig_layout={"4g.20gb": 1, "2g.10gb": 1, "1g.5gb": 1}),
     {"nvidia.com/mig-4g.20gb": "8", "nvidia.com/mig-2g.10gb": "8", "nvidia.com/mig-1g.5gb": "8", "nvidia.com/gpu": "0"}),
    ("p4de.24xlarge", dict(mig_config="all-1g.10gb"), {"nvidia.com/mig-1g.10gb": "56", "nvidia.com/gpu": "0"}),
    ("p4de.24xlarge", dict(mig_config="all-balanced"),
     {"nvidia.com/mig-1g.10gb": "16", "nvidia.com/mig-2g.20gb": "8", "nvidia.com/mig-3g.40gb": "8", "nvidia.com/gpu": "0"}),
    ("p4de.24xlarge", dict(mig_config="custom-4-2-1", mig_layout={"4g.40gb": 1, "2g.20gb": 1, "1g.10gb": 1}),
     {"nvidia.com/mig-4g.40gb": "8", "nvidia.com/mig-2g.20gb": "8", "nvidia.com/mig-1g.10gb": "8", "nvidia.com/gpu": "0"}),
    ("p5.48xlarge", dict(mig_config="all-1g.10gb"), {"nvidia.com/mig-1g.10gb": "56", "nvidia.com/gpu": "0"}),
    ("p5.48xlarge", dict(mig_config="all-1g.10gb", mig_strategy="single"), {"nvidia.com/gpu": "56"}),
    ("p5.48xlarge", dict(mig_config="all-balanced"),
     {"nvidia.com/mig-1g.10gb": "16", "nvidia.com/mig-2g.20gb": "8", "nvidia.com/mig-3g.40gb": "8", "nvidia.com/gpu": "0"}),
    ("p5.48xlarge", dict(mig_config="custom-4-2-1", mig_layout={"4g.40gb": 1, "2g.20gb": 1, "1g.10gb": 1}),
     {"nvidia.com/mig-4g.40gb": "8", "nvidia.com/mig-2g.20gb": "8", "nvidia.com/mig-1g.10gb": "8", "nvidia.com/gpu": "0"}),
    # Half the GPUs as 7x 1g, half as one 7g, from a mig-parted document (as mig_plan emits it).
    ("p5.48xlarge", dict(mig_config="half-half", mig_parted_config={"version": "v1", "mig-configs": {"half-half": [
        {"devices": [0, 1, 2, 3], "mig-enabled": True, "mig-devices": {"1g.10gb": 7}},
        {"devices": [4, 5, 6, 7], "mig-enabled": True, "mig-devices": {"7g.80gb": 1}}]}}),
     {"nvidia.com/mig-1g.10gb": "28", "nvidia.com/mig-7g.80gb": "4", "nvidia.com/gpu": "0"}),
    ("p5.4xlarge", dict(mig_config="all-1g.10gb"), {"nvidia.com/mig-1g.10gb": "7", "nvidia.com/gpu": "0"}),
    ("p5e.48xlarge", dict(mig_config="all-1g.18gb"), {"nvidia.com/mig-1g.18gb": "56", "nvidia.com/gpu": "0"}),
    ("p5e.48xlarge", dict(mig_config="all-balanced"),
     {"nvidia.com/mig-1g.18gb": "16", "nvidia.com/mig-2g.35gb": "8", "nvidia.com/mig-3g.71gb": "8", "nvidia.com/gpu": "0"}),
    ("p5e.48xlarge", dict(mig_config="custom-4-2-1", mig_layout={"4g.71gb": 1, "2g.35gb": 1, "1g.18gb": 1}),
     {"nvidia.com/mig-4g.71gb": "8", "nvidia.com/mig-2g.35gb": "8", "nvidia.com/mig-1g.18gb": "8", "nvidia.com/gpu": "0"}),
]


cluster, kube = kube_fixtures.cluster, kube_fixtures.kube  # shared pytest fixtures, by name


@pytest.fixture
def custom(kube):
    return kubernetes.client.CustomObjectsApi(kube.api_client())


def stored(custom, plural, name):
    group, version, _crd = GROUPS[plural]
    try:
        return custom.get_cluster_custom_object(group, version, plural, name)
    except kubernetes.client.rest.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def names(custom, plural):
    group, version, _crd = GROUPS[plural]
    return sorted(o["metadata"]["name"] for o in custom.list_cluster_custom_object(group, version, plural)["items"])


def assert_crd_valid(obj, plural):
    schema = crd_schema(GROUPS[plural][2])
    body = dict((k, v) for k, v in obj.items() if k != "metadata")
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, ["%s: %s" % (list(e.path), e.message) for e in errors]


def pool_args(kube, name, **extra):
    args = dict(name=name, kubeconfig=kube.kubeconfig, instance_types=["p5.48xlarge"], mig_config="all-1g.10gb",
                node_overlay=True, node_class={"name": "%s-class" % name, "role": "KarpenterNodeRole-test"}, cluster_name="test",
                weight=10)
    args.update(extra)
    return dict((k, v) for k, v in args.items() if v is not None)


def differing_paths(before, after, prefix=""):
    """Leaf paths where two JSON values differ (for asserting a precise diff)."""
    if isinstance(before, dict) and isinstance(after, dict):
        paths = []
        for key in sorted(set(before) | set(after)):
            paths += differing_paths(before.get(key), after.get(key), "%s.%s" % (prefix, key) if prefix else key)
        return paths
    return [] if before == after else [prefix]


def test_create_repeat_update_delete(kube, custom):
    args = pool_args(kube, "lifecycle")

    created = run_module(args)
    assert created["changed"] is True, created
    pool = stored(custom, "nodepools", "lifecycle")
    assert pool["spec"]["template"]["metadata"]["labels"]["nvidia.com/mig.config"] == "all-1g.10gb"
    assert pool["spec"]["template"]["spec"]["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                                                "name": "lifecycle-class"}
    assert pool["spec"]["template"]["spec"]["taints"] == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    overlay = stored(custom, "nodeoverlays", "lifecycle-p5-48xlarge")
    assert overlay["spec"]["capacity"] == {"nvidia.com/mig-1g.10gb": "56", "nvidia.com/gpu": "0"}
    assert stored(custom, "ec2nodeclasses", "lifecycle-class")["spec"]["amiSelectorTerms"] == [{"alias": "al2023@v20261101"}]
    assert any("NodeOverlay=true" in w for w in created.get("warnings", []))
    for plural, name in (("nodepools", "lifecycle"), ("ec2nodeclasses", "lifecycle-class"), ("nodeoverlays", "lifecycle-p5-48xlarge")):
        assert_crd_valid(stored(custom, plural, name), plural)
    version = pool["metadata"]["resourceVersion"]

    repeated = run_module(args, diff=True)
    assert repeated["changed"] is False, repeated.get("diff")
    assert repeated["diff"] == []
    assert stored(custom, "nodepools", "lifecycle")["metadata"]["resourceVersion"] == version

    updated = run_module(dict(args, weight=20), diff=True)
    assert updated["changed"] is True
    assert len(updated["diff"]) == 1 and updated["diff"][0]["before_header"] == "NodePool/lifecycle"
    assert differing_paths(updated["diff"][0]["before"], updated["diff"][0]["after"]) == ["spec.weight"]
    assert (updated["diff"][0]["before"]["spec"]["weight"], updated["diff"][0]["after"]["spec"]["weight"]) == (10, 20)
    assert stored(custom, "nodepools", "lifecycle")["spec"]["weight"] == 20
    assert stored(custom, "nodepools", "lifecycle")["metadata"]["generation"] == 2

    deleted = run_module(dict(args, state="absent", delete_node_class=True), diff=True)
    assert deleted["changed"] is True
    assert sorted(deleted["deleted"]) == ["EC2NodeClass/lifecycle-class", "NodeOverlay/lifecycle-p5-48xlarge", "NodePool/lifecycle"]
    assert stored(custom, "nodepools", "lifecycle") is None
    assert stored(custom, "nodeoverlays", "lifecycle-p5-48xlarge") is None
    assert stored(custom, "ec2nodeclasses", "lifecycle-class") is None
    again = run_module(dict(args, state="absent", delete_node_class=True))
    assert again["changed"] is False and again["deleted"] == []


def test_check_mode_stores_nothing(kube, custom):
    args = pool_args(kube, "dry")
    before = dict((plural, names(custom, plural)) for plural in GROUPS)
    result = run_module(args, check_mode=True, diff=True)
    assert result["changed"] is True
    # The server's dry-run answer comes back (with defaults), but nothing is stored.
    assert result["nodepool"]["spec"]["disruption"]["consolidateAfter"] == "0s"
    assert result["nodeoverlays"][0]["spec"]["capacity"]["nvidia.com/mig-1g.10gb"] == "56"
    assert dict((plural, names(custom, plural)) for plural in GROUPS) == before

    run_module(args)
    version = stored(custom, "nodepools", "dry")["metadata"]["resourceVersion"]
    checked = run_module(dict(args, mig_config="all-balanced"), check_mode=True, diff=True)
    assert checked["changed"] is True
    assert any("drift" in w for w in checked["warnings"])
    pool = stored(custom, "nodepools", "dry")
    assert pool["metadata"]["resourceVersion"] == version
    assert pool["spec"]["template"]["metadata"]["labels"]["nvidia.com/mig.config"] == "all-1g.10gb"

    removal = run_module(dict(args, state="absent"), check_mode=True)
    assert removal["changed"] is True and "NodePool/dry" in removal["deleted"]
    assert stored(custom, "nodepools", "dry") is not None
    assert stored(custom, "nodeoverlays", "dry-p5-48xlarge") is not None
    run_module(dict(args, state="absent", delete_node_class=True))


def test_gpu_names_resolve_and_stale_overlays_are_pruned(kube, custom):
    args = pool_args(kube, "byname", instance_types=None, gpu_names=["h100"])
    first = run_module(args)
    assert first.get("failed") is not True, first["msg"]
    assert first["instance_types"] == ["p5.4xlarge", "p5.48xlarge"]
    assert [r for r in stored(custom, "nodepools", "byname")["spec"]["template"]["spec"]["requirements"]
            if r["key"] == "karpenter.k8s.aws/instance-gpu-name"] == [
        {"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In", "values": ["h100"]}]
    assert [n for n in names(custom, "nodeoverlays") if n.startswith("byname-")] == ["byname-p5-48xlarge", "byname-p5-4xlarge"]
    assert stored(custom, "nodeoverlays", "byname-p5-4xlarge")["spec"]["capacity"]["nvidia.com/mig-1g.10gb"] == "7"

    moved = run_module(dict(args, gpu_names=["h200"], mig_config="all-1g.18gb"))
    assert moved["changed"] is True
    assert sorted(moved["deleted"]) == ["NodeOverlay/byname-p5-48xlarge", "NodeOverlay/byname-p5-4xlarge"]
    assert [n for n in names(custom, "nodeoverlays") if n.startswith("byname-")] == ["byname-p5e-48xlarge", "byname-p5en-48xlarge"]
    assert stored(custom, "nodeoverlays", "byname-p5e-48xlarge")["spec"]["capacity"] == {
        "nvidia.com/mig-1g.18gb": "56", "nvidia.com/gpu": "0"}
    run_module(dict(args, state="absent", delete_node_class=True))


@pytest.mark.parametrize("instance_type,options,expected", CAPACITY_TABLE,
                         ids=["%s-%s%s" % (t, o["mig_config"], "-single" if o.get("mig_strategy") == "single" else "")
                              for t, o, _e in CAPACITY_TABLE])
def test_overlay_capacity_matches_hand_computed_table(kube, custom, instance_type, options, expected):
    name = "cap-%s" % instance_type.replace(".", "-")
    result = run_module(pool_args(kube, name, instance_types=[instance_type], node_class="shared", **options))
    assert result.get("failed") is not True, result.get("msg")
    overlay = stored(custom, "nodeoverlays", "%s-%s" % (name, instance_type.replace(".", "-")))
    assert overlay["spec"]["capacity"] == expected
    assert overlay["spec"]["requirements"] == [
        {"key": "karpenter.sh/nodepool", "operator": "In", "values": [name]},
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [instance_type]}]
    assert_crd_valid(overlay, "nodeoverlays")
    assert dict((k, str(v)) for k, v in result["mig_capacity"][instance_type].items()) == expected


def test_immutable_node_class_ref_is_refused_before_writing(kube, custom):
    args = pool_args(kube, "immutable", node_class="shared", node_overlay=False)
    run_module(args)
    version = stored(custom, "nodepools", "immutable")["metadata"]["resourceVersion"]
    result = run_module(dict(args, spec={"template": {"spec": {"nodeClassRef": {"kind": "OtherNodeClass"}}}}))
    assert result["failed"] is True
    assert "spec.template.spec.nodeClassRef.kind" in result["msg"] and "immutable" in result["msg"]
    assert stored(custom, "nodepools", "immutable")["metadata"]["resourceVersion"] == version
    run_module(dict(args, state="absent"))


def test_unmanaged_node_class_is_not_deleted(kube, custom):
    custom.create_cluster_custom_object("karpenter.k8s.aws", "v1", "ec2nodeclasses", {
        "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "hand-made"},
        "spec": {"role": "r", "amiSelectorTerms": [{"alias": "al2023@latest"}],
                 "subnetSelectorTerms": [{"id": "subnet-1"}], "securityGroupSelectorTerms": [{"id": "sg-1"}]}})
    result = run_module(dict(name="nothing", kubeconfig=kube.kubeconfig, state="absent", node_class="hand-made", delete_node_class=True))
    assert result["changed"] is False
    assert any("not managed by this module" in w for w in result["warnings"])
    assert stored(custom, "ec2nodeclasses", "hand-made") is not None


def test_kubectl_lists_the_objects(kube, custom):
    run_module(pool_args(kube, "shown"))
    out = subprocess.run([os.path.join(str(kube.bin_dir), "kubectl"), "--kubeconfig", kube.kubeconfig, "get", "nodepools,ec2nodeclasses,nodeoverlays",
                          "-o", "name"], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    for expected in ("nodepool.karpenter.sh/shown", "ec2nodeclass.karpenter.k8s.aws/shown-class",
                     "nodeoverlay.karpenter.sh/shown-p5-48xlarge"):
        assert expected in lines, out.stdout
    run_module(dict(pool_args(kube, "shown"), state="absent", delete_node_class=True))


def test_server_rejection_in_preflight_writes_nothing(kube, custom):
    """Local checks do not cover everything (here replicas >= 0): the server's dry run rejects it before any write."""
    args = pool_args(kube, "atomic", spec={"replicas": -1}, weight=None)
    result = run_module(args)
    assert result["failed"] is True
    assert "HTTP 422" in result["msg"] and "spec.replicas" in result["msg"], result["msg"]
    assert "dry run, nothing was changed" in result["msg"]
    # The EC2NodeClass comes first and passed its own preflight, yet was not written either.
    assert stored(custom, "ec2nodeclasses", "atomic-class") is None
    assert stored(custom, "nodepools", "atomic") is None
    assert [n for n in names(custom, "nodeoverlays") if n.startswith("atomic-")] == []


def test_wait_for_ready(kube, custom):
    args = pool_args(kube, "waiting", node_class="shared", node_overlay=False)
    run_module(args)
    timed_out = run_module(dict(args, wait=True, wait_timeout=1))
    assert timed_out["failed"] is True and "timed out after 1s" in timed_out["msg"] and "no Ready condition" in timed_out["msg"]

    # Karpenter's controller would set this; it does not run here, so the test writes the status sub-resource.
    custom.patch_cluster_custom_object_status("karpenter.sh", "v1", "nodepools", "waiting", {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": "2026-11-26T00:00:00Z"}]}})
    ready = run_module(dict(args, wait=True, wait_timeout=30))
    assert ready["changed"] is False
    assert ready["nodepool"]["status"]["conditions"][0]["status"] == "True"
    run_module(dict(args, state="absent"))


def test_dropped_label_is_removed_and_mig_config_change_is_a_template_diff(kube, custom):
    args = pool_args(kube, "owned", node_class="shared", node_overlay=False, labels={"team": "ml", "tier": "gold"})
    run_module(args)
    assert stored(custom, "nodepools", "owned")["spec"]["template"]["metadata"]["labels"]["tier"] == "gold"

    # Server-side apply: a field our manager stops sending is removed from the live object.
    dropped = run_module(dict(args, labels={"team": "ml"}), diff=True)
    assert dropped["changed"] is True
    assert differing_paths(dropped["diff"][0]["before"], dropped["diff"][0]["after"]) == ["spec.template.metadata.labels.tier"]
    assert "tier" not in stored(custom, "nodepools", "owned")["spec"]["template"]["metadata"]["labels"]

    switched = run_module(dict(args, labels={"team": "ml"}, mig_config="all-3g.40gb"), diff=True)
    assert switched["changed"] is True
    assert differing_paths(switched["diff"][0]["before"], switched["diff"][0]["after"]) == [
        "spec.template.metadata.labels.nvidia.com/mig.config"]
    assert [w for w in switched["warnings"] if "'all-1g.10gb' to 'all-3g.40gb'" in w and "drift" in w]
    assert switched["mig_capacity"] == {"p5.48xlarge": {"nvidia.com/mig-3g.40gb": 16, "nvidia.com/gpu": 0}}
    run_module(dict(args, state="absent"))


def test_node_class_spec_rules_left_to_the_server_are_caught_in_the_dry_run(kube, custom):
    node_class = {"name": "kubelet-class", "role": "R", "spec": {"kubelet": {"imageGCHighThresholdPercent": 50,
                                                                             "imageGCLowThresholdPercent": 60}}}
    result = run_module(pool_args(kube, "kubelet", node_class=node_class))
    assert result["failed"] is True and "dry run, nothing was changed" in result["msg"], result["msg"]
    assert "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent" in result["msg"]
    assert stored(custom, "ec2nodeclasses", "kubelet-class") is None and stored(custom, "nodepools", "kubelet") is None

    node_class["spec"]["kubelet"]["imageGCHighThresholdPercent"] = 85
    created = run_module(pool_args(kube, "kubelet", node_class=node_class))
    assert created["changed"] is True
    assert stored(custom, "ec2nodeclasses", "kubelet-class")["spec"]["kubelet"] == {"imageGCHighThresholdPercent": 85,
                                                                                    "imageGCLowThresholdPercent": 60}
    run_module(pool_args(kube, "kubelet", node_class=node_class, state="absent", delete_node_class=True))
