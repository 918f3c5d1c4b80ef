# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_karpenter: the compact constraint tables equal the real CRDs; builders produce CRD-valid objects."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest

jsonschema = pytest.importorskip("jsonschema")

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _karpenter as karpenter  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import crd_schema, crd_text  # noqa: E402

NODEPOOLS, NODECLASSES, OVERLAYS = "karpenter.sh_nodepools.yaml", "karpenter.k8s.aws_ec2nodeclasses.yaml", "karpenter.sh_nodeoverlays.yaml"


def _aws_allow_lists(filename):
    text = crd_text(filename)
    rules = re.findall(r'rule: (?:self\.all\(x, x in |self in )(\[[^\]]*karpenter\.k8s\.aws[^\]]*\])', text)
    assert rules, "no karpenter.k8s.aws allow-list rule found in %s" % filename
    return set(frozenset(re.findall(r'"(karpenter\.k8s\.aws/[^"]+)"', rule)) for rule in rules)


def _prop(schema, *path):
    for key in path:
        schema = schema["items"] if key == "[]" else schema["properties"][key]
    return schema


def test_allow_lists_match_crds():
    assert _aws_allow_lists(NODEPOOLS) == {frozenset(karpenter.NODEPOOL_AWS_ALLOWED_LABELS)}
    assert _aws_allow_lists(OVERLAYS) == {frozenset(karpenter.NODEOVERLAY_AWS_ALLOWED_LABELS)}
    for filename in (NODEPOOLS, OVERLAYS):
        assert 'x in ["karpenter.sh/capacity-type", "karpenter.sh/nodepool"]' in crd_text(filename) or \
            'self in ["karpenter.sh/capacity-type", "karpenter.sh/nodepool"]' in crd_text(filename)


def test_patterns_and_enums_match_crds():
    pool = crd_schema(NODEPOOLS)["properties"]["spec"]
    tspec = _prop(pool, "template", "spec")
    req = _prop(tspec, "requirements", "[]")
    assert req["properties"]["key"]["pattern"] == karpenter.LABEL_KEY_RE
    # The CRD puts the value pattern on the array (where OpenAPI ignores it); we apply it to each value, as
    # Karpenter's own requirement validation does.
    assert req["properties"]["values"]["pattern"] == karpenter.LABEL_VALUE_RE
    assert tuple(sorted(req["properties"]["operator"]["enum"])) == tuple(sorted(karpenter.OPERATORS))
    assert (req["properties"]["minValues"]["minimum"], req["properties"]["minValues"]["maximum"]) == karpenter.LIMITS["min_values"]
    assert tspec["properties"]["expireAfter"]["pattern"] == karpenter.DURATION_OR_NEVER_RE
    assert tspec["properties"]["terminationGracePeriod"]["pattern"] == karpenter.DURATION_RE
    assert tuple(_prop(tspec, "taints", "[]", "effect")["enum"]) == karpenter.TAINT_EFFECTS
    disruption = pool["properties"]["disruption"]
    assert disruption["properties"]["consolidateAfter"]["pattern"] == karpenter.DURATION_OR_NEVER_RE
    assert tuple(disruption["properties"]["consolidationPolicy"]["enum"]) == karpenter.CONSOLIDATION_POLICIES
    budget = _prop(disruption, "budgets", "[]")
    assert budget["properties"]["nodes"]["pattern"] == karpenter.BUDGET_NODES_RE
    assert budget["properties"]["duration"]["pattern"] == karpenter.BUDGET_DURATION_RE
    assert budget["properties"]["schedule"]["pattern"] == karpenter.BUDGET_SCHEDULE_RE
    assert tuple(budget["properties"]["reasons"]["items"]["enum"]) == karpenter.BUDGET_REASONS
    assert pool["properties"]["limits"]["additionalProperties"]["pattern"] == karpenter.QUANTITY_RE
    assert (pool["properties"]["weight"]["minimum"], pool["properties"]["weight"]["maximum"]) == karpenter.LIMITS["weight"]
    overlay = crd_schema(OVERLAYS)["properties"]["spec"]
    assert overlay["properties"]["price"]["pattern"] == karpenter.PRICE_RE
    assert overlay["properties"]["priceAdjustment"]["pattern"] == karpenter.PRICE_ADJUSTMENT_RE
    assert (overlay["properties"]["weight"]["minimum"], overlay["properties"]["weight"]["maximum"]) == karpenter.LIMITS["overlay_weight"]
    assert "self.all(x, !(x in ['cpu', 'memory', 'ephemeral-storage', 'pods']))" in crd_text(OVERLAYS)
    nodeclass = crd_schema(NODECLASSES)["properties"]["spec"]
    assert tuple(nodeclass["properties"]["amiFamily"]["enum"]) == karpenter.AMI_FAMILIES
    assert _prop(nodeclass, "blockDeviceMappings", "[]", "ebs", "volumeSize")["pattern"] == karpenter.VOLUME_SIZE_RE
    assert "self.split('@')[0] in ['al2','al2023','bottlerocket','windows2019','windows2022','windows2025']" in crd_text(NODECLASSES)
    assert sorted(karpenter.ALIAS_FAMILIES) == ["al2", "al2023", "bottlerocket", "windows2019", "windows2022", "windows2025"]
    for key in karpenter.RESTRICTED_TAG_KEYS:
        assert "k !='%s'" % key in crd_text(NODECLASSES) or "k != '%s'" % key in crd_text(NODECLASSES), key


