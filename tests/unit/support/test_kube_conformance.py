# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes API semantics the collection and the demo rely on -- CRUD, dry-run, server-side apply, selectors,
sub-resources, evictions, finalizers, garbage collection, discovery, watches -- as a differential test: every
test sends the same requests, with the same assertions, to the real kube-apiserver and to the emulator the demo
falls back to (tests/unit/support/kube_backends.py: accepted differences and why)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import uuid

import pytest

kubernetes = pytest.importorskip("kubernetes")

from kubernetes.client import ApiException  # noqa: E402
from kubernetes.dynamic import DynamicClient  # noqa: E402

from ansible_collections.gpu_slicing.eks.tests.unit.support import kube_backends  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.support.kube_backends import eventually, node, nodepool, selector  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import legs  # noqa: E402

# the emulator and the real server do not depend on ansible-core: the main leg is enough
pytestmark = pytest.mark.skipif(not legs.on_main_leg(), reason=legs.skip_reason())

GPU_NODE = node("gpu-1", {"node.kubernetes.io/instance-type": "p5.48xlarge", "nvidia.com/gpu.present": "true", "karpenter.sh/nodepool": "gpu"},
                {"cpu": "192", "memory": "2Ti", "pods": "110", "nvidia.com/gpu": "8"})
CPU_NODE = node("cpu-1", {"node.kubernetes.io/instance-type": "m5.large"})
P4D_NODE = node("gpu-2", {"node.kubernetes.io/instance-type": "p4d.24xlarge", "nvidia.com/gpu.present": "false"})
GPU1, CPU1, GPU2 = (n["metadata"]["name"] for n in (GPU_NODE, CPU_NODE, P4D_NODE))


@pytest.fixture(scope="module", params=kube_backends.BACKENDS)
def kube(request):
    with kube_backends.backend(request.param, nodes=[GPU_NODE, CPU_NODE, P4D_NODE]) as backend:
        yield backend


@pytest.fixture(scope="module")
def client(kube):
    return kube.api_client()


@pytest.fixture
def core(client):
    return kubernetes.client.CoreV1Api(client)


@pytest.fixture
def custom(client):
    return kubernetes.client.CustomObjectsApi(client)


@pytest.fixture
def unique():
    return kube_backends.unique()


def _names(items):
    return sorted(item.metadata.name if hasattr(item, "metadata") else item["metadata"]["name"] for item in items)


def _gone(read, *args):
    try:
        read(*args)
    except ApiException as exc:
        assert exc.status == 404, exc
    else:
        raise AssertionError("%s%r still exists" % (read.__name__, args))


def test_create_answers_201_with_server_stamps(kube, custom, unique):
    status, created = kube.request("POST", "/apis/karpenter.sh/v1/nodepools", nodepool(unique))
    assert status == 201
    meta = created["metadata"]
    assert uuid.UUID(meta["uid"])
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    assert meta["creationTimestamp"].endswith("Z")
    # The real client maps 201 to the returned object (kmock's plain 200 made it return None).
    second = custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool(unique + "-b"))
    assert second["metadata"]["name"] == unique + "-b"
    assert int(second["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    with pytest.raises(ApiException) as duplicate:
        custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool(unique))
    assert duplicate.value.status == 409
    assert json.loads(duplicate.value.body)["reason"] == "AlreadyExists"


def test_list_has_kind_api_version_and_resource_version(kube, custom, unique):
    custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool(unique))
    listing = custom.list_cluster_custom_object("karpenter.sh", "v1", "nodepools")
    assert listing["kind"] == "NodePoolList"
    assert listing["apiVersion"] == "karpenter.sh/v1"
    stored = custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)
    assert int(listing["metadata"]["resourceVersion"]) >= int(stored["metadata"]["resourceVersion"])
    assert unique in _names(listing["items"])
    status, nodes = kube.request("GET", "/api/v1/nodes")
    assert (status, nodes["kind"], nodes["apiVersion"]) == (200, "NodeList", "v1")


