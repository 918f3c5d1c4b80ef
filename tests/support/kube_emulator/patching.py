# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Patch flavours of the Kubernetes API: JSON merge patch, strategic merge patch, server-side apply.

Server-side apply is simplified: every manager owns the leaf paths it last applied (lists are atomic
unless they are map-lists, whose items are owned by key). Applying merges the new configuration over
the live object, removes fields the manager applied before and no longer applies (unless another
manager owns them), and reports a conflict when another manager owns a field that would get a
different value (``force=true`` takes the field over). No per-item ownership inside atomic lists,
no ``k:``/``v:`` sets for scalar lists.
"""

import copy
import json

# Merge keys of built-in list fields (the strategic-merge-patch ``patchMergeKey`` tags we need).
BUILTIN_MERGE_KEYS = {
    "containers": ["name"], "initContainers": ["name"], "ephemeralContainers": ["name"], "env": ["name"],
    "volumes": ["name"], "volumeMounts": ["mountPath"], "imagePullSecrets": ["name"], "conditions": ["type"],
    "ownerReferences": ["uid"], "hostAliases": ["ip"], "volumeDevices": ["devicePath"],
}
# Fields nobody owns (server-managed or identity).
_UNOWNED = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"), ("metadata", "uid"),
            ("metadata", "resourceVersion"), ("metadata", "generation"), ("metadata", "creationTimestamp"),
            ("metadata", "managedFields"), ("metadata", "deletionTimestamp"), ("metadata", "selfLink")}


class ApplyConflict(Exception):
    def __init__(self, conflicts):
        super().__init__("conflicts")
        self.conflicts = conflicts  # list of (manager, dotted path)


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (``null`` deletes, lists replace)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target, patch, map_keys_for, path=()):
    """Strategic merge patch for built-in kinds: map-lists merge by their merge key; directives honoured."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key.startswith("$retainKeys") or key == "$patch":
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [item for item in result.get(name) or [] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        keys = map_keys_for(path + (key,))
        if isinstance(value, list) and keys and isinstance(result.get(key), list):
            result[key] = _merge_list_by_keys(result[key], value, keys, map_keys_for, path + (key,), strategic=True)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, map_keys_for, path + (key,))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def _item_key(item, keys):
    return tuple(item.get(k) for k in keys) if isinstance(item, dict) else (json.dumps(item, sort_keys=True),)


def _merge_list_by_keys(live, patch, keys, map_keys_for, path, strategic=False):
    result = [copy.deepcopy(item) for item in live]
    index = {_item_key(item, keys): pos for pos, item in enumerate(result)}
    deleted = set()
    for item in patch:
        key = _item_key(item, keys)
        if strategic and isinstance(item, dict) and item.get("$patch") == "delete":
            deleted.add(key)
            continue
        if key in index:
            if strategic:
                result[index[key]] = strategic_merge_patch(result[index[key]], item, map_keys_for, path)
            else:
                result[index[key]] = apply_merge(result[index[key]], item, map_keys_for, path)
        else:
            index[key] = len(result)
            result.append(copy.deepcopy(item))
    return [item for item in result if _item_key(item, keys) not in deleted]


def apply_merge(live, applied, map_keys_for, path=(), keep_null=False):
    """Merge an applied configuration over the live object (dicts recurse, map-lists merge by key).

    ``keep_null``: a null stays in the result, for the schema to judge (custom resources: the real server answers
    422 for a null in a field that is not nullable); otherwise null unsets the field.
    """
    if not isinstance(applied, dict) or not isinstance(live, dict):
        return copy.deepcopy(applied)
    result = copy.deepcopy(live)
    for key, value in applied.items():
        if value is None:
            if keep_null:
                result[key] = None
            else:
                result.pop(key, None)
            continue
        keys = map_keys_for(path + (key,))
        if isinstance(value, list) and keys and isinstance(result.get(key), list):
            result[key] = _merge_list_by_keys(result[key], value, keys, map_keys_for, path + (key,))
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = apply_merge(result[key], value, map_keys_for, path + (key,), keep_null)
        else:
            result[key] = copy.deepcopy(value)
    return result


def field_paths(obj, map_keys_for, path=()):
    """Leaf paths of ``obj``: dict keys recurse, map-list items are ``("k", json-key)`` steps, other lists are leaves."""
    paths = set()
    if isinstance(obj, dict) and (obj or not path):
        for key, value in obj.items():
            child = path + (key,)
            if child in _UNOWNED or value is None:
                continue
            keys = map_keys_for(child) if isinstance(value, list) else None
            if keys:
                for item in value:
                    item_path = child + (("k", json.dumps({k: item.get(k) for k in keys}, sort_keys=True)),)
                    paths.add(item_path)
                    paths |= field_paths(item, map_keys_for, item_path) - {item_path}
            else:
                paths |= field_paths(value, map_keys_for, child)
    elif path:
        paths.add(path)
    return paths


def get_path(obj, path):
    """Value at ``path`` (None when absent)."""
    for step in path:
        if isinstance(step, tuple):
            wanted = json.loads(step[1])
            obj = next((item for item in obj or [] if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items())), None)
        elif isinstance(obj, dict):
            obj = obj.get(step)
        else:
            return None
        if obj is None:
            return None
    return obj


def delete_path(obj, path):
    parent = get_path(obj, path[:-1]) if len(path) > 1 else obj
    step = path[-1]
    if isinstance(step, tuple) and isinstance(parent, list):
        wanted = json.loads(step[1])
        parent[:] = [item for item in parent if not (isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()))]
    elif isinstance(parent, dict):
        parent.pop(step, None)


def prune_empty_parents(obj, path):
    """After a removal, drop dicts that became empty along ``path`` (SSA leaves no empty shells)."""
    for depth in range(len(path) - 1, 0, -1):
        parent = get_path(obj, path[:depth])
        if isinstance(parent, dict) and not parent and not isinstance(path[depth - 1], tuple):
            delete_path(obj, path[:depth])


def fields_v1(paths):
    """Encode leaf paths as a ``FieldsV1`` tree (``f:<name>`` / ``k:<json>`` entries)."""
    tree = {}
    for path in sorted(paths, key=json.dumps):
        node = tree
        for step in path:
            name = "k:%s" % step[1] if isinstance(step, tuple) else "f:%s" % step
            node = node.setdefault(name, {})
        if path and isinstance(path[-1], tuple):
            node.setdefault(".", {})
    return tree


def paths_from_fields_v1(tree, path=()):
    paths = set()
    for name, sub in (tree or {}).items():
        if name == ".":
            continue
        step = name[2:] if name.startswith("f:") else ("k", name[2:])
        child = path + (step,)
        if sub and set(sub) - {"."}:
            if isinstance(step, tuple):
                paths.add(child)
            paths |= paths_from_fields_v1(sub, child)
        else:
            paths.add(child)
    return paths


def dotted(path):
    out = ""
    for step in path:
        out += "[%s]" % step[1] if isinstance(step, tuple) else ("." if out else "") + step
    return out