PARAMS = dict(name="pool", instance_types=["p5.48xlarge"], capacity_types=["spot", "on-demand"], mig_config="all-1g.10gb",
              mig_strategy="mixed", labels={"team": "ml"}, limits={"nvidia.com/gpu": 16, "cpu": "1000"},
              disruption={"consolidation_policy": "WhenEmpty", "consolidate_after": "10m",
                          "budgets": [{"nodes": "0", "schedule": "0 9 * * 1-5", "duration": "8h", "reasons": ["Drifted"]},
                                      {"nodes": "10%"}]},
              expire_after="720h", termination_grace_period="24h", weight=50,
              startup_taints=[{"key": "gpu-slicing.eks/mig-pending", "value": "true", "effect": "NoSchedule"}],
              requirements=[{"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gte", "values": ["1"]},
                            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"], "min_values": 2}],
              spec={"template": {"metadata": {"annotations": {"example.com/x": "y"}}}})


def _validate(obj, filename):
    body = dict((k, v) for k, v in obj.items() if k != "metadata")
    errors = list(jsonschema.Draft7Validator(crd_schema(filename)).iter_errors(body))
    assert not errors, [e.message for e in errors]


def test_built_objects_pass_crd_schema_and_local_validation():
    pool = karpenter.build_nodepool(PARAMS, "gpu")
    karpenter.validate_nodepool(pool)
    _validate(pool, NODEPOOLS)
    assert pool["spec"]["template"]["metadata"] == {"labels": {"team": "ml", "nvidia.com/mig.config": "all-1g.10gb"},
                                                    "annotations": {"example.com/x": "y"}}
    nodeclass = karpenter.build_ec2nodeclass({"name": "gpu", "instance_profile": "p", "tags": {"team": "ml"},
                                              "block_device_mappings": [{"deviceName": "/dev/xvda", "rootVolume": True,
                                                                         "ebs": {"volumeSize": "200Gi", "volumeType": "gp3"}}],
                                              "metadata_options": {"httpTokens": "required"}}, cluster_name="c")
    karpenter.validate_ec2nodeclass(nodeclass)
    _validate(nodeclass, NODECLASSES)
    overlay = karpenter.build_nodeoverlay("pool", "p5.48xlarge", {"nvidia.com/mig-1g.10gb": 56, "nvidia.com/gpu": 0}, weight=10)
    karpenter.validate_nodeoverlay(overlay)
    _validate(overlay, OVERLAYS)


def test_deep_merge_merges_dicts_and_replaces_lists():
    merged = karpenter.deep_merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}


@pytest.mark.parametrize("overlay_spec,path", [
    ({"capacity": {"cpu": "4"}}, "spec.capacity['cpu']"),
    ({"capacity": {"nvidia.com/mig-1g.10gb": "lots"}}, "spec.capacity['nvidia.com/mig-1g.10gb']"),
    ({"price": "1.0", "priceAdjustment": "-10%"}, "spec.price"),
    ({"weight": 0}, "spec.weight"),
    ({"requirements": [{"key": "karpenter.k8s.aws/instance-tenancy", "operator": "In", "values": ["default"]}]},
     "spec.requirements[0].key"),
    ({"requirements": [{"key": "x", "operator": "NotIn", "values": []}]}, "spec.requirements[0].values"),
])
def test_overlay_violations_name_the_field(overlay_spec, path):
    overlay = karpenter.build_nodeoverlay("pool", "p5.48xlarge", {"nvidia.com/mig-1g.10gb": 56})
    overlay["spec"].update(overlay_spec)
    with pytest.raises(karpenter.KarpenterValidationError) as info:
        karpenter.validate_nodeoverlay(overlay)
    assert path in [p for p, _m in info.value.violations], info.value.violations


