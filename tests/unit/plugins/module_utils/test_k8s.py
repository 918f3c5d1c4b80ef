# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_k8s against the real kube-apiserver (tests/support/control_plane.py, Karpenter v1.14.1 CRDs): what the server
answers (201 for an apply that creates, 404, 422 with its message, dryRun=All storing nothing, a real bearer token),
and retries of 5xx/429 injected by tests/support/fault_proxy.py in front of it; auth env fallbacks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _k8s as k8s  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import control_plane, fault_proxy  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit import kube_fixtures  # noqa: E402

NAME = "k8s-client-p"
POOL = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": NAME},
        "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
                                       "requirements": []}}}}
POOL_PATH = "/apis/karpenter.sh/v1/nodepools/%s" % NAME


cluster, kube = kube_fixtures.cluster, kube_fixtures.kube  # shared pytest fixtures, by name


@pytest.fixture
def proxy(kube, tmp_path):
    with fault_proxy.FaultProxy(kube, workdir=tmp_path / "proxy") as running:
        yield running


def client(kubeconfig, **kwargs):
    sleeps = []
    kwargs.setdefault("sleep", sleeps.append)
    return k8s.K8sClient(configuration=k8s.build_configuration({"kubeconfig": kubeconfig}), **kwargs), sleeps


def live(kube):
    status, answer = kube.api.request("GET", POOL_PATH)
    return answer if status == 200 else None


def test_retries_transient_statuses_with_bounded_backoff(proxy, kube):
    proxy.fail("PATCH", "^%s\\?" % POOL_PATH, status=503, times=1)
    proxy.fail("PATCH", "^%s\\?" % POOL_PATH, status=429, times=1, retry_after=2)
    c, sleeps = client(proxy.kubeconfig, max_delay=1.5)
    answer = c.apply(k8s.NODEPOOL, POOL)
    # the third attempt reached the server, which created the object and answered 201 (returned, not dropped)
    assert answer["metadata"]["name"] == NAME and answer["metadata"]["uid"] == live(kube)["metadata"]["uid"]
    assert [(status, injected) for _m, _t, status, injected in proxy.seen("PATCH", POOL_PATH)] == [(503, True), (429, True), (201, False)]
    assert c.requests == 3 and c.retries == 2
    assert len(sleeps) == 2 and all(0 <= s <= 1.5 for s in sleeps)
    assert sleeps[1] == 1.5  # Retry-After 2 s, capped at max_delay
    target = proxy.seen("PATCH", POOL_PATH)[-1][1]
    assert "fieldManager=gpu-slicing-eks" in target and "force=true" in target and "dryRun" not in target
    managers = {(e["manager"], e["operation"]) for e in live(kube)["metadata"]["managedFields"]}
    assert ("gpu-slicing-eks", "Apply") in managers  # a server-side apply, not a merge patch


def test_gives_up_after_max_attempts_with_the_server_message(proxy):
    proxy.fail("GET", "^%s$" % POOL_PATH, status=500, message="etcd down")
    c, sleeps = client(proxy.kubeconfig, max_attempts=3)
    with pytest.raises(k8s.K8sError) as info:
        c.get(k8s.NODEPOOL, NAME)
    assert info.value.status == 500 and "etcd down" in str(info.value) and "GET NodePool %s" % NAME in str(info.value)
    assert c.requests == 3 and len(sleeps) == 2


def test_client_errors_are_not_retried_and_404_means_absent(kube):
    c, sleeps = client(kube.kubeconfig)
    assert c.get(k8s.NODEOVERLAY, "absent-overlay") is None
    with pytest.raises(k8s.K8sError) as info:
        c.apply(k8s.NODEPOOL, dict(POOL, spec=dict(POOL["spec"], weight=101)))
    assert info.value.status == 422 and "spec.weight" in str(info.value) and "less than or equal to 100" in str(info.value)
    assert c.delete(k8s.EC2NODECLASS, "absent-class") is False
    assert c.requests == 3 and sleeps == []