def test_dry_run_changes_nothing(kube, core, custom, unique):
    answer = custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool(unique, weight=5), dry_run="All")
    assert answer["spec"]["weight"] == 5
    assert answer["spec"]["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"  # computed, defaults included
    with pytest.raises(ApiException) as missing:
        custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)
    assert missing.value.status == 404
    custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool(unique, weight=5))
    stored_rv = custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)["metadata"]["resourceVersion"]
    patched = custom.patch_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique, {"spec": {"weight": 9}}, dry_run="All")
    assert patched["spec"]["weight"] == 9 and patched["metadata"]["generation"] == 2
    dyn = DynamicClient(kube.api_client()).resources.get(api_version="karpenter.sh/v1", kind="NodePool")
    applied = dyn.server_side_apply(body=nodepool(unique, weight=7), name=unique, field_manager="dry", dry_run="All", force_conflicts=True)
    assert applied.spec.weight == 7
    applied_new = dyn.server_side_apply(body=nodepool(unique + "-new"), name=unique + "-new", field_manager="dry", dry_run="All")
    assert applied_new.metadata.name == unique + "-new"
    custom.delete_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique, dry_run="All")
    core.delete_node(CPU1, dry_run="All")
    live = custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)
    assert live["spec"]["weight"] == 5
    assert live["metadata"]["resourceVersion"] == stored_rv
    assert core.read_node(CPU1).metadata.name == CPU1
    with pytest.raises(ApiException):
        custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique + "-new")


def test_generation_moves_only_on_spec_change_and_rv_only_on_real_change(custom, unique):
    created = custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool(unique, weight=1))
    labelled = custom.patch_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique, {"metadata": {"labels": {"team": "ml"}}})
    assert labelled["metadata"]["generation"] == 1
    assert int(labelled["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    same = custom.patch_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique, {"metadata": {"labels": {"team": "ml"}}})
    assert same["metadata"]["resourceVersion"] == labelled["metadata"]["resourceVersion"]
    status = custom.patch_cluster_custom_object_status("karpenter.sh", "v1", "nodepools", unique, {"status": {"nodes": 3}})
    assert status["status"]["nodes"] == 3 and status["metadata"]["generation"] == 1
    changed = custom.patch_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique, {"spec": {"weight": 2}})
    assert changed["metadata"]["generation"] == 2
    assert changed["status"]["nodes"] == 3


def test_status_is_a_subresource(custom, core, unique):
    body = nodepool(unique)
    body["status"] = {"nodes": 99}
    created = custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", body)
    assert "nodes" not in (created.get("status") or {})  # status is ignored on create of a custom resource
    main = custom.patch_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique, {"status": {"nodes": 5}, "spec": {"weight": 3}})
    assert main["spec"]["weight"] == 3 and "nodes" not in (main.get("status") or {})
    patched = core.patch_node_status(GPU2, {"status": {"capacity": {"nvidia.com/mig-1g.10gb": "56"}, "allocatable": {"nvidia.com/mig-1g.10gb": "56"}}})
    assert patched.status.capacity["nvidia.com/mig-1g.10gb"] == "56"
    assert patched.status.allocatable["nvidia.com/mig-1g.10gb"] == "56"
    ignored = core.patch_node(GPU2, {"status": {"capacity": {"nvidia.com/gpu": "1000"}}, "metadata": {"labels": {"x": "y"}}})
    assert "nvidia.com/gpu" not in ignored.status.capacity and ignored.metadata.labels["x"] == "y"


