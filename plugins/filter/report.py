# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that render the verify report (playbooks/verify.yml): one line per Karpenter object and the report as
Markdown. The HTML page is a Jinja2 template (playbooks/templates/mig-report.html.j2) users can replace.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.gpu_slicing.eks.plugins.module_utils._karpenter import overlay_verdict


def karpenter_summary(objects):
    """One line per Karpenter object (NodePool, EC2NodeClass, NodeOverlay) for the report.

    A NodeOverlay's line ends with Karpenter's verdict from its status (condition ValidationSucceeded); an overlay it
    rejected (reason Conflict: another overlay of the same weight sets the same resource) also gets ``problem``.
    """
    summary = []
    for obj in objects or []:
        kind, spec = obj.get("kind", "?"), obj.get("spec") or {}
        name = (obj.get("metadata") or {}).get("name", "?")
        problem = ""
        if kind == "NodePool":
            template = spec.get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            types = [v for r in (template.get("spec") or {}).get("requirements") or []
                     if r.get("key") in ("node.kubernetes.io/instance-type", "karpenter.k8s.aws/instance-gpu-name")
                     for v in r.get("values") or []]
            text = "mig.config=%s, types=%s, limits=%s" % (
                labels.get("nvidia.com/mig.config", "-"), ",".join(types) or "-", _resources_text(spec.get("limits")))
        elif kind == "NodeOverlay":
            text = "capacity: %s, weight=%s" % (_resources_text(spec.get("capacity")), spec.get("weight", "-"))
            verdict = overlay_verdict(obj)
            if verdict is None:
                text += "; Karpenter: not evaluated yet (feature gate NodeOverlay=true? Karpenter running?)"
            elif verdict[0]:
                text += "; Karpenter: applied"
            else:
                problem = "rejected by Karpenter (%s): %s" % (verdict[1] or "no reason", verdict[2] or "no message")
        elif kind == "EC2NodeClass":
            aliases = [t.get("alias") or t.get("id") or t.get("name") for t in spec.get("amiSelectorTerms") or []]
            text = "ami=%s, role=%s" % (",".join(a for a in aliases if a) or "-", spec.get("role") or spec.get("instanceProfile") or "-")
        else:
            text = ""
        summary.append({"kind": kind, "name": name, "summary": text, "problem": problem})
    return summary


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
            devices = ", ".join(_mig_device_profiles(gpu)) or "(whole GPU or none)"
            out.append("- GPU %s %s: %s" % (gpu.get("index"), gpu.get("name", ""), devices))
        if node.get("layout_diagram"):
            out += ["", "```", node["layout_diagram"].rstrip("\n"), "```"]
    out += _sharing_markdown(report.get("sharing"))
    out += ["", "## Karpenter objects", ""]
    objects = report.get("karpenter") or []
    problems = [obj for obj in objects if obj.get("problem")]
    if problems:
        out += ["**%d Karpenter problem(s):**" % len(problems), ""]
        out += ["- %s `%s`: %s" % (obj.get("kind"), obj.get("name"), _cell(obj["problem"])) for obj in problems]
        out.append("")
    if not objects:
        out.append("(none found)")
    for obj in objects:
        line = "- %s `%s`: %s" % (obj.get("kind"), obj.get("name"), _cell(obj.get("summary", "")))
        out.append(line + ("; **%s**" % _cell(obj["problem"]) if obj.get("problem") else ""))
    return "\n".join(out) + "\n"


def _sharing_markdown(rows):
    """The GPU sharing section: per Node whose device plugin config shares its GPUs (filter sharing_report)."""
    if not rows:
        return []
    out = ["", "## Shared GPUs (device plugin time-slicing / MPS)", "",
           "| node | instance type | config | mode | replicas | advertised | expected | drift |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        drift = "; ".join(row.get("drift") or []) or ("error: %s" % row["error"] if row.get("error") else "none")
        mode = "%s%s" % (row.get("mode", "-"), " (renamed .shared)" if row.get("rename") else "")
        out.append("| %s |" % " | ".join(_cell(x) for x in (
            row.get("name", "?"), row.get("instance_type", "-"), row.get("config", "-"), mode, row.get("replicas", "-"),
            _resources_text(row.get("advertised")), _resources_text(row.get("expected")), drift)))
    return out


def _mig_device_profiles(gpu):
    """Profiles of a GPU's MIG devices (compute instances), from an nvidia_mig_info ``gpus`` entry."""
    return [ci.get("profile", "?") for gi in gpu.get("instances") or [] for ci in gi.get("compute_instances") or []]


def _check_report(report):
    if not isinstance(report, dict) or not isinstance(report.get("nodes"), list):
        raise AnsibleFilterError("a report must be a mapping with a 'nodes' list")
    for node in report["nodes"]:
        if not isinstance(node, dict) or not node.get("name"):
            raise AnsibleFilterError("every report node needs a 'name'")


class FilterModule(object):
    def filters(self):
        return {
            "karpenter_summary": karpenter_summary,
            "mig_report_markdown": mig_report_markdown,
        }
