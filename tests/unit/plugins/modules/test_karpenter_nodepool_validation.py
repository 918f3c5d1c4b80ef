# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to karpenter_nodepool is rejected before any API call, with a message naming the field.

The module runs for real (in-process, real argument parsing) with its kubeconfig pointing at a
loopback socket that never answers. A request would either hang into a timeout or leave a connection
in the socket's backlog; the tests assert a clean validation failure AND an untouched socket.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import Tripwire, run_module, write_kubeconfig

BASE = dict(name="gpu-mig", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb",
            node_class={"name": "gpu", "role": "KarpenterNodeRole-test"}, cluster_name="test")


def _with(**changes):
    args = dict(BASE)
    node_class = dict(BASE["node_class"])
    node_class.update(changes.pop("node_class_changes", {}))
    args["node_class"] = node_class
    args.update(changes)
    return args


# (id, arguments, substrings the failure message must contain: field path first, then the reason)
BAD_INPUTS = [
    ("nodepool-label-restricted", _with(labels={"karpenter.sh/nodepool": "x"}),
     ["spec.template.metadata.labels['karpenter.sh/nodepool']", "restricted"]),
    ("aws-label-domain", _with(labels={"karpenter.k8s.aws/mig": "yes"}),
     ["spec.template.metadata.labels['karpenter.k8s.aws/mig']", 'label domain "karpenter.k8s.aws" is restricted']),
    ("karpenter-sh-domain", _with(labels={"team.karpenter.sh/owner": "ml"}),
     ["spec.template.metadata.labels['team.karpenter.sh/owner']", 'label domain "karpenter.sh" is restricted']),
    ("hostname-requirement", _with(requirements=[{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]),
     ["spec.template.spec.requirements[2].key", '"kubernetes.io/hostname" is restricted']),
    ("label-value", _with(labels={"example.com/team": "ml team!"}),
     ["spec.template.metadata.labels['example.com/team']", "not a valid label value"]),
    ("gt-two-values", _with(requirements=[{"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["1", "2"]}]),
     ["spec.template.spec.requirements[2].values", "exactly one non-negative integer"]),
    ("lte-negative", _with(requirements=[{"key": "karpenter.k8s.aws/instance-gpu-memory", "operator": "Lte", "values": ["-5"]}]),
     ["spec.template.spec.requirements[2].values", "non-negative integer"]),
    ("in-without-values", _with(requirements=[{"key": "topology.kubernetes.io/zone", "operator": "In", "values": []}]),
     ["spec.template.spec.requirements[2].values", "'In' must have a value"]),
    ("min-values", _with(requirements=[{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"],
                                        "min_values": 3}]),
     ["spec.template.spec.requirements[2].minValues", "at least that many values"]),
    ("budget-schedule-without-duration", _with(disruption={"budgets": [{"nodes": "0", "schedule": "0 9 * * 1-5"}]}),
     ["spec.disruption.budgets[0]", "'schedule' must be set with 'duration'"]),
    ("budget-nodes", _with(disruption={"budgets": [{"nodes": "110%"}]}),
     ["spec.disruption.budgets[0].nodes", "'110%' is not a valid node count"]),
    ("consolidate-after", _with(disruption={"consolidate_after": "5 minutes"}),
     ["spec.disruption.consolidateAfter", "'5 minutes'"]),
    ("expire-after-days", _with(expire_after="30d"), ["spec.template.spec.expireAfter", "'30d'"]),
    ("termination-grace-never", _with(termination_grace_period="Never"),
     ["spec.template.spec.terminationGracePeriod", "Never is not allowed"]),
    ("weight-range", _with(weight=101), ["spec.weight", "1..100"]),
    ("limits-quantity", _with(limits={"nvidia.com/gpu": "lots"}), ["spec.limits['nvidia.com/gpu']", "not a valid Kubernetes quantity"]),
    ("nodepool-name", _with(name="GPU_Pool"), ["metadata.name", "'GPU_Pool'"]),
    ("node-class-ref-group-empty", _with(spec={"template": {"spec": {"nodeClassRef": {"group": ""}}}}),
     ["spec.template.spec.nodeClassRef.group", "may not be empty"]),
    ("static-pool-weight", _with(weight=10, spec={"replicas": 2}), ["spec.weight", "not supported on static NodePools"]),
    ("empty-taint-key", _with(spec={"template": {"spec": {"taints": [{"key": "", "effect": "NoSchedule"}]}}}),
     ["spec.template.spec.taints[0].key", "non-empty"]),
    ("role-and-profile", _with(node_class_changes={"instance_profile": "gpu-profile"}),
     ["EC2NodeClass spec.role", "exactly one of ['role', 'instanceProfile']"]),
    ("alias-not-only-term", _with(node_class_changes={"ami_selector_terms": [{"alias": "al2023@v20261101"}, {"id": "ami-0abc"}]}),
     ["EC2NodeClass spec.amiSelectorTerms[0]", "cannot be set with other amiSelectorTerms"]),
    ("alias-family-mismatch", _with(node_class_changes={"ami_family": "Bottlerocket"}),
     ["EC2NodeClass spec.amiFamily", "'Bottlerocket' must be 'AL2023' or 'Custom'"]),
    ("windows-alias-pinned", _with(node_class_changes={"ami_alias": "windows2022@v1"}),
     ["EC2NodeClass spec.amiSelectorTerms[0].alias", "only support version 'latest'"]),
    ("restricted-tag", _with(node_class_changes={"tags": {"kubernetes.io/cluster/test": "owned"}}),
     ["EC2NodeClass spec.tags['kubernetes.io/cluster/test']", "restricted"]),
    ("no-subnets-no-cluster", _with(cluster_name=None),
     ["node_class.subnet_selector_terms", "required unless cluster_name is set"]),
    ("two-root-volumes", _with(node_class_changes={"block_device_mappings": [
        {"deviceName": "/dev/xvda", "rootVolume": True, "ebs": {"volumeSize": "200Gi"}},
        {"deviceName": "/dev/xvdb", "rootVolume": True, "ebs": {"volumeSize": "100Gi"}}]}),
     ["EC2NodeClass spec.blockDeviceMappings", "only one"]),
    ("single-strategy-mixed-layout", _with(mig_config="all-balanced", mig_strategy="single"),
     ["MIG capacity", "p5.48xlarge", "single strategy"]),
    ("mig-on-non-mig-type", _with(instance_types=["g5.12xlarge"]), ["g5.12xlarge", "do not support MIG"]),
    ("overlay-without-mig", _with(mig_config=None, node_overlay=True), ["node_overlay needs mig_config"]),
    ("layout-does-not-fit", _with(mig_layout={"4g.40gb": 1, "3g.40gb": 1, "1g.10gb": 1}, node_overlay=True),
     ["MIG capacity", "p5.48xlarge"]),
    ("node-class-bad-type", dict(BASE, node_class=["gpu"]),
     ["node_class must be the name of an EC2NodeClass or a dictionary"]),
]


@pytest.fixture
def tripwire(tmp_path):
    wire = Tripwire()
    kubeconfig = write_kubeconfig(str(tmp_path / "kubeconfig"), wire.url)
    yield wire, kubeconfig
    wire.close()


@pytest.mark.parametrize("args,expected", [pytest.param(a, e, id=i) for i, a, e in BAD_INPUTS])
def test_bad_input_rejected_before_any_api_call(tripwire, args, expected):
    wire, kubeconfig = tripwire
    result = run_module(dict(args, kubeconfig=kubeconfig))
    assert result.get("failed") is True, result
    for text in expected:
        assert text in result["msg"], (text, result["msg"])
    assert "nothing was changed" in result["msg"]
    assert not wire.touched(), "the module opened a connection to the API server before failing"


class _Forbidden(BaseHTTPRequestHandler):
    """Answers every request with 403 (not retried), counting requests."""

    requests = 0

    def _answer(self):
        type(self).requests += 1
        body = b'{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "forbidden", "code": 403}'
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PATCH = do_DELETE = do_POST = _answer

    def log_message(self, *args):
        pass


def test_valid_input_does_reach_the_api(tmp_path):
    """Control: the same module with valid input does talk to the API server (here one that says 403)."""
    server = HTTPServer(("127.0.0.1", 0), _Forbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        kubeconfig = write_kubeconfig(str(tmp_path / "kubeconfig"), "http://127.0.0.1:%d" % server.server_port)
        result = run_module(dict(BASE, kubeconfig=kubeconfig))
    finally:
        server.shutdown()
        server.server_close()
    assert result.get("failed") is True
    assert "HTTP 403" in result["msg"] and "nothing was changed" not in result["msg"], result["msg"]
    assert _Forbidden.requests >= 1


def test_at_least_twelve_distinct_fields_covered():
    fields = set(expected[0].split("[")[0] for _id, _args, expected in BAD_INPUTS)
    assert len(BAD_INPUTS) >= 12 and len(fields) >= 12, sorted(fields)
