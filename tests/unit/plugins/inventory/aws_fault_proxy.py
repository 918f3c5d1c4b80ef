# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An HTTP proxy in front of moto that records the EC2 actions it sees and can answer the first requests of an
action with an AWS error (throttling, 5xx), the way EC2 does, so that retries are tested over the wire.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ERROR_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code><Message>%s</Message>'
    '</Error></Errors><RequestID>fault-proxy-%d</RequestID></Response>'
)


class FaultProxy:
    """``with FaultProxy(moto.endpoint_url) as proxy:`` then point clients at ``proxy.endpoint_url``.

    ``proxy.fail(action, status, code, times)`` queues errors; ``proxy.actions`` lists every action received.
    """

    def __init__(self, upstream):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.actions = []
        self.faults = {}
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    @property
    def endpoint_url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def fail(self, action, status, code, times=1, message="injected by the test"):
        with self._lock:
            self.faults.setdefault(action, []).extend([(status, code, message)] * times)

    def count(self, action):
        return sum(1 for a in self.actions if a == action)

    def _next_fault(self, action):
        with self._lock:
            self.actions.append(action)
            queue = self.faults.get(action)
            return queue.pop(0) if queue else None

    def __enter__(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
                fault = proxy._next_fault(action)
                if fault:
                    status, code, message = fault
                    payload = (ERROR_BODY % (code, message, len(proxy.actions))).encode("utf-8")
                    self._reply(status, [("Content-Type", "text/xml")], payload)
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
                try:
                    headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in ("host", "connection"))
                    upstream.request("POST", self.path, body=body, headers=headers)
                    reply = upstream.getresponse()
                    payload = reply.read()
                    keep = [(k, v) for k, v in reply.getheaders()
                            if k.lower() not in ("transfer-encoding", "connection", "content-length")]
                    self._reply(reply.status, keep, payload)
                finally:
                    upstream.close()

            def _reply(self, status, headers, payload):
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
