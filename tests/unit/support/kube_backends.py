# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two Kubernetes backends of the demo, for the conformance tests (test_kube_conformance*.py).

Every conformance test runs the same requests, with the same assertions, against

- ``kube-apiserver``: the real control plane (tests/support/control_plane.py; the session cluster, held with
  ``exclusive()``) with the kubelet stand-in for the test's Nodes, exactly as ``make demo`` runs it, and
- ``emulator``: the kmock-based emulator the demo falls back to where Go cannot be had.

The assertions hold on the real server: that is what makes them Kubernetes behaviour; the emulator must give
the same answers for what the demo uses. A known and accepted difference is listed in ``ACCEPTED`` with the
reason, and a test that meets one says so with ``backend.accepts(key)``.

On the shared session cluster the tests' Nodes carry the label ``LABEL`` (their names the prefix ``conf-``),
their namespaces the prefix ``conf-``; every selector a test lists Nodes with includes the label, and the
Nodes and namespaces are deleted afterwards.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import copy
import time
import uuid

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import control_plane

BACKENDS = ("kube-apiserver", "emulator")
LABEL = "gpu-slicing.test/conformance"
PREFIX = "conf-"

# key -> why the emulator may differ there (each is used by name in one test)
ACCEPTED = {
    "async-cleanup": "the real server deletes a namespace's objects, a garbage-collected dependent and a CRD's instances from "
                     "controllers, seconds later; the emulator does it in the request. Tests wait (``eventually``) on both.",
    "crd-established-later": "the real server marks a new CRD Established asynchronously (its establishing controller); the "
                             "emulator answers the create with the condition already set. Tests wait for it on both.",
    "anyof-summary": "for a value matching no branch of an anyOf (int-or-string quantities) the real server adds a cause without a "
                     "field ('must validate at least one schema (anyOf)') besides the field's own; the emulator gives only the field's.",
    "pods-run": "on the real server the kubelet stand-in marks pods bound to its Nodes Running, as the demo runs it; the "
                "emulator without --simulate-controllers leaves them Pending. No test asserts the phase of a bound pod.",
}


class Backend:
    """One backend: ``name``, ``kubeconfig``, ``request(method, path, body, content_type)`` -> (status, JSON),
    ``api_client()``, ``real`` (True for kube-apiserver)."""

    def __init__(self, name, kube):
        self.name = name
        self.kube = kube
        self.kubeconfig = kube.kubeconfig
        self.real = name == "kube-apiserver"

    def request(self, method, path, body=None, content_type="application/json"):
        if self.real:
            return self.kube.api.request(method, path, body, content_type=content_type)
        return self.kube.request(method, path, body, content_type=content_type)

    def api_client(self):
        return self.kube.api_client()

    @staticmethod
    def accepts(key):
        """Name an accepted difference where a test allows for it (a KeyError for an unlisted one)."""
        return ACCEPTED[key]


def node(name, labels=None, capacity=None):
    """A Node for ``nodes=`` with the conformance label (its name gets the prefix)."""
    obj = {"metadata": {"name": PREFIX + name, "labels": dict(labels or {}, **{LABEL: "yes"})}}
    if capacity:
        obj["status"] = {"capacity": dict(capacity)}
    return obj


def nodepool(name, **spec):
    """A valid NodePool (v1.14.1 schema) named ``name``, ``spec`` merged at the top."""
    body = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name},
            "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                                           "requirements": [{"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In", "values": ["h100"]}]}}}}
    body["spec"].update(spec)
    return body


def unique():
    return PREFIX + uuid.uuid4().hex[:8]


def selector(text=""):
    """``text`` restricted to the conformance Nodes."""
    return ",".join(part for part in (text, LABEL) if part)


def eventually(check, timeout=60.0, interval=0.1):
    """Call ``check()`` until it returns without AssertionError (the last one is raised after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


def _clean_real(kube):
    """Delete the conformance namespaces (their pods at once: Nodes without a kubelet never finalize them) and Nodes."""
    status, namespaces = kube.api.request("GET", "/api/v1/namespaces")
    for item in (namespaces or {}).get("items", []) if status == 200 else []:
        name = item["metadata"]["name"]
        if name.startswith(PREFIX):
            kube.api.request("DELETE", "/api/v1/namespaces/%s/pods" % name, {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
            kube.api.request("DELETE", "/api/v1/namespaces/%s" % name)
    kube.api.request("DELETE", "/api/v1/nodes?labelSelector=%s" % LABEL)


@contextlib.contextmanager
def backend(name, nodes=(), **emulator_options):
    """The backend ``name`` with ``nodes`` registered (see the module docstring)."""
    nodes = copy.deepcopy(list(nodes))
    if name == "emulator":
        pytest.importorskip("kmock")
        from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator
        with KubeEmulator(nodes=nodes, **emulator_options) as emulator:
            yield Backend(name, emulator)
        return
    with control_plane.cluster() as kube, control_plane.exclusive(kube):
        _clean_real(kube)
        try:
            with control_plane.KubeletStandIn(kube.api, nodes):
                yield Backend(name, kube)
        finally:
            _clean_real(kube)
