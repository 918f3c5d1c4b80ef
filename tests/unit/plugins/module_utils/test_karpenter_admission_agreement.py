# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property: local validation of NodePool requirements/labels agrees with the API server's CRD admission.

Random requirement lists and template labels (keys from restricted and free domains, every operator,
values incl. non-integers for Gt/Lt, minValues) are judged by ``_karpenter.validate_nodepool`` and, with
``dryRun=All``, by the Kubernetes API emulator that evaluates the real CRD schema and CEL rules. Both
must accept or both reject. Values are drawn from valid label values only: for requirement values the
CRD's pattern sits on the array (so the server ignores it) while we check each value, on purpose.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

hypothesis = pytest.importorskip("hypothesis")
pytest.importorskip("kubernetes")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _k8s as k8s  # noqa: E402
from ansible_collections.gpu_slicing.eks.plugins.module_utils import _karpenter as karpenter  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator, fixture_scope  # noqa: E402

KEYS = ["node.kubernetes.io/instance-type", "karpenter.sh/capacity-type", "karpenter.sh/nodepool", "karpenter.sh/other",
        "sub.karpenter.sh/x", "kubernetes.io/hostname", "karpenter.k8s.aws/instance-gpu-name", "karpenter.k8s.aws/instance-gpu-count",
        "karpenter.k8s.aws/placement-group-id", "karpenter.k8s.aws/not-a-label", "example.com/team", "nvidia.com/mig.config"]
VALUES = ["0", "1", "10", "a", "h100", "p5.48xlarge"]

requirement = st.fixed_dictionaries(
    {"key": st.sampled_from(KEYS), "operator": st.sampled_from(karpenter.OPERATORS)},
    optional={"values": st.lists(st.sampled_from(VALUES), max_size=3), "minValues": st.integers(min_value=1, max_value=3)})
labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2)


@pytest.fixture(scope=fixture_scope)
def client():
    with KubeEmulator() as kube:
        configuration = k8s.build_configuration({"kubeconfig": kube.kubeconfig})
        yield k8s.K8sClient(configuration=configuration, dry_run=True)


def _pool(requirements, template_labels):
    pool = karpenter.build_nodepool({"name": "agree", "instance_types": ["p5.48xlarge"], "labels": template_labels}, "gpu")
    pool["spec"]["template"]["spec"]["requirements"] = requirements
    return pool


def _verdicts(client, validate, resource, obj):
    """(local error or None, server 422 error or None) for one object; the apply really goes to the emulator."""
    try:
        validate(obj)
        local = None
    except karpenter.KarpenterValidationError as exc:
        local = str(exc)
    try:
        client.apply(resource, obj)
        server = None
    except k8s.K8sError as exc:
        assert exc.status == 422, exc
        server = str(exc)
    return local, server


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requirements=st.lists(requirement, max_size=3), template_labels=labels)
def test_local_validation_agrees_with_admission(client, requirements, template_labels):
    pool = _pool(requirements, template_labels)
    local, server = _verdicts(client, karpenter.validate_nodepool, k8s.NODEPOOL, pool)
    hypothesis.event("rejected" if local else "accepted")
    assert (local is None) == (server is None), "local: %s | server: %s | pool requirements %r labels %r" % (
        local, server, requirements, template_labels)


ami_term = st.one_of(
    st.fixed_dictionaries({"alias": st.sampled_from(["al2023@v20261101", "al2023@latest", "bottlerocket@v1.30.0", "al2@latest",
                                                     "windows2022@latest", "windows2022@v1", "ubuntu@latest"])}),
    st.fixed_dictionaries({"alias": st.just("al2023@latest")}, optional={"id": st.just("ami-0abc"), "tags": st.just({"team": "ml"})}),
    st.fixed_dictionaries({"id": st.sampled_from(["ami-0abc", "ami-1"])}, optional={"name": st.just("x")}),
    st.fixed_dictionaries({"tags": st.just({"team": "ml"})}, optional={"name": st.just("eks-*"), "owner": st.just("amazon")}),
)
# Weighted towards valid choices so that both verdicts occur often.
GOOD_SUBNETS, GOOD_GROUPS = [{"tags": {"karpenter.sh/discovery": "c"}}], [{"name": "sg"}]
node_class = st.builds(
    lambda terms, identity, subnets, groups, extra: dict(extra, amiSelectorTerms=terms, subnetSelectorTerms=subnets,
                                                         securityGroupSelectorTerms=groups, **identity),
    st.lists(ami_term, min_size=1, max_size=2),
    st.sampled_from([{"role": "R"}] * 4 + [{"instanceProfile": "P"}] * 3 + [{"role": "R", "instanceProfile": "P"}, {}]),
    st.sampled_from([GOOD_SUBNETS] * 4 + [[{"id": "subnet-1"}], [{"id": "subnet-1", "tags": {"a": "b"}}]]),
    st.sampled_from([GOOD_GROUPS] * 4 + [[{"tags": {"a": "b"}}], [{"id": "sg-1", "name": "x"}]]),
    st.fixed_dictionaries({}, optional={
        "amiFamily": st.sampled_from(["AL2023", "Bottlerocket", "Custom", "AL2", "Windows2022"]),
        "tags": st.dictionaries(st.sampled_from(["team"] * 4 + ["eks:eks-cluster-name", "kubernetes.io/cluster/c",
                                                                "karpenter.sh/nodepool", "Name"]), st.just("v"), max_size=2)}),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=node_class)
def test_local_ec2nodeclass_validation_agrees_with_admission(client, spec):
    obj = {"apiVersion": karpenter.EC2NODECLASS_API_VERSION, "kind": "EC2NodeClass", "metadata": {"name": "agree"}, "spec": spec}
    local, server = _verdicts(client, karpenter.validate_ec2nodeclass, k8s.EC2NODECLASS, obj)
    hypothesis.event("rejected" if local else "accepted")
    assert (local is None) == (server is None), "local: %s | server: %s | spec %r" % (local, server, spec)
