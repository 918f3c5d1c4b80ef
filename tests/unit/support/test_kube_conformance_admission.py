# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Admission of the real Karpenter v1.14.1 CRDs -- OpenAPI schema, defaults, pruning, CEL rules -- as a differential
test: the same requests and assertions against the real kube-apiserver and the emulator the demo falls back to
(tests/unit/support/kube_backends.py). The wording asserted is the real server's."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

import pytest

kubernetes = pytest.importorskip("kubernetes")

from kubernetes.client import ApiException  # noqa: E402

from ansible_collections.gpu_slicing.eks.tests.unit.support import kube_backends  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import legs  # noqa: E402

# the emulator and the real server do not depend on ansible-core: the main leg is enough
pytestmark = pytest.mark.skipif(not legs.on_main_leg(), reason=legs.skip_reason())

CEL_SKIPPED = ("Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors "
               "to complete validation")
NODE_CLASS_REF = {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}


def nodepool(name, requirements=None, **spec):
    body = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name},
            "spec": {"template": {"metadata": {"labels": {"nvidia.com/mig.config": "all-1g.10gb"}},
                                  "spec": {"nodeClassRef": dict(NODE_CLASS_REF),
                                           "requirements": requirements if requirements is not None else
                                           [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["p5.48xlarge"]}]}}}}
    body["spec"].update(spec)
    return body


