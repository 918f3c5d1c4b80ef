# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify report, assembled from the cluster: each GPU node's part is kept on its Node (annotation
``gpu-slicing.eks/mig-report``), so a report can cover nodes that other runs (AWX job slices) verified."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError
from ansible_collections.gpu_slicing.eks.plugins.filter.node_resources import nvidia_mig_resources, resource_drift

PART_ANNOTATION = "gpu-slicing.eks/mig-report"
STATE_LABEL = "gpu-slicing.eks/mig-state"
RESOURCE_PREFIX = "nvidia.com/"
# An annotation is untrusted input (anyone who may patch Nodes can write it) and every Node watcher pays for its size.
MAX_PART_BYTES = 64 * 1024
_PART_KEYS = ("host", "run", "desired", "strategy", "expected", "gpus", "layout_diagram", "layout_drift", "errors")


def _compact_gpus(gpus):
    """What the report shows of each GPU (index, name, the profiles of its MIG devices), not all of nvidia_mig_info."""
    compact = []
    for gpu in gpus or []:
        instances = [{"compute_instances": [{"profile": ci.get("profile", "?")} for ci in gi.get("compute_instances") or []]}
                     for gi in gpu.get("instances") or []]
        compact.append({"index": gpu.get("index"), "name": gpu.get("name", ""), "instances": instances})
    return compact


def mig_report_part(info, name, host, desired="", strategy="mixed", compare=None, run=""):
    """This node's part of the report, from the nvidia_mig_info result and the check-mode nvidia_mig result."""
    if not isinstance(info, dict):
        raise AnsibleFilterError("mig_report_part needs the registered nvidia_mig_info result, got %s" % type(info).__name__)
    compare = compare if isinstance(compare, dict) else {}
    info_ok = not info.get("failed")
    gpus = (info.get("gpus") or []) if info_ok else []
    errors = [str(info.get("msg", "nvidia_mig_info failed"))] if not info_ok else []
    if compare.get("failed"):
        errors.append(str(compare.get("msg", "the comparison with the desired layout failed")))
    actions = len(compare.get("actions") or [])
    return {
        "name": str(name), "host": str(host), "run": str(run or ""), "desired": str(desired), "strategy": str(strategy),
        "expected": nvidia_mig_resources(gpus, strategy) if info_ok else {},
        "gpus": _compact_gpus(gpus),
        "layout_diagram": info.get("layout_diagram", "") if info_ok else "",
        "layout_drift": ["GPU layout differs from the desired one: %d action(s) pending" % actions] if actions else [],
        "errors": errors,
    }


def _read_part(node):
    """(part, problem) of a Node's annotation: problem is a message when it is missing or unreadable."""
    text = ((node.get("metadata") or {}).get("annotations") or {}).get(PART_ANNOTATION)
    if text is None:
        return None, "no report part on the Node (annotation %s)" % PART_ANNOTATION
    if len(str(text)) > MAX_PART_BYTES:
        return None, "report part on the Node is larger than %d bytes; ignored" % MAX_PART_BYTES
    try:
        part = json.loads(text)
    except ValueError as exc:
        return None, "report part on the Node is not JSON (%s); ignored" % exc
    if not isinstance(part, dict) or not all(isinstance(part.get(key), (list, dict, str)) for key in _PART_KEYS):
        return None, "report part on the Node lacks %s; ignored" % ", ".join(_PART_KEYS)
    return part, None


def _row(name, part, node, problem, run):
    part = part or {}
    node = node or {}
    metadata = node.get("metadata") or {}
    allocatable = dict((k, v) for k, v in ((node.get("status") or {}).get("allocatable") or {}).items()
                       if k.startswith(RESOURCE_PREFIX) and str(v) not in ("0", ""))
    expected = part.get("expected") if isinstance(part.get("expected"), dict) else {}
    errors = [str(e) for e in part.get("errors") or []]
    if problem:
        errors.append(problem)
    if not node:
        errors.append("node not found in Kubernetes")
    stale = bool(run) and part.get("run") != run
    if stale:
        errors.append("no report part from run %s (its slice failed or has not reached verify); shown: run %s"
                      % (run, part.get("run") or "-"))
    drift = [str(d) for d in part.get("layout_drift") or []]
    if node and part:
        drift += resource_drift(node.get("status", {}).get("allocatable") or {}, expected)
    return {
        "name": name, "host": part.get("host", "-"), "run": part.get("run", ""), "stale": stale,
        "desired": part.get("desired", "-"), "strategy": part.get("strategy", "-"),
        "state": (metadata.get("labels") or {}).get(STATE_LABEL, "-"),
        "unschedulable": bool((node.get("spec") or {}).get("unschedulable", False)),
        "allocatable": allocatable, "expected": expected, "gpus": part.get("gpus") or [],
        "layout_diagram": part.get("layout_diagram") or "", "drift": drift, "error": "; ".join(errors),
    }


def mig_report_nodes(nodes, parts=None, run="", only=None):
    """Report rows, one per node, sorted by name: the Node's part (annotation) joined with its live labels, taints and
    allocatable. ``parts``: this run's own parts (they win over the annotation, and name nodes missing from the cluster).
    ``run``: the run id every part should carry (AWX job slices); ``only``: node names to keep (None: every node)."""
    if not isinstance(nodes, list):
        raise AnsibleFilterError("mig_report_nodes needs the list of Nodes k8s_info returned")
    own = dict((p["name"], p) for p in parts or [] if isinstance(p, dict) and p.get("name"))
    by_name = dict((n["metadata"]["name"], n) for n in nodes if isinstance(n, dict) and (n.get("metadata") or {}).get("name"))
    names = set(by_name) | set(own)
    if only is not None:
        names &= set(only)
    rows = []
    for name in sorted(names):
        if name in own:
            part, problem = own[name], None
        else:
            part, problem = _read_part(by_name[name])
        rows.append(_row(name, part, by_name.get(name), problem, run))
    return rows


class FilterModule(object):
    def filters(self):
        return {
            "mig_report_part": mig_report_part,
            "mig_report_nodes": mig_report_nodes,
        }
