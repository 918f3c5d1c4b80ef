# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""karpenter_nodepool with bad input and old clusters (issue 15): clusters without the NodeOverlay CRD (Karpenter
1.0-1.6), a mig.config label that disagrees with mig_config, failures half-way, secrets in the invocation, a
kubeconfig that is not YAML, a config that applies to no GPU of an instance type.

Against the real kube-apiserver (tests/support/control_plane.py) with the real Karpenter v1.14.1 CRDs: the session
cluster, and for "a cluster without the NodeOverlay CRD" one private control plane started with every default CRD
but that one (the NodePool/EC2NodeClass schemas stay v1.14.1's; what the module must detect is the missing
kind). Server faults (HTTP 500 on one request) come from tests/support/fault_proxy.py, a reverse proxy between the
module's real client and the real server: the requests it does not fail really reach the server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest
import yaml

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.tests.support import control_plane, fault_proxy  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit import kube_fixtures  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import (  # noqa: E402
    Tripwire, run_module, write_kubeconfig)
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.test_karpenter_nodepool import (  # noqa: E402
    stored as stored_object)

WITHOUT_OVERLAYS = tuple(path for path in control_plane.DEFAULT_CRDS if "nodeoverlays" not in os.path.basename(path))


cluster, kube = kube_fixtures.cluster, kube_fixtures.kube  # shared pytest fixtures, by name


@pytest.fixture(scope="module")
def old_kube():
    """Karpenter 1.0-1.6: NodePool and EC2NodeClass CRDs, no NodeOverlay CRD. A private control plane (the session
    cluster serves NodeOverlays); no scheduler or controller-manager, nothing here needs them."""
    assert len(WITHOUT_OVERLAYS) == len(control_plane.DEFAULT_CRDS) - 1
    with control_plane.ControlPlane(crds=WITHOUT_OVERLAYS, scheduler=False, controller_manager=False) as plane:
        status, _answer = plane.api.request("GET", "/apis/karpenter.sh/v1alpha1")
        assert status == 404, "the old cluster must not serve karpenter.sh/v1alpha1 (NodeOverlay)"
        yield plane


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


def test_absent_reads_overlays_before_deleting_the_pool(kube, tmp_path):
    args = pool_args(kube.kubeconfig, "absent-order")
    assert run_module(args)["changed"] is True
    assert stored(kube, "nodeoverlays", "absent-order-p5-48xlarge") is not None
    with fault_proxy.FaultProxy(kube, workdir=tmp_path / "proxy") as proxy:
        rule = proxy.fail("GET", r"^/apis/karpenter\.sh/v1alpha1/nodeoverlays(\?|$)", status=500)
        result = run_module(dict(args, kubeconfig=proxy.kubeconfig, state="absent"))
    assert result["failed"] is True and result["changed"] is False, result
    assert "LIST nodeoverlays failed: HTTP 500" in result["msg"], result["msg"]
    assert rule.hits >= 1
    assert not [entry for entry in proxy.log if entry[0] == "DELETE"]  # nothing deleted before the failure
    assert stored(kube, "nodepools", "absent-order") is not None
    assert run_module(dict(args, state="absent"))["changed"] is True


# ---------------------------------------------------------------- item 7: failure half-way


def test_write_failure_after_a_partial_write_reports_what_was_written(kube, tmp_path):
    with fault_proxy.FaultProxy(kube, workdir=tmp_path / "proxy") as proxy:
        # the real write of the NodePool (not its dry run) gets HTTP 500, every time it is retried
        rule = proxy.fail("PATCH", r"^/apis/karpenter\.sh/v1/nodepools/halfway\?(?!.*dryRun)", status=500)
        result = run_module(pool_args(proxy.kubeconfig, "halfway"))
    assert result["failed"] is True, result
    assert result["changed"] is True
    assert result["written"] == ["EC2NodeClass/halfway-class"]
    assert "HTTP 500" in result["msg"] and "Already written before the failure: EC2NodeClass/halfway-class" in result["msg"]
    # the dry runs (NodePool included) and the EC2NodeClass write really reached the server (201: created); every
    # real NodePool write (the client retries a 500) got the injected answer
    pool_writes = [(s, injected) for _m, t, s, injected in proxy.seen("PATCH", "/nodepools/halfway?") if "dryRun" not in t]
    assert pool_writes and set(pool_writes) == {(500, True)} and rule.hits == len(pool_writes)
    assert [s for _m, t, s, injected in proxy.seen("PATCH", "/nodepools/halfway?") if "dryRun=All" in t and not injected] == [201]
    assert [s for _m, t, s, injected in proxy.seen("PATCH", "/ec2nodeclasses/halfway-class?") if "dryRun" not in t] == [201]
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


def test_proxy_password_never_reaches_the_result(cluster):
    args = pool_args(cluster.kubeconfig, "proxied", proxy="http://operator:pr0xy-s3cret@127.0.0.1:9")
    result = run_module(args)
    assert result["failed"] is True  # nothing listens on port 9
    text = json.dumps(result)
    assert "pr0xy-s3cret" not in text
    assert result["invocation"]["module_args"]["proxy"] == "http://operator:********@127.0.0.1:9"


def test_kubeconfig_dict_hides_only_its_secrets(kube):
    with open(kube.kubeconfig) as handle:
        config = yaml.safe_load(handle)
    token = control_plane.service_account_token(kube.api, "gpu-slicing-dict-config")
    config["users"][0]["user"] = {"token": token}  # the only credential: the server accepts it, the result hides it
    result = run_module(pool_args(config, "dict-config"))
    assert result["changed"] is True, result
    text = json.dumps(result)
    assert token not in text
    assert result["nodepool"]["apiVersion"] == "karpenter.sh/v1"  # not karpenter.sh/********
    # a whole value equal to a secret is replaced by ansible-core's placeholder
    assert result["invocation"]["module_args"]["kubeconfig"]["users"][0]["user"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert result["invocation"]["module_args"]["kubeconfig"]["clusters"] == config["clusters"]
    managers = {entry["manager"] for entry in stored(kube, "nodepools", "dict-config")["metadata"]["managedFields"]}
    assert "gpu-slicing-eks" in managers


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