def test_static_pool_transition_against_live_object():
    pool = karpenter.build_nodepool(dict(name="p", instance_types=["p5.48xlarge"], spec={"replicas": 2}), "gpu")
    live = karpenter.build_nodepool(dict(name="p", instance_types=["p5.48xlarge"]), "gpu")
    with pytest.raises(karpenter.KarpenterValidationError) as info:
        karpenter.validate_nodepool(pool, live=live)
    assert "spec.replicas" in str(info.value)
    karpenter.validate_nodepool(pool)  # fine on create


def test_gpu_names_resolve_through_catalog():
    assert karpenter.resolve_instance_types(gpu_names=["a100"]) == ["p4d.24xlarge", "p4de.24xlarge"]
    assert karpenter.resolve_instance_types(gpu_names=["h200", "b200"]) == ["p5e.48xlarge", "p5en.48xlarge", "p6-b200.48xlarge"]
    with pytest.raises(karpenter.KarpenterValidationError) as info:
        karpenter.resolve_instance_types(gpu_names=["t4"])
    assert "gpu_names[0]" in str(info.value)


# Every CEL rule of the three CRDs, by message: checked locally before any API call ("local"), or left to the API
# server's admission in the dry run that precedes every write (with the reason). A new Karpenter release that adds a
# rule fails test_every_cel_rule_is_accounted_for until someone decides.
_SERVER_ONLY_UNEXPOSED = "server (field not generated by the module; reachable only through node_class.spec)"
CEL_COVERAGE = {
    "karpenter.sh_nodepools.yaml": {
        "'schedule' must be set with 'duration'": "local",
        "'weight' is not supported on static NodePools": "local",
        "Cannot transition NodePool between static (replicas set) and dynamic (replicas unset) provisioning modes": "local",
        "group may not be empty": "local",
        "kind may not be empty": "local",
        "name may not be empty": "local",
        'label "karpenter.sh/nodepool" is restricted': "local",
        'label "kubernetes.io/hostname" is restricted': "local",
        'label domain "karpenter.k8s.aws" is restricted': "local",
        'label domain "karpenter.sh" is restricted': "local",
        "nodeClassRef.group is immutable": "local",
        "nodeClassRef.kind is immutable": "local",
        "only 'limits.nodes' is supported on static NodePools": "local",
        "requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value": "local",
        "requirements with 'minValues' must have at least that many values specified in the 'values' field": "local",
        "requirements with operator 'In' must have a value defined": "local",
    },
    "karpenter.sh_nodeoverlays.yaml": {
        "cannot set both 'price' and 'priceAdjustment'": "local",
        "invalid resource restricted": "local",
        'label "kubernetes.io/hostname" is restricted': "local",
        'label domain "karpenter.k8s.aws" is restricted': "local",
        'label domain "karpenter.sh" is restricted': "local",
        "requirements operator 'Gt', 'Lt', 'Gte' or 'Lte' must have a single positive integer value": "local",
        "requirements with operator 'In' must have a value defined": "local",
        "requirements with operator 'NotIn' must have a value defined": "local",
    },
    "karpenter.k8s.aws_ec2nodeclasses.yaml": {
        "'alias' is improperly formatted, must match the format 'family@version'": "local",
        "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms": "local",
        "'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms": "local",
        "'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms": "local",
        "'id' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term": "local",
        "'id' is mutually exclusive, cannot be set with a combination of other fields in a subnet selector term": "local",
        "'name' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term": "local",
        "'id' is mutually exclusive, cannot be set along with other fields in a capacity reservation selector term": _SERVER_ONLY_UNEXPOSED,
        "'name' and 'id' are mutually exclusive": _SERVER_ONLY_UNEXPOSED,
        "family is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022', "
        "'windows2025'": "local",
        "windows families may only specify version 'latest'": "local",
        "expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']": "local",
        "expected at least one, got none, ['tags', 'id', 'name']": "local",
        "expected at least one, got none, ['tags', 'id']": "local",
        "expected at least one, got none, ['name', 'id']": _SERVER_ONLY_UNEXPOSED,
        "expected at least one, got none, ['tags', 'id', 'instanceMatchCriteria']": _SERVER_ONLY_UNEXPOSED,
        "if set, amiFamily must be 'AL2' or 'Custom' when using an AL2 alias": "local",
        "if set, amiFamily must be 'AL2023' or 'Custom' when using an AL2023 alias": "local",
        "if set, amiFamily must be 'Bottlerocket' or 'Custom' when using a Bottlerocket alias": "local",
        "if set, amiFamily must be 'Windows2019' or 'Custom' when using a Windows2019 alias": "local",
        "if set, amiFamily must be 'Windows2022' or 'Custom' when using a Windows2022 alias": "local",
        "if set, amiFamily must be 'Windows2025' or 'Custom' when using a Windows2025 alias": "local",
        "must specify amiFamily if amiSelectorTerms does not contain an alias": "local",
        "must specify exactly one of ['role', 'instanceProfile']": "local",
        "role cannot be empty": "local",
        "instanceProfile cannot be empty": "local",
        "empty tag keys aren't supported": "local",
        "empty tag keys or values aren't supported": "local",
        "tag contains a restricted tag matching eks:eks-cluster-name": "local",
        "tag contains a restricted tag matching karpenter.k8s.aws/ec2nodeclass": "local",
        "tag contains a restricted tag matching karpenter.sh/nodeclaim": "local",
        "tag contains a restricted tag matching karpenter.sh/nodepool": "local",
        "tag contains a restricted tag matching kubernetes.io/cluster/": "local",
        "must have only one blockDeviceMappings with rootVolume": "local",
        "snapshotID or volumeSize must be defined": "local",
        "securityGroupSelectorTerms cannot be empty": "local",
        "subnetSelectorTerms cannot be empty": "local",
        "snapshotID must be set when volumeInitializationRate is set": _SERVER_ONLY_UNEXPOSED,
        "at least one of tcpEstablishedTimeout, udpStreamTimeout, or udpTimeout must be set": _SERVER_ONLY_UNEXPOSED,
        "evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod": _SERVER_ONLY_UNEXPOSED,
        "evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft": _SERVER_ONLY_UNEXPOSED,
        "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent": _SERVER_ONLY_UNEXPOSED,
        "kubeReserved value cannot be a negative resource quantity": _SERVER_ONLY_UNEXPOSED,
        "systemReserved value cannot be a negative resource quantity": _SERVER_ONLY_UNEXPOSED,
        "networkInterfaces must include a primary interface with interfaceType='interface'": _SERVER_ONLY_UNEXPOSED,
        "networkInterfaces must not have duplicate networkCardIndex and deviceIndex pairs, and can have at most one efa device per "
        "network card": _SERVER_ONLY_UNEXPOSED,
        "valid keys for evictionHard are ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available',"
        "'imagefs.inodesFree','pid.available']": _SERVER_ONLY_UNEXPOSED,
        "valid keys for evictionSoft are ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available',"
        "'imagefs.inodesFree','pid.available']": _SERVER_ONLY_UNEXPOSED,
        "valid keys for evictionSoftGracePeriod are ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available',"
        "'imagefs.inodesFree','pid.available']": _SERVER_ONLY_UNEXPOSED,
        "valid keys for kubeReserved are ['cpu','memory','ephemeral-storage','pid']": _SERVER_ONLY_UNEXPOSED,
        "valid keys for systemReserved are ['cpu','memory','ephemeral-storage','pid']": _SERVER_ONLY_UNEXPOSED,
    },
}


