# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Karpenter objects for MIG GPU pools: builders and local validation.

Builds NodePool (karpenter.sh/v1), EC2NodeClass (karpenter.k8s.aws/v1) and NodeOverlay
(karpenter.sh/v1alpha1) objects from the high-level options of ``karpenter_nodepool`` and checks them
against the parts of the Karpenter v1.14.1 CRD schemas and CEL rules that users actually trip over.

Why hand-written checks and not the CRDs: modules ship only ``module_utils`` (the CRDs are not there at
run time) and must not need a CEL engine or jsonschema on the controller. The constants below (allow-lists,
patterns, enums) are the compact Python form of the CRD constraints; ``tests/unit/plugins/module_utils/
test_karpenter.py`` re-reads the real CRDs and fails if they drift apart, and accounts for every CEL rule
(checked here, or left to the API server's dry run that the module sends before any write).

Every violation names the field path, e.g. ``spec.template.spec.requirements[1].values``. Nothing here does
I/O; the API edge is ``_k8s.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from fractions import Fraction

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing

# The Karpenter API this collection speaks, written only here: _k8s.py, the karpenter_kinds lookup (used by
# playbooks/verify.yml) and the builders below read it.
NODEPOOL_API_VERSION = "karpenter.sh/v1"
EC2NODECLASS_API_VERSION = "karpenter.k8s.aws/v1"
EC2NODECLASS_GROUP = "karpenter.k8s.aws"
EC2NODECLASS_KIND = "EC2NodeClass"
NODEOVERLAY_API_VERSION = "karpenter.sh/v1alpha1"
# kind -> (apiVersion, plural); all three are cluster-scoped
KINDS = (
    ("NodePool", NODEPOOL_API_VERSION, "nodepools"),
    ("EC2NodeClass", EC2NODECLASS_API_VERSION, "ec2nodeclasses"),
    ("NodeOverlay", NODEOVERLAY_API_VERSION, "nodeoverlays"),
)

MIG_CONFIG_LABEL = "nvidia.com/mig.config"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "gpu-slicing-eks"
# Marks the NodeOverlays that belong to one NodePool, so stale ones can be pruned by label selector.
OVERLAY_OWNER_LABEL = "gpu-slicing.eks/nodepool"
MIG_STRATEGY_ANNOTATION = "gpu-slicing.eks/mig-strategy"
DISCOVERY_TAG = "karpenter.sh/discovery"

# A pinned AMI release (al2023@vYYYYMMDD): @latest makes every new AMI drift all nodes.
DEFAULT_AMI_ALIAS = "al2023@v20261101"
DEFAULT_TAINTS = ({"key": "nvidia.com/gpu", "effect": "NoSchedule"},)
GPU_RESOURCE = "nvidia.com/gpu"
# Karpenter's verdict on a NodeOverlay (pkg/controllers/nodeoverlay/controller.go): False with reason Conflict when
# another overlay of the same weight sets the same resource of the same instance type, or RuntimeValidation.
OVERLAY_VALIDATED_CONDITION = "ValidationSucceeded"
# Karpenter v1.14 subtracts each new NodeClaim's instance type capacity from the remaining limits inside one provisioning
# batch (scheduler.go subtractMax); "nodes" is not part of that capacity, so it binds only against existing nodes.
NODES_LIMIT_WARNING = ("limits.nodes is enforced by Karpenter only against nodes that already exist, not inside one "
                       "provisioning batch: a burst of pending pods can exceed it; limit cpu or the MIG resources for a "
                       "hard cap")


def _catalog_gpu_names():
    names = []
    for spec in catalog.INSTANCE_TYPES.values():
        model = catalog.GPU_MODELS[spec.gpu_model]
        if model.mig_capable and model.karpenter_gpu_name not in names:
            names.append(model.karpenter_gpu_name)
    return tuple(names)


# Karpenter's karpenter.k8s.aws/instance-gpu-name values of MIG-capable GPUs on an EC2 instance type of the catalog.
GPU_NAMES = _catalog_gpu_names()
CAPACITY_TYPES = ("spot", "on-demand", "reserved")

# ---- compact form of the CRD constraints (kept in sync by tests/unit/plugins/module_utils/test_karpenter.py) ----
KARPENTER_SH_ALLOWED_LABELS = ("karpenter.sh/capacity-type", "karpenter.sh/nodepool")
_AWS_COMMON_LABELS = (
    "karpenter.k8s.aws/ec2nodeclass",
    "karpenter.k8s.aws/instance-encryption-in-transit-supported",
    "karpenter.k8s.aws/instance-category",
    "karpenter.k8s.aws/instance-hypervisor",
    "karpenter.k8s.aws/instance-family",
    "karpenter.k8s.aws/instance-generation",
    "karpenter.k8s.aws/instance-local-nvme",
    "karpenter.k8s.aws/instance-size",
    "karpenter.k8s.aws/instance-cpu",
    "karpenter.k8s.aws/instance-cpu-manufacturer",
    "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz",
    "karpenter.k8s.aws/instance-memory",
    "karpenter.k8s.aws/instance-ebs-bandwidth",
    "karpenter.k8s.aws/instance-network-bandwidth",
    "karpenter.k8s.aws/instance-gpu-name",
    "karpenter.k8s.aws/instance-gpu-manufacturer",
    "karpenter.k8s.aws/instance-gpu-count",
    "karpenter.k8s.aws/instance-gpu-memory",
    "karpenter.k8s.aws/instance-accelerator-name",
    "karpenter.k8s.aws/instance-accelerator-manufacturer",
    "karpenter.k8s.aws/instance-accelerator-count",
    "karpenter.k8s.aws/instance-capability-flex",
)
NODEPOOL_AWS_ALLOWED_LABELS = _AWS_COMMON_LABELS + (
    "karpenter.k8s.aws/instance-tenancy",
    "karpenter.k8s.aws/capacity-reservation-type",
    "karpenter.k8s.aws/capacity-reservation-id",
    "karpenter.k8s.aws/capacity-reservation-interruptible",
    "karpenter.k8s.aws/placement-group-id",
    "karpenter.k8s.aws/placement-group-partition",
)
NODEOVERLAY_AWS_ALLOWED_LABELS = _AWS_COMMON_LABELS

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte")
NUMERIC_OPERATORS = ("Gt", "Lt", "Gte", "Lte")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
CONSOLIDATION_POLICIES = ("WhenEmpty", "WhenEmptyOrUnderutilized", "Balanced")
BUDGET_REASONS = ("Underutilized", "Empty", "Drifted")
AMI_FAMILIES = ("AL2", "AL2023", "Bottlerocket", "Custom", "Windows2019", "Windows2022", "Windows2025")
ALIAS_FAMILIES = {
    "al2": "AL2", "al2023": "AL2023", "bottlerocket": "Bottlerocket",
    "windows2019": "Windows2019", "windows2022": "Windows2022", "windows2025": "Windows2025",
}
RESTRICTED_TAG_KEYS = ("eks:eks-cluster-name", "karpenter.sh/nodepool", "karpenter.sh/nodeclaim",
                       "karpenter.k8s.aws/ec2nodeclass")
RESTRICTED_TAG_PREFIX = "kubernetes.io/cluster"
OVERLAY_RESTRICTED_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pods")

LABEL_KEY_RE = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(\/))?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
LABEL_VALUE_RE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
DURATION_OR_NEVER_RE = r"^(([0-9]+(s|m|h))+|Never)$"
DURATION_RE = r"^([0-9]+(s|m|h))+$"
BUDGET_NODES_RE = r"^((100|[0-9]{1,2})%|[0-9]+)$"
BUDGET_DURATION_RE = r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$"
BUDGET_SCHEDULE_RE = r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$"
QUANTITY_RE = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
PRICE_RE = r"^\d+(\.\d+)?$"
PRICE_ADJUSTMENT_RE = r"^(([+-]{1}(\d*\.?\d+))|(\+{1}\d*\.?\d+%)|(^(-\d{1,2}(\.\d+)?%)$)|(-100%))$"
VOLUME_SIZE_RE = (r"^((?:[1-9][0-9]{0,3}|[1-4][0-9]{4}|[5][0-8][0-9]{3}|59000)Gi|(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|[6][0-3][0-9]{3}|64000)G"
                  r"|([1-9]||[1-5][0-7]|58)Ti|([1-9]||[1-5][0-9]|6[0-3]|64)T)$")
