# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the roles and playbooks: what a node should advertise, and the verify report.

- ``nvidia_smi_resources``: the extended resources the NVIDIA device plugin advertises for the MIG
  devices that ``nvidia-smi -L`` lists (the plugin enumerates exactly these at start).
- ``resource_drift``: compare a Node's allocatable with those expected resources.
- ``mig_report_markdown`` / ``mig_report_html``: render the per-node verify report.
- ``mig_parted_config``: a mig-parted v1 document from our named layouts (GPU Operator ConfigMap).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import _builtin_configs, configs

RESOURCE_PREFIX = "nvidia.com/"
# "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"
_GPU_LINE = re.compile(r"^GPU\s+(\d+):\s+(.*?)\s+\(UUID:\s*([^)]+)\)\s*$")
# "  MIG 1g.10gb     Device  0: (UUID: MIG-...)"; R450/R460 wrote "MIG 1g.5gb Device 0:" the same way
_MIG_LINE = re.compile(r"^\s+MIG\s+(\S+)\s+Device\s+(\d+):\s+\(UUID:\s*([^)]+)\)\s*$")
STRATEGIES = ("none", "single", "mixed")


def parse_smi_list(text):
    """Parse ``nvidia-smi -L`` into [{index, name, uuid, mig_devices: [{profile, index, uuid}]}]."""
    if not isinstance(text, str):
        raise AnsibleFilterError("nvidia-smi -L output must be a string, got %s" % type(text).__name__)
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        gpu = _GPU_LINE.match(line)
        if gpu:
            gpus.append({"index": int(gpu.group(1)), "name": gpu.group(2), "uuid": gpu.group(3), "mig_devices": []})
            continue
        mig = _MIG_LINE.match(line)
        if mig and gpus:
            gpus[-1]["mig_devices"].append({"profile": mig.group(1), "index": int(mig.group(2)), "uuid": mig.group(3)})
            continue
        if line.startswith("No devices were found"):
            return []
        raise AnsibleFilterError("unexpected line in nvidia-smi -L output: %r" % line)
    return gpus


def nvidia_smi_gpus(smi_list):
    """The GPUs and MIG devices of ``nvidia-smi -L`` as a list (see parse_smi_list)."""
    return parse_smi_list(smi_list)


def karpenter_summary(objects):
    """One line per Karpenter object (NodePool, EC2NodeClass, NodeOverlay) for the report."""
    summary = []
    for obj in objects or []:
        kind, spec = obj.get("kind", "?"), obj.get("spec") or {}
        name = (obj.get("metadata") or {}).get("name", "?")
        if kind == "NodePool":
            template = spec.get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            types = [v for r in (template.get("spec") or {}).get("requirements") or []
                     if r.get("key") in ("node.kubernetes.io/instance-type", "karpenter.k8s.aws/instance-gpu-name")
                     for v in r.get("values") or []]
            text = "mig.config=%s, types=%s, limits=%s" % (
                labels.get("nvidia.com/mig.config", "-"), ",".join(types) or "-", _resources_text(spec.get("limits")))
        elif kind == "NodeOverlay":
            text = "capacity: %s" % _resources_text(spec.get("capacity"))
        elif kind == "EC2NodeClass":
            aliases = [t.get("alias") or t.get("id") or t.get("name") for t in spec.get("amiSelectorTerms") or []]
            text = "ami=%s, role=%s" % (",".join(a for a in aliases if a) or "-", spec.get("role") or spec.get("instanceProfile") or "-")
        else:
            text = ""
        summary.append({"kind": kind, "name": name, "summary": text})
    return summary


def _parse_modes(text):
    """Parse ``nvidia-smi --query-gpu=index,mig.mode.current --format=csv,noheader`` into {index: bool}."""
    modes = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnsibleFilterError("unexpected mig.mode line %r (want 'index, mode')" % line)
        modes[int(parts[0])] = parts[1] == "Enabled"
    return modes