def _cel_messages(node):
    found = set()
    if isinstance(node, dict):
        for rule in node.get("x-kubernetes-validations") or []:
            found.add(rule["message"])
        for value in node.values():
            found |= _cel_messages(value)
    elif isinstance(node, list):
        for value in node:
            found |= _cel_messages(value)
    return found


@pytest.mark.parametrize("filename", sorted(CEL_COVERAGE))
def test_every_cel_rule_is_accounted_for(filename):
    messages = _cel_messages(crd_schema(filename))
    assert messages == set(CEL_COVERAGE[filename]), (sorted(messages - set(CEL_COVERAGE[filename])),
                                                     sorted(set(CEL_COVERAGE[filename]) - messages))


def test_node_class_spec_is_merged_and_empty_role_rejected():
    nodeclass = karpenter.build_ec2nodeclass({"name": "gpu", "role": "R", "spec": {
        "capacityReservationSelectorTerms": [{"tags": {"team": "ml"}}], "kubelet": {"maxPods": 110}}}, cluster_name="c")
    assert nodeclass["spec"]["capacityReservationSelectorTerms"] == [{"tags": {"team": "ml"}}]
    assert nodeclass["spec"]["kubelet"] == {"maxPods": 110} and nodeclass["spec"]["role"] == "R"
    _validate(nodeclass, NODECLASSES)
    nodeclass["spec"]["role"] = ""
    with pytest.raises(karpenter.KarpenterValidationError) as info:
        karpenter.validate_ec2nodeclass(nodeclass)
    assert ("spec.role", "role cannot be empty") in info.value.violations
