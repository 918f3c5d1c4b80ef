# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local validation of karpenter_nodepool agrees with a real kube-apiserver serving the Karpenter v1.14.1 CRDs.

The judge is a real kube-apiserver (tests/support/control_plane.py, built from the pinned k8s.io/kubernetes):
its OpenAPI schema validation and CEL rules, reached with ``dryRun=All`` server-side apply, the module's own
request path (``_k8s.K8sClient``). Nothing here rests on the project's own emulator.

1. Every bad input the module rejects locally (``BAD_INPUTS``) is built into the objects the module would
   send, WITHOUT the local checks, and each object the local checks reject is sent: the server must reject it
   too. Inputs that never become an object (option errors: the MIG catalog, option types) and objects where
   the local check is knowingly stricter are listed with the reason.
2. A set of valid inputs: every object passes locally and the server accepts it.
3. Properties (hypothesis): random NodePool requirements/labels and EC2NodeClass specs get the same verdict
   locally and on the server, both ways.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

hypothesis = pytest.importorskip("hypothesis")
pytest.importorskip("kubernetes")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _k8s as k8s  # noqa: E402
from ansible_collections.gpu_slicing.eks.plugins.module_utils import _karpenter as karpenter  # noqa: E402
from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import control_plane  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import BAD_INPUTS, BASE  # noqa: E402

# Bad inputs that never become a Kubernetes object: the module refuses the options themselves, so there is
# nothing a server could judge. The reason is why the check can only be local.
NO_OBJECT = {
    "no-subnets-no-cluster": "option rule: without cluster_name there is no discovery tag to select subnets by",
    "single-strategy-mixed-layout": "MIG capacity from the GPU catalog; the API server knows nothing about GPUs",
    "mig-on-non-mig-type": "MIG capacity from the GPU catalog; the API server knows nothing about GPUs",
    "overlay-without-mig": "option rule: a NodeOverlay's capacity comes from the MIG layout",
    "layout-does-not-fit": "MIG capacity from the GPU catalog; the API server knows nothing about GPUs",
    "node-class-bad-type": "option type: node_class must be a name or a dictionary",
}
# Objects the local check rejects while the real server accepts them (local stricter), with the reason.
LOCAL_STRICTER = {
}

KINDS = {"NodePool": (k8s.NODEPOOL, karpenter.validate_nodepool), "EC2NodeClass": (k8s.EC2NODECLASS, karpenter.validate_ec2nodeclass),
         "NodeOverlay": (k8s.NODEOVERLAY, karpenter.validate_nodeoverlay)}

