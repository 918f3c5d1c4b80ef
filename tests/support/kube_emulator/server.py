# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulated API server: a ``kmock.KubernetesEmulator`` whose request handling is replaced for
Kubernetes paths (``/api``, ``/apis``) by a small, stricter API server. kmock provides the HTTP
server, request parsing, the versioned object store (``objects``) and the bundled built-in discovery.

See the package docstring for what is emulated and how it differs from a real kube-apiserver.
"""

import asyncio
import collections
import copy
import datetime
import json
import logging
import os
import re
import secrets
import tempfile
import uuid

import aiohttp.web
import attrs
import jsonpatch
import kmock
import yaml

from . import controllers, patching, tables
from .resources import builtin_types, crd_types
from .selectors import SelectorError, match_fields, match_labels, parse_field_selector, parse_label_selector

LOG = logging.getLogger("kube_emulator")
SERVER_VERSION = {
    "major": "1", "minor": "33", "gitVersion": "v1.33.0-kube-emulator", "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean", "buildDate": "2026-11-26T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
    "platform": "linux/amd64",
}
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_EVENT_LOG_SIZE = 2000
# Built-in kinds whose DELETE answers the object instead of a Status (their registry's ReturnDeletedObject;
# the kubernetes client types these answers, e.g. V1Pod). Custom resources answer the object too.
_RETURNS_DELETED_OBJECT = {("", "Pod"), ("", "Service"), ("", "ServiceAccount"), ("", "PersistentVolume"), ("", "PersistentVolumeClaim"),
                           ("", "PodTemplate"), ("", "ResourceQuota"), ("", "Namespace"), ("apiextensions.k8s.io", "CustomResourceDefinition")}


def _null_at(obj, path):
    """True when ``path`` (plain keys only) ends in an explicit null in ``obj``."""
    for step in path[:-1]:
        if not isinstance(step, str) or not isinstance(obj, dict):
            return False
        obj = obj.get(step)
    return isinstance(obj, dict) and isinstance(path[-1], str) and path[-1] in obj and obj[path[-1]] is None


class ApiError(Exception):
    """An error answered as a Kubernetes ``Status`` object."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_found(rtype, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (rtype.plural + ("." + rtype.group if rtype.group else ""), name),
                    {"name": name, "group": rtype.group, "kind": rtype.plural})


def _invalid(rtype, name, causes):
    qualified = "%s.%s" % (rtype.kind, rtype.group) if rtype.group else rtype.kind
    parts = ["%s: %s" % (c["field"], c["message"]) if c.get("field") else c["message"] for c in causes]
    text = parts[0] if len(parts) == 1 else "[%s]" % ", ".join(parts)
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (qualified, name, text),
                    {"name": name, "group": rtype.group, "kind": rtype.kind, "causes": list(causes)})


def _strip_volatile(obj):
    """The object without what changes on every write (to detect no-op writes)."""
    clean = copy.deepcopy(obj)
    meta = clean.get("metadata") or {}
    for key in ("resourceVersion", "managedFields"):
        meta.pop(key, None)
    return clean


