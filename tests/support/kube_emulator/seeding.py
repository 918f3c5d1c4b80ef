# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create or update Node objects through the emulator's API, as a registering kubelet would.

The Node defaults and the two writes (object, then its ``status`` sub-resource) are the real control plane's
(``control_plane.node_object`` / ``control_plane.seed_nodes``), so both backends of the demo get the same Nodes;
only the transport differs (plain HTTP here, no client certificate).
"""

import json
import urllib.error
import urllib.request

from ..control_plane import seed_nodes

SEED_MANAGER = "kube-emulator-seed"


class _HttpApi:
    """The ``apply`` of ``control_plane.Api`` over plain HTTP (the emulator has no TLS)."""

    def __init__(self, url):
        self.url = url

    def apply(self, path, obj, manager=SEED_MANAGER, subresource=""):
        request = urllib.request.Request(
            "%s%s%s?fieldManager=%s&force=true" % (self.url, path, subresource, manager), data=json.dumps(obj).encode(),
            method="PATCH", headers={"Content-Type": "application/apply-patch+yaml"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError("seeding %s%s failed: HTTP %d %s" % (path, subresource, exc.code, exc.read().decode(errors="replace")))


def create_nodes(url, nodes):
    """Server-side apply each node, then its status (Node status is a sub-resource). Returns the stored nodes."""
    return seed_nodes(_HttpApi(url), nodes, manager=SEED_MANAGER)
