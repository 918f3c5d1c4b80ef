# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify report assembled from the Nodes' parts (plugins/filter/report_parts.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.gpu_slicing.eks.plugins.filter import report, report_parts

INFO = {"gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-1", "mig_mode": {"current": "enabled"},
                  "instances": [{"gi_id": 7, "profile": "1g.10gb", "placement": {"start": 0, "size": 1},
                                 "compute_instances": [{"ci_id": 0, "profile": "1g.10gb", "uuid": "MIG-1"}]}]}],
        "layout_diagram": "GPU 0: [1g]"}


def _part(name="n1", run="", compare=None, info=None):
    return report_parts.mig_report_part(info or INFO, name=name, host=name + "-host", desired="all-1g.10gb",
                                        strategy="mixed", compare=compare, run=run)


def _node(name, part=None, allocatable=None, labels=None, raw=None):
    annotations = {}
    if part is not None or raw is not None:
        annotations[report_parts.PART_ANNOTATION] = raw if raw is not None else json.dumps(part)
    return {"metadata": {"name": name, "labels": dict(labels or {}, **{report_parts.PART_ANNOTATION: "true"}),
                         "annotations": annotations},
            "spec": {}, "status": {"allocatable": allocatable or {}}}


def test_part_keeps_what_the_report_shows_and_nothing_else():
    part = _part(compare={"actions": [{"gpu": 0}, {"gpu": 1}]})
    assert part["gpus"] == [{"index": 0, "name": "NVIDIA H100 80GB HBM3",
                             "instances": [{"compute_instances": [{"profile": "1g.10gb"}]}]}]
    assert part["expected"] == {"nvidia.com/mig-1g.10gb": 1}
    assert part["layout_drift"] == ["GPU layout differs from the desired one: 2 action(s) pending"]
    assert part["errors"] == []


def test_part_of_a_node_whose_gpus_could_not_be_read():
    part = _part(info={"failed": True, "msg": "nvidia-smi not found", "gpus": [{"index": 0}]})
    assert (part["gpus"], part["expected"], part["errors"]) == ([], {}, ["nvidia-smi not found"])


def test_rows_join_parts_with_the_live_nodes_sorted_by_name():
    nodes = [_node("n2", _part("n2"), {"nvidia.com/mig-1g.10gb": "1"}, {report_parts.STATE_LABEL: "applied"}),
             _node("n1", _part("n1"), {"nvidia.com/mig-1g.10gb": "0", "cpu": "4"})]
    rows = report_parts.mig_report_nodes(nodes)
    assert [r["name"] for r in rows] == ["n1", "n2"]
    assert rows[0]["allocatable"] == {} and rows[0]["drift"] == ["nvidia.com/mig-1g.10gb: expected 1, allocatable 0"]
    assert rows[1]["state"] == "applied" and rows[1]["drift"] == [] and rows[1]["error"] == ""
    assert "## n1" in report.mig_report_markdown({"nodes": rows})


def test_a_run_id_marks_nodes_whose_part_is_from_another_run():
    nodes = [_node("n1", _part("n1", run="r2")), _node("n2", _part("n2", run="r1"))]
    rows = report_parts.mig_report_nodes(nodes, run="r2")
    assert [r["stale"] for r in rows] == [False, True]
    assert "no report part from run r2" in rows[1]["error"]


def test_own_parts_win_and_name_nodes_missing_from_the_cluster():
    nodes = [_node("n1", _part("n1", run="old"))]
    rows = report_parts.mig_report_nodes(nodes, parts=[_part("n1", run="new"), _part("gone", run="new")], run="new")
    assert [(r["name"], r["stale"]) for r in rows] == [("gone", False), ("n1", False)]
    assert rows[0]["error"] == "node not found in Kubernetes"
    assert report_parts.mig_report_nodes(nodes, parts=[_part("gone")], only=["gone"])[0]["name"] == "gone"


@pytest.mark.parametrize("raw, problem", [
    ("{not json", "is not JSON"),
    (json.dumps(["a list"]), "lacks"),
    (json.dumps({"host": "x"}), "lacks"),
    ("x" * (report_parts.MAX_PART_BYTES + 1), "larger than"),
])
def test_an_unreadable_annotation_is_reported_not_trusted(raw, problem):
    row = report_parts.mig_report_nodes([_node("n1", raw=raw, allocatable={"nvidia.com/gpu": "8"})])[0]
    assert problem in row["error"] and row["gpus"] == [] and row["drift"] == []
    assert row["allocatable"] == {"nvidia.com/gpu": "8"}


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError):
        report_parts.mig_report_nodes({"not": "a list"})
    with pytest.raises(AnsibleFilterError):
        report_parts.mig_report_part("text", name="n", host="h")