def test_server_side_apply_upserts_merges_and_removes_fields(kube, client, unique):
    dyn = DynamicClient(client).resources.get(api_version="karpenter.sh/v1", kind="NodePool")
    first = dyn.server_side_apply(body=nodepool(unique, weight=10, limits={"nvidia.com/gpu": 16}), name=unique, field_manager="gpu-slicing")
    assert first.metadata.generation == 1
    assert first.metadata.managedFields[0].manager == "gpu-slicing"
    assert first.metadata.managedFields[0].operation == "Apply"
    assert "f:weight" in first.to_dict()["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
    again = dyn.server_side_apply(body=nodepool(unique, weight=10, limits={"nvidia.com/gpu": 16}), name=unique, field_manager="gpu-slicing")
    assert again.metadata.resourceVersion == first.metadata.resourceVersion
    smaller = dyn.server_side_apply(body=nodepool(unique, weight=10), name=unique, field_manager="gpu-slicing")
    assert smaller.spec.get("limits") is None  # the manager stopped applying it: removed
    assert smaller.metadata.generation == 2
    with pytest.raises(ApiException) as null:  # null is not "remove" in an apply configuration: the schema refuses it
        dyn.server_side_apply(body=nodepool(unique, weight=None), name=unique, field_manager="gpu-slicing")
    assert null.value.status == 422 and '"field":"spec.weight"' in null.value.body.replace(" ", "")
    # YAML body, as kubectl and the apply-patch+yaml content type allow.
    yaml_body = ("apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: %s-yaml\n  labels:\n    via: yaml\nspec:\n  template:\n    spec:\n"
                 "      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n      requirements: []\n") % unique
    status, created = kube.request("PATCH", "/apis/karpenter.sh/v1/nodepools/%s-yaml?fieldManager=yaml-test" % unique, yaml_body.encode(),
                                   content_type="application/apply-patch+yaml")
    assert status == 201
    assert created["metadata"]["labels"] == {"via": "yaml"}
    assert created["spec"]["disruption"]["budgets"] == [{"nodes": "10%"}]


def test_server_side_apply_conflicts_and_force(kube, client, unique):
    dyn = DynamicClient(client).resources.get(api_version="karpenter.sh/v1", kind="NodePool")
    dyn.server_side_apply(body=nodepool(unique, weight=10), name=unique, field_manager="owner-a")
    with pytest.raises(ApiException) as conflict:
        dyn.server_side_apply(body=nodepool(unique, weight=20), name=unique, field_manager="owner-b")
    assert conflict.value.status == 409
    causes = json.loads(conflict.value.body)["details"]["causes"]
    assert {"reason": "FieldManagerConflict", "message": 'conflict with "owner-a"', "field": ".spec.weight"} in causes
    same_value = dyn.server_side_apply(body=nodepool(unique, weight=10), name=unique, field_manager="owner-b")
    assert same_value.spec.weight == 10  # shared ownership of an equal value is no conflict
    forced = dyn.server_side_apply(body=nodepool(unique, weight=20), name=unique, field_manager="owner-b", force_conflicts=True)
    assert forced.spec.weight == 20
    owners = {entry["manager"]: entry["fieldsV1"] for entry in forced.to_dict()["metadata"]["managedFields"]}
    assert "f:weight" not in owners["owner-a"].get("f:spec", {})
    status, body = kube.request("PATCH", "/apis/karpenter.sh/v1/nodepools/%s" % unique, nodepool(unique), content_type="application/apply-patch+yaml")
    assert status == 422 and "fieldManager" in body["message"], (status, body)


def test_label_selectors_equality_and_set_based(core):
    def names(text):
        return _names(core.list_node(label_selector=selector(text)).items)

    assert names("nvidia.com/gpu.present=true") == [GPU1]
    assert names("nvidia.com/gpu.present==true") == [GPU1]
    assert names("nvidia.com/gpu.present!=true") == [CPU1, GPU2]
    assert names("node.kubernetes.io/instance-type in (p5.48xlarge, p4d.24xlarge)") == [GPU1, GPU2]
    assert names("node.kubernetes.io/instance-type notin (p5.48xlarge)") == [CPU1, GPU2]
    assert names("nvidia.com/gpu.present") == [GPU1, GPU2]
    assert names("!nvidia.com/gpu.present") == [CPU1]
    assert names("nvidia.com/gpu.present,karpenter.sh/nodepool=gpu") == [GPU1]
    with pytest.raises(ApiException) as bad:
        core.list_node(label_selector="a in b")
    assert bad.value.status == 400


def test_field_selectors_on_pods_and_names(core, unique):
    core.create_namespace({"metadata": {"name": unique}})
    for name, node_name in (("a", GPU1), ("b", GPU2), ("c", GPU1)):
        core.create_namespaced_pod(unique, {"metadata": {"name": name, "labels": {"app": name}},
                                            "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "busybox"}]}})
    on_gpu1 = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=%s" % GPU1)
    assert _names(on_gpu1.items) == ["a", "c"]
    both = core.list_namespaced_pod(unique, field_selector="spec.nodeName=%s" % GPU1, label_selector="app notin (a)")
    assert _names(both.items) == ["c"]
    assert _names(core.list_node(field_selector="metadata.name=%s" % GPU2).items) == [GPU2]
    kube_backends.Backend.accepts("pods-run")  # the phase of the bound pods differs, see there


def test_namespaced_objects_need_an_existing_namespace(core, unique):
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_config_map(unique, {"metadata": {"name": "x"}, "data": {"a": "1"}})
    assert missing.value.status == 404
    core.create_namespace({"metadata": {"name": unique}})
    core.create_namespaced_config_map(unique, {"metadata": {"name": "x"}, "data": {"a": "1"}})
    core.delete_namespace(unique)
    kube_backends.Backend.accepts("async-cleanup")
    eventually(lambda: _gone(core.read_namespaced_config_map, "x", unique))


def test_eviction_deletes_the_pod(kube, core, unique):
    core.create_namespace({"metadata": {"name": unique}})
    core.create_namespaced_pod(unique, {"metadata": {"name": "victim"}, "spec": {"nodeName": GPU1, "containers": [{"name": "c", "image": "x"}]}})
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "victim", "namespace": unique}}
    core.create_namespaced_pod_eviction("victim", unique, dict(eviction, deleteOptions={"dryRun": ["All"]}))
    assert core.read_namespaced_pod("victim", unique).metadata.name == "victim"
    core.create_namespaced_pod_eviction("victim", unique, eviction)
    # gone once the kubelet has stopped the containers (real: the kubelet stand-in finalizes it, within a second)
    eventually(lambda: _gone(core.read_namespaced_pod, "victim", unique), timeout=15)


def test_delete_answers_like_the_real_stores(core, custom, unique):
    core.create_namespace({"metadata": {"name": unique}})
    core.create_namespaced_pod(unique, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    deleted_pod = core.delete_namespaced_pod("p", unique)  # typed V1Pod in the client: a Status would not deserialize
    assert deleted_pod.metadata.name == "p" and deleted_pod.metadata.deletion_timestamp is not None
    core.create_namespaced_config_map(unique, {"metadata": {"name": "c"}})
    assert core.delete_namespaced_config_map("c", unique)["status"] == "Success"
    custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool(unique))
    assert custom.delete_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)["status"] == "Success"  # a Status, not the object


