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

from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.karpenter_helpers import (  # noqa: F401
    BAD_INPUTS, BASE, Tripwire, run_module, write_kubeconfig)


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