@attrs.define(kw_only=True)
class KubeApiServer(kmock.KubernetesEmulator):
    """kmock's emulator with an API-server-like handler for Kubernetes paths."""

    state_file: str = attrs.field(default=None)
    simulate_controllers: bool = attrs.field(default=False)
    _types: dict = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=0, init=False)
    _event_log: collections.deque = attrs.field(factory=lambda: collections.deque(maxlen=_EVENT_LOG_SIZE), init=False)
    _event_cond: asyncio.Condition = attrs.field(default=None, init=False)
    _started: str = attrs.field(factory=_now, init=False)
    warnings: list = attrs.field(factory=list, init=False)
    counters: collections.Counter = attrs.field(factory=collections.Counter, init=False)

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        for rtype in builtin_types():
            self._register(rtype)
        if not self.load_state():
            for name in DEFAULT_NAMESPACES:
                self.create_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    # ------------------------------------------------------------------ registry
    def _register(self, rtype):
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype
        # Keep kmock's own discovery view in sync (used by its fallbacks and by tests that inspect it).
        self.resources[kmock.resource(rtype.group, rtype.version, rtype.plural)] = kmock.ResourceInfo(
            kind=rtype.kind, singular=rtype.singular, namespaced=rtype.namespaced, verbs=rtype.verbs,
            shortnames=rtype.short_names, categories=rtype.categories, subresources=rtype.subresources)

    def _unregister_crd(self, crd_name):
        for key, rtype in list(self._types.items()):
            if rtype.crd_name == crd_name:
                del self._types[key]
                del self.resources[kmock.resource(*key)]

    def type_for(self, group, version, plural):
        return self._types.get((group, version, plural))

    def type_for_api_version(self, api_version, kind):
        group, version = api_version.rsplit("/", 1) if "/" in api_version else ("", api_version)
        for rtype in self._types.values():
            if rtype.group == group and rtype.version == version and rtype.kind == kind:
                return rtype
        return None

    def cel_rules(self):
        seen, report = set(), []
        for rtype in self._types.values():
            if rtype.admission is not None and id(rtype.admission) not in seen:
                seen.add(id(rtype.admission))
                report.extend(rule.report() for rule in rtype.admission.rules)
        return report

    # ------------------------------------------------------------------ store helpers
    def _key(self, rtype, namespace, name):
        return (rtype.store_resource, namespace if rtype.namespaced else None, name)

    def _live(self, rtype, namespace, name):
        key = self._key(rtype, namespace, name)
        if key in self.objects and not self.objects[key].deleted:
            return copy.deepcopy(self.objects[key].raw)
        return None

    def _iter_live(self, rtype, namespace=None):
        for (resource, obj_ns, _name), obj in self.objects.items():
            if resource == rtype.store_resource and not obj.deleted and (namespace is None or obj_ns == namespace):
                yield copy.deepcopy(obj.raw)

    def _present(self, rtype, obj):
        """An object as served at the requested version."""
        obj["apiVersion"] = rtype.api_version
        obj["kind"] = rtype.kind
        return obj

    def _next_rv(self):
        self._rv += 1
        return str(self._rv)

    def _emit(self, rtype, event_type, obj):
        self._event_log.append((self._rv, rtype.store_resource, event_type, copy.deepcopy(obj)))
        if self._event_cond is not None:
            asyncio.get_event_loop().create_task(self._notify())

    async def _notify(self):
        async with self._event_cond:
            self._event_cond.notify_all()

    # ------------------------------------------------------------------ persistence
    def save_state(self):
        if not self.state_file:
            return
        items = []
        for (resource, namespace, name), obj in self.objects.items():
            if not obj.deleted:
                items.append({"resource": [resource.group, resource.version, resource.plural], "namespace": namespace,
                              "name": name, "object": obj.raw})
        # CRDs first so their types exist when the custom objects are loaded back.
        items.sort(key=lambda item: item["resource"][2] != "customresourcedefinitions")
        folder = os.path.dirname(os.path.abspath(self.state_file))
        with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as handle:
            json.dump({"resourceVersion": self._rv, "objects": items}, handle)
        os.replace(handle.name, self.state_file)

    def load_state(self):
        if not self.state_file or not os.path.exists(self.state_file):
            return False
        with open(self.state_file) as handle:
            state = json.load(handle)
        for item in state["objects"]:
            group, version, plural = item["resource"]
            self.objects[(kmock.resource(group, version, plural), item["namespace"], item["name"])] = copy.deepcopy(item["object"])
            if plural == "customresourcedefinitions" and group == "apiextensions.k8s.io":
                for rtype in crd_types(item["object"]):
                    self._register(rtype)
        self._rv = max(self._rv, int(state.get("resourceVersion", 0)))
        return True

    # ------------------------------------------------------------------ admission and commit
    def _validate_metadata(self, rtype, obj, causes):
        meta = obj.get("metadata") or {}
        name = meta.get("name") or ""
        pattern = _DNS_LABEL if rtype.kind == "Namespace" else _DNS_SUBDOMAIN
        if not name:
            causes.append({"reason": "FieldValueRequired", "field": "metadata.name", "message": "Required value: name or generateName is required"})
        elif len(name) > 253 or not pattern.match(name):
            causes.append({"reason": "FieldValueInvalid", "field": "metadata.name",
                           "message": "Invalid value: %s: a lowercase RFC 1123 %s must consist of lower case alphanumeric characters, '-' or '.'"
                           % (json.dumps(name), "label" if pattern is _DNS_LABEL else "subdomain")})
        for field in ("labels", "annotations"):
            value = meta.get(field)
            if value is not None and not isinstance(value, dict):
                causes.append({"reason": "FieldValueTypeInvalid", "field": "metadata." + field, "message": "Invalid value: must be a map"})
        for key, value in (meta.get("labels") or {}).items():
            prefix, label = key.rpartition("/")[0::2]
            if not _LABEL_NAME.match(label) or len(label) > 63 or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))):
                causes.append({"reason": "FieldValueInvalid", "field": "metadata.labels",
                               "message": "Invalid value: %s: name part must consist of alphanumeric characters, '-', '_' or '.'" % json.dumps(key)})
            if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                causes.append({"reason": "FieldValueInvalid", "field": "metadata.labels",
                               "message": "Invalid value: %s: a valid label must be an empty string or consist of alphanumeric characters" % json.dumps(value)})

    def _validate_crd(self, obj, causes):
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        for field in ("group", "scope"):
            if not spec.get(field):
                causes.append({"reason": "FieldValueRequired", "field": "spec." + field, "message": "Required value"})
        for field in ("plural", "kind"):
            if not names.get(field):
                causes.append({"reason": "FieldValueRequired", "field": "spec.names." + field, "message": "Required value"})
        if not spec.get("versions"):
            causes.append({"reason": "FieldValueRequired", "field": "spec.versions",
                           "message": "Required value: must have exactly one version marked as storage version"})
        elif sum(1 for v in spec["versions"] if v.get("storage")) != 1:
            causes.append({"reason": "FieldValueInvalid", "field": "spec.versions",
                           "message": "Invalid value: must have exactly one version marked as storage version"})
        expected = "%s.%s" % (names.get("plural"), spec.get("group"))
        if obj["metadata"].get("name") != expected:
            causes.append({"reason": "FieldValueInvalid", "field": "metadata.name",
                           "message": "Invalid value: %s: must be spec.names.plural+\".\"+spec.group" % json.dumps(obj["metadata"].get("name"))})

    def _admit(self, rtype, obj, old, params, subresource=None):
        causes = []
        self._validate_metadata(rtype, obj, causes)
        if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
            self._validate_crd(obj, causes)
        if rtype.admission is not None and not causes:
            obj_causes, pruned = rtype.admission.admit(obj, old, subresource)
            causes.extend(obj_causes)
            if pruned:
                mode = params.get("fieldValidation", "Warn")
                if mode == "Strict":
                    raise ApiError(400, "BadRequest", ".%s: field not declared in schema" % pruned[0] if len(pruned) == 1 else
                                   "[%s]" % ", ".join('unknown field "%s"' % p for p in pruned))
                if mode == "Warn":
                    self.warnings.extend('unknown field "%s"' % path for path in pruned)
        if causes:
            raise _invalid(rtype, (obj.get("metadata") or {}).get("name") or "", causes)

    def _record_update_manager(self, rtype, old, new, manager, api_version, subresource=None):
        """Give ``manager`` (operation Update) the fields this write changed; others lose them."""
        keys_for = rtype.map_keys_for
        new_paths = patching.field_paths(self._ownable(rtype, new, subresource), keys_for)
        old_view = self._ownable(rtype, old, subresource) if old else {}
        changed = {p for p in new_paths if patching.get_path(old_view, p) != patching.get_path(new, p)}
        removed = patching.field_paths(old_view, keys_for) - new_paths if old else set()
        if not changed and not removed:
            return (old or {}).get("metadata", {}).get("managedFields") or []
        return self._rewrite_managers(old, changed | removed, manager, "Update", changed, api_version, subresource)

    def _rewrite_managers(self, old, lost_by_others, manager, operation, owned_by_manager, api_version, subresource, replace_own=False):
        entries = []
        mine = None
        for entry in (old or {}).get("metadata", {}).get("managedFields") or []:
            paths = patching.paths_from_fields_v1(entry.get("fieldsV1"))
            if entry.get("manager") == manager and entry.get("operation") == operation and entry.get("subresource") == subresource:
                mine = paths
                continue
            paths -= lost_by_others
            if paths:
                entries.append(dict(entry, fieldsV1=patching.fields_v1(paths)))
        own = set(owned_by_manager) if replace_own or mine is None else (mine | owned_by_manager)
        if own:
            entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": _now(),
                     "fieldsType": "FieldsV1", "fieldsV1": patching.fields_v1(own)}
            if subresource:
                entry["subresource"] = subresource
            entries.append(entry)
        return entries

    @staticmethod
    def _ownable(rtype, obj, subresource):
        """The part of ``obj`` a write to (sub)resource can own: status for /status, the rest otherwise."""
        if not obj:
            return {}
        if subresource == "status":
            return {"status": obj.get("status")} if "status" in obj else {}
        if rtype.has_status:
            return {k: v for k, v in obj.items() if k != "status"}
        return obj

    def _commit(self, rtype, old, new, params, subresource=None, managed_fields=None):
        """Stamp, admit and store ``new`` (old is None on create). Returns ``(object, changed)``."""
        dry_run = params.get("dryRun") == "All"
        meta = new.setdefault("metadata", {})
        if old is not None:
            old_meta = old["metadata"]
            for key in ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            if subresource == "status":
                status = new.get("status")
                new = copy.deepcopy(old)
                if status is None:
                    new.pop("status", None)
                else:
                    new["status"] = status
                meta = new["metadata"]
            elif rtype.has_status:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        else:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = _now()
            if rtype.has_status and rtype.admission is not None:
                new.pop("status", None)  # custom resources with a status subresource ignore status on create
            if rtype.generation:
                meta["generation"] = 1
        new["apiVersion"] = rtype.api_version
        new["kind"] = rtype.kind
        if old is None:
            self._builtin_defaults(rtype, new)
        if rtype.namespaced and not meta.get("namespace"):
            meta["namespace"] = "default"
        if not rtype.namespaced:
            meta.pop("namespace", None)
        self._admit(rtype, new, old, params, subresource)
        if managed_fields is not None:
            meta["managedFields"] = managed_fields
        if old is not None:
            if rtype.generation:
                ignore = {"metadata", "status"} if rtype.has_status else {"metadata"}
                if {k: v for k, v in new.items() if k not in ignore} != {k: v for k, v in old.items() if k not in ignore}:
                    meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
            if _strip_volatile(new) == _strip_volatile(old):
                return old, False
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                if not dry_run:
                    self._remove(rtype, old, params)
                return new, True
        if dry_run:
            # Nothing is stored: a create answers without resourceVersion, an update keeps the live one.
            return new, True
        meta["resourceVersion"] = self._next_rv()
        key = self._key(rtype, meta.get("namespace"), meta["name"])
        if key in self.objects:
            self.objects[key].create(copy.deepcopy(new))
        else:
            self.objects[key] = copy.deepcopy(new)
        self._emit(rtype, "ADDED" if old is None else "MODIFIED", new)
        self._after_change(rtype, old, new)
        if subresource != "status":
            self._reconcile(rtype, new)
        self.save_state()
        return copy.deepcopy(new), True

    @staticmethod
    def _builtin_defaults(rtype, obj):
        """What the registry strategies of a real server set on create (the part clients rely on)."""
        if rtype.group == "" and rtype.kind == "Pod":
            spec = obj.setdefault("spec", {})
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            status = obj.get("status") or {}
            # Nothing schedules or runs pods: a new pod is Pending until a test patches its status.
            obj["status"] = {"phase": status.get("phase", "Pending"), "qosClass": status.get("qosClass", "BestEffort"),
                             **{k: v for k, v in status.items() if k not in ("phase", "qosClass")}}
        elif rtype.group == "apps" and rtype.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            obj.setdefault("spec", {}).setdefault("replicas", 1)
        elif rtype.group == "" and rtype.kind == "Namespace":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]

    # ------------------------------------------------------------------ opt-in stand-in controllers
    def _storage_type(self, group, kind):
        return next((t for t in self._types.values() if t.group == group and t.kind == kind and t.version == t.storage_version), None)

    def _lookup(self, group, kind, name):
        rtype = self._storage_type(group, kind)
        if rtype is None:
            return []
        if name is None:
            return list(self._iter_live(rtype))
        obj = self._live(rtype, None, name) if not rtype.namespaced else None
        return [obj] if obj else []

    def _reconcile(self, rtype, obj):
        """Let the stand-in controllers react to a change of ``obj`` (only with ``simulate_controllers``)."""
        if not self.simulate_controllers:
            return
        targets = []
        if (rtype.group, rtype.kind) in controllers.WORKLOADS and obj is not None:
            targets.append((rtype, obj))
        followers = {("", "Node"): ("apps", "DaemonSet"), ("karpenter.k8s.aws", "EC2NodeClass"): ("karpenter.sh", "NodePool")}
        follower = followers.get((rtype.group, rtype.kind))
        if follower and self._storage_type(*follower) is not None:
            follower_type = self._storage_type(*follower)
            targets.extend((follower_type, item) for item in self._iter_live(follower_type))
        for target_type, target in targets:
            live = self._live(target_type, target["metadata"].get("namespace"), target["metadata"]["name"])
            if live is None:
                continue
            status = controllers.desired_status(target_type.kind, target_type.group, live, self._lookup)
            if status is not None and status != live.get("status"):
                live["status"] = status
                live["metadata"]["resourceVersion"] = self._next_rv()
                self.objects[self._key(target_type, live["metadata"].get("namespace"), live["metadata"]["name"])].create(copy.deepcopy(live))
                self._emit(target_type, "MODIFIED", live)
                if target_type.kind == "EC2NodeClass":
                    self._reconcile(target_type, None)  # NodePools follow their node class

    def _after_change(self, rtype, old, new):
        if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
            self._unregister_crd(new["metadata"]["name"])
            for crd_type in crd_types(new):
                self._register(crd_type)
            self._set_crd_status(rtype, new)

    def _set_crd_status(self, rtype, crd):
        """What the CRD controllers of a real server do at once: accept names, mark Established."""
        spec = crd["spec"]
        status = {
            "acceptedNames": dict(spec["names"]),
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": _now()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted",
                 "lastTransitionTime": _now()},
            ],
            "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
        }
        if crd.get("status") != status:
            crd["status"] = status
            key = self._key(rtype, None, crd["metadata"]["name"])
            self.objects[key].create(copy.deepcopy(crd))

    def _remove(self, rtype, obj, params):
        """Delete ``obj`` for real: store, watchers, dependents (garbage collection), CRD types."""
        meta = obj["metadata"]
        key = self._key(rtype, meta.get("namespace"), meta["name"])
        self.objects[key].delete()
        self._rv += 1
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        self._emit(rtype, "DELETED", gone)
        if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
            for crd_type in [t for t in self._types.values() if t.crd_name == meta["name"]]:
                if crd_type.version == crd_type.storage_version:
                    for child in list(self._iter_live(crd_type)):
                        self._remove(crd_type, child, params)
            self._unregister_crd(meta["name"])
        if rtype.kind == "Namespace" and rtype.group == "":
            for other in list(self._types.values()):
                if other.namespaced and other.version == other.storage_version:
                    for child in list(self._iter_live(other, meta["name"])):
                        self._remove(other, child, params)
        if params.get("propagationPolicy") != "Orphan":
            self._collect_dependents(meta["uid"], params)
        self._reconcile(rtype, None)
        self.save_state()

    def _collect_dependents(self, owner_uid, params):
        for rtype in list(self._types.values()):
            if rtype.version != rtype.storage_version:
                continue
            for child in list(self._iter_live(rtype)):
                owners = child["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == owner_uid for ref in owners):
                    self._remove(rtype, child, params)

    # ------------------------------------------------------------------ public helpers (in-process use)
    def create_object(self, obj):
        """Create an object without HTTP (used for seeding); returns the stored object."""
        rtype = self.type_for_api_version(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rtype is None:
            raise ApiError(404, "NotFound", "no resource for %s %s" % (obj.get("apiVersion"), obj.get("kind")))
        stored = self._create(rtype, (obj.get("metadata") or {}).get("namespace"), copy.deepcopy(obj), {}, manager="kube-emulator")[0]
        return stored

    # ------------------------------------------------------------------ HTTP handling
    async def __call__(self, raw_request):
        """Entry point for aiohttp: kmock's, minus its URL guessing (it fails on ``/api/v1/namespaces``)."""
        body = await raw_request.read()
        request = kmock.Request(
            id=len(self._requests), raw_request=raw_request, url=raw_request.url, method=raw_request.method,
            params=dict(raw_request.query), headers=dict(raw_request.headers), cookies=dict(raw_request.cookies),
            body=body, text=body.decode("utf-8", errors="replace"))
        # Keep only a short request journal: a long-running server must not keep every request body.
        self._requests.append(request)
        del self._requests[:-200]
        return await self._handle(request)

    async def _handle(self, request):
        if self._event_cond is None:
            self._event_cond = asyncio.Condition()
        self.warnings = []
        path = request.url.path.rstrip("/") or "/"
        try:
            if path.startswith("/emulator/"):
                return self._json(self._serve_emulator(path))
            if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
                return self._json(self._serve_openapi_v3(path))
            if path in ("/healthz", "/readyz", "/livez"):
                return aiohttp.web.Response(text="ok")
            if path == "/version":
                return self._json(SERVER_VERSION)
            if path == "/":
                return self._json({"paths": sorted({"/api", "/api/v1", "/apis", "/version", "/healthz"}
                                                   | {"/apis/%s/%s" % (t.group, t.version) for t in self._types.values() if t.group})})
            if path == "/api" or path == "/apis" or path.startswith("/api/") or path.startswith("/apis/"):
                return await self._serve_api(request, path)
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        except ApiError as exc:
            if exc.code >= 500:
                LOG.error("%s %s -> %d %s", request.method, request.url.path_qs, exc.code, exc.message)
            else:
                LOG.debug("%s %s -> %d %s", request.method, request.url.path_qs, exc.code, exc.message)
            return self._json(exc.status(), status=exc.code)
        except Exception as exc:  # answer as the API server would instead of dropping the connection
            LOG.exception("internal error on %s %s", request.method, request.url.path_qs)
            return self._json(ApiError(500, "InternalError", "emulator error: %r" % exc).status(), status=500)

    def _json(self, body, status=200):
        headers = {}
        if self.warnings:
            headers["Warning"] = ", ".join('299 - "%s"' % w.replace('"', "'") for w in self.warnings[:10])
        return aiohttp.web.json_response(body, status=status, headers=headers)

    def _serve_emulator(self, path):
        if path == "/emulator/cel-rules":
            rules = self.cel_rules()
            return {"enforced": sum(1 for r in rules if r["enforced"]), "skipped": sum(1 for r in rules if not r["enforced"]), "rules": rules}
        if path == "/emulator/state":
            return {"resourceVersion": str(self._rv), "objects": sum(1 for o in self.objects.values() if not o.deleted),
                    "counters": dict(self.counters)}
        raise ApiError(404, "NotFound", "unknown emulator endpoint %s" % path)

    # -- OpenAPI v3: just enough for kubectl to validate on the server and to ``kubectl explain`` custom resources
    def _serve_openapi_v3(self, path):
        group_versions = sorted({(t.group, t.version) for t in self._types.values()})
        if path == "/openapi/v3":
            return {"paths": {self._gv_path(g, v): {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (self._gv_path(g, v), self._rv)}
                              for g, v in group_versions}}
        wanted = path[len("/openapi/v3/"):]
        for group, version in group_versions:
            if self._gv_path(group, version) == wanted:
                return self._openapi_document(group, version)
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    @staticmethod
    def _gv_path(group, version):
        return "apis/%s/%s" % (group, version) if group else "api/%s" % version

    def _openapi_document(self, group, version):
        """Operations advertise ``fieldValidation`` (kubectl then validates on the server, no client-side schema
        download); custom resources also get their schema. No request bodies are described, so kubectl builds
        patches from its built-in types (strategic) or as merge patches (custom resources), as with a real server."""
        paths, schemas = {}, {}
        params = [{"name": name, "in": "query", "schema": {"type": "string"}} for name in ("dryRun", "fieldManager", "fieldValidation", "force")]
        for rtype in (t for t in self._types.values() if t.group == group and t.version == version):
            gvk = {"group": group, "version": version, "kind": rtype.kind}
            base = "/%s%s/%s" % (self._gv_path(group, version), "/namespaces/{namespace}" if rtype.namespaced else "", rtype.plural)
            operation = {"x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": {"200": {"description": "OK"}}}
            paths[base + "/{name}"] = {"get": dict(operation, parameters=[]), "put": operation, "patch": operation}
            paths[base] = {"post": operation}
            if rtype.admission is not None:
                reversed_group = ".".join(reversed(group.split(".")))
                schemas["%s.%s.%s" % (reversed_group, version, rtype.kind)] = dict(rtype.admission.schema, **{"x-kubernetes-group-version-kind": [gvk]})
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]}, "paths": paths,
                "components": {"schemas": schemas}}

    # -- discovery
    def _discovery(self, path):
        parts = path.strip("/").split("/")
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}
        if parts == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group_doc(g) for g in self._groups()]}
        if parts[0] == "apis" and len(parts) == 2:
            if parts[1] not in self._groups():
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return dict(self._group_doc(parts[1]), kind="APIGroup", apiVersion="v1")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        types = [t for t in self._types.values() if t.group == group and t.version == version]
        if not types:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": types[0].api_version,
                "resources": [entry for t in sorted(types, key=lambda t: t.plural) for entry in t.discovery_entries()]}

    def _groups(self):
        groups = collections.OrderedDict()
        for rtype in self._types.values():
            if rtype.group:
                groups.setdefault(rtype.group, [])
                if rtype.version not in groups[rtype.group]:
                    groups[rtype.group].append(rtype.version)
        return groups

    def _group_doc(self, group):
        versions = self._groups()[group]
        preferred = next((t.storage_version for t in self._types.values() if t.group == group), versions[0])
        return {"name": group, "versions": [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions],
                "preferredVersion": {"groupVersion": "%s/%s" % (group, preferred), "version": preferred}}

    # -- resources
    @staticmethod
    def _parse_path(parts):
        """Split ``[group, version, ...rest]`` into (namespace, plural, name, subresource)."""
        namespace = None
        if len(parts) >= 3 and parts[0] == "namespaces" and not (len(parts) == 3 and parts[2] in ("status", "finalize")):
            namespace, parts = parts[1], parts[2:]
        plural = parts[0] if parts else None
        name = parts[1] if len(parts) > 1 else None
        subresource = "/".join(parts[2:]) or None
        return namespace, plural, name, subresource

    async def _serve_api(self, request, path):
        parts = path.strip("/").split("/")
        is_core = parts[0] == "api"
        head = 2 if is_core else 3
        if len(parts) <= head:
            return self._json(self._discovery(path))
        group, version = ("", parts[1]) if is_core else (parts[1], parts[2])
        namespace, plural, name, subresource = self._parse_path(parts[head:])
        rtype = self.type_for(group, version, plural)
        if rtype is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rtype.namespaced is False and namespace is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if subresource is not None and subresource not in rtype.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        params = dict(request.params)
        method = request.method.upper()
        if method == "GET" and params.get("watch") in ("true", "1"):
            return await self._watch(request, rtype, namespace, name, params)
        table_wanted = method == "GET" and rtype.printer_columns is not None and subresource is None and tables.wants_table(request.headers.get("Accept"))
        if name is None:
            if method == "GET":
                listing = self._list(rtype, namespace, params)
                if table_wanted:
                    return self._json(tables.table(rtype.printer_columns, listing["items"], listing["metadata"]["resourceVersion"],
                                                   params.get("includeObject")))
                return self._json(listing)
            if method == "POST":
                body = self._body(request)
                obj = self._create(rtype, namespace, body, params, manager=self._manager(request, params))[0]
                return self._json(self._present(rtype, obj), status=201)
            if method == "DELETE":
                return self._json(self._delete_collection(rtype, namespace, params, self._body(request, required=False)))
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if method == "GET":
            obj = self._live(rtype, namespace, name)
            if obj is None:
                raise _not_found(rtype, name)
            if table_wanted:
                return self._json(tables.table(rtype.printer_columns, [self._present(rtype, obj)], obj["metadata"]["resourceVersion"],
                                               params.get("includeObject")))
            return self._json(self._present(rtype, obj))
        if method == "POST" and subresource == "eviction":
            return self._json(self._evict(rtype, namespace, name, params, self._body(request, required=False)), status=201)
        if method == "PUT":
            obj = self._replace(rtype, namespace, name, self._body(request), params, subresource, self._manager(request, params))[0]
            return self._json(self._present(rtype, obj))
        if method == "PATCH":
            obj, created = self._patch(request, rtype, namespace, name, params, subresource)
            return self._json(self._present(rtype, obj), status=201 if created else 200)
        if method == "DELETE":
            return self._json(self._delete(rtype, namespace, name, params, self._body(request, required=False)))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    @staticmethod
    def _manager(request, params):
        if params.get("fieldManager"):
            return params["fieldManager"]
        agent = request.headers.get("User-Agent") or "unknown"
        return agent.split("/")[0] or "unknown"

    @staticmethod
    def _body(request, required=True):
        text = request.text or ""
        if not text.strip():
            if required:
                raise ApiError(400, "BadRequest", "the request body is empty")
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ApiError(400, "BadRequest", "the body is neither JSON nor YAML: %s" % exc)
        if required and not isinstance(data, (dict, list)):
            raise ApiError(400, "BadRequest", "the body must be an object")
        return data

    def _list(self, rtype, namespace, params):
        try:
            labels = parse_label_selector(params.get("labelSelector"))
            fields = parse_field_selector(params.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc))
        items = [self._present(rtype, obj) for obj in self._iter_live(rtype, namespace)
                 if match_labels(labels, obj["metadata"].get("labels")) and match_fields(fields, obj)]
        items.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        return {"kind": rtype.kind + "List", "apiVersion": rtype.api_version, "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    def _create(self, rtype, namespace, body, params, manager):
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be an object")
        meta = body.setdefault("metadata", {})
        if body.get("kind") and body["kind"] != rtype.kind:
            raise ApiError(400, "BadRequest", "the kind %r of the body does not match the URL's %r" % (body["kind"], rtype.kind))
        if rtype.namespaced:
            if namespace and meta.get("namespace") and meta["namespace"] != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace or meta.get("namespace") or "default"
            if self._live(self._types[("", "v1", "namespaces")], None, meta["namespace"]) is None:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % meta["namespace"], {"name": meta["namespace"], "kind": "namespaces"})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if meta.get("name") and self._live(rtype, meta.get("namespace"), meta["name"]) is not None:
            raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (rtype.plural + ("." + rtype.group if rtype.group else ""), meta["name"]),
                           {"name": meta["name"], "group": rtype.group, "kind": rtype.plural})
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "deletionTimestamp"):
            meta.pop(key, None)
        managed = self._record_update_manager(rtype, None, body, manager, rtype.api_version)
        return self._commit(rtype, None, body, params, managed_fields=managed)

    def _check_precondition(self, body, live):
        wanted = ((body or {}).get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        if wanted and wanted != live["metadata"].get("resourceVersion"):
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                           'please apply your changes to the latest version and try again' % (live["kind"].lower() + "s", live["metadata"]["name"]),
                           {"name": live["metadata"]["name"], "kind": live["kind"]})

    def _replace(self, rtype, namespace, name, body, params, subresource, manager):
        live = self._live(rtype, namespace, name)
        if live is None:
            raise _not_found(rtype, name)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be an object")
        if (body.get("metadata") or {}).get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)" % (body["metadata"]["name"], name))
        self._check_precondition(body, live)
        body.setdefault("metadata", {})["name"] = name
        managed = self._record_update_manager(rtype, live, body, manager, rtype.api_version, subresource)
        return self._commit(rtype, live, body, params, subresource, managed_fields=managed)

    def _patch(self, request, rtype, namespace, name, params, subresource):
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        live = self._live(rtype, namespace, name)
        manager = self._manager(request, params)
        if content_type == "application/apply-patch+yaml":
            return self._apply(request, rtype, namespace, name, live, params, subresource)
        if content_type == "application/strategic-merge-patch+json" and rtype.admission is not None:
            # as the real server: the content type of a custom resource is refused before the object is looked up
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        if live is None:
            raise _not_found(rtype, name)
        patch = self._body(request)
        if content_type == "application/json-patch+json":
            if not isinstance(patch, list):
                raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
            try:
                new = jsonpatch.apply_patch(live, patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiError(422, "Invalid", "the JSON patch cannot be applied: %s" % exc)
        elif content_type == "application/merge-patch+json":
            new = patching.merge_patch(live, patch)
        elif content_type == "application/strategic-merge-patch+json":
            new = patching.strategic_merge_patch(live, patch, rtype.map_keys_for)
        else:
            raise ApiError(415, "UnsupportedMediaType", "unsupported patch type %r" % content_type)
        self._check_precondition(patch if isinstance(patch, dict) else None, live)
        if not isinstance(new, dict):
            raise ApiError(422, "Invalid", "the patch does not leave an object")
        new.setdefault("metadata", {})["name"] = name
        managed = self._record_update_manager(rtype, live, new, manager, rtype.api_version, subresource)
        obj = self._commit(rtype, live, new, params, subresource, managed_fields=managed)[0]
        return obj, False

    def _apply(self, request, rtype, namespace, name, live, params, subresource):
        manager = params.get("fieldManager")
        if not manager:
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch')
        applied = self._body(request)
        if not isinstance(applied, dict):
            raise ApiError(400, "BadRequest", "the apply configuration must be an object")
        for field in ("apiVersion", "kind"):
            if not applied.get(field):
                raise ApiError(400, "BadRequest", "%s must be set in the apply configuration" % field)
        if applied["kind"] != rtype.kind:
            raise ApiError(400, "BadRequest", "the kind %r of the apply configuration does not match %r" % (applied["kind"], rtype.kind))
        meta = applied.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)" % (meta["name"], name))
        meta["name"] = name
        if rtype.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        if live is not None:
            self._check_precondition(applied, live)
        force = params.get("force") in ("true", "1")
        keys_for = rtype.map_keys_for
        ownable = self._ownable(rtype, applied, subresource)
        new_paths = patching.field_paths(ownable, keys_for)
        for key in ("resourceVersion", "managedFields", "uid", "creationTimestamp", "generation"):
            meta.pop(key, None)
        if live is None:
            if subresource:
                raise _not_found(rtype, name)
            if rtype.namespaced and self._live(self._types[("", "v1", "namespaces")], None, meta["namespace"]) is None:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % meta["namespace"])
            managed = self._rewrite_managers(None, set(), manager, "Apply", new_paths, rtype.api_version, subresource, replace_own=True)
            obj = self._commit(rtype, None, applied, params, managed_fields=managed)[0]
            return obj, True
        previous, others = set(), []
        for entry in live["metadata"].get("managedFields") or []:
            paths = patching.paths_from_fields_v1(entry.get("fieldsV1"))
            if entry.get("manager") == manager and entry.get("operation") == "Apply" and entry.get("subresource") == subresource:
                previous = paths
            else:
                others.append((entry.get("manager"), paths))
        conflicts = []
        for path in sorted(new_paths, key=patching.dotted):
            for other, paths in others:
                if path in paths and patching.get_path(live, path) != patching.get_path(applied, path):
                    conflicts.append((other, patching.dotted(path)))
        if conflicts and not force:
            text = "; ".join('conflict with "%s": .%s' % c for c in conflicts)
            raise ApiError(409, "Conflict", "Apply failed with %d conflict%s: %s" % (len(conflicts), "s" if len(conflicts) > 1 else "", text),
                           {"name": name, "group": rtype.group, "kind": rtype.kind,
                            "causes": [{"reason": "FieldManagerConflict", "message": 'conflict with "%s"' % c[0], "field": "." + c[1]} for c in conflicts]})
        if subresource == "status":
            merged = copy.deepcopy(live)
            merged["status"] = patching.apply_merge(live.get("status") or {}, applied.get("status") or {}, keys_for, ("status",))
        else:
            merged = patching.apply_merge(live, {k: v for k, v in applied.items() if not (rtype.has_status and k == "status")}, keys_for,
                                          keep_null=rtype.admission is not None)
        owned_by_others = set().union(*[entry[1] for entry in others]) if others else set()
        for path in sorted(previous - new_paths, key=len, reverse=True):
            if rtype.admission is not None and _null_at(applied, path):
                continue  # applied as null: kept for the schema to judge (see patching.apply_merge)
            if path not in owned_by_others and not any(p[:len(path)] == path for p in owned_by_others):
                patching.delete_path(merged, path)
                patching.prune_empty_parents(merged, path)
        lost = {p for p in new_paths if patching.get_path(live, p) != patching.get_path(merged, p)} if force else set()
        managed = self._rewrite_managers(live, lost, manager, "Apply", new_paths, rtype.api_version, subresource, replace_own=True)
        obj = self._commit(rtype, live, merged, params, subresource, managed_fields=managed)[0]
        return obj, False

    def _delete_options(self, params, body):
        options = dict(body) if isinstance(body, dict) else {}
        if isinstance(options.get("dryRun"), list) and "All" in options["dryRun"]:
            params = dict(params, dryRun="All")
        if options.get("propagationPolicy"):
            params = dict(params, propagationPolicy=options["propagationPolicy"])
        return params, options

    def _delete(self, rtype, namespace, name, params, body):
        params, options = self._delete_options(params, body)
        live = self._live(rtype, namespace, name)
        if live is None:
            raise _not_found(rtype, name)
        wanted_uid = (options.get("preconditions") or {}).get("uid")
        if wanted_uid and wanted_uid != live["metadata"]["uid"]:
            raise ApiError(409, "Conflict", "Precondition failed: UID in precondition: %s, UID in object meta: %s" % (wanted_uid, live["metadata"]["uid"]))
        if params.get("dryRun") == "All":
            return self._present(rtype, live)
        if live["metadata"].get("finalizers"):
            if live["metadata"].get("deletionTimestamp"):
                return self._present(rtype, live)
            new = copy.deepcopy(live)
            new["metadata"]["deletionTimestamp"] = _now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"]["resourceVersion"] = self._next_rv()
            self.objects[self._key(rtype, namespace, name)].create(copy.deepcopy(new))
            self._emit(rtype, "MODIFIED", new)
            self.save_state()
            return self._present(rtype, new)
        self._remove(rtype, live, params)
        if (rtype.group, rtype.kind) in _RETURNS_DELETED_OBJECT:  # custom resources answer a Status, as the real server
            # These stores answer with the object as it was when deletion began (pods: graceful deletion).
            gone = self._present(rtype, copy.deepcopy(live))
            gone["metadata"]["deletionTimestamp"] = _now()
            gone["metadata"]["deletionGracePeriodSeconds"] = int(options.get("gracePeriodSeconds", (live.get("spec") or {}).get(
                "terminationGracePeriodSeconds", 0)) or 0)
            if rtype.kind == "Namespace":
                gone["status"] = {"phase": "Terminating"}
            return gone
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": rtype.group, "kind": rtype.plural, "uid": live["metadata"]["uid"]}}

    def _delete_collection(self, rtype, namespace, params, body):
        listing = self._list(rtype, namespace, params)
        for item in listing["items"]:
            self._delete(rtype, item["metadata"].get("namespace"), item["metadata"]["name"], params, body)
        return listing

    def _evict(self, rtype, namespace, name, params, body):
        """``pods/eviction``: no PodDisruptionBudgets and no kubelet, so the pod is deleted at once."""
        if rtype.kind != "Pod":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        delete_options = (body or {}).get("deleteOptions") or {}
        self._delete(rtype, namespace, name, params, delete_options)
        self.counters["eviction_requests"] += 1
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    async def _watch(self, request, rtype, namespace, name, params):
        try:
            labels = parse_label_selector(params.get("labelSelector"))
            fields = parse_field_selector(params.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc))
        if name:
            fields.append(("metadata.name", "=", name))
        timeout = float(params.get("timeoutSeconds") or 1800)
        start = params.get("resourceVersion") or "0"
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request._raw_request)

        def wanted(obj):
            return ((namespace is None or obj["metadata"].get("namespace") == namespace)
                    and match_labels(labels, obj["metadata"].get("labels")) and match_fields(fields, obj))

        as_table = rtype.printer_columns is not None and tables.wants_table(request.headers.get("Accept"))

        async def send(event_type, obj):
            shown = self._present(rtype, copy.deepcopy(obj))
            if as_table:  # kubectl get -w asks for one-row Tables, as it does for plain gets
                shown = tables.table(rtype.printer_columns, [shown], shown["metadata"].get("resourceVersion", ""), params.get("includeObject"))
            await response.write(json.dumps({"type": event_type, "object": shown}).encode() + b"\n")

        seen = int(start) if start.isdigit() else 0
        if seen == 0:
            for obj in self._iter_live(rtype, namespace):
                if wanted(obj):
                    await send("ADDED", obj)
            seen = self._rv
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        try:
            while loop.time() < deadline:
                pending = [event for event in list(self._event_log) if event[0] > seen]
                for rv, resource, event_type, obj in pending:
                    if resource == rtype.store_resource and wanted(obj):
                        await send(event_type, obj)
                    seen = max(seen, rv)
                if any(event[0] > seen for event in list(self._event_log)):
                    continue  # more arrived while we were writing
                async with self._event_cond:
                    try:
                        await asyncio.wait_for(self._event_cond.wait(), timeout=max(0.01, min(5.0, deadline - loop.time())))
                    except asyncio.TimeoutError:
                        pass
        except (ConnectionResetError, asyncio.CancelledError):
            return response
        await response.write_eof()
        return response