# metadata.name of cluster-scoped objects: an RFC 1123 DNS subdomain.
DNS_SUBDOMAIN_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

LIMITS = {
    "requirements": 100, "budgets": 50, "labels": 100, "weight": (1, 100), "overlay_weight": (1, 10000),
    "min_values": (1, 50), "selector_terms": 30, "block_devices": 50, "key_len": 316, "value_len": 63,
}


class KarpenterValidationError(ValueError):
    """One or more violations, each a (field path, message) pair."""

    def __init__(self, violations):
        self.violations = list(violations)
        super(KarpenterValidationError, self).__init__(self.__str__())

    def __str__(self):
        return "; ".join("%s: %s" % (path, msg) for path, msg in self.violations)


class _Checker(object):
    def __init__(self):
        self.violations = []

    def error(self, path, message):
        self.violations.append((path, message))

    def pattern(self, path, value, regex, what):
        if not isinstance(value, str):
            self.error(path, "must be a string (%s), got %r" % (what, value))
        elif re.search(regex, value) is None:
            self.error(path, "%r is not a valid %s" % (value, what))

    def raise_if_any(self):
        if self.violations:
            raise KarpenterValidationError(self.violations)


def _domain(key):
    return key.split("/", 1)[0] if "/" in key else key


def _check_label_key(chk, path, key, aws_allowed, nodepool_key_allowed):
    if not isinstance(key, str) or not key:
        chk.error(path, "label key must be a non-empty string")
        return
    if len(key) > LIMITS["key_len"]:
        chk.error(path, "label key %r is longer than %d characters" % (key, LIMITS["key_len"]))
    if re.search(LABEL_KEY_RE, key) is None:
        chk.error(path, "%r is not a valid label key (qualified name)" % key)
    domain = _domain(key)
    if key == "karpenter.sh/nodepool" and not nodepool_key_allowed:
        chk.error(path, 'label "karpenter.sh/nodepool" is restricted (Karpenter sets it)')
    elif key not in KARPENTER_SH_ALLOWED_LABELS and domain.endswith("karpenter.sh"):
        chk.error(path, 'label domain "karpenter.sh" is restricted (%r); only %s allowed'
                  % (key, ", ".join(KARPENTER_SH_ALLOWED_LABELS)))
    if key == "kubernetes.io/hostname":
        chk.error(path, 'label "kubernetes.io/hostname" is restricted')
    if key not in aws_allowed and domain.endswith("karpenter.k8s.aws"):
        chk.error(path, 'label domain "karpenter.k8s.aws" is restricted: %r is not one of the well-known keys' % key)


