# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fault-injecting HTTPS reverse proxy in front of a real kube-apiserver (stdlib + control_plane's PKI helper).

The client under test gets the proxy's own kubeconfig (``proxy.kubeconfig``: a throwaway CA, a serving
certificate for 127.0.0.1 and a client certificate the proxy does not check). Every request is forwarded to
the real API server with the control plane's admin credentials and the server's answer is passed back
unchanged, except for requests matching a rule added with ``fail()``: those get the chosen HTTP status with a
Kubernetes ``Status`` body (and ``Retry-After`` for 429), either instead of reaching the server
(``forward=False``, the default: the write never happens) or after the server has processed them
(``forward=True``: the write happened, the answer was lost).

    with fault_proxy.FaultProxy(kube) as proxy:
        rule = proxy.fail("PATCH", r"^/apis/karpenter\\.sh/v1/nodepools/pool-a\\?(?!.*dryRun)", status=500)
        ...  # run the module with kubeconfig=proxy.kubeconfig
        assert rule.hits == 5 and proxy.seen("PATCH", "/ec2nodeclasses/")

``kube`` is anything with an ``api`` attribute like ``control_plane.Api`` (a ``ControlPlane`` or a session).
Streaming requests (``watch=true``) are not supported: answers are read whole before they are passed on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import json
import re
import shutil
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ansible_collections.gpu_slicing.eks.tests.support import control_plane
from ansible_collections.gpu_slicing.eks.tests.support.ports import LOOPBACK

REASONS = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
# request headers passed on to the API server (authentication is the proxy's own: the admin client certificate)
FORWARDED_HEADERS = ("Accept", "Content-Type", "User-Agent", "Accept-Encoding")


class Rule:
    """Answer ``status`` to requests whose method is ``method`` and whose request target (path + query) matches
    the regular expression ``pattern`` (``re.search``); ``times`` limits how often (None: always)."""

    def __init__(self, method, pattern, status, times=None, forward=False, message=None, retry_after=None):
        self.method = method.upper()
        self.pattern = re.compile(pattern)
        self.status = status
        self.times = times
        self.forward = forward
        self.message = message or "injected by the test fault proxy"
        self.retry_after = retry_after
        self.hits = 0

    def take(self, method, target):
        if method != self.method or not self.pattern.search(target):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True

    def body(self):
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": REASONS.get(self.status, "Unknown"), "code": self.status}


class FaultProxy:
    """See the module docstring. Attributes after ``start()``: ``url``, ``kubeconfig``, ``log`` (a list of
    ``(method, target, status, injected)`` for every request, in order)."""

    def __init__(self, kube, workdir=None):
        self.upstream = kube.api
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else None
        self.rules = []
        self.log = []
        self._lock = threading.Lock()
        self._httpd = self._thread = None
        self.url = self.kubeconfig = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def fail(self, method, pattern, status=500, times=None, forward=False, message=None, retry_after=None):
        """Add a rule (first matching rule wins); returns it (``rule.hits`` counts the injected answers)."""
        rule = Rule(method, pattern, status, times=times, forward=forward, message=message, retry_after=retry_after)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self):
        with self._lock:
            self.rules = []

    def seen(self, method, fragment):
        """The logged requests with ``method`` whose target contains ``fragment``."""
        return [entry for entry in self.log if entry[0] == method.upper() and fragment in entry[1]]

    def _match(self, method, target):
        with self._lock:
            for rule in self.rules:
                if rule.take(method, target):
                    return rule
        return None

    def start(self):
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="gpu-slicing-fault-proxy-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        pki = control_plane.make_pki(self.workdir / "pki")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki["apiserver.crt"], pki["apiserver.key"])
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                method = self.command
                rule = proxy._match(method, self.path)
                status, headers, data = None, [], b""
                if rule is None or rule.forward:
                    status, headers, data = proxy._forward(method, self.path, self.headers, body)
                if rule is not None:
                    status, data = rule.status, json.dumps(rule.body()).encode()
                    headers = [("Content-Type", "application/json")]
                    if rule.retry_after is not None:
                        headers.append(("Retry-After", str(rule.retry_after)))
                with proxy._lock:
                    proxy.log.append((method, self.path, status, rule is not None))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self.url = "https://%s:%d" % (LOOPBACK, self._httpd.server_address[1])
        self.kubeconfig = control_plane.write_kubeconfig(self.workdir / "kubeconfig", self.url, pki, context="fault-proxy")
        return self

    def _forward(self, method, target, headers, body):
        connection = http.client.HTTPSConnection(self.upstream.host, self.upstream.port, context=self.upstream.context, timeout=60)
        try:
            connection.request(method, target, body=body,
                               headers={key: headers[key] for key in FORWARDED_HEADERS if headers.get(key) is not None})
            response = connection.getresponse()
            data = response.read()
            passed = [(key, value) for key, value in response.getheaders()
                      if key.lower() not in ("content-length", "transfer-encoding", "connection")]
            return response.status, passed, data
        finally:
            connection.close()

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)
            self._httpd = None
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(str(self.workdir), ignore_errors=True)
