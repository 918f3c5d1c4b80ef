# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes API emulator over HTTP with the real ``kubernetes`` client: CRUD semantics, dry-run,
server-side apply, selectors, sub-resources, evictions, finalizers, watches, persistence, CLI."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

kubernetes = pytest.importorskip("kubernetes")
pytest.importorskip("kmock")

from kubernetes.client import ApiException  # noqa: E402
from kubernetes.dynamic import DynamicClient  # noqa: E402

from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator, fixture_scope  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import launcher, tables  # noqa: E402

GPU_NODE = {"metadata": {"name": "gpu-1", "labels": {"node.kubernetes.io/instance-type": "p5.48xlarge", "nvidia.com/gpu.present": "true",
                                                     "karpenter.sh/nodepool": "gpu"}},
            "status": {"capacity": {"cpu": "192", "memory": "2Ti", "pods": "110", "nvidia.com/gpu": "8"}}}
CPU_NODE = {"metadata": {"name": "cpu-1", "labels": {"node.kubernetes.io/instance-type": "m5.large"}}}
P4D_NODE = {"metadata": {"name": "gpu-2", "labels": {"node.kubernetes.io/instance-type": "p4d.24xlarge", "nvidia.com/gpu.present": "false"}}}


def nodepool(name, **spec):
    body = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name},
            "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                                           "requirements": [{"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In", "values": ["h100"]}]}}}}
    body["spec"].update(spec)
    return body


@pytest.fixture(scope=fixture_scope)
def kube():
    with KubeEmulator(nodes=[GPU_NODE, CPU_NODE, P4D_NODE]) as emulator:
        yield emulator


@pytest.fixture(scope=fixture_scope)
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
    return "t-" + uuid.uuid4().hex[:8]


def _names(items):
    return sorted(item.metadata.name if hasattr(item, "metadata") else item["metadata"]["name"] for item in items)


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
    before = kube.request("GET", "/emulator/state")[1]["resourceVersion"]
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
    core.delete_node("cpu-1", dry_run="All")
    live = custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)
    assert live["spec"]["weight"] == 5
    assert live["metadata"]["resourceVersion"] == stored_rv
    assert core.read_node("cpu-1").metadata.name == "cpu-1"
    with pytest.raises(ApiException):
        custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique + "-new")
    assert int(kube.request("GET", "/emulator/state")[1]["resourceVersion"]) == int(before) + 1  # only the one real create


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
    patched = core.patch_node_status("gpu-2", {"status": {"capacity": {"nvidia.com/mig-1g.10gb": "56"}, "allocatable": {"nvidia.com/mig-1g.10gb": "56"}}})
    assert patched.status.capacity["nvidia.com/mig-1g.10gb"] == "56"
    assert patched.status.allocatable["nvidia.com/mig-1g.10gb"] == "56"
    ignored = core.patch_node("gpu-2", {"status": {"capacity": {"nvidia.com/gpu": "1000"}}, "metadata": {"labels": {"x": "y"}}})
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
    unset = dyn.server_side_apply(body=nodepool(unique, weight=None), name=unique, field_manager="gpu-slicing")
    assert unset.spec.get("weight") is None and unset.metadata.generation == 3  # null in an apply configuration unsets
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
    assert status == 400 and "fieldManager" in body["message"]


def test_label_selectors_equality_and_set_based(core):
    def names(selector):
        return _names(core.list_node(label_selector=selector).items)

    assert names("nvidia.com/gpu.present=true") == ["gpu-1"]
    assert names("nvidia.com/gpu.present==true") == ["gpu-1"]
    assert names("nvidia.com/gpu.present!=true") == ["cpu-1", "gpu-2"]
    assert names("node.kubernetes.io/instance-type in (p5.48xlarge, p4d.24xlarge)") == ["gpu-1", "gpu-2"]
    assert names("node.kubernetes.io/instance-type notin (p5.48xlarge)") == ["cpu-1", "gpu-2"]
    assert names("nvidia.com/gpu.present") == ["gpu-1", "gpu-2"]
    assert names("!nvidia.com/gpu.present") == ["cpu-1"]
    assert names("nvidia.com/gpu.present,karpenter.sh/nodepool=gpu") == ["gpu-1"]
    with pytest.raises(ApiException) as bad:
        core.list_node(label_selector="a in b")
    assert bad.value.status == 400


