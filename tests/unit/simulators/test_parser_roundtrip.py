# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine's nvidia-smi parsers read back what the simulator prints, for every model and state."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi as parse
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog

MODELS = ["a100-40gb", "a100-80gb", "h100-80gb", "h100-nvl-94gb", "h200-141gb", "a30-24gb"]


def _balanced(model):
    """One of each of the 1-slot, 2-slot and (on 8-slot parts) 4-slot profiles, plus a second 1-slot."""
    profiles = catalog.gpu_model(model).profiles
    if model == "a30-24gb":
        return [profiles[0].name, profiles[0].name, profiles[2].name]
    return [profiles[0].name, profiles[0].name, profiles[3].name, profiles[4].name]


def _states(make_node, model):
    yield "disabled", make_node(model=model, gpus=2)[0]
    yield "enabled-empty", make_node(model=model, gpus=2, mig=True)[0]
    node = make_node(model=model, gpus=2, mig=True, layout=_balanced(model))[0]
    yield "layout", node
    busy = make_node(model=model, gpus=2, mig=True, layout=_balanced(model))[0]
    busy.add_process(1, 4242, "python3", gi=busy.layout(1)[0][2], ci=0, memory_mib=2048)
    yield "busy", busy


def _out(node, *argv):
    output, rc = node.run(*argv)
    assert rc == 0, output
    return output


@pytest.mark.parametrize("model", MODELS)
def test_roundtrip(make_node, model):
    spec = catalog.gpu_model(model)
    for label, node in _states(make_node, model):
        state = node.state()
        gpus = parse.parse_query_xml(_out(node, "-q", "-x"))
        assert [(g.index, g.uuid, g.name, g.pci_bus_id, g.pci_device_id) for g in gpus] == [
            (s["index"], s["uuid"], spec.product_name, s["bus_id"], spec.pci_device_ids[0]) for s in state["gpus"]], label
        assert [(g.mig_current, g.mig_pending) for g in gpus] == [
            (("Enabled" if s["mig_current"] else "Disabled"), ("Enabled" if s["mig_pending"] else "Disabled"))
            for s in state["gpus"]], label
        assert [sorted((p.pid, p.gi_id, p.ci_id) for p in g.processes) for g in gpus] == [
            sorted((p["pid"], p["gi"], p["ci"]) for p in s["processes"]) for s in state["gpus"]], label

        profiles = parse.merge_profiles(parse.parse_lgip(_out(node, "mig", "-lgip")),
                                        parse.parse_lgipp(_out(node, "mig", "-lgipp")))
        for index in (0, 1):
            assert [(p.name, p.id, p.max_count, tuple(p.starts), p.size, p.sm) for p in profiles[index]] == [
                (p.name, p.typical_id, p.max_count, p.starts, p.size, p.sm) for p in spec.profiles], label

        lgi = parse.parse_lgi(_out(node, "mig", "-lgi"))
        lci = parse.parse_lci(_out(node, "mig", "-lci"))
        listing = parse.parse_list(_out(node, "-L"))
        for s in state["gpus"]:
            want = sorted((gi["profile"], gi["profile_id"], gi["start"], gi["size"], gi["id"]) for gi in s["gpu_instances"])
            got = sorted((gi.profile_name, gi.profile_id, gi.start, gi.size, gi.gi_id) for gi in lgi.get(s["index"], []))
            assert got == want, label
            want_ci = sorted((gi["id"], ci["id"], ci["profile_id"]) for gi in s["gpu_instances"] for ci in gi["compute_instances"])
            got_ci = sorted((gi_id, ci.ci_id, ci.profile_id) for gi_id, cis in lci.get(s["index"], {}).items() for ci in cis)
            assert got_ci == want_ci, label
            uuids = sorted(d["uuid"] for d in listing[s["index"]]["mig_devices"])
            assert uuids == sorted(ci["uuid"] for gi in s["gpu_instances"] for ci in gi["compute_instances"]), label

        rows = parse.parse_query_csv(_out(node, "--query-gpu=index,uuid,pci.device_id,memory.total,mig.mode.current",
                                          "--format=csv"))
        assert [(r["index"], r["uuid"], r["memory.total"]) for r in rows] == [
            (str(s["index"]), s["uuid"], str(spec.memory_mib)) for s in state["gpus"]], label
        fields = ("index", "mig.mode.current", "mig.mode.pending")
        rows = parse.parse_query_csv(_out(node, "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"), fields)
        assert [r["index"] for r in rows] == ["0", "1"]


def test_assemble_state_joins_instances_and_uuids(make_node):
    node, _smi = make_node(model="h100-80gb", gpus=1, mig=True, layout=["3g.40gb", "2g.20gb", "1g.10gb"])
    gpus = parse.assemble_state(parse.parse_query_xml(_out(node, "-q", "-x")), _out(node, "mig", "-lgi"), _out(node, "-L"))
    state = node.state()["gpus"][0]
    want = sorted((gi["profile"], gi["start"], gi["compute_instances"][0]["uuid"]) for gi in state["gpu_instances"])
    assert sorted((gi.profile_name, gi.start, gi.mig_uuid) for gi in gpus[0].instances) == want


def test_non_mig_gpu_parses_as_not_capable(make_node):
    node, _smi = make_node(models=["a10g-24gb", "h100-80gb"])
    gpus = parse.parse_query_xml(_out(node, "-q", "-x"))
    assert [(g.name, g.mig_capable) for g in gpus] == [("NVIDIA A10G", False), ("NVIDIA H100 80GB HBM3", True)]
    output, rc = node.run("mig", "-lgip", "-i", "0")
    assert rc == 6 and parse.parse_lgip(output) == {}


def test_create_and_pending_output(make_node):
    node, _smi = make_node(model="a100-80gb", gpus=1, reset_supported=False)
    output, rc = node.run("-i", "0", "-mig", "1")
    assert rc == 0 and parse.parse_pending_mode(output) == {node.state()["gpus"][0]["bus_id"]: "enable"}
    node.reboot()
    output, rc = node.run("mig", "-i", "0", "-cgi", "9:4,14:0,19:3", "-C")
    assert rc == 0
    ids = [node.gi_id(0, "3g.40gb", 4), node.gi_id(0, "2g.20gb", 0), node.gi_id(0, "1g.10gb", 3)]
    assert parse.parse_created_gis(output) == [(0, ids[0], "3g.40gb", 9), (0, ids[1], "2g.20gb", 14), (0, ids[2], "1g.10gb", 19)]
    assert parse.parse_created_cis(output) == [(0, ids[0], 0, "3g.40gb", 2), (0, ids[1], 0, "2g.20gb", 1), (0, ids[2], 0, "1g.10gb", 0)]