def _check_labels(chk, path, labels):
    if labels is None:
        return
    if not isinstance(labels, dict):
        chk.error(path, "must be a mapping of label key to value")
        return
    if len(labels) > LIMITS["labels"]:
        chk.error(path, "at most %d labels are allowed, got %d" % (LIMITS["labels"], len(labels)))
    for key, value in labels.items():
        _check_label_key(chk, "%s[%r]" % (path, key), key, NODEPOOL_AWS_ALLOWED_LABELS, False)
        if not isinstance(value, str):
            chk.error("%s[%r]" % (path, key), "label value must be a string, got %r" % (value,))
        elif len(value) > LIMITS["value_len"] or re.search(LABEL_VALUE_RE, value) is None:
            chk.error("%s[%r]" % (path, key), "%r is not a valid label value (<= 63 chars, alphanumeric, '-', '_', '.')" % value)


def _check_requirements(chk, path, requirements, aws_allowed, nodepool_key_allowed, min_values_allowed=True,
                        not_in_needs_values=False):
    if not isinstance(requirements, list):
        chk.error(path, "must be a list of requirements")
        return
    if len(requirements) > LIMITS["requirements"]:
        chk.error(path, "at most %d requirements are allowed, got %d" % (LIMITS["requirements"], len(requirements)))
    for index, req in enumerate(requirements):
        rpath = "%s[%d]" % (path, index)
        if not isinstance(req, dict):
            chk.error(rpath, "must be a mapping with key, operator, values")
            continue
        key, operator, values = req.get("key"), req.get("operator"), req.get("values")
        _check_label_key(chk, rpath + ".key", key, aws_allowed, nodepool_key_allowed)
        if operator not in OPERATORS:
            chk.error(rpath + ".operator", "%r is not one of %s" % (operator, ", ".join(OPERATORS)))
            continue
        if values is None:
            values = []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            chk.error(rpath + ".values", "must be a list of strings")
            continue
        for vindex, value in enumerate(values):
            if len(value) > LIMITS["value_len"] or re.search(LABEL_VALUE_RE, value) is None:
                chk.error("%s.values[%d]" % (rpath, vindex), "%r is not a valid label value" % value)
        if operator == "In" and not values:
            chk.error(rpath + ".values", "requirements with operator 'In' must have a value defined")
        if operator == "NotIn" and not values and not_in_needs_values:
            chk.error(rpath + ".values", "requirements with operator 'NotIn' must have a value defined")
        if operator in NUMERIC_OPERATORS:
            if len(values) != 1 or not re.match(r"^[0-9]+$", values[0]):
                chk.error(rpath + ".values", "operator %r needs exactly one non-negative integer value, got %r" % (operator, values))
        if "minValues" in req and req["minValues"] is not None:
            min_values = req["minValues"]
            low, high = LIMITS["min_values"]
            if not min_values_allowed:
                chk.error(rpath + ".minValues", "is not supported here")
            elif not isinstance(min_values, int) or isinstance(min_values, bool) or not low <= min_values <= high:
                chk.error(rpath + ".minValues", "must be an integer in %d..%d, got %r" % (low, high, min_values))
            elif operator == "In" and len(values) < min_values:
                chk.error(rpath + ".minValues", "minValues %d needs at least that many values, got %d" % (min_values, len(values)))


def _check_taints(chk, path, taints):
    if taints is None:
        return
    if not isinstance(taints, list):
        chk.error(path, "must be a list of taints")
        return
    for index, taint in enumerate(taints):
        tpath = "%s[%d]" % (path, index)
        if not isinstance(taint, dict):
            chk.error(tpath, "must be a mapping with key, value, effect")
            continue
        key = taint.get("key")
        if not isinstance(key, str) or not key:
            chk.error(tpath + ".key", "taint key must be a non-empty string")
        elif re.search(LABEL_KEY_RE, key) is None:
            chk.error(tpath + ".key", "%r is not a valid taint key (qualified name)" % key)
        if taint.get("effect") not in TAINT_EFFECTS:
            chk.error(tpath + ".effect", "%r is not one of %s" % (taint.get("effect"), ", ".join(TAINT_EFFECTS)))