def test_field_selectors_on_pods_and_names(core, unique):
    core.create_namespace({"metadata": {"name": unique}})
    for name, node in (("a", "gpu-1"), ("b", "gpu-2"), ("c", "gpu-1")):
        core.create_namespaced_pod(unique, {"metadata": {"name": name, "labels": {"app": name}},
                                            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})
    on_gpu1 = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=gpu-1")
    assert _names(on_gpu1.items) == ["a", "c"]
    both = core.list_namespaced_pod(unique, field_selector="spec.nodeName=gpu-1", label_selector="app notin (a)")
    assert _names(both.items) == ["c"]
    assert _names(core.list_node(field_selector="metadata.name=gpu-2").items) == ["gpu-2"]
    assert core.read_namespaced_pod("a", unique).status.phase == "Pending"  # nothing runs pods


def test_namespaced_objects_need_an_existing_namespace(core, unique):
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_config_map(unique, {"metadata": {"name": "x"}, "data": {"a": "1"}})
    assert missing.value.status == 404
    core.create_namespace({"metadata": {"name": unique}})
    core.create_namespaced_config_map(unique, {"metadata": {"name": "x"}, "data": {"a": "1"}})
    core.delete_namespace(unique)
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("x", unique)


def test_eviction_deletes_the_pod(kube, core, unique):
    core.create_namespace({"metadata": {"name": unique}})
    core.create_namespaced_pod(unique, {"metadata": {"name": "victim"}, "spec": {"nodeName": "gpu-1", "containers": [{"name": "c", "image": "x"}]}})
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "victim", "namespace": unique}}
    core.create_namespaced_pod_eviction("victim", unique, dict(eviction, deleteOptions={"dryRun": ["All"]}))
    assert core.read_namespaced_pod("victim", unique).metadata.name == "victim"
    core.create_namespaced_pod_eviction("victim", unique, eviction)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod("victim", unique)
    assert gone.value.status == 404


def test_delete_answers_like_the_real_stores(core, custom, unique):
    core.create_namespace({"metadata": {"name": unique}})
    core.create_namespaced_pod(unique, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    deleted_pod = core.delete_namespaced_pod("p", unique)  # typed V1Pod in the client: a Status would not deserialize
    assert deleted_pod.metadata.name == "p" and deleted_pod.metadata.deletion_timestamp is not None
    core.create_namespaced_config_map(unique, {"metadata": {"name": "c"}})
    assert core.delete_namespaced_config_map("c", unique)["status"] == "Success"
    custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool(unique))
    assert custom.delete_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)["kind"] == "NodePool"


def test_cordon_patches_spec_unschedulable(core):
    assert core.patch_node("gpu-2", {"spec": {"unschedulable": True}}).spec.unschedulable is True
    assert not core.patch_node("gpu-2", {"spec": {"unschedulable": None}}).spec.unschedulable


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


