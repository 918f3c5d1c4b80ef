# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpu_operator role with named device plugin configs, on the real kube-apiserver (dry run: no Helm here).

The role must apply ONE device plugin ConfigMap in the operator's namespace (each key the sharing engine's
``plugin_config``), point the chart values ``devicePlugin.config.{name, default}`` at it, and label the inventory
host's Node. The real API server must accept those fields in a ClusterPolicy (the GPU Operator CRD shipped in
tests/data/crds; server-side dry run). Bad input changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

yaml = pytest.importorskip("yaml")

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import control_plane  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.roles import test_device_plugin_sharing as device_plugin  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import legs  # noqa: E402

# CI time: these role runs against the real API server are proven on the main leg; on 2.21 the roles_cluster
# integration target runs the roles against a real API server too
pytestmark = pytest.mark.skipif(not legs.on_main_leg(), reason=legs.skip_reason())

g5_node, get = device_plugin.g5_node, device_plugin.get
# the device_plugin tests' pytest fixtures (the cluster; a namespace and Node of this test only), shared by name
kube, names = device_plugin.kube, device_plugin.names

MPS = {"mode": "mps", "replicas": 4}
CONFIGS = {"whole": {"mig_strategy": "none"}, "l4-mps": {"mig_strategy": "none", "sharing": MPS}}


def run_role(tmp_path, kube, names, host_config, **role_vars):
    """The device_plugin test's playbook runner, with the gpu_operator role (dry run, render dir)."""
    variables = dict(gpu_operator_kubeconfig=str(kube.kubeconfig), gpu_operator_namespace=names["namespace"],
                     gpu_operator_dry_run=True, gpu_operator_render_dir=str(tmp_path),
                     gpu_operator_device_plugin_configs=CONFIGS, gpu_operator_device_plugin_default_config="whole")
    variables.update(role_vars)
    return device_plugin.run_role(tmp_path, kube, names, host_config, role="gpu_slicing.eks.gpu_operator", role_vars=variables)


def required_spec_fields():
    crd = [doc for doc in control_plane.load_crds(control_plane.DEFAULT_CRDS)
           if doc["spec"]["names"]["kind"] == "ClusterPolicy"][0]
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"]


def test_cluster_policy_points_at_the_named_configs(tmp_path, kube, names):
    control_plane.seed_nodes(kube.api, [g5_node(names["node"])])
    result = run_role(tmp_path, kube, names, "l4-mps")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

    config_map = get(kube, "/api/v1/namespaces/%s/configmaps/gpu-slicing-device-plugin-configs" % names["namespace"])
    assert sorted(config_map["data"]) == ["l4-mps", "whole"]
    assert yaml.safe_load(config_map["data"]["l4-mps"]) == json.loads(json.dumps(sharing.plugin_config(MPS, mig_strategy="none")))
    values = yaml.safe_load((tmp_path / "gpu-operator-values.yml").read_text())
    assert values["devicePlugin"]["config"] == {"name": "gpu-slicing-device-plugin-configs", "create": False, "default": "whole"}
    assert yaml.safe_load((tmp_path / "device-plugin-configmap.yml").read_text())["data"] == config_map["data"]
    assert get(kube, "/api/v1/nodes/%s" % names["node"])["metadata"]["labels"][sharing.CONFIG_LABEL] == "l4-mps"

    # the chart copies devicePlugin.config {name, default} into the ClusterPolicy: the real CRD must accept them
    spec = dict((key, {}) for key in required_spec_fields())  # the CRD requires these sections (empty is valid)
    spec["devicePlugin"] = {"config": {"name": values["devicePlugin"]["config"]["name"],
                                       "default": values["devicePlugin"]["config"]["default"]}}
    policy = {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy", "metadata": {"name": "cluster-policy-%s" % names["namespace"]},
              "spec": spec}
    status, answer = kube.api.request("POST", "/apis/nvidia.com/v1/clusterpolicies?dryRun=All&fieldValidation=Strict", policy)
    assert status == 201, answer
    assert answer["spec"]["devicePlugin"]["config"] == policy["spec"]["devicePlugin"]["config"]


def test_bad_config_changes_nothing(tmp_path, kube, names):
    control_plane.seed_nodes(kube.api, [g5_node(names["node"])])
    result = run_role(tmp_path, kube, names, "l4-mps",
                      gpu_operator_device_plugin_configs={"l4-mps": {"mig_strategy": "mixed", "sharing": MPS}},
                      gpu_operator_device_plugin_default_config="l4-mps")
    assert result.returncode != 0
    assert "MPS with the mixed MIG strategy is refused by the device plugin" in result.stdout, result.stdout[-3000:]
    assert get(kube, "/api/v1/namespaces/%s/configmaps/gpu-slicing-device-plugin-configs" % names["namespace"]) is None
    assert not (tmp_path / "gpu-operator-values.yml").exists()
    assert sharing.CONFIG_LABEL not in (get(kube, "/api/v1/nodes/%s" % names["node"])["metadata"].get("labels") or {})
