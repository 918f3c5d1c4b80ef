# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report filters, fed with real nvidia-smi output: the capture and the simulator's CLI.

The resources the mig_partition role waits for (nvidia_smi_resources) are cross-checked against two
independent implementations: the fake device plugin (tests/support) and mig_capacity (plugins/filter/mig).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.gpu_slicing.eks.plugins.filter import mig as mig_filters
from ansible_collections.gpu_slicing.eks.plugins.filter import mig_parted, node_resources, report
from ansible_collections.gpu_slicing.eks.tests.support import captures, fake_device_plugin

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".."))
SIM_CTL = os.path.join(ROOT, "tests", "simulators", "nvidia-smi-sim")
HTML_TEMPLATE = os.path.join(ROOT, "playbooks", "templates", "mig-report.html.j2")
CAPTURE = os.path.join(ROOT, "tests", "data", "nvidia-smi", "h100-80gb-hbm3_driver-580.159.04", "L.txt")
MODES = ["--query-gpu=index,mig.mode.current", "--format=csv,noheader"]


def _capture_output(path):
    output, rc = captures.read_capture(path)
    assert rc == 0
    return output


@pytest.fixture
def sim(tmp_path):
    """Make a simulated node with the simulator's CLI; return its nvidia-smi wrapper path."""
    def make(*init_args):
        state = str(tmp_path / "gpus.json")
        subprocess.run([SIM_CTL, "init", "--state", state] + list(init_args), check=True, stdout=subprocess.PIPE)
        out = subprocess.run([SIM_CTL, "wrapper", "--state", state, "--out", str(tmp_path / "nvidia-smi")],
                             check=True, stdout=subprocess.PIPE, universal_newlines=True)
        return out.stdout.strip()
    return make


def _smi(wrapper, *args):
    return subprocess.run([wrapper] + list(args), check=True, stdout=subprocess.PIPE, universal_newlines=True,
                          env=dict(os.environ, LC_ALL="C")).stdout


def test_real_capture_whole_gpu():
    listing = _capture_output(CAPTURE)
    gpus = node_resources.nvidia_smi_gpus(listing)
    assert gpus == [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-25bd35c4-38ce-a0ef-ebe7-b024f5545ed8",
                     "mig_devices": []}]
    assert node_resources.nvidia_smi_resources(listing, "0, Disabled\n", "mixed") == {"nvidia.com/gpu": 1}


@pytest.mark.parametrize("init_args,instance_type,config,strategy,expected", [
    (["--model", "h100-80gb", "--gpus", "8", "--mig", "enabled", "--layout", ",".join(["1g.10gb"] * 7)],
     "p5.48xlarge", "all-1g.10gb", "mixed", {"nvidia.com/mig-1g.10gb": 56}),
    (["--model", "h100-80gb", "--gpus", "8", "--mig", "enabled", "--layout", ",".join(["1g.10gb"] * 7)],
     "p5.48xlarge", "all-1g.10gb", "single", {"nvidia.com/gpu": 56}),
    (["--model", "a100-40gb", "--gpus", "8", "--mig", "enabled", "--layout", "3g.20gb,2g.10gb,1g.5gb,1g.5gb"],
     "p4d.24xlarge", "all-balanced", "mixed", {"nvidia.com/mig-1g.5gb": 16, "nvidia.com/mig-2g.10gb": 8, "nvidia.com/mig-3g.20gb": 8}),
    (["--model", "h100-80gb", "--gpus", "8"], "p5.48xlarge", "all-disabled", "mixed", {"nvidia.com/gpu": 8}),
])
def test_resources_agree_with_device_plugin_and_capacity(sim, init_args, instance_type, config, strategy, expected):
    wrapper = sim(*init_args)
    ours = node_resources.nvidia_smi_resources(_smi(wrapper, "-L"), _smi(wrapper, *MODES), strategy)
    assert ours == expected
    assert fake_device_plugin.enumerate_resources(wrapper, strategy) == expected
    capacity = mig_filters.FilterModule().filters()["mig_capacity"](instance_type, config=config, strategy=strategy)
    assert dict((k, v) for k, v in capacity.items() if v) == expected


