# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_k8s: retries, dry run and errors against a real HTTP server that misbehaves on purpose; auth env fallbacks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _k8s as k8s  # noqa: E402

POOL = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "p", "resourceVersion": "7"}, "spec": {}}


class Scripted(BaseHTTPRequestHandler):
    """Answers with the next (status, body, headers) of ``script``; records method, path and query."""

    script = []
    seen = []
    authorization = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        type(self).seen.append((self.command, self.path, self.headers.get("Content-Type"), body_in))
        type(self).authorization.append(self.headers.get("Authorization"))
        status, body, headers = type(self).script.pop(0) if type(self).script else (500, {"message": "script exhausted"}, {})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PATCH = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Scripted.script, Scripted.seen, Scripted.authorization = [], [], []
    httpd = HTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def client(server, **kwargs):
    configuration = k8s.build_configuration({"host": "http://127.0.0.1:%d" % server.server_port, "api_key": "t"})
    sleeps = []
    kwargs.setdefault("sleep", sleeps.append)
    c = k8s.K8sClient(configuration=configuration, **kwargs)
    return c, sleeps


def test_retries_transient_statuses_with_bounded_backoff(server):
    Scripted.script = [(503, {"message": "busy"}, {}), (429, {"message": "slow down"}, {"Retry-After": "2"}),
                       (201, POOL, {})]
    c, sleeps = client(server, max_delay=1.5)
    answer = c.apply(k8s.NODEPOOL, POOL)
    assert answer == POOL  # 201 from an apply that created the object is returned, not dropped
    assert c.requests == 3 and c.retries == 2
    assert len(sleeps) == 2 and all(0 <= s <= 1.5 for s in sleeps)
    assert sleeps[1] == 1.5  # Retry-After 2 s, capped at max_delay
    method, path, content_type, body = Scripted.seen[-1]
    assert (method, content_type) == ("PATCH", "application/apply-patch+yaml")
    assert path.startswith("/apis/karpenter.sh/v1/nodepools/p?") and "fieldManager=gpu-slicing-eks" in path and "force=true" in path
    assert "dryRun" not in path and json.loads(body)["metadata"]["name"] == "p"
    assert Scripted.authorization == ["Bearer t"] * 3  # the api_key option reaches the server


def test_gives_up_after_max_attempts_with_the_server_message(server):
    Scripted.script = [(500, {"message": "etcd down"}, {})] * 3
    c, sleeps = client(server, max_attempts=3)
    with pytest.raises(k8s.K8sError) as info:
        c.get(k8s.NODEPOOL, "p")
    assert info.value.status == 500 and "etcd down" in str(info.value) and "GET NodePool p" in str(info.value)
    assert c.requests == 3 and len(sleeps) == 2


def test_client_errors_are_not_retried_and_404_means_absent(server):
    Scripted.script = [(404, {"message": "not found"}, {}), (422, {"message": "spec.weight: Invalid value"}, {}),
                       (404, {"message": "gone"}, {})]
    c, sleeps = client(server)
    assert c.get(k8s.NODEOVERLAY, "x") is None
    with pytest.raises(k8s.K8sError) as info:
        c.apply(k8s.NODEPOOL, POOL)
    assert info.value.status == 422 and "spec.weight: Invalid value" in str(info.value)
    assert c.delete(k8s.EC2NODECLASS, "y") is False
    assert c.requests == 3 and sleeps == []


def test_dry_run_is_sent_on_every_write(server):
    Scripted.script = [(200, POOL, {}), (200, {"kind": "Status", "status": "Success"}, {})]
    c, _sleeps = client(server, dry_run=True)
    c.apply(k8s.NODEPOOL, POOL)
    assert c.delete(k8s.NODEPOOL, "p") is True
    assert all("dryRun=All" in path for _m, path, _c, _b in Scripted.seen)


def test_wait_for_condition_times_out_with_last_condition(server):
    not_ready = dict(POOL, status={"conditions": [{"type": "Ready", "status": "False", "reason": "NodeClassNotReady",
                                                   "message": "EC2NodeClass gpu not ready"}]})
    Scripted.script = [(200, not_ready, {})] * 3
    c, _sleeps = client(server)
    ticks = iter([0, 0, 5, 11])
    with pytest.raises(k8s.K8sError) as info:
        c.wait_for_condition(k8s.NODEPOOL, "p", timeout=10, clock=lambda: next(ticks))
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