def nvidia_smi_resources(smi_list, mig_modes, strategy="mixed"):
    """Extended resources the device plugin advertises for this node, as {name: int}.

    Mirrors k8s-device-plugin v0.20 (internal/rm/device_map.go): ``mixed`` -> one
    ``nvidia.com/mig-<profile>`` per MIG device and ``nvidia.com/gpu`` per GPU with MIG disabled (a
    MIG-enabled GPU without instances advertises nothing); ``single`` -> every MIG device is an
    ``nvidia.com/gpu`` and mixing MIG and non-MIG GPUs, or profiles, is an error; ``none`` -> every
    GPU is one ``nvidia.com/gpu``.
    """
    if strategy not in STRATEGIES:
        raise AnsibleFilterError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    gpus = parse_smi_list(smi_list)
    modes = _parse_modes(mig_modes)
    missing = [g["index"] for g in gpus if g["index"] not in modes]
    if missing:
        raise AnsibleFilterError("no mig.mode reported for GPU(s) %s" % missing)
    resources = {}

    def add(name, count=1):
        resources[RESOURCE_PREFIX + name] = resources.get(RESOURCE_PREFIX + name, 0) + count

    if strategy == "none":
        if gpus:
            add("gpu", len(gpus))
        return resources
    if strategy == "single":
        enabled = [g for g in gpus if modes[g["index"]]]
        if not enabled:
            if gpus:
                add("gpu", len(gpus))
            return resources
        profiles = set(d["profile"] for g in enabled for d in g["mig_devices"])
        if len(enabled) != len(gpus) or len(profiles) != 1 or any(not g["mig_devices"] for g in enabled):
            raise AnsibleFilterError(
                "MIG strategy 'single' needs MIG enabled on every GPU with one and the same profile; found %s. "
                "Use strategy 'mixed' for this layout." % _describe(gpus, modes))
        add("gpu", sum(len(g["mig_devices"]) for g in enabled))
        return resources
    for gpu in gpus:
        if not modes[gpu["index"]]:
            add("gpu")
        for device in gpu["mig_devices"]:
            # resource names cannot hold "+": the plugin advertises 1g.10gb+me as mig-1g.10gb.me (as mig_capacity)
            add("mig-" + device["profile"].replace("+", "."))
    return resources


def _describe(gpus, modes):
    parts = []
    for gpu in gpus:
        if not modes[gpu["index"]]:
            parts.append("GPU %d: MIG disabled" % gpu["index"])
        else:
            parts.append("GPU %d: %s" % (gpu["index"], ",".join(d["profile"] for d in gpu["mig_devices"]) or "no instances"))
    return "; ".join(parts)


def _quantity(value):
    text = str(value).strip()
    if not text.isdigit():
        raise AnsibleFilterError("extended resource quantity %r is not a whole number" % (value,))
    return int(text)


def resource_drift(allocatable, expected):
    """Return a sorted list of human-readable differences for ``nvidia.com/*`` resources.

    A resource missing from ``allocatable`` counts as 0, like a plugin resource the kubelet zeroes
    after the plugin stops advertising it.
    """
    if not isinstance(expected, dict):
        raise AnsibleFilterError("expected resources must be a mapping, got %s" % type(expected).__name__)
    actual = dict((k, _quantity(v)) for k, v in (allocatable or {}).items() if k.startswith(RESOURCE_PREFIX))
    drift = []
    for name in sorted(set(actual) | set(expected)):
        want, have = int(expected.get(name, 0)), actual.get(name, 0)
        if want != have:
            drift.append("%s: expected %d, allocatable %d" % (name, want, have))
    return drift


def _cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def _resources_text(resources):
    return ", ".join("%s=%s" % (k, v) for k, v in sorted((resources or {}).items())) or "-"


def mig_report_markdown(report):
    """Render the verify report (see playbooks/verify.yml for its shape) as Markdown."""
    _check_report(report)
    out = ["# MIG report: %s" % report.get("title", "gpu_slicing.eks"), "", "Generated: %s" % report.get("generated", "-"), ""]
    out += ["| node | desired | strategy | state | schedulable | allocatable | drift |", "|---|---|---|---|---|---|---|"]
    for node in report["nodes"]:
        out.append("| %s |" % " | ".join(_cell(x) for x in (
            node["name"], node.get("desired", "-"), node.get("strategy", "-"), node.get("state", "-"),
            "no" if node.get("unschedulable") else "yes", _resources_text(node.get("allocatable")),
            "; ".join(node.get("drift") or []) or "none")))
    for node in report["nodes"]:
        out += ["", "## %s" % node["name"], ""]
        if node.get("error"):
            out += ["**Error:** %s" % node["error"], ""]
        out += ["MIG devices:", ""]
        for gpu in node.get("gpus") or []:
            devices = ", ".join(d["profile"] for d in gpu.get("mig_devices") or []) or "(whole GPU or none)"
            out.append("- GPU %s %s: %s" % (gpu.get("index"), gpu.get("name", ""), devices))
        if node.get("layout_diagram"):
            out += ["", "```", node["layout_diagram"].rstrip("\n"), "```"]
    out += ["", "## Karpenter objects", ""]
    objects = report.get("karpenter") or []
    if not objects:
        out.append("(none found)")
    for obj in objects:
        out.append("- %s `%s`: %s" % (obj.get("kind"), obj.get("name"), _cell(obj.get("summary", ""))))
    return "\n".join(out) + "\n"


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}"
        "th{background:#eee}.bad{background:#fdd}.ok{background:#dfd}pre{background:#f6f6f6;padding:.6em}")


