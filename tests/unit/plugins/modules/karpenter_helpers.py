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
from ansible.module_utils.testing import patch_module_args

from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool

CRD_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "crds")


def run_module(args, check_mode=False, diff=False):
    """Run karpenter_nodepool.main() with ``args``; return its JSON result (failed or not)."""
    module_args = dict(args)
    module_args["_ansible_check_mode"] = check_mode
    module_args["_ansible_diff"] = diff
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