def _check_quantity_map(chk, path, quantities):
    if not isinstance(quantities, dict):
        chk.error(path, "must be a mapping of resource name to quantity")
        return
    for resource, quantity in quantities.items():
        qpath = "%s[%r]" % (path, resource)
        if isinstance(quantity, bool) or not isinstance(quantity, (int, str)):
            chk.error(qpath, "quantity must be an integer or a string such as '8' or '100Gi', got %r" % (quantity,))
        elif isinstance(quantity, int):
            if quantity < 0:
                chk.error(qpath, "quantity must not be negative, got %d" % quantity)
        elif re.search(QUANTITY_RE, quantity) is None:
            chk.error(qpath, "%r is not a valid Kubernetes quantity" % quantity)


def _check_name(chk, path, name):
    if not isinstance(name, str) or len(name) > 253 or re.search(DNS_SUBDOMAIN_RE, name) is None:
        chk.error(path, "%r is not a valid object name (lowercase RFC 1123 subdomain, <= 253 characters)" % (name,))


def validate_nodepool(nodepool, live=None):
    """Raise KarpenterValidationError listing every violation of ``nodepool`` (and vs ``live``, if given)."""
    chk = _Checker()
    _check_name(chk, "metadata.name", nodepool.get("metadata", {}).get("name"))
    spec = nodepool.get("spec")
    if not isinstance(spec, dict):
        chk.error("spec", "must be a mapping")
        chk.raise_if_any()
    template = spec.get("template") or {}
    tspec = template.get("spec") or {}
    _check_labels(chk, "spec.template.metadata.labels", (template.get("metadata") or {}).get("labels"))

    ref = tspec.get("nodeClassRef")
    if not isinstance(ref, dict):
        chk.error("spec.template.spec.nodeClassRef", "is required (group, kind, name)")
    else:
        for field in ("group", "kind", "name"):
            if not isinstance(ref.get(field), str) or not ref.get(field):
                chk.error("spec.template.spec.nodeClassRef." + field, "%s may not be empty" % field)
        if isinstance(ref.get("group"), str) and "/" in ref["group"]:
            chk.error("spec.template.spec.nodeClassRef.group", "must not contain '/' (a group, not an apiVersion)")
    if "requirements" not in tspec:
        chk.error("spec.template.spec.requirements", "is required")
    else:
        _check_requirements(chk, "spec.template.spec.requirements", tspec["requirements"], NODEPOOL_AWS_ALLOWED_LABELS, False)
    _check_taints(chk, "spec.template.spec.taints", tspec.get("taints"))
    _check_taints(chk, "spec.template.spec.startupTaints", tspec.get("startupTaints"))
    if tspec.get("expireAfter") is not None:
        chk.pattern("spec.template.spec.expireAfter", tspec["expireAfter"], DURATION_OR_NEVER_RE, "duration such as 720h or Never")
    if tspec.get("terminationGracePeriod") is not None:
        chk.pattern("spec.template.spec.terminationGracePeriod", tspec["terminationGracePeriod"], DURATION_RE,
                    "duration such as 24h (Never is not allowed)")

    disruption = spec.get("disruption")
    if disruption is not None:
        if "consolidateAfter" not in disruption:
            chk.error("spec.disruption.consolidateAfter", "is required when disruption is set")
        else:
            chk.pattern("spec.disruption.consolidateAfter", disruption["consolidateAfter"], DURATION_OR_NEVER_RE,
                        "duration such as 5m or Never")
        policy = disruption.get("consolidationPolicy")
        if policy is not None and policy not in CONSOLIDATION_POLICIES:
            chk.error("spec.disruption.consolidationPolicy", "%r is not one of %s" % (policy, ", ".join(CONSOLIDATION_POLICIES)))
        budgets = disruption.get("budgets") or []
        if len(budgets) > LIMITS["budgets"]:
            chk.error("spec.disruption.budgets", "at most %d budgets are allowed" % LIMITS["budgets"])
        for index, budget in enumerate(budgets):
            bpath = "spec.disruption.budgets[%d]" % index
            chk.pattern(bpath + ".nodes", budget.get("nodes"), BUDGET_NODES_RE, "node count or percentage such as 1 or 10%")
            if ("schedule" in budget) != ("duration" in budget):
                chk.error(bpath, "'schedule' must be set with 'duration'")
            if budget.get("schedule") is not None:
                chk.pattern(bpath + ".schedule", budget["schedule"], BUDGET_SCHEDULE_RE, "cron schedule or @daily-style macro")
            if budget.get("duration") is not None:
                chk.pattern(bpath + ".duration", budget["duration"], BUDGET_DURATION_RE, "duration in hours/minutes such as 8h or 1h30m")
            for rindex, reason in enumerate(budget.get("reasons") or []):
                if reason not in BUDGET_REASONS:
                    chk.error("%s.reasons[%d]" % (bpath, rindex), "%r is not one of %s" % (reason, ", ".join(BUDGET_REASONS)))

    if spec.get("limits") is not None:
        _check_quantity_map(chk, "spec.limits", spec["limits"])
    weight = spec.get("weight")
    if weight is not None:
        low, high = LIMITS["weight"]
        if isinstance(weight, bool) or not isinstance(weight, int) or not low <= weight <= high:
            chk.error("spec.weight", "must be an integer in %d..%d, got %r" % (low, high, weight))
    if "replicas" in spec:
        if weight is not None:
            chk.error("spec.weight", "'weight' is not supported on static NodePools (replicas set)")
        if spec.get("limits") and set(spec["limits"]) != {"nodes"}:
            chk.error("spec.limits", "only 'limits.nodes' is supported on static NodePools (replicas set)")

    if live:
        live_spec = live.get("spec") or {}
        live_ref = ((live_spec.get("template") or {}).get("spec") or {}).get("nodeClassRef") or {}
        if isinstance(ref, dict):
            for field in ("group", "kind"):
                if live_ref.get(field) and ref.get(field) != live_ref.get(field):
                    chk.error("spec.template.spec.nodeClassRef." + field, "nodeClassRef.%s is immutable (live %r, wanted %r)"
                              % (field, live_ref.get(field), ref.get(field)))
        if ("replicas" in live_spec) != ("replicas" in spec):
            chk.error("spec.replicas", "cannot transition a NodePool between static (replicas set) and dynamic provisioning")
    chk.raise_if_any()