# Valid inputs: every object passes locally AND on the server (the other direction of the agreement).
VALID_INPUTS = [
    ("base", dict(BASE)),
    ("overlays-p5", dict(BASE, node_overlay=True, instance_types=["p5.48xlarge", "p5.4xlarge"])),
    ("gpu-names-balanced", dict(BASE, instance_types=None, gpu_names=["a100"], mig_config="all-balanced", node_overlay=True)),
    ("single-strategy", dict(BASE, mig_strategy="single", node_overlay=True, node_overlay_weight=5)),
    ("labels-and-requirements", dict(BASE, labels={"example.com/team": "ml", "karpenter.k8s.aws/instance-family": "p5"},
                                     requirements=[{"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["1"]},
                                                   {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"],
                                                    "min_values": 2}])),
    ("disruption", dict(BASE, disruption={"consolidation_policy": "WhenEmpty", "consolidate_after": "5m",
                                          "budgets": [{"nodes": "10%"}, {"nodes": "0", "schedule": "0 9 * * 1-5", "duration": "8h"}]},
                        expire_after="720h", termination_grace_period="48h", limits={"nvidia.com/gpu": "64", "cpu": "1000"},
                        weight=100)),
    ("taints", dict(BASE, taints=[{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
                    startup_taints=[{"key": "example.com/booting", "effect": "NoExecute"}])),
    ("node-class-options", dict(BASE, node_class=dict(BASE["node_class"], ami_family="AL2023", tags={"team": "ml"},
                                                      block_device_mappings=[{"deviceName": "/dev/xvda", "rootVolume": True,
                                                                              "ebs": {"volumeSize": "200Gi", "volumeType": "gp3"}}]))),
    ("instance-profile", dict(BASE, node_class={"name": "gpu", "instance_profile": "gpu-profile"})),
    ("windows-latest", dict(BASE, mig_config=None, node_class=dict(BASE["node_class"], ami_alias="windows2022@latest"))),
]


@pytest.fixture(scope="module")
def kube():
    with control_plane.cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(kube):
    return k8s.K8sClient(configuration=k8s.build_configuration({"kubeconfig": kube.kubeconfig}), dry_run=True)


def _params(args):
    result = ArgumentSpecValidator(karpenter_nodepool.argument_spec()).validate(dict(args))
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def _built_objects(args):
    """The objects karpenter_nodepool would send for ``args`` without its Kubernetes-level checks, or the
    option error that stops it before any object exists."""
    try:
        objects, _types, _capacity = karpenter_nodepool.desired_objects(_params(args), check=False)
    except (karpenter_nodepool.ParameterError, karpenter.KarpenterValidationError) as exc:
        return None, str(exc)
    built = [objects["nodepool"]] + ([objects["ec2nodeclass"]] if objects["ec2nodeclass"] else []) + objects["nodeoverlays"]
    return built, None


def _local(obj):
    try:
        KINDS[obj["kind"]][1](obj)
        return None
    except karpenter.KarpenterValidationError as exc:
        return str(exc)


def _server(client, obj):
    """None when the real API server accepts ``obj`` (dryRun=All), else its rejection (422/400)."""
    try:
        client.apply(KINDS[obj["kind"]][0], obj)
        return None
    except k8s.K8sError as exc:
        assert exc.status in (400, 422), exc
        return str(exc)


@pytest.mark.parametrize("args", [pytest.param(a, id=i) for i, a, _e in BAD_INPUTS])
def test_every_local_rejection_is_a_server_rejection(client, request, args):
    input_id = request.node.callspec.id
    objects, option_error = _built_objects(args)
    if objects is None:
        assert input_id in NO_OBJECT, "%s fails before any object is built (%s): list it in NO_OBJECT with the reason" % (
            input_id, option_error)
        return
    assert input_id not in NO_OBJECT, "%s builds objects: remove it from NO_OBJECT" % input_id
    rejected_locally = [(obj, _local(obj)) for obj in objects if _local(obj)]
    assert rejected_locally, "%s: no built object is rejected by the local checks" % input_id
    for obj, local in rejected_locally:
        server = _server(client, obj)
        if input_id in LOCAL_STRICTER:
            assert server is None, "%s: the server now rejects it too (%s): remove it from LOCAL_STRICTER" % (input_id, server)
        else:
            assert server is not None, "%s: rejected locally (%s) but the real API server accepts %s %s" % (
                input_id, local, obj["kind"], obj)


def test_the_agreement_covers_enough_bad_inputs():
    ids = [i for i, _a, _e in BAD_INPUTS]
    assert len(ids) == len(set(ids)) and len(ids) >= 32, len(ids)
    assert set(NO_OBJECT) | set(LOCAL_STRICTER) <= set(ids)
    # most bad inputs are judged by the server, not excused
    assert len(ids) - len(NO_OBJECT) - len(LOCAL_STRICTER) >= 24


@pytest.mark.parametrize("args", [pytest.param(a, id=i) for i, a in VALID_INPUTS])
def test_valid_objects_are_accepted_by_both(client, args):
    objects, option_error = _built_objects(args)
    assert objects is not None, option_error
    for obj in objects:
        assert _local(obj) is None, obj
        assert _server(client, obj) is None, obj


def test_the_server_is_the_real_pinned_kube_apiserver(kube):
    assert kube.version == control_plane.pinned_versions()["kubernetes"]
    status, body = kube.api.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/nodepools.karpenter.sh")
    assert status == 200 and body["spec"]["versions"][0]["name"] == "v1"


# ---------------------------------------------------------------------------------------------- properties

KEYS = ["node.kubernetes.io/instance-type", "karpenter.sh/capacity-type", "karpenter.sh/nodepool", "karpenter.sh/other",
        "sub.karpenter.sh/x", "kubernetes.io/hostname", "karpenter.k8s.aws/instance-gpu-name", "karpenter.k8s.aws/instance-gpu-count",
        "karpenter.k8s.aws/placement-group-id", "karpenter.k8s.aws/not-a-label", "example.com/team", "nvidia.com/mig.config"]
VALUES = ["0", "1", "10", "a", "h100", "p5.48xlarge"]

requirement = st.fixed_dictionaries(
    {"key": st.sampled_from(KEYS), "operator": st.sampled_from(karpenter.OPERATORS)},
    optional={"values": st.lists(st.sampled_from(VALUES), max_size=3), "minValues": st.integers(min_value=1, max_value=3)})
labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2)


def _pool(requirements, template_labels):
    pool = karpenter.build_nodepool({"name": "agree", "instance_types": ["p5.48xlarge"], "labels": template_labels}, "gpu")
    pool["spec"]["template"]["spec"]["requirements"] = requirements
    return pool


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requirements=st.lists(requirement, max_size=3), template_labels=labels)
def test_local_validation_agrees_with_admission(client, requirements, template_labels):
    # Values are drawn from valid label values only: for requirement values the CRD's pattern sits on the
    # array (so the server ignores it) while we check each value, on purpose.
    pool = _pool(requirements, template_labels)
    local, server = _local(pool), _server(client, pool)
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
    local, server = _local(obj), _server(client, obj)
    hypothesis.event("rejected" if local else "accepted")
    assert (local is None) == (server is None), "local: %s | server: %s | spec %r" % (local, server, spec)