def ec2nodeclass(name, **spec):
    body = {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": name},
            "spec": {"role": "KarpenterNodeRole", "amiSelectorTerms": [{"alias": "al2023@v20261101"}],
                     "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "demo"}}],
                     "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "demo"}}]}}
    body["spec"].update(spec)
    return body


def nodeoverlay(name, **spec):
    body = {"apiVersion": "karpenter.sh/v1alpha1", "kind": "NodeOverlay", "metadata": {"name": name},
            "spec": {"requirements": [{"key": "karpenter.sh/nodepool", "operator": "In", "values": ["gpu"]}],
                     "capacity": {"nvidia.com/mig-1g.10gb": "56"}}}
    body["spec"].update(spec)
    return body


@pytest.fixture(scope="module", params=kube_backends.BACKENDS)
def kube(request):
    with kube_backends.backend(request.param) as backend:
        yield backend


@pytest.fixture
def custom(kube):
    return kubernetes.client.CustomObjectsApi(kube.api_client())


@pytest.fixture
def unique():
    return kube_backends.unique()


def rejected(call, *args):
    """Run a create/patch that must fail with 422 Invalid; return (message, {field: [cause messages]})."""
    with pytest.raises(ApiException) as failure:
        call(*args)
    assert failure.value.status == 422, failure.value.body
    status = json.loads(failure.value.body)
    assert status["kind"] == "Status" and status["reason"] == "Invalid"
    fields = {}
    for cause in status["details"]["causes"]:
        fields.setdefault(cause["field"], []).append(cause["message"])
    summary = fields.pop("<nil>", None)  # CEL rules are not run on an object that fails the schema, and the server says so
    if summary is not None:
        assert CEL_SKIPPED in summary, summary
        kube_backends.Backend.accepts("anyof-summary")  # any other cause without a field is not compared
    return status["message"], fields


def rejected_fields(call, *args):
    return rejected(call, *args)[1]


def create_nodepool(custom, body):
    return custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", body)


def create_nodeclass(custom, body):
    return custom.create_cluster_custom_object("karpenter.k8s.aws", "v1", "ec2nodeclasses", body)


# ---------------------------------------------------------------- schema and defaults over HTTP
def test_valid_objects_of_all_three_karpenter_kinds_are_accepted(custom, unique):
    assert create_nodepool(custom, nodepool(unique, weight=10, limits={"nvidia.com/gpu": 16}))["spec"]["weight"] == 10
    assert create_nodeclass(custom, ec2nodeclass(unique))["spec"]["role"] == "KarpenterNodeRole"
    overlay = custom.create_cluster_custom_object("karpenter.sh", "v1alpha1", "nodeoverlays", nodeoverlay(unique))
    assert overlay["spec"]["capacity"] == {"nvidia.com/mig-1g.10gb": "56"}


def test_nodepool_defaults_appear(custom, unique):
    created = create_nodepool(custom, nodepool(unique))
    assert created["spec"]["disruption"] == {"budgets": [{"nodes": "10%"}], "consolidateAfter": "0s",
                                             "consolidationPolicy": "WhenEmptyOrUnderutilized"}
    assert created["spec"]["template"]["spec"]["expireAfter"] == "720h"
    nodeclass = create_nodeclass(custom, ec2nodeclass(unique))
    assert nodeclass["spec"]["metadataOptions"] == {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                                                    "httpPutResponseHopLimit": 1, "httpTokens": "required"}


def test_bad_consolidation_policy_enum_is_422_with_the_field(custom, unique):
    message, fields = rejected(create_nodepool, custom, nodepool(unique, disruption={"consolidationPolicy": "Sometimes", "consolidateAfter": "1m"}))
    assert fields == {"spec.disruption.consolidationPolicy": [
        'Unsupported value: "Sometimes": supported values: "WhenEmpty", "WhenEmptyOrUnderutilized", "Balanced"']}
    assert message.startswith('NodePool.karpenter.sh "%s" is invalid: [spec.disruption.consolidationPolicy' % unique)
    with pytest.raises(ApiException):
        custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique)


@pytest.mark.parametrize("spec, field, wording", [
    ({"weight": 101}, "spec.weight", "should be less than or equal to 100"),
    ({"weight": "high"}, "spec.weight", "must be of type integer"),
    ({"disruption": {"consolidateAfter": "5 minutes"}}, "spec.disruption.consolidateAfter", "should match"),
    ({"disruption": {"budgets": [{"nodes": "110%"}], "consolidateAfter": "1m"}}, "spec.disruption.budgets[0].nodes", "should match"),
    ({"limits": {"nvidia.com/gpu": True}}, "spec.limits.nvidia.com/gpu", "must be of type integer"),
])
def test_schema_violations_name_the_field(custom, unique, spec, field, wording):
    fields = rejected_fields(create_nodepool, custom, nodepool(unique, **spec))
    assert field in fields, fields
    assert any(wording in message for message in fields[field]), fields


def test_formats_date_time_and_int32_are_checked(custom, unique):
    bad_time = nodepool(unique)
    bad_time["spec"]["template"]["spec"]["taints"] = [{"key": "nvidia.com/gpu", "effect": "NoSchedule", "timeAdded": "yesterday"}]
    fields = rejected_fields(create_nodepool, custom, bad_time)
    assert fields == {"spec.template.spec.taints[0].timeAdded": [
        'Invalid value: "yesterday": spec.template.spec.taints[0].timeAdded in body must be of type date-time: "yesterday"']}
    good_time = copy.deepcopy(bad_time)
    good_time["spec"]["template"]["spec"]["taints"][0]["timeAdded"] = "2026-11-26T12:00:00Z"
    assert create_nodepool(custom, good_time)["spec"]["template"]["spec"]["taints"][0]["timeAdded"] == "2026-11-26T12:00:00Z"


def test_missing_required_fields_are_reported(custom, unique):
    body = nodepool(unique)
    del body["spec"]["template"]["spec"]["nodeClassRef"]
    fields = rejected_fields(create_nodepool, custom, body)
    assert fields == {"spec.template.spec.nodeClassRef": ["Required value"]}
    nodeclass = ec2nodeclass(unique)
    del nodeclass["spec"]["subnetSelectorTerms"]
    fields = rejected_fields(create_nodeclass, custom, nodeclass)
    assert fields == {"spec.subnetSelectorTerms": ["Required value"]}


def test_unknown_fields_are_pruned_with_a_warning_or_rejected_when_strict(kube, custom, unique):
    body = nodepool(unique, consolidation={"enabled": True})
    created = create_nodepool(custom, body)
    assert "consolidation" not in created["spec"]
    strict = nodepool(unique + "-s", consolidation={"enabled": True})
    status, answer = kube.request("POST", "/apis/karpenter.sh/v1/nodepools?fieldValidation=Strict", strict)
    assert status == 400 and "spec.consolidation" in answer["message"]


# ---------------------------------------------------------------- CEL rules over HTTP
def test_cel_role_xor_instance_profile(custom, unique):
    fields = rejected_fields(create_nodeclass, custom, ec2nodeclass(unique, instanceProfile="KarpenterProfile"))
    assert fields == {"spec": ["Invalid value: must specify exactly one of ['role', 'instanceProfile']"]}
    neither = ec2nodeclass(unique)
    del neither["spec"]["role"]
    fields = rejected_fields(create_nodeclass, custom, neither)
    assert "must specify exactly one of ['role', 'instanceProfile']" in fields["spec"][0]
    only_profile = ec2nodeclass(unique, instanceProfile="KarpenterProfile")
    del only_profile["spec"]["role"]
    assert create_nodeclass(custom, only_profile)["spec"]["instanceProfile"] == "KarpenterProfile"


def test_cel_alias_rules(custom, unique):
    fields = rejected_fields(create_nodeclass, custom, ec2nodeclass(unique, amiSelectorTerms=[{"alias": "al2023@latest"}, {"id": "ami-123"}]))
    assert any("'alias' is mutually exclusive" in m for m in fields["spec.amiSelectorTerms"])
    fields = rejected_fields(create_nodeclass, custom, ec2nodeclass(unique, amiSelectorTerms=[{"alias": "ubuntu@latest"}]))
    assert any("family is not supported" in m for m in fields["spec.amiSelectorTerms[0].alias"])
    fields = rejected_fields(create_nodeclass, custom, ec2nodeclass(unique, amiFamily="Bottlerocket"))
    assert any("amiFamily must be 'AL2023' or 'Custom'" in m for m in fields["spec"])
    fields = rejected_fields(create_nodeclass, custom, ec2nodeclass(unique, tags={"kubernetes.io/cluster/demo": "owned"}))
    assert any("restricted tag matching kubernetes.io/cluster/" in m for m in fields["spec.tags"])


def test_cel_restricted_label_domains_in_requirements_and_labels(custom, unique):
    fields = rejected_fields(create_nodepool, custom, nodepool(unique, requirements=[
        {"key": "karpenter.sh/custom-thing", "operator": "In", "values": ["x"]}]))
    assert fields == {"spec.template.spec.requirements[0].key": ['Invalid value: "karpenter.sh/custom-thing": label domain "karpenter.sh" is restricted']}
    fields = rejected_fields(create_nodepool, custom, nodepool(unique, requirements=[
        {"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In", "values": ["h100"]},
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["x"]}]))
    assert list(fields) == ["spec.template.spec.requirements[1].key"]
    body = nodepool(unique)
    body["spec"]["template"]["metadata"]["labels"]["karpenter.sh/nodepool"] = "other"
    fields = rejected_fields(create_nodepool, custom, body)
    assert any('label "karpenter.sh/nodepool" is restricted' in m for m in fields["spec.template.metadata.labels"])
    allowed = nodepool(unique, requirements=[{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                                             {"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In", "values": ["h100", "a100"]}])
    assert create_nodepool(custom, allowed)["metadata"]["name"] == unique


def test_cel_requirement_operator_rules(custom, unique):
    fields = rejected_fields(create_nodepool, custom, nodepool(unique, requirements=[
        {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["-1"]}]))
    assert any("must have a single positive integer value" in m for m in fields["spec.template.spec.requirements"])
    fields = rejected_fields(create_nodepool, custom, nodepool(unique, requirements=[
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": []}]))
    assert any("with operator 'In' must have a value defined" in m for m in fields["spec.template.spec.requirements"])
    fields = rejected_fields(create_nodepool, custom, nodepool(unique, requirements=[
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["p5.48xlarge"], "minValues": 2}]))
    assert any("'minValues' must have at least that many values" in m for m in fields["spec.template.spec.requirements"])


def test_cel_budget_schedule_needs_duration(custom, unique):
    disruption = {"consolidateAfter": "1m", "budgets": [{"nodes": "1", "schedule": "@daily"}]}
    fields = rejected_fields(create_nodepool, custom, nodepool(unique, disruption=disruption))
    assert fields == {"spec.disruption.budgets": ["Invalid value: 'schedule' must be set with 'duration'"]}
    ok = nodepool(unique, disruption={"consolidateAfter": "1m", "budgets": [{"nodes": "1", "schedule": "@daily", "duration": "10m"}]})
    assert create_nodepool(custom, ok)["spec"]["disruption"]["budgets"][0]["duration"] == "10m"


def test_cel_transition_rule_node_class_ref_group_is_immutable(custom, unique):
    create_nodepool(custom, nodepool(unique))
    patch = {"spec": {"template": {"spec": {"nodeClassRef": {"group": "example.com", "kind": "EC2NodeClass", "name": "default"}}}}}
    fields = rejected_fields(custom.patch_cluster_custom_object, "karpenter.sh", "v1", "nodepools", unique, patch)
    assert fields == {"spec.template.spec.nodeClassRef": ['Invalid value: nodeClassRef.group is immutable']}
    renamed = {"spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"}}}}}
    assert custom.patch_cluster_custom_object("karpenter.sh", "v1", "nodepools", unique, renamed)["spec"]["template"]["spec"]["nodeClassRef"]["name"] == "gpu"


def test_cel_static_nodepool_transition_and_limits(custom, unique):
    create_nodepool(custom, nodepool(unique))
    fields = rejected_fields(custom.patch_cluster_custom_object, "karpenter.sh", "v1", "nodepools", unique, {"spec": {"replicas": 2}})
    assert any("Cannot transition NodePool between static" in m for m in fields["spec"])
    fields = rejected_fields(create_nodepool, custom, nodepool(unique + "-static", replicas=2, limits={"cpu": "10"}))
    assert any("only 'limits.nodes' is supported on static NodePools" in m for m in fields["spec"])


def test_cel_node_overlay_rules(custom, unique):
    create = custom.create_cluster_custom_object
    fields = rejected_fields(create, "karpenter.sh", "v1alpha1", "nodeoverlays", nodeoverlay(unique, capacity={"cpu": "4"}))
    assert fields == {"spec.capacity": ['Invalid value: invalid resource restricted']}
    fields = rejected_fields(create, "karpenter.sh", "v1alpha1", "nodeoverlays", nodeoverlay(unique, price="1.0", priceAdjustment="-10%"))
    assert any("cannot set both 'price' and 'priceAdjustment'" in m for m in fields["spec"])