def validate_ec2nodeclass(nodeclass):
    chk = _Checker()
    _check_name(chk, "metadata.name", nodeclass.get("metadata", {}).get("name"))
    spec = nodeclass.get("spec") or {}
    if ("role" in spec) == ("instanceProfile" in spec):
        chk.error("spec.role", "must specify exactly one of ['role', 'instanceProfile']")
    for field in ("role", "instanceProfile"):
        if field in spec and (not isinstance(spec[field], str) or not spec[field]):
            chk.error("spec." + field, "%s cannot be empty" % field)
    terms = spec.get("amiSelectorTerms")
    alias_family = None
    if not isinstance(terms, list) or not terms:
        chk.error("spec.amiSelectorTerms", "at least one AMI selector term is required")
        terms = []
    elif len(terms) > LIMITS["selector_terms"]:
        chk.error("spec.amiSelectorTerms", "at most %d terms are allowed" % LIMITS["selector_terms"])
    for index, term in enumerate(terms):
        tpath = "spec.amiSelectorTerms[%d]" % index
        if not isinstance(term, dict) or not any(k in term for k in ("tags", "id", "name", "alias", "ssmParameter")):
            chk.error(tpath, "expected at least one of ['tags', 'id', 'name', 'alias', 'ssmParameter']")
            continue
        if "id" in term and any(k in term for k in ("alias", "tags", "name", "owner")):
            chk.error(tpath, "'id' is mutually exclusive, cannot be set with a combination of other fields")
        if "alias" in term:
            if any(k in term for k in ("id", "tags", "name", "owner")):
                chk.error(tpath, "'alias' is mutually exclusive, cannot be set with a combination of other fields")
            if len(terms) != 1:
                chk.error(tpath, "'alias' is mutually exclusive, cannot be set with other amiSelectorTerms")
            alias = term["alias"]
            if not isinstance(alias, str) or len(alias) > 30 or re.match(r"^[a-zA-Z0-9]+@.+$", alias) is None:
                chk.error(tpath + ".alias", "%r is not of the form family@version (e.g. %s)" % (alias, DEFAULT_AMI_ALIAS))
            else:
                family, version = alias.split("@", 1)
                if family not in ALIAS_FAMILIES:
                    chk.error(tpath + ".alias", "family %r is not one of %s" % (family, ", ".join(ALIAS_FAMILIES)))
                else:
                    alias_family = ALIAS_FAMILIES[family]
                    if family.startswith("windows") and version != "latest":
                        chk.error(tpath + ".alias", "windows families only support version 'latest'")
        if "id" in term:
            chk.pattern(tpath + ".id", term["id"], r"ami-[0-9a-z]+", "AMI id (ami-...)")
    family = spec.get("amiFamily")
    if family is not None and family not in AMI_FAMILIES:
        chk.error("spec.amiFamily", "%r is not one of %s" % (family, ", ".join(AMI_FAMILIES)))
    elif alias_family and family and family not in (alias_family, "Custom"):
        chk.error("spec.amiFamily", "%r must be %r or 'Custom' when the alias family is %s" % (family, alias_family, alias_family))
    elif alias_family is None and terms and family is None:
        chk.error("spec.amiFamily", "is required when no amiSelectorTerms alias is used")

    for field, allowed, id_prefix in (("subnetSelectorTerms", ("tags", "id"), "subnet-"),
                                      ("securityGroupSelectorTerms", ("tags", "id", "name"), "sg-")):
        terms = spec.get(field)
        if not isinstance(terms, list) or not terms:
            chk.error("spec." + field, "at least one selector term is required")
            continue
        if len(terms) > LIMITS["selector_terms"]:
            chk.error("spec." + field, "at most %d terms are allowed" % LIMITS["selector_terms"])
        for index, term in enumerate(terms):
            tpath = "spec.%s[%d]" % (field, index)
            present = [k for k in allowed if isinstance(term, dict) and k in term]
            if len(present) != 1:
                chk.error(tpath, "exactly one of %s is required, got %s" % (list(allowed), present or "none"))
                continue
            if "tags" in term:
                tags = term["tags"]
                if not isinstance(tags, dict) or not tags or any(not k or v in ("", None) for k, v in tags.items()):
                    chk.error(tpath + ".tags", "empty tag keys or values aren't supported")
            if "id" in term:
                chk.pattern(tpath + ".id", term["id"], "%s[0-9a-z]+" % id_prefix, "%s... id" % id_prefix)

    tags = spec.get("tags") or {}
    for key in tags:
        if not key:
            chk.error("spec.tags", "empty tag keys aren't supported")
        elif key in RESTRICTED_TAG_KEYS or key.startswith(RESTRICTED_TAG_PREFIX):
            chk.error("spec.tags[%r]" % key, "tag %r is restricted (Karpenter sets it)" % key)
    mappings = spec.get("blockDeviceMappings") or []
    if len(mappings) > LIMITS["block_devices"]:
        chk.error("spec.blockDeviceMappings", "at most %d block device mappings are allowed" % LIMITS["block_devices"])
    if len([m for m in mappings if m.get("rootVolume")]) > 1:
        chk.error("spec.blockDeviceMappings", "must have only one blockDeviceMappings with rootVolume")
    for index, mapping in enumerate(mappings):
        ebs = mapping.get("ebs") or {}
        bpath = "spec.blockDeviceMappings[%d].ebs" % index
        if "ebs" in mapping and "snapshotID" not in ebs and "volumeSize" not in ebs:
            chk.error(bpath, "snapshotID or volumeSize must be defined")
        if "volumeSize" in ebs:
            chk.pattern(bpath + ".volumeSize", ebs["volumeSize"], VOLUME_SIZE_RE, "volume size such as 200Gi")
    chk.raise_if_any()