def test_owner_references_are_garbage_collected(client, core, unique):
    apps = kubernetes.client.AppsV1Api(client)
    core.create_namespace({"metadata": {"name": unique}})
    ds = apps.create_namespaced_daemon_set(unique, {
        "metadata": {"name": "device-plugin"},
        "spec": {"selector": {"matchLabels": {"app": "dp"}},
                 "template": {"metadata": {"labels": {"app": "dp"}}, "spec": {"containers": [{"name": "dp", "image": "nvidia/k8s-device-plugin"}]}}}})
    assert ds.metadata.generation == 1
    owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "device-plugin", "uid": ds.metadata.uid, "controller": True}
    core.create_namespaced_pod(unique, {"metadata": {"name": "dp-1", "ownerReferences": [owner]}, "spec": {"containers": [{"name": "dp", "image": "x"}]}})
    apps.delete_namespaced_daemon_set("device-plugin", unique)
    assert core.list_namespaced_pod(unique).items == []


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
    assert status == 404
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
    created = ext.create_custom_resource_definition(crd)
    assert {c.type: c.status for c in created.status.conditions}["Established"] == "True"
    status, resources = kube.request("GET", "/apis/%s/v1" % group)
    assert status == 200 and [r["name"] for r in resources["resources"]] == ["widgets"]
    custom = kubernetes.client.CustomObjectsApi(client)
    widget_body = {"apiVersion": group + "/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    widget = custom.create_namespaced_custom_object(group, "v1", "default", "widgets", widget_body)
    assert widget["spec"]["size"] == 1
    ext.delete_custom_resource_definition("widgets.%s" % group)
    assert kube.request("GET", "/apis/%s/v1/namespaces/default/widgets" % group)[0] == 404


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


def test_state_file_survives_a_restart(tmp_path):
    state = str(tmp_path / "state.json")
    crds = [path for path in launcher.default_crds() if "nodepools" in path]
    with KubeEmulator(crds=crds, nodes=[CPU_NODE], workdir=str(tmp_path / "one"), state_file=state) as first:
        kubernetes.client.CustomObjectsApi(first.api_client()).create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool("kept"))
        core = kubernetes.client.CoreV1Api(first.api_client())
        core.patch_node("cpu-1", {"metadata": {"labels": {"kept": "yes"}}})
        rv = core.read_node("cpu-1").metadata.resource_version
    with KubeEmulator(crds=[], workdir=str(tmp_path / "two"), state_file=state) as second:
        core = kubernetes.client.CoreV1Api(second.api_client())
        node = core.read_node("cpu-1")
        assert node.metadata.labels["kept"] == "yes" and node.metadata.resource_version == rv
        # The CRD came back from the state file, with its admission: the NodePool is served and still validated.
        custom = kubernetes.client.CustomObjectsApi(second.api_client())
        assert custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", "kept")["spec"]["disruption"]["consolidateAfter"] == "0s"
        with pytest.raises(ApiException) as invalid:
            custom.patch_cluster_custom_object("karpenter.sh", "v1", "nodepools", "kept", {"spec": {"weight": 0}})
        assert invalid.value.status == 422
        core.create_namespaced_config_map("default", {"metadata": {"name": "after"}})
        assert int(core.read_namespaced_config_map("after", "default").metadata.resource_version) > int(rv)


def test_cli_serve_and_seed_nodes(tmp_path):
    kubeconfig, pidfile, nodes = tmp_path / "kc", tmp_path / "pid", tmp_path / "nodes.json"
    nodes.write_text(json.dumps([{"metadata": {"name": "seeded", "labels": {"nvidia.com/gpu.present": "true"}}}]))
    env = dict(os.environ, PYTHONPATH=launcher._python_path())
    argv = [sys.executable, "-m", launcher.MODULE]
    server = subprocess.Popen(argv + ["serve", "--port", "0", "--kubeconfig", str(kubeconfig), "--pidfile", str(pidfile)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        ready = json.loads(server.stdout.readline())
        assert ready["pid"] == server.pid and int(pidfile.read_text()) == server.pid
        seeded = subprocess.run(argv + ["seed-nodes", "--kubeconfig", str(kubeconfig), "--nodes", str(nodes)],
                                capture_output=True, text=True, env=env, check=True)
        assert json.loads(seeded.stdout) == {"nodes": ["seeded"]}
        kubernetes.config.load_kube_config(config_file=str(kubeconfig))
        node = kubernetes.client.CoreV1Api().read_node("seeded")
        assert node.metadata.labels["nvidia.com/gpu.present"] == "true"
        assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
        bad = subprocess.run(argv + ["seed-nodes", "--kubeconfig", str(kubeconfig), "--nodes", str(tmp_path / "missing.json")],
                             capture_output=True, text=True, env=env, check=False)
        assert bad.returncode != 0
    finally:
        server.terminate()
        assert server.wait(timeout=10) == 0
        server.stdout.close()
    assert not pidfile.exists()


def test_table_jsonpath_subset_and_ages():
    node = {"metadata": {"labels": {"karpenter.sh/nodepool": "gpu"}},
            "status": {"conditions": [{"type": "Drifted", "status": "False"}, {"type": "Ready", "status": "True"}], "addresses": ["a", "b"]}}
    assert tables.jsonpath(node, ".metadata.labels.karpenter\\.sh/nodepool") == "gpu"
    assert tables.jsonpath(node, '.status.conditions[?(@.type=="Ready")].status') == "True"
    assert tables.jsonpath(node, '.status.conditions[?(@.type=="Missing")].status') is None
    assert tables.jsonpath(node, ".status.addresses[1]") == "b"
    assert tables.jsonpath(node, ".status.addresses[5]") is None
    assert tables.jsonpath(node, ".spec.nothing") is None
    now = tables.datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=tables.datetime.timezone.utc)
    assert [tables.human_age(ts, now) for ts in ("2026-11-26T11:59:50Z", "2026-11-26T11:55:00Z", "2026-11-26T09:00:00Z", "2026-11-20T12:00:00Z")] == [
        "10s", "5m", "3h", "6d"]
    assert tables.human_age("yesterday", now) == "<invalid>"


WEB_DEPLOYMENT = {
    "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"app": "w"}},
             "template": {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "w", "image": "x"}]}}},
}