def test_cordon_patches_spec_unschedulable(core):
    assert core.patch_node(GPU2, {"spec": {"unschedulable": True}}).spec.unschedulable is True
    assert not core.patch_node(GPU2, {"spec": {"unschedulable": None}}).spec.unschedulable


def test_finalizers_hold_deletion_until_removed(custom, unique):
    body = nodepool(unique)
    body["metadata"]["finalizers"] = ["karpenter.sh/termination"]
    custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", body)
    terminating = custom.delete_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)
    assert terminating["metadata"]["deletionTimestamp"]
    assert custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)["metadata"]["deletionTimestamp"]
    custom.patch_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as gone:
        custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)
    assert gone.value.status == 404


def test_owner_references_are_garbage_collected(core, unique):
    # A ConfigMap owns another: no controller but the garbage collector acts on them. (A DaemonSet as the owner of a
    # hand-made pod would not do: the real DaemonSet controller releases a pod its selector does not match.)
    core.create_namespace({"metadata": {"name": unique}})
    owner = core.create_namespaced_config_map(unique, {"metadata": {"name": "owner"}})
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(unique, {"metadata": {"name": "dependent", "ownerReferences": [reference]}})
    core.create_namespaced_config_map(unique, {"metadata": {"name": "bystander"}})
    core.delete_namespaced_config_map("owner", unique)
    kube_backends.Backend.accepts("async-cleanup")
    eventually(lambda: _gone(core.read_namespaced_config_map, "dependent", unique))
    assert core.read_namespaced_config_map("bystander", unique).metadata.name == "bystander"


