# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_mig_info against the nvidia-smi simulator: read-only, complete, per model."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.plugins.modules import nvidia_mig_info
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.nvidia_smi_harness import Node, run_module


@pytest.fixture
def info(capsys):
    def run(node, **args):
        args.setdefault("nvidia_smi_path", node.smi)
        return run_module(capsys, nvidia_mig_info.main, args)
    return run


@pytest.mark.parametrize("model,layout", [
    ("h100-80gb", ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]),
    ("a100-40gb", ["4g.20gb", "1g.10gb", "1g.5gb"]),
    ("a30-24gb", ["2g.12gb", "1g.6gb+me"]),
    ("h200-141gb", ["7g.141gb"]),
])
def test_facts_match_the_gpu(tmp_path, info, model, layout):
    node = Node(tmp_path, "n", model=model, gpus=2, mig=True, layout=layout)
    node.sim.add_process(1, 777, "server", gi=node.sim.layout(1)[0][2], ci=0)
    result, failed = info(node)
    assert not failed, result.get("msg")
    assert result["changed"] is False
    assert node.mutating() == []
    spec = catalog.gpu_model(model)
    state = node.sim.state()
    for gpu, sim_gpu in zip(result["gpus"], state["gpus"]):
        assert (gpu["index"], gpu["uuid"], gpu["name"], gpu["pci_device_id"]) == (
            sim_gpu["index"], sim_gpu["uuid"], spec.product_name, spec.pci_device_ids[0])
        assert gpu["mig_capable"] is True
        assert gpu["mig_mode"] == {"current": "enabled", "pending": "enabled", "change_pending": False}
        got = sorted((i["profile"], i["placement"]["start"], i["placement"]["size"], i["gpu_instance_id"], i["mig_uuid"])
                     for i in gpu["instances"])
        want = sorted((gi["profile"], gi["start"], gi["size"], gi["id"], gi["compute_instances"][0]["uuid"])
                      for gi in sim_gpu["gpu_instances"])
        assert got == want
        # the profiles the module read from -lgip/-lgipp are the catalog's (free counts follow the layout)
        assert [(p["name"], p["id"], p["max_count"], p["placements"]) for p in gpu["profiles"]] == [
            (p.name, p.typical_id, p.max_count, {"starts": list(p.starts), "size": p.size}) for p in spec.profiles]
    assert [(p["pid"], p["gpu_instance_id"], p["compute_instance_id"]) for p in result["gpus"][1]["processes"]] == [
        (777, node.sim.layout(1)[0][2], 0)]
    assert "GPU0" in result["layout_diagram"] and "GPU1" in result["layout_diagram"]


def test_profiles_carry_ids_counts_and_placements(tmp_path, info):
    node = Node(tmp_path, "n", model="a30-24gb", gpus=1)
    result, failed = info(node)
    assert not failed, result.get("msg")
    profiles = result["gpus"][0]["profiles"]
    by_name = dict((p["name"], p) for p in profiles)
    for spec in catalog.gpu_model("a30-24gb").profiles:
        got = by_name[spec.name]
        assert (got["id"], got["max_count"], got["sm"]) == (spec.typical_id, spec.max_count, spec.sm)
        assert got["placements"] == {"starts": list(spec.starts), "size": spec.size}
        assert abs(got["memory_mib"] - float(spec.memory_gib) * 1024) < 6  # -lgip prints GiB with 2 decimals


def test_read_only_call_budget(tmp_path, info):
    node = Node(tmp_path, "n", model="h100-80gb", gpus=8, mig=True, layout=["7g.80gb"])
    result, failed = info(node, profiles=False)
    assert not failed
    assert [c["argv"] for c in node.calls()] == [["-q", "-x"], ["mig", "-lgi"], ["-L"]]
    assert result["nvidia_smi_calls"] == 3


def test_non_mig_gpus_are_reported_not_failed(tmp_path, info):
    node = Node(tmp_path, "n", models=["a10g-24gb", "h100-80gb"])
    result, failed = info(node)
    assert not failed, result.get("msg")
    assert [(g["name"], g["mig_capable"]) for g in result["gpus"]] == [
        ("NVIDIA A10G", False), ("NVIDIA H100 80GB HBM3", True)]
    assert result["gpus"][0]["instances"] == [] and result["gpus"][1]["mig_mode"]["current"] == "disabled"


def test_gpu_selection_and_unknown_gpu(tmp_path, info):
    node = Node(tmp_path, "n", model="h100-80gb", gpus=3)
    bus = node.sim.state()["gpus"][2]["bus_id"]
    result, failed = info(node, gpus=[bus], profiles=False)
    assert not failed and [g["index"] for g in result["gpus"]] == [2]
    result, failed = info(node, gpus=["GPU-nope"])
    assert failed and "GPU-nope" in result["msg"]


def test_pending_mode_change_is_reported_not_shown_as_disabled(tmp_path, info):
    # issue 14: an Ampere mode change left pending (a client held GPU 0) showed as "MIG disabled"
    node = Node(tmp_path, "n", model="a100-40gb", gpus=2)
    node.sim.set_gpu(0, clients=["nv-hostengine"])
    node.sim.run("-mig", "1")
    result, failed = info(node, profiles=False)
    assert not failed, result.get("msg")
    assert [g["mig_mode"] for g in result["gpus"]] == [
        {"current": "disabled", "pending": "enabled", "change_pending": True},
        {"current": "enabled", "pending": "enabled", "change_pending": False}]
    first = result["layout_diagram"].splitlines()[0]
    assert first == "GPU0 A100-SXM4-40GB MIG disabled (MIG enable pending: reset or reboot)"
    assert result["reboot_required"] is True