def validate_nodeoverlay(overlay):
    chk = _Checker()
    _check_name(chk, "metadata.name", overlay.get("metadata", {}).get("name"))
    spec = overlay.get("spec") or {}
    if "requirements" not in spec:
        chk.error("spec.requirements", "is required")
    else:
        _check_requirements(chk, "spec.requirements", spec["requirements"], NODEOVERLAY_AWS_ALLOWED_LABELS, True,
                            min_values_allowed=False, not_in_needs_values=True)
    capacity = spec.get("capacity")
    if capacity is not None:
        _check_quantity_map(chk, "spec.capacity", capacity)
        for resource in capacity:
            if resource in OVERLAY_RESTRICTED_RESOURCES:
                chk.error("spec.capacity[%r]" % resource, "invalid resource restricted: NodeOverlay capacity cannot change %s"
                          % ", ".join(OVERLAY_RESTRICTED_RESOURCES))
    if "price" in spec and "priceAdjustment" in spec:
        chk.error("spec.price", "cannot set both 'price' and 'priceAdjustment'")
    if "price" in spec:
        chk.pattern("spec.price", spec["price"], PRICE_RE, "price such as '12.5'")
    if "priceAdjustment" in spec:
        chk.pattern("spec.priceAdjustment", spec["priceAdjustment"], PRICE_ADJUSTMENT_RE, "price adjustment such as -0.5 or +10%")
    weight = spec.get("weight")
    if weight is not None:
        low, high = LIMITS["overlay_weight"]
        if isinstance(weight, bool) or not isinstance(weight, int) or not low <= weight <= high:
            chk.error("spec.weight", "must be an integer in %d..%d, got %r" % (low, high, weight))
    chk.raise_if_any()


# ---------------------------------------------------------------- builders

def deep_merge(base, override):
    """Return ``base`` with ``override`` merged in: dicts recursively, everything else (lists too) replaced."""
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def resolve_instance_types(instance_types=None, gpu_names=None):
    """Return the EC2 instance types the pool can launch, via the catalog for ``gpu_names``.

    Raises KarpenterValidationError for unknown GPU names. Unknown instance types are kept as given
    (Karpenter knows more types than our catalog); callers that need catalog facts check them.
    """
    if instance_types:
        return list(instance_types)
    chk = _Checker()
    resolved = []
    for index, name in enumerate(gpu_names or []):
        matching = [t for t, spec in catalog.INSTANCE_TYPES.items()
                    if catalog.GPU_MODELS[spec.gpu_model].karpenter_gpu_name == name and catalog.GPU_MODELS[spec.gpu_model].mig_capable]
        if not matching:
            chk.error("gpu_names[%d]" % index, "%r has no MIG-capable EC2 instance type in the catalog; known: %s"
                      % (name, ", ".join(GPU_NAMES)))
        resolved.extend(t for t in matching if t not in resolved)
    chk.raise_if_any()
    return resolved


def overlay_name(nodepool_name, instance_type):
    return "%s-%s" % (nodepool_name, instance_type.replace(".", "-"))


def _taints(taints):
    out = []
    for taint in taints or []:
        item = {"key": taint.get("key"), "effect": taint.get("effect")}
        if taint.get("value") not in (None, ""):
            item["value"] = taint["value"]
        out.append(item)
    return out