def test_stand_in_controllers_are_opt_in_and_write_ready_status(tmp_path):
    with KubeEmulator(nodes=[GPU_NODE, CPU_NODE], workdir=str(tmp_path / "sim"), simulate_controllers=True) as kube:
        client = kube.api_client()
        core, apps = kubernetes.client.CoreV1Api(client), kubernetes.client.AppsV1Api(client)
        custom = kubernetes.client.CustomObjectsApi(client)
        custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", nodepool("early"))
        early = custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", "early")
        assert [(c["type"], c["status"], c["reason"]) for c in early["status"]["conditions"]] == [("Ready", "False", "NodeClassNotReady")]
        custom.create_cluster_custom_object("karpenter.k8s.aws", "v1", "ec2nodeclasses", {
            "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "default"},
            "spec": {"role": "R", "amiSelectorTerms": [{"alias": "al2023@latest"}], "subnetSelectorTerms": [{"id": "subnet-1"}],
                     "securityGroupSelectorTerms": [{"id": "sg-1"}]}})
        ready = custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", "early")
        assert [(c["type"], c["status"]) for c in ready["status"]["conditions"]] == [("Ready", "True")]
        pod_spec = {"nodeSelector": {"nvidia.com/gpu.present": "true"}, "containers": [{"name": "dp", "image": "x"}]}
        daemonset = {"metadata": {"name": "device-plugin"},
                     "spec": {"selector": {"matchLabels": {"app": "dp"}}, "template": {"metadata": {"labels": {"app": "dp"}}, "spec": pod_spec}}}
        apps.create_namespaced_daemon_set("default", daemonset)
        status = apps.read_namespaced_daemon_set("device-plugin", "default").status
        assert (status.desired_number_scheduled, status.number_ready, status.observed_generation) == (1, 1, 1)
        kube.seed_nodes([{"metadata": {"name": "gpu-9", "labels": {"nvidia.com/gpu.present": "true"}}}])
        assert apps.read_namespaced_daemon_set("device-plugin", "default").status.number_ready == 2
        deployment = apps.create_namespaced_deployment("default", WEB_DEPLOYMENT)
        assert deployment.spec.replicas == 1  # defaulted by the API, as a real server does
        assert apps.read_namespaced_deployment("web", "default").status.available_replicas == 1
        core.create_namespaced_pod("default", {"metadata": {"name": "bound"}, "spec": {"nodeName": "gpu-1", "containers": [{"name": "c", "image": "x"}]}})
        core.create_namespaced_pod("default", {"metadata": {"name": "unbound"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
        assert core.read_namespaced_pod("bound", "default").status.phase == "Running"
        assert core.read_namespaced_pod("unbound", "default").status.phase == "Pending"
    with KubeEmulator(crds=[], workdir=str(tmp_path / "plain")) as plain:
        apps = kubernetes.client.AppsV1Api(plain.api_client())
        apps.create_namespaced_deployment("default", WEB_DEPLOYMENT)
        status = apps.read_namespaced_deployment("web", "default").status
        assert status is None or not status.available_replicas  # no controllers unless asked for


def test_launched_server_exits_when_its_parent_dies(tmp_path):
    # A test run that is killed must not leave emulators behind on a shared machine.
    code = ("import os\nfrom ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator\n"
            "kube = KubeEmulator(crds=[], workdir=%r)\nkube.start()\nprint(kube.pid, flush=True)\nos._exit(0)\n" % str(tmp_path))
    parent = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=launcher._python_path()),
                            timeout=60, check=True)
    pid = int(parent.stdout.strip())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, 15)
    pytest.fail("the emulator (pid %d) outlived its parent" % pid)
