# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""karpenter_nodepool with bad input and old clusters (issue 15): clusters without the NodeOverlay CRD (Karpenter
1.0-1.6), a mig.config label that disagrees with mig_config, failures half-way, secrets in the invocation, a
kubeconfig that is not YAML, a config that applies to no GPU of an instance type.

Against an API server over HTTP with the real Karpenter v1.14.1 CRDs; "without the NodeOverlay CRD" means that CRD
was simply not installed. Only the 500 half-way (item 7) is injected, on the client, after the dry run passed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest
import yaml

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _k8s as k8s  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator, default_crds, fixture_scope  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import (  # noqa: E402
    Tripwire, run_module, write_kubeconfig)
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.test_karpenter_nodepool import (  # noqa: E402
    stored as stored_object)


@pytest.fixture(scope=fixture_scope)
def kube():
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture(scope=fixture_scope)
def old_kube():
    """Karpenter 1.0-1.6: NodePool and EC2NodeClass CRDs, no NodeOverlay CRD."""
    crds = [path for path in default_crds() if "nodeoverlays" not in os.path.basename(path)]
    assert len(crds) == len(default_crds()) - 1
    with KubeEmulator(crds=crds) as emulator:
        yield emulator


def stored(kube, plural, name):
    return stored_object(kubernetes.client.CustomObjectsApi(kube.api_client()), plural, name)


def pool_args(kubeconfig, name, **extra):
    args = dict(name=name, kubeconfig=kubeconfig, instance_types=["p5.48xlarge"], mig_config="all-1g.10gb",
                node_overlay=True, node_class={"name": "%s-class" % name, "role": "KarpenterNodeRole-test"},
                cluster_name="test")
    args.update(extra)
    return args


@pytest.fixture
def tripwire():
    wire = Tripwire()
    yield wire
    wire.close()


@pytest.fixture
def tripwire_kubeconfig(tmp_path, tripwire):
    return write_kubeconfig(str(tmp_path / "kubeconfig"), tripwire.url)


# ---------------------------------------------------------------- item 2: clusters without NodeOverlay


def test_old_cluster_without_overlays_present_and_absent(old_kube):
    args = pool_args(old_kube.kubeconfig, "old-plain", node_overlay=False)
    created = run_module(args)
    assert not created.get("failed"), created
    assert created["changed"] is True, created
    assert created["nodeoverlays"] == []
    assert stored(old_kube, "nodepools", "old-plain") is not None

    again = run_module(args)
    assert again["changed"] is False, again

    removed = run_module(dict(args, state="absent"))
    assert not removed.get("failed"), removed
    assert removed["changed"] is True and removed["deleted"] == ["NodePool/old-plain"]
    assert stored(old_kube, "nodepools", "old-plain") is None


def test_old_cluster_node_overlay_true_fails_before_any_write(old_kube):
    result = run_module(pool_args(old_kube.kubeconfig, "old-overlay"))
    assert result["failed"] is True and result["changed"] is False, result
    msg = result["msg"]
    assert "does not serve NodeOverlay" in msg and "v1.7.0" in msg and "NodeOverlay=true" in msg, msg
    assert "Nothing was changed" in msg
    assert stored(old_kube, "nodepools", "old-overlay") is None
    assert stored(old_kube, "ec2nodeclasses", "old-overlay-class") is None


def test_absent_reads_overlays_before_deleting_the_pool(kube, monkeypatch):
    args = pool_args(kube.kubeconfig, "absent-order")
    assert run_module(args)["changed"] is True
    real_list = k8s.K8sClient.list

    def failing_list(self, kind, label_selector=None):
        if kind is k8s.NODEOVERLAY:
            raise k8s.K8sError("LIST nodeoverlays failed: HTTP 500 Internal Server Error", 500)
        return real_list(self, kind, label_selector)

    monkeypatch.setattr(k8s.K8sClient, "list", failing_list)
    result = run_module(dict(args, state="absent"))
    assert result["failed"] is True and result["changed"] is False, result
    assert stored(kube, "nodepools", "absent-order") is not None  # nothing deleted before the failure
    monkeypatch.undo()
    assert run_module(dict(args, state="absent"))["changed"] is True


# ---------------------------------------------------------------- item 7: failure half-way