def test_media_extension_profile_gets_a_valid_resource_name(sim):
    wrapper = sim("--model", "h100-80gb", "--gpus", "1", "--mig", "enabled", "--layout", "1g.10gb+me,1g.10gb")
    expected = {"nvidia.com/mig-1g.10gb.me": 1, "nvidia.com/mig-1g.10gb": 1}
    assert node_resources.nvidia_smi_resources(_smi(wrapper, "-L"), _smi(wrapper, *MODES), "mixed") == expected
    assert fake_device_plugin.enumerate_resources(wrapper, "mixed") == expected


def test_enabled_gpu_without_instances_advertises_nothing_under_mixed(sim):
    wrapper = sim("--model", "h100-80gb", "--gpus", "2", "--mig", "enabled")
    assert node_resources.nvidia_smi_resources(_smi(wrapper, "-L"), _smi(wrapper, *MODES), "mixed") == {}
    assert fake_device_plugin.enumerate_resources(wrapper, "mixed") == {}


def test_single_strategy_refuses_mixed_profiles(sim):
    wrapper = sim("--model", "h100-80gb", "--gpus", "2", "--mig", "enabled", "--layout", "3g.40gb,2g.20gb,1g.10gb,1g.10gb")
    with pytest.raises(AnsibleFilterError, match="strategy 'single' needs"):
        node_resources.nvidia_smi_resources(_smi(wrapper, "-L"), _smi(wrapper, *MODES), "single")
    # the real plugin refuses such a layout; GFD labels it -MIG-INVALID with count 0
    assert fake_device_plugin.enumerate_resources(wrapper, "single") == {"nvidia.com/gpu": 0}


@pytest.mark.parametrize("listing,modes,strategy,message", [
    ("garbage line\n", "", "mixed", "unexpected line"),
    ("GPU 0: X (UUID: GPU-1)\nGPU 1: Y (UUID: GPU-2) trailing\n", "0, Enabled\n1, Enabled\n", "mixed", "unexpected line"),
    ("GPU 0: X (UUID: GPU-1)\n  MIG 1g.10gb Device 0 (no uuid)\n", "0, Enabled\n", "mixed", "unexpected line"),
    ("GPU 0: X (UUID: GPU-1)\n", "", "mixed", "no mig.mode reported"),
    ("GPU 0: X (UUID: GPU-1)\n", "0, Enabled\n", "weird", "strategy must be one of"),
    ("GPU 0: X (UUID: GPU-1)\n", "zero, Enabled\n", "mixed", "unexpected mig.mode line"),
])
def test_bad_input_is_a_clear_error(listing, modes, strategy, message):
    with pytest.raises(AnsibleFilterError, match=message):
        node_resources.nvidia_smi_resources(listing, modes, strategy)


def test_mig_devices_come_from_the_shared_parser(sim):
    wrapper = sim("--model", "h100-80gb", "--gpus", "1", "--mig", "enabled", "--layout", "3g.40gb,1g.10gb")
    gpus = node_resources.nvidia_smi_gpus(_smi(wrapper, "-L"))
    # MIG device order follows the GPU-instance ids, which are the driver's choice (issue 14): compare as sets
    assert sorted(d["profile"] for d in gpus[0]["mig_devices"]) == ["1g.10gb", "3g.40gb"]
    assert sorted(d["device_index"] for d in gpus[0]["mig_devices"]) == [0, 1]
    assert all(d["uuid"].startswith("MIG-") for d in gpus[0]["mig_devices"])


def _info_gpus(wrapper):
    """What nvidia_mig_info returns as ``gpus`` (same reader and to_dict as the module)."""
    from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi
    runner = _nvidia_smi.NvidiaSmi(_nvidia_smi.subprocess_run_command(timeout=60), path=wrapper)
    return [gpu.to_dict(with_profiles=False) for gpu in runner.read_state()]


@pytest.mark.parametrize("init_args", [
    ["--model", "h100-80gb", "--gpus", "2", "--mig", "enabled", "--layout", "3g.40gb,2g.20gb,1g.10gb,1g.10gb"],
    ["--model", "h100-80gb", "--gpus", "2", "--mig", "enabled", "--layout", ",".join(["1g.10gb"] * 7)],
    ["--model", "a100-40gb", "--gpus", "1", "--mig", "enabled"],
    ["--model", "h100-80gb", "--gpus", "2"],
])
@pytest.mark.parametrize("strategy", ["mixed", "single", "none"])
def test_resources_from_nvidia_mig_info_equal_those_from_nvidia_smi_list(sim, init_args, strategy):
    wrapper = sim(*init_args)
    try:
        expected = node_resources.nvidia_smi_resources(_smi(wrapper, "-L"), _smi(wrapper, *MODES), strategy)
    except AnsibleFilterError as exc:
        with pytest.raises(AnsibleFilterError, match="single"):
            node_resources.nvidia_mig_resources(_info_gpus(wrapper), strategy)
        assert "single" in str(exc)
        return
    assert node_resources.nvidia_mig_resources(_info_gpus(wrapper), strategy) == expected


