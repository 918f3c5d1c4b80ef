# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The resource types the emulator serves: built-ins from kmock's bundled discovery, plus CRDs."""

import gzip
import importlib.resources
import json

import kmock

from .admission import SchemaAdmission
from .patching import BUILTIN_MERGE_KEYS
from .tables import BUILTIN_COLUMNS

# Groups of kmock's bundled (k3s) discovery we do not serve: metrics.k8s.io also has a ``nodes`` resource
# and kubectl would resolve ``kubectl get nodes`` to it; gateway API is irrelevant here.
_DROPPED_GROUPS = {"metrics.k8s.io", "gateway.networking.k8s.io", "apiregistration.k8s.io", "flowcontrol.apiserver.k8s.io"}
# Built-in kinds whose objects carry metadata.generation (those with a spec the API server versions).
_GENERATION_KINDS = {
    "Pod", "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob", "ReplicationController",
    "PodDisruptionBudget", "CustomResourceDefinition", "Service", "PersistentVolumeClaim",
}
# Sub-resources whose discovery entry names another kind (group/version/kind/verbs).
_SUBRESOURCE_KINDS = {
    "eviction": ("policy", "v1", "Eviction", ["create"]),
    "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    "binding": ("", "v1", "Binding", ["create"]),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ["create"]),
}
# Sub-resources the emulator actually implements; other bundled ones are not advertised.
IMPLEMENTED_SUBRESOURCES = {"status", "eviction"}
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class ResourceType:
    """One served group/version/plural and everything the server needs to handle it."""

    def __init__(self, group, version, plural, kind, namespaced, singular=None, short_names=(), categories=(),
                 verbs=None, subresources=(), generation=True, admission=None, crd_name=None, storage_version=None, printer_columns=None):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = bool(namespaced)
        self.singular = singular or kind.lower()
        self.short_names = sorted(short_names)
        self.categories = sorted(categories)
        self.verbs = sorted(verbs or ALL_VERBS)
        self.subresources = sorted(set(subresources) & IMPLEMENTED_SUBRESOURCES)
        self.generation = generation
        self.admission = admission
        self.crd_name = crd_name
        self.storage_version = storage_version or version
        self.printer_columns = printer_columns  # None for built-ins: kubectl prints them client-side

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def group_kind(self):
        return "%s.%s" % (self.kind, self.group) if self.group else self.kind

    @property
    def has_status(self):
        return "status" in self.subresources

    @property
    def store_resource(self):
        """Key of the kmock object store: one per group/plural, at the storage version."""
        return kmock.resource(self.group, self.storage_version, self.plural)

    def map_keys_for(self, path):
        if self.admission is not None:
            return self.admission.map_keys(path)
        return BUILTIN_MERGE_KEYS.get(path[-1]) if path else None

    def discovery_entries(self):
        entries = [{
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced, "kind": self.kind,
            "verbs": self.verbs, **({"shortNames": self.short_names} if self.short_names else {}),
            **({"categories": self.categories} if self.categories else {}),
        }]
        for sub in self.subresources:
            entry = {"name": "%s/%s" % (self.plural, sub), "singularName": "", "namespaced": self.namespaced,
                     "kind": self.kind, "verbs": ["get", "patch", "update"]}
            if sub in _SUBRESOURCE_KINDS:
                group, version, kind, verbs = _SUBRESOURCE_KINDS[sub]
                entry.update(group=group, version=version, kind=kind, verbs=verbs)
            entries.append(entry)
        return entries


def builtin_types():
    """Built-in resource types from kmock's bundled discovery (trimmed, see ``_DROPPED_GROUPS``)."""
    data = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
    types = []
    for doc in json.loads(gzip.decompress(data)):
        group_version = doc["groupVersion"]
        group, version = group_version.rsplit("/", 1) if "/" in group_version else ("", group_version)
        if group in _DROPPED_GROUPS:
            continue
        subresources = {}
        for entry in doc.get("resources", []):
            if "/" in entry["name"]:
                parent, sub = entry["name"].split("/", 1)
                subresources.setdefault(parent, set()).add(sub)
        for entry in doc.get("resources", []):
            if "/" in entry["name"]:
                continue
            types.append(ResourceType(
                group, version, entry["name"], entry["kind"], entry.get("namespaced"),
                singular=entry.get("singularName") or None, short_names=entry.get("shortNames") or (),
                categories=entry.get("categories") or (), verbs=entry.get("verbs") or None,
                subresources=subresources.get(entry["name"], ()), generation=entry["kind"] in _GENERATION_KINDS,
                printer_columns=BUILTIN_COLUMNS.get((group, entry["kind"])),
            ))
    return types


def crd_types(crd):
    """Resource types served for a CustomResourceDefinition object (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    versions = spec.get("versions") or []
    storage = next((v["name"] for v in versions if v.get("storage")), versions[0]["name"] if versions else None)
    types = []
    for version in versions:
        if not version.get("served", True):
            continue
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        types.append(ResourceType(
            spec["group"], version["name"], names["plural"], names["kind"], spec.get("scope") == "Namespaced",
            singular=names.get("singular"), short_names=names.get("shortNames") or (), categories=names.get("categories") or (),
            subresources=(version.get("subresources") or {}).keys(), generation=True,
            admission=SchemaAdmission(crd["metadata"]["name"], version["name"], schema),
            crd_name=crd["metadata"]["name"], storage_version=storage, printer_columns=version.get("additionalPrinterColumns") or [],
        ))
    return types