def test_optimistic_concurrency_and_patch_flavours(kube, core, custom, unique):
    core.create_namespace({"metadata": {"name": unique}})
    cm = core.create_namespaced_config_map(unique, {"metadata": {"name": "cfg"}, "data": {"a": "1"}})
    cm.data["a"] = "2"
    core.replace_namespaced_config_map("cfg", unique, cm)
    cm.data["a"] = "3"  # still carries the old resourceVersion
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_config_map("cfg", unique, cm)
    assert stale.value.status == 409
    patched = core.patch_namespaced_config_map("cfg", unique, [{"op": "add", "path": "/data/b", "value": "x"}])
    assert patched.data == {"a": "2", "b": "x"}
    status = kube.request("PATCH", "/apis/karpenter.sh/v1/nodepools/none", {"spec": {}}, content_type="application/strategic-merge-patch+json")[0]
    assert status == 415  # the content type is refused before the object is looked up
    custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool(unique))
    status, body = kube.request("PATCH", "/apis/karpenter.sh/v1/nodepools/%s" % unique, {"spec": {"weight": 1}},
                                content_type="application/strategic-merge-patch+json")
    assert status == 415  # as the real server: no strategic merge for custom resources


def test_strategic_merge_patch_merges_containers_by_name(client, unique):
    apps = kubernetes.client.AppsV1Api(client)
    kubernetes.client.CoreV1Api(client).create_namespace({"metadata": {"name": unique}})
    apps.create_namespaced_deployment(unique, {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "w"}}, "template": {"metadata": {"labels": {"app": "w"}}, "spec": {
            "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}})
    patched = apps.patch_namespaced_deployment("web", unique, {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}})
    assert [(c.name, c.image) for c in patched.spec.template.spec.containers] == [("a", "a:1"), ("b", "b:2")]
    assert patched.metadata.generation == 2


def test_crd_post_serves_a_new_resource_with_discovery(kube, client, unique):
    group = "%s.example.com" % unique
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.%s" % group},
           "spec": {"group": group, "scope": "Namespaced", "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 1}}}}}}}]}}
    ext = kubernetes.client.ApiextensionsV1Api(client)
    ext.create_custom_resource_definition(crd)
    kube_backends.Backend.accepts("crd-established-later")

    def established():
        conditions = ext.read_custom_resource_definition("widgets.%s" % group).status.conditions or []
        assert {c.type: c.status for c in conditions}.get("Established") == "True"
    eventually(established)
    status, resources = kube.request("GET", "/apis/%s/v1" % group)
    assert status == 200 and [r["name"] for r in resources["resources"]] == ["widgets"]
    custom = kubernetes.client.CustomObjectsApi(client)
    widget_body = {"apiVersion": group + "/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    widget = custom.create_namespaced_custom_object(group, "v1", "default", "widgets", widget_body)
    assert widget["spec"]["size"] == 1
    ext.delete_custom_resource_definition("widgets.%s" % group)
    kube_backends.Backend.accepts("async-cleanup")

    def unserved():
        assert kube.request("GET", "/apis/%s/v1/namespaces/default/widgets" % group)[0] == 404
    eventually(unserved)


def test_discovery_resolves_nodes_to_core(kube):
    status, groups = kube.request("GET", "/apis")
    names = [g["name"] for g in groups["groups"]]
    assert "metrics.k8s.io" not in names
    assert {"karpenter.sh", "karpenter.k8s.aws", "nvidia.com", "apiextensions.k8s.io", "policy", "apps"} <= set(names)
    core = kube.request("GET", "/api/v1")[1]
    entries = {r["name"]: r for r in core["resources"]}
    assert entries["nodes"]["namespaced"] is False
    assert entries["pods/eviction"]["kind"] == "Eviction" and entries["pods/eviction"]["group"] == "policy"
    karpenter = {r["name"]: r for r in kube.request("GET", "/apis/karpenter.sh/v1")[1]["resources"]}
    assert karpenter["nodepools"]["kind"] == "NodePool" and "nodepools/status" in karpenter


def test_watch_streams_changes_with_selectors(client, core, unique):
    core.create_namespace({"metadata": {"name": unique}})
    start = core.list_namespaced_config_map(unique).metadata.resource_version
    core.create_namespaced_config_map(unique, {"metadata": {"name": "yes", "labels": {"w": "1"}}})
    core.create_namespaced_config_map(unique, {"metadata": {"name": "no"}})
    core.delete_namespaced_config_map("yes", unique)
    watch = kubernetes.watch.Watch()
    events = [(e["type"], e["object"].metadata.name) for e in watch.stream(core.list_namespaced_config_map, unique, label_selector="w=1",
                                                                           resource_version=start, timeout_seconds=1)]
    assert events == [("ADDED", "yes"), ("DELETED", "yes")]