def mig_report_html(report):
    """Render the verify report as one self-contained HTML page (inline CSS, no scripts, no links)."""
    _check_report(report)
    esc = html.escape
    title = "MIG report: %s" % report.get("title", "gpu_slicing.eks")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>%s</title><style>%s</style></head><body>'
           % (esc(title), _CSS), "<h1>%s</h1>" % esc(title), "<p>Generated: %s</p>" % esc(str(report.get("generated", "-")))]
    out.append("<table><tr><th>node</th><th>desired</th><th>strategy</th><th>state</th><th>schedulable</th>"
               "<th>allocatable</th><th>drift</th></tr>")
    for node in report["nodes"]:
        drift = node.get("drift") or []
        css = "bad" if drift or node.get("error") else "ok"
        out.append('<tr class="%s">%s</tr>' % (css, "".join("<td>%s</td>" % esc(str(x)) for x in (
            node["name"], node.get("desired", "-"), node.get("strategy", "-"), node.get("state", "-"),
            "no" if node.get("unschedulable") else "yes", _resources_text(node.get("allocatable")),
            "; ".join(drift) or "none"))))
    out.append("</table>")
    for node in report["nodes"]:
        out.append("<h2>%s</h2>" % esc(node["name"]))
        if node.get("error"):
            out.append('<p class="bad"><b>Error:</b> %s</p>' % esc(node["error"]))
        out.append("<ul>")
        for gpu in node.get("gpus") or []:
            devices = ", ".join(d["profile"] for d in gpu.get("mig_devices") or []) or "(whole GPU or none)"
            out.append("<li>GPU %s %s: %s</li>" % (esc(str(gpu.get("index"))), esc(gpu.get("name", "")), esc(devices)))
        out.append("</ul>")
        if node.get("layout_diagram"):
            out.append("<pre>%s</pre>" % esc(node["layout_diagram"]))
    out.append("<h2>Karpenter objects</h2><ul>")
    for obj in report.get("karpenter") or []:
        out.append("<li>%s <code>%s</code>: %s</li>" % (esc(str(obj.get("kind"))), esc(str(obj.get("name"))), esc(str(obj.get("summary", "")))))
    out.append("</ul></body></html>")
    return "\n".join(out) + "\n"


def _check_report(report):
    if not isinstance(report, dict) or not isinstance(report.get("nodes"), list):
        raise AnsibleFilterError("a report must be a mapping with a 'nodes' list")
    for node in report["nodes"]:
        if not isinstance(node, dict) or not node.get("name"):
            raise AnsibleFilterError("every report node needs a 'name'")


def mig_parted_config(layouts, builtin=None):
    """Build a validated mig-parted v1 document (a dict) for the GPU Operator MIG manager.

    ``layouts`` maps a label to either a layout for every GPU (list of profile names or mapping
    name -> count) or a list of raw mig-parted entries (mappings with ``devices``). ``builtin`` names
    built-in labels to copy (``all-1g.10gb``, ``all-balanced`` ...). ``all-disabled`` and
    ``all-enabled`` are always present because the operator's default label is ``all-disabled``.
    """
    if not isinstance(layouts, dict):
        raise AnsibleFilterError("layouts must be a mapping label -> layout, got %s" % type(layouts).__name__)
    raw = _builtin_configs.BUILTIN_CONFIG["mig-configs"]
    doc = {"version": "v1", "mig-configs": {}}
    try:
        for label in ["all-disabled", "all-enabled"] + list(builtin or []):
            configs.builtin_config(label)  # clear error with suggestions for unknown labels
            doc["mig-configs"][label] = raw[label]
        for label, layout in layouts.items():
            if isinstance(layout, list) and layout and all(isinstance(e, dict) for e in layout):
                doc["mig-configs"][str(label)] = layout
            else:
                devices = dict(configs.normalize_layout(layout, where="layouts[%s]" % label))
                doc["mig-configs"][str(label)] = [{"devices": "all", "mig-enabled": True, "mig-devices": devices}]
        configs.parse_config(doc)
    except configs.MigConfigError as exc:
        raise AnsibleFilterError("invalid MIG layout: %s" % exc)
    return doc


class FilterModule(object):
    def filters(self):
        return {
            "nvidia_smi_resources": nvidia_smi_resources,
            "resource_drift": resource_drift,
            "nvidia_smi_gpus": nvidia_smi_gpus,
            "karpenter_summary": karpenter_summary,
            "mig_report_markdown": mig_report_markdown,
            "mig_report_html": mig_report_html,
            "mig_parted_config": mig_parted_config,
        }
