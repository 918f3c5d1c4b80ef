# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the karpenter_nodepool tests: run the real module in-process, and a TCP tripwire."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import io
import json
import os
import socket

import yaml

from ansible.module_utils.common import warnings
from ansible.module_utils.common.parameters import PASS_VARS
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.module_args import patch_module_args

from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool

CRD_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "crds")


def run_module(args, check_mode=False, diff=False):
    """Run karpenter_nodepool.main() with ``args``; return its JSON result (failed or not)."""
    module_args = dict(args)
    module_args["_ansible_check_mode"] = check_mode
    module_args["_ansible_diff"] = diff
    if "inject_invocation" in PASS_VARS:  # ansible-core 2.21+ returns `invocation` only when the controller asks
        module_args["_ansible_inject_invocation"] = True
    out = io.StringIO()
    # Warnings are process-global in ansible-core; a real module run starts with none.
    warnings._global_warnings.clear()  # pylint: disable=protected-access
    with patch_module_args(module_args), contextlib.redirect_stdout(out):
        try:
            karpenter_nodepool.main()
        except SystemExit:
            pass
    result = json.loads(out.getvalue())
    # Summaries as the plain messages a playbook shows.
    result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
    return result


def write_kubeconfig(path, server):
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "users": [{"name": "test", "user": {"token": "test-token"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
    }
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle)
    return path


class Tripwire(object):
    """A listening loopback socket that never answers: any connection attempt stays in its backlog.

    ``touched()`` is True when something connected, so a test can prove that no API call was made.
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port

    def touched(self):
        try:
            conn, _addr = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def close(self):
        self.sock.close()


def crd_schema(filename):
    with open(os.path.join(CRD_DIR, filename)) as handle:
        crd = yaml.safe_load(handle)
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def crd_text(filename):
    with open(os.path.join(CRD_DIR, filename)) as handle:
        return handle.read()


# Bad input karpenter_nodepool must reject before any API call (test_karpenter_nodepool_validation.py); every one
# that yields a Kubernetes object is also sent to the real API server (test_karpenter_admission_agreement.py).
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