def test_write_failure_after_a_partial_write_reports_what_was_written(kube, monkeypatch):
    real_apply = k8s.K8sClient.apply

    def apply(self, kind, obj, dry_run=None):
        if kind is k8s.NODEPOOL and dry_run is False:
            raise k8s.K8sError("APPLY NodePool %s failed: HTTP 500 Internal Server Error" % obj["metadata"]["name"], 500)
        return real_apply(self, kind, obj, dry_run=dry_run)

    monkeypatch.setattr(k8s.K8sClient, "apply", apply)
    result = run_module(pool_args(kube.kubeconfig, "halfway"))
    assert result["failed"] is True, result
    assert result["changed"] is True
    assert result["written"] == ["EC2NodeClass/halfway-class"]
    assert "HTTP 500" in result["msg"] and "Already written before the failure: EC2NodeClass/halfway-class" in result["msg"]
    assert stored(kube, "ec2nodeclasses", "halfway-class") is not None
    assert stored(kube, "nodepools", "halfway") is None


# ---------------------------------------------------------------- item 6: mig.config label agreement


@pytest.mark.parametrize("extra,message", [
    (dict(labels={"nvidia.com/mig.config": "all-7g.80gb"}),
     "labels sets nvidia.com/mig.config='all-7g.80gb' but mig_config is 'all-1g.10gb'"),
    (dict(spec={"template": {"metadata": {"labels": {"nvidia.com/mig.config": "all-7g.80gb"}}}}),
     "spec sets template.metadata.labels['nvidia.com/mig.config'] to 'all-7g.80gb' but mig_config is 'all-1g.10gb'"),
], ids=["labels", "spec"])
def test_mig_config_label_disagreement_is_refused_before_any_call(tripwire, tripwire_kubeconfig, extra, message):
    result = run_module(pool_args(tripwire_kubeconfig, "labels", **extra))
    assert result["failed"] is True and not result.get("changed")
    assert message in result["msg"], result["msg"]
    assert not tripwire.touched()


def test_matching_mig_config_label_is_accepted(kube):
    result = run_module(pool_args(kube.kubeconfig, "same-label", labels={"nvidia.com/mig.config": "all-1g.10gb"}))
    assert result["changed"] is True, result


# ---------------------------------------------------------------- item 18: a config for no GPU of the type


def test_config_that_applies_to_no_gpu_is_refused_with_the_configs_that_do(tripwire, tripwire_kubeconfig):
    result = run_module(pool_args(tripwire_kubeconfig, "h200", instance_types=["p5e.48xlarge"]))
    assert result["failed"] is True
    msg = result["msg"]
    assert "p5e.48xlarge: config all-1g.10gb has no entry for the NVIDIA H200 GPUs" in msg, msg
    assert "(nvidia.com/gpu: 8)" in msg and "configs that apply:" in msg and "all-1g.18gb" in msg
    assert "all-1g.10gb," not in msg.split("configs that apply:")[1]
    assert not tripwire.touched()


# ---------------------------------------------------------------- items 8, 9: secrets in logs and results


def test_proxy_password_never_reaches_the_result(kube):
    args = pool_args(kube.kubeconfig, "proxied", proxy="http://operator:pr0xy-s3cret@127.0.0.1:9")
    result = run_module(args)
    assert result["failed"] is True  # nothing listens on port 9
    text = json.dumps(result)
    assert "pr0xy-s3cret" not in text
    assert result["invocation"]["module_args"]["proxy"] == "http://operator:********@127.0.0.1:9"


def test_kubeconfig_dict_hides_only_its_secrets(kube):
    with open(kube.kubeconfig) as handle:
        config = yaml.safe_load(handle)
    token = "tok-%s" % os.getpid()
    config["users"][0]["user"] = {"token": token}
    result = run_module(pool_args(config, "dict-config"))
    assert result["changed"] is True, result
    text = json.dumps(result)
    assert token not in text
    assert result["nodepool"]["apiVersion"] == "karpenter.sh/v1"  # not karpenter.sh/********
    # a whole value equal to a secret is replaced by ansible-core's placeholder
    assert result["invocation"]["module_args"]["kubeconfig"]["users"][0]["user"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert result["invocation"]["module_args"]["kubeconfig"]["clusters"] == config["clusters"]


# ---------------------------------------------------------------- item 15: a kubeconfig that is not YAML


@pytest.mark.parametrize("content", ["apiVersion: v1\nclusters: [\n  - {name: x\n", "- just\n- a list\n"],
                         ids=["not-yaml", "not-a-mapping"])
def test_kubeconfig_that_is_not_a_kubeconfig_names_the_file(tmp_path, content):
    path = tmp_path / "broken-kubeconfig"
    path.write_text(content)
    result = run_module(pool_args(str(path), "broken"))
    assert result["failed"] is True
    assert "could not load the Kubernetes configuration from %s" % path in result["msg"], result["msg"]
    assert "Traceback" not in result["msg"]