def test_nvidia_mig_resources_rejects_other_input():
    with pytest.raises(AnsibleFilterError, match="nvidia_mig_info"):
        node_resources.nvidia_mig_resources("GPU 0: X (UUID: GPU-1)")
    with pytest.raises(AnsibleFilterError, match="nvidia_mig_info"):
        node_resources.nvidia_mig_resources([{"name": "no index"}])


def test_resource_drift():
    expected = {"nvidia.com/mig-1g.10gb": 56}
    assert node_resources.resource_drift({"cpu": "8", "nvidia.com/mig-1g.10gb": "56", "nvidia.com/gpu": "0"}, expected) == []
    assert node_resources.resource_drift({"nvidia.com/gpu": "8"}, expected) == [
        "nvidia.com/gpu: expected 0, allocatable 8", "nvidia.com/mig-1g.10gb: expected 56, allocatable 0"]
    with pytest.raises(AnsibleFilterError, match="not a whole number"):
        node_resources.resource_drift({"nvidia.com/gpu": "1k"}, {})


def _report():
    return {"title": "t", "generated": "now", "nodes": [
        {"name": "n1<script>", "desired": "all-1g.10gb", "strategy": "mixed", "state": "failed", "unschedulable": True,
         "allocatable": {"nvidia.com/gpu": "8"}, "drift": ["a|b"], "error": "boom & bust",
         "gpus": [{"index": 0, "name": "H100", "instances": [{"profile": "1g.10gb", "compute_instances": [{"profile": "1g.10gb"}]}]}],
         "layout_diagram": "GPU0 [1g ]"}],
        "karpenter": report.karpenter_summary([
            {"kind": "NodePool", "metadata": {"name": "p5"}, "spec": {"template": {
                "metadata": {"labels": {"nvidia.com/mig.config": "all-1g.10gb"}},
                "spec": {"requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["p5.48xlarge"]}]}}}},
            {"kind": "NodeOverlay", "metadata": {"name": "p5-p5-48xlarge"}, "spec": {"capacity": {"nvidia.com/mig-1g.10gb": "56"}}}])}


def test_markdown_report():
    text = report.mig_report_markdown(_report())
    assert "| n1<script> | all-1g.10gb | mixed | failed | no | nvidia.com/gpu=8 | a\\|b |" in text
    assert "**Error:** boom & bust" in text
    assert "- GPU 0 H100: 1g.10gb" in text
    assert "- NodePool `p5`: mig.config=all-1g.10gb, types=p5.48xlarge, limits=-" in text
    assert ("- NodeOverlay `p5-p5-48xlarge`: capacity: nvidia.com/mig-1g.10gb=56, weight=-; Karpenter: not evaluated yet"
            in text)
    assert "problem" not in text


def _overlay(name, generation, conditions, weight=None):
    spec = {"capacity": {"nvidia.com/mig-1g.10gb": "56"}}
    if weight:
        spec["weight"] = weight
    return {"kind": "NodeOverlay", "metadata": {"name": name, "generation": generation}, "spec": spec,
            "status": {"conditions": conditions}}


# Status conditions as Karpenter v1.14.1 writes them (reason/message of a Conflict as read from the real controller in
# tests/integration/targets/karpenter_kwok, scenario 6).
CONFLICT = {"type": "ValidationSucceeded", "status": "False", "reason": "Conflict", "message": "conflict with another overlay",
            "observedGeneration": 1}
APPLIED = {"type": "ValidationSucceeded", "status": "True", "reason": "ValidationSucceeded", "message": "", "observedGeneration": 2}


def test_overlay_verdicts_in_summary():
    rows = report.karpenter_summary([
        _overlay("ours-p5-48xlarge", 1, [CONFLICT]),
        _overlay("theirs", 2, [APPLIED], weight=10),
        _overlay("edited", 3, [APPLIED]),  # Karpenter's verdict is about generation 2: not evaluated yet
    ])
    assert [(r["name"], r["problem"]) for r in rows] == [
        ("ours-p5-48xlarge", "rejected by Karpenter (Conflict): conflict with another overlay"), ("theirs", ""), ("edited", "")]
    assert rows[1]["summary"] == "capacity: nvidia.com/mig-1g.10gb=56, weight=10; Karpenter: applied"
    assert rows[2]["summary"].endswith("Karpenter: not evaluated yet (feature gate NodeOverlay=true? Karpenter running?)")


def _report_with_conflict():
    data = _report()
    data["karpenter"] = report.karpenter_summary([_overlay("ours<b>", 1, [dict(CONFLICT, message="clash <with> x|y")]),
                                                  _overlay("theirs", 2, [APPLIED])])
    return data


def test_markdown_report_lists_overlay_conflicts_first():
    text = report.mig_report_markdown(_report_with_conflict())
    section = text.split("## Karpenter objects", 1)[1]
    assert section.index("**1 Karpenter problem(s):**") < section.index("- NodeOverlay `theirs`")
    assert "- NodeOverlay `ours<b>`: rejected by Karpenter (Conflict): clash <with> x\\|y" in section
    assert ("- NodeOverlay `ours<b>`: capacity: nvidia.com/mig-1g.10gb=56, weight=-; **rejected by Karpenter (Conflict): "
            "clash <with> x\\|y**") in section


def test_html_report_marks_overlay_conflicts():
    page = _render_html_template(_report_with_conflict())
    assert '<p class="bad"><b>1 Karpenter problem(s)</b></p>' in page
    assert ('<li class="bad">NodeOverlay <code>ours&lt;b&gt;</code>: capacity: nvidia.com/mig-1g.10gb=56, weight=-; '
            '<b>rejected by Karpenter (Conflict): clash &lt;with&gt; x|y</b></li>') in page
    assert "<li>NodeOverlay <code>theirs</code>: capacity: nvidia.com/mig-1g.10gb=56, weight=-; Karpenter: applied</li>" in page
    assert "problem(s)" not in _render_html_template(_report())


def _render_html_template(report_data):
    """Render playbooks/templates/mig-report.html.j2 with Ansible's own templating, as the template task does."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    with open(HTML_TEMPLATE, encoding="utf-8") as handle:
        text = handle.read()
    try:
        from ansible.template import trust_as_template  # ansible-core >= 2.19: file content must be trusted
        text = trust_as_template(text)
    except ImportError:  # pragma: no cover - ansible-core 2.18
        pass
    return Templar(loader=DataLoader(), variables={"verify_report": report_data}).template(text)


def test_html_report_template_is_self_contained_and_escaped():
    page = _render_html_template(_report())
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script>" not in page and "n1&lt;script&gt;" in page and "boom &amp; bust" in page
    assert "a|b" in page and "nvidia.com/gpu=8" in page and "<li>GPU 0 H100: 1g.10gb</li>" in page
    assert "http" not in page and "<link" not in page and "src=" not in page
    assert '<tr class="bad">' in page
    assert "<code>p5</code>: mig.config=all-1g.10gb, types=p5.48xlarge, limits=-" in page


def test_html_report_template_escapes_drift_and_devices():
    data = _report()
    data["nodes"][0]["drift"] = ["<b>x</b>"]
    data["nodes"][0]["gpus"][0]["instances"][0]["compute_instances"] = [{"profile": "<i>"}]
    page = _render_html_template(data)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page and "&lt;i&gt;" in page


def test_report_needs_nodes():
    with pytest.raises(AnsibleFilterError, match="'nodes' list"):
        report.mig_report_markdown({"title": "x"})


def test_mig_parted_config():
    doc = mig_parted.mig_parted_config({"custom": ["3g.40gb", "1g.10gb", "1g.10gb"]}, ["all-balanced"])
    assert list(doc["mig-configs"]) == ["all-disabled", "all-enabled", "all-balanced", "custom"]
    assert doc["mig-configs"]["custom"] == [{"devices": "all", "mig-enabled": True, "mig-devices": {"3g.40gb": 1, "1g.10gb": 2}}]
    with pytest.raises(AnsibleFilterError, match="did you mean"):
        mig_parted.mig_parted_config({}, ["all-1g.1gb"])
    with pytest.raises(AnsibleFilterError, match="mapping label"):
        mig_parted.mig_parted_config(["all-1g.10gb"])