def _requirements(requirements):
    out = []
    for req in requirements or []:
        item = {"key": req.get("key"), "operator": req.get("operator")}
        if req.get("values") is not None:
            item["values"] = [str(v) for v in req["values"]]
        if req.get("min_values") is not None:
            item["minValues"] = req["min_values"]
        out.append(item)
    return out


def node_class_reference(node_class):
    """``nodeClassRef`` for a node class name (an EC2NodeClass) or a ``{group, kind, name}`` dict (any provider)."""
    if isinstance(node_class, dict):
        return {"group": node_class.get("group") or EC2NODECLASS_GROUP, "kind": node_class.get("kind") or EC2NODECLASS_KIND,
                "name": node_class.get("name")}
    return {"group": EC2NODECLASS_GROUP, "kind": EC2NODECLASS_KIND, "name": node_class}


def build_nodepool(params, node_class):
    """NodePool dict from the module's options (``params`` uses the module's snake_case option names).

    ``node_class`` is the name of an EC2NodeClass or a ``{group, kind, name}`` reference (node_class_reference()).
    """
    requirements = []
    if params.get("instance_types"):
        requirements.append({"key": "node.kubernetes.io/instance-type", "operator": "In",
                             "values": list(params["instance_types"])})
    elif params.get("gpu_names"):
        requirements.append({"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In",
                             "values": list(params["gpu_names"])})
    if params.get("capacity_types"):
        requirements.append({"key": "karpenter.sh/capacity-type", "operator": "In",
                             "values": list(params["capacity_types"])})
    requirements.extend(_requirements(params.get("requirements")))

    labels = dict(params.get("labels") or {})
    if params.get("mig_config"):
        labels[MIG_CONFIG_LABEL] = params["mig_config"]
    if params.get("device_plugin_config"):
        labels[sharing.CONFIG_LABEL] = params["device_plugin_config"]
    template_spec = {
        "nodeClassRef": node_class_reference(node_class),
        "requirements": requirements,
    }
    taints = params.get("taints")
    if taints is None:
        taints = [dict(t) for t in DEFAULT_TAINTS]
    if taints:
        template_spec["taints"] = _taints(taints)
    if params.get("startup_taints"):
        template_spec["startupTaints"] = _taints(params["startup_taints"])
    if params.get("expire_after"):
        template_spec["expireAfter"] = params["expire_after"]
    if params.get("termination_grace_period"):
        template_spec["terminationGracePeriod"] = params["termination_grace_period"]
    template = {"spec": template_spec}
    if labels:
        template["metadata"] = {"labels": labels}

    spec = {"template": template}
    disruption = params.get("disruption")
    if disruption:
        spec["disruption"] = {"consolidateAfter": disruption.get("consolidate_after") or "0s"}
        if disruption.get("consolidation_policy"):
            spec["disruption"]["consolidationPolicy"] = disruption["consolidation_policy"]
        if disruption.get("budgets") is not None:
            budgets = []
            for budget in disruption["budgets"]:
                item = {"nodes": str(budget.get("nodes"))}
                for field in ("schedule", "duration", "reasons"):
                    if budget.get(field) is not None:
                        item[field] = budget[field]
                budgets.append(item)
            spec["disruption"]["budgets"] = budgets
    if params.get("limits"):
        spec["limits"] = dict(params["limits"])
    if params.get("weight") is not None:
        spec["weight"] = params["weight"]
    if params.get("spec"):
        spec = deep_merge(spec, params["spec"])

    metadata = {"name": params["name"], "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}
    if params.get("mig_config"):
        metadata["annotations"] = {MIG_STRATEGY_ANNOTATION: params.get("mig_strategy") or "mixed"}
    return {"apiVersion": NODEPOOL_API_VERSION, "kind": "NodePool", "metadata": metadata, "spec": spec}


def build_ec2nodeclass(node_class, cluster_name=None):
    """EC2NodeClass dict from the ``node_class`` dict option (snake_case keys; selector terms as in the CRD)."""
    chk = _Checker()
    spec = {}
    if node_class.get("role"):
        spec["role"] = node_class["role"]
    if node_class.get("instance_profile"):
        spec["instanceProfile"] = node_class["instance_profile"]
    if node_class.get("ami_selector_terms"):
        spec["amiSelectorTerms"] = copy.deepcopy(node_class["ami_selector_terms"])
    else:
        spec["amiSelectorTerms"] = [{"alias": node_class.get("ami_alias") or DEFAULT_AMI_ALIAS}]
    if node_class.get("ami_family"):
        spec["amiFamily"] = node_class["ami_family"]
    for option, field in (("subnet_selector_terms", "subnetSelectorTerms"),
                          ("security_group_selector_terms", "securityGroupSelectorTerms")):
        if node_class.get(option):
            spec[field] = copy.deepcopy(node_class[option])
        elif cluster_name:
            spec[field] = [{"tags": {DISCOVERY_TAG: cluster_name}}]
        else:
            chk.error("node_class.%s" % option, "is required unless cluster_name is set (then the %s=<cluster> tag is used)"
                      % DISCOVERY_TAG)
    for option, field in (("block_device_mappings", "blockDeviceMappings"), ("tags", "tags"),
                          ("user_data", "userData"), ("metadata_options", "metadataOptions")):
        if node_class.get(option) not in (None, "", [], {}):
            spec[field] = copy.deepcopy(node_class[option])
    if node_class.get("spec"):
        spec = deep_merge(spec, node_class["spec"])
    chk.raise_if_any()
    metadata = {"name": node_class.get("name"), "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}
    return {"apiVersion": EC2NODECLASS_API_VERSION, "kind": "EC2NodeClass", "metadata": metadata, "spec": spec}


def build_nodeoverlay(nodepool_name, instance_type, capacity, weight=None):
    spec = {
        "requirements": [
            {"key": "karpenter.sh/nodepool", "operator": "In", "values": [nodepool_name]},
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [instance_type]},
        ],
        # Quantities as strings, the form the API server and Karpenter print them in.
        "capacity": dict((resource, str(count)) for resource, count in capacity.items()),
    }
    if weight is not None:
        spec["weight"] = weight
    metadata = {
        "name": overlay_name(nodepool_name, instance_type),
        "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, OVERLAY_OWNER_LABEL: nodepool_name},
    }
    return {"apiVersion": NODEOVERLAY_API_VERSION, "kind": "NodeOverlay", "metadata": metadata, "spec": spec}


# ---------------------------------------------------------------- what Karpenter makes of the objects

def translate_gpu_limit(limits, mig_capacity):
    """Return (limits, message): NodePool limits that bind for a pool whose NodeOverlays set its GPU resources.

    Karpenter compares ``spec.limits`` with the capacity of each instance type *after* the NodeOverlays
    (``filterByRemainingResources`` in ``pkg/controllers/provisioning/scheduling/scheduler.go``) and with the
    capacity of the nodes it launched. Under an overlay ``nvidia.com/gpu`` is what the overlay says: 0 with the
    mixed strategy, so a ``nvidia.com/gpu`` limit never binds, and the number of slices with the single strategy,
    so it counts slices instead of GPUs (16 stops a pool whose node offers 56 before its first node). The user's
    number counts physical GPUs; it becomes that many GPUs' worth of every resource the overlays set
    (``nvidia.com/gpu: 16`` on ``all-1g.10gb`` gives ``nvidia.com/mig-1g.10gb: 112``). Limits given explicitly for
    those resources are kept. ``mig_capacity``: instance type -> {resource: count per node}.

    Raises KarpenterValidationError when the limit is not a whole number or the pool's instance types offer
    different resources per GPU (no single translation is exact: use ``nodes``, ``cpu`` or the MIG resources).
    """
    path = "limits[%r]" % GPU_RESOURCE
    value = limits[GPU_RESOURCE]
    if isinstance(value, bool) or not re.match(r"^[0-9]+$", str(value)):
        raise KarpenterValidationError([(path, "must be a whole number of GPUs to be translated for the NodeOverlay "
                                               "capacity, got %r" % (value,))])
    gpus = int(str(value))
    per_gpu, first = None, None
    for instance_type, resources in sorted(mig_capacity.items()):
        count = catalog.instance_type(instance_type).gpu_count
        vector = dict((resource, Fraction(int(n), count)) for resource, n in resources.items() if int(n))
        if per_gpu is None:
            per_gpu, first = vector, instance_type
        elif vector != per_gpu:
            raise KarpenterValidationError([(path, "cannot bind: Karpenter compares it with the NodeOverlay capacity "
                                                   "and %s and %s offer different resources per GPU; limit nodes, cpu "
                                                   "or the MIG resources instead" % (first, instance_type))])
    translated = dict((key, val) for key, val in limits.items() if key != GPU_RESOURCE)
    for resource, ratio in sorted((per_gpu or {}).items()):
        translated.setdefault(resource, int(gpus * ratio))
    added = ", ".join("%s: %s" % (key, translated[key]) for key in sorted(translated) if limits.get(key) != translated[key])
    message = ("limits: %s %d (physical GPUs) is set as %s, because Karpenter compares NodePool limits with the "
               "NodeOverlay capacity, in which %s of %s is %s" % (
                   GPU_RESOURCE, gpus, added or "the limits given for the MIG resources", GPU_RESOURCE, first,
                   mig_capacity[first].get(GPU_RESOURCE, 0) if first else 0))
    return translated, message


def overlay_verdict(overlay):
    """Karpenter's verdict on a NodeOverlay: None until it evaluated this generation, else (ok, reason, message)."""
    metadata = overlay.get("metadata") or {}
    for condition in (overlay.get("status") or {}).get("conditions") or []:
        if condition.get("type") != OVERLAY_VALIDATED_CONDITION:
            continue
        observed, generation = condition.get("observedGeneration"), metadata.get("generation")
        if observed is not None and generation is not None and observed < generation:
            return None
        return condition.get("status") == "True", condition.get("reason"), condition.get("message")
    return None