def test_dry_run_is_sent_on_every_write_and_stores_nothing(kube, proxy):
    c, _sleeps = client(proxy.kubeconfig, dry_run=True)
    answer = c.apply(k8s.NODEPOOL, POOL)
    assert answer["spec"]["disruption"]["consolidateAfter"] == "0s"  # the server's defaults came back ...
    assert live(kube) is None  # ... and nothing was stored
    status, _created = kube.api.request("POST", "/apis/karpenter.sh/v1/nodepools", POOL)
    assert status == 201
    assert c.delete(k8s.NODEPOOL, NAME) is True
    assert live(kube) is not None  # a dry-run delete leaves it
    writes = [t for m, t, _s, _i in proxy.log if m in ("PATCH", "DELETE")]
    assert len(writes) == 2 and all("dryRun=All" in t for t in writes)


def test_bearer_token_reaches_the_server(kube):
    token = control_plane.service_account_token(kube.api, "gpu-slicing-k8s-client")
    ca = kube.record["pki"]["ca.crt"] if hasattr(kube, "record") else kube.session_record()["pki"]["ca.crt"]
    configuration = k8s.build_configuration({"host": kube.server, "api_key": token, "ca_cert": ca})
    c = k8s.K8sClient(configuration=configuration)
    assert c.apply(k8s.NODEPOOL, POOL)["metadata"]["name"] == NAME  # only the token authenticates this client
    bad = k8s.K8sClient(configuration=k8s.build_configuration({"host": kube.server, "api_key": token + "x", "ca_cert": ca}))
    with pytest.raises(k8s.K8sError) as info:
        bad.get(k8s.NODEPOOL, NAME)
    assert info.value.status == 401


def test_wait_for_condition_times_out_with_last_condition(kube):
    assert kube.api.request("POST", "/apis/karpenter.sh/v1/nodepools", POOL)[0] == 201
    kube.api.apply(POOL_PATH, {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": NAME}, "status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "NodeClassNotReady", "message": "EC2NodeClass gpu not ready",
         "lastTransitionTime": "2026-11-30T00:00:00Z"}]}}, manager="karpenter-stand-in", subresource="/status")
    c, _sleeps = client(kube.kubeconfig)
    ticks = iter([0, 0, 5, 11])
    with pytest.raises(k8s.K8sError) as info:
        c.wait_for_condition(k8s.NODEPOOL, NAME, timeout=10, interval=0, clock=lambda: next(ticks))
    assert "NodeClassNotReady" in str(info.value) and "timed out after 10s" in str(info.value)


def test_auth_env_fallbacks(monkeypatch):
    monkeypatch.setenv("K8S_AUTH_HOST", "https://example.invalid:6443")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "secret")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "no")
    auth = k8s.auth_params({"host": None, "context": "explicit"})
    assert (auth["host"], auth["api_key"], auth["validate_certs"], auth["context"]) == (
        "https://example.invalid:6443", "secret", False, "explicit")
    configuration = k8s.build_configuration({})
    assert configuration.host == "https://example.invalid:6443" and configuration.verify_ssl is False
    assert configuration.api_key == {"authorization": "Bearer secret"}


def test_missing_kubeconfig_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(k8s.K8sError) as info:
        k8s.build_configuration({"kubeconfig": str(tmp_path / "missing")})
    assert "could not load the Kubernetes configuration" in str(info.value)


def test_strip_server_fields():
    live = {"metadata": {"name": "p", "uid": "u", "resourceVersion": "9", "generation": 3, "managedFields": [{}],
                         "creationTimestamp": "t", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"weight": 1}, "status": {"nodes": 2}}
    assert k8s.strip_server_fields(live) == {"metadata": {"name": "p"}, "spec": {"weight": 1}}


def test_kubeconfig_as_dictionary_and_context(tmp_path):
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [{"name": "a", "cluster": {"server": "http://127.0.0.1:1"}}, {"name": "b", "cluster": {"server": "http://127.0.0.1:2"}}],
        "users": [{"name": "u", "user": {"token": "tok"}}],
        "contexts": [{"name": "a", "context": {"cluster": "a", "user": "u"}}, {"name": "b", "context": {"cluster": "b", "user": "u"}}],
    }
    assert k8s.build_configuration({"kubeconfig": kubeconfig}).host == "http://127.0.0.1:1"
    configuration = k8s.build_configuration({"kubeconfig": kubeconfig, "context": "b"})
    assert configuration.host == "http://127.0.0.1:2"
    assert configuration.get_api_key_with_prefix("BearerToken", alias="authorization") == "Bearer tok"
    with pytest.raises(k8s.K8sError) as info:
        k8s.build_configuration({"kubeconfig": kubeconfig, "context": "missing"})
    assert "missing" in str(info.value)
