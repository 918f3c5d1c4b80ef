# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side ``Table`` output for custom resources (``kubectl get`` columns from additionalPrinterColumns).

Nodes and Pods get the columns a real server gives them; other built-ins are answered as plain JSON, so kubectl
falls back to NAME/AGE.
The JSONPath subset covers what CRDs use: ``.a.b``, escaped dots (``.labels.karpenter\\.sh/nodepool``),
``[N]`` and ``[?(@.type=="Ready")]`` filters.
"""

import datetime
import re

_STEP = re.compile(r'\.((?:\\.|[^.\[\\])+)|\[\?\(@\.([A-Za-z0-9_]+)=="([^"]*)"\)\]|\[(\d+)\]')


def jsonpath(obj, path):
    """Value at a CRD printer-column JSONPath, or None."""
    position, value = 0, obj
    while position < len(path):
        match = _STEP.match(path, position)
        if not match:
            return None
        position = match.end()
        field, filter_key, filter_value, index = match.groups()
        if field is not None:
            value = value.get(field.replace("\\.", ".")) if isinstance(value, dict) else None
        elif filter_key is not None:
            found = [item for item in value or [] if isinstance(item, dict) and str(item.get(filter_key)) == filter_value] if isinstance(value, list) else []
            value = found[0] if found else None
        else:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        if value is None:
            return None
    return value


def human_age(timestamp, now=None):
    """``2026-11-26T12:00:00Z`` -> ``5m`` (the way kubectl shows ages)."""
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<invalid>"
    seconds = int(((now or datetime.datetime.now(datetime.timezone.utc)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size if unit != "m" else seconds >= 120:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % max(seconds, 0)


def _node_status(node):
    ready = jsonpath(node, '.status.conditions[?(@.type=="Ready")].status')
    text = "Ready" if ready == "True" else "NotReady" if ready == "False" else "Unknown"
    return text + (",SchedulingDisabled" if (node.get("spec") or {}).get("unschedulable") else "")


def _node_roles(node):
    labels = (node.get("metadata") or {}).get("labels") or {}
    roles = sorted(key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _pod_ready(pod):
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    return "%d/%d" % (sum(1 for s in statuses if s.get("ready")), total)


def _pod_restarts(pod):
    return sum(int(s.get("restartCount", 0)) for s in (pod.get("status") or {}).get("containerStatuses") or [])


# Server-side columns of the built-ins the demo shows (the rest: kubectl's NAME/AGE fallback).
BUILTIN_COLUMNS = {
    ("", "Node"): [
        {"name": "Status", "type": "string", "compute": _node_status},
        {"name": "Roles", "type": "string", "compute": _node_roles},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Version", "type": "string", "jsonPath": ".status.nodeInfo.kubeletVersion"},
        {"name": "Instance-Type", "type": "string", "priority": 1, "jsonPath": ".metadata.labels.node\\.kubernetes\\.io/instance-type"},
    ],
    ("", "Pod"): [
        {"name": "Ready", "type": "string", "compute": _pod_ready},
        {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Restarts", "type": "integer", "compute": _pod_restarts},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Node", "type": "string", "priority": 1, "jsonPath": ".spec.nodeName"},
    ],
}


def wants_table(accept):
    return "as=Table" in (accept or "")


def table(columns, objects, resource_version, include_object="Metadata"):
    """A ``meta.k8s.io/v1`` Table for ``objects`` with the CRD's printer ``columns`` (plus Name first)."""
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}]
    for column in columns:
        definitions.append({"name": column["name"], "type": column.get("type", "string"), "format": column.get("format", ""),
                            "description": column.get("description", ""), "priority": column.get("priority", 0)})
    if not columns:
        definitions.append({"name": "Age", "type": "date", "format": "", "description": "", "priority": 0})
        columns = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    rows = []
    for obj in objects:
        cells = [obj["metadata"]["name"]]
        for column in columns:
            value = column["compute"](obj) if "compute" in column else jsonpath(obj, column["jsonPath"])
            if column.get("type") == "date" and value is not None:
                value = human_age(value)
            cells.append(value)
        row = {"cells": cells}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}
