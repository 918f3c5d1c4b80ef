# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_mig against the nvidia-smi simulator: idempotence, call budgets, busy slices, rollback, Ampere."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import os

import pytest

from ansible_collections.gpu_slicing.eks.plugins.modules import nvidia_mig
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import configs
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.nvidia_smi_harness import Node, run_module

BALANCED_H100 = {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}


@pytest.fixture
def apply(capsys):
    def run(node, check=False, diff=False, **args):
        args.setdefault("nvidia_smi_path", node.smi)
        args.setdefault("persist_path", node.persist_path)
        return run_module(capsys, nvidia_mig.main, args, check=check, diff=diff)
    return run


def _counts(node, gpu):
    return dict(collections.Counter(name for name, _start in node.layout(gpu)))


def test_from_scratch_then_converged(tmp_path, apply):
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=8)
    result, failed = apply(node, layout=BALANCED_H100)
    assert not failed, result["msg"] if failed else ""
    assert result["changed"] is True
    calls = node.calls()
    # -q -x, -lgip, -lgipp, one -mig for all GPUs, one -cgi for all GPUs (same tuples), read-back -q -x and -L
    assert len(calls) == 7, [c["argv"] for c in calls]
    assert [c["argv"] for c in calls if "-cgi" in c["argv"]] == [["mig", "-i", "0,1,2,3,4,5,6,7", "-cgi", "9:4,14:0,19:2,19:3", "-C"]]
    assert result["nvidia_smi_calls"] == len(calls)
    for gpu in range(8):
        assert _counts(node, gpu) == BALANCED_H100
    # the returned instances are the simulator's, with their MIG UUIDs
    first = result["gpus"][0]
    assert first["mig_mode"] == {"current": "enabled", "pending": "enabled", "change_pending": False}
    returned = dict(((i["profile"], i["placement"]["start"]), i["mig_uuid"]) for i in first["instances"])
    assert returned == node.mig_uuids(0)

    node.sim.clear_calls()
    result, failed = apply(node, layout=BALANCED_H100)
    assert not failed and result["changed"] is False
    assert len(node.calls()) <= 3
    assert node.mutating() == []
    assert result["actions"] == []


def test_check_mode_runs_only_read_only_commands(tmp_path, apply):
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=2)
    before = node.sim.state()
    result, failed = apply(node, check=True, layout=BALANCED_H100)
    assert not failed and result["changed"] is True
    assert node.mutating() == []
    assert node.sim.state() == before
    planned = [" ".join(a[1:]) for a in result["actions"]]
    assert planned[0] == "-i 0,1 -mig 1"
    assert [a for a in planned if "-cgi" in a] == ["mig -i 0,1 -cgi 9:4,14:0,19:2,19:3 -C"]
    assert all(c["argv"][0] in ("-q", "-L", "mig") for c in node.calls())


def test_kept_instances_are_untouched(tmp_path, apply):
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=1, mig=True, layout=[("3g.40gb", 4), ("7g.80gb", 0)][:1])
    node.sim.add_process(0, 4242, "trainer", at=("3g.40gb", 4))
    kept_uuid = node.mig_uuids(0)[("3g.40gb", 4)]
    result, failed = apply(node, layout=BALANCED_H100)
    assert not failed, result.get("msg")
    assert node.mig_uuids(0)[("3g.40gb", 4)] == kept_uuid
    assert not any("-dgi" in argv or "-dci" in argv for argv in node.mutating())
    assert _counts(node, 0) == BALANCED_H100


def test_busy_slice_is_refused_with_pids(tmp_path, apply):
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=1, mig=True, layout=["3g.40gb", "3g.40gb"])
    node.sim.add_process(0, 4242, "trainer", at=("3g.40gb", 4))
    node.sim.add_process(0, 4343, "notebook", at=("3g.40gb", 0))
    result, failed = apply(node, layout={"1g.10gb": 7})
    assert failed
    assert "4242" in result["msg"] and "4343" in result["msg"]
    assert node.mutating() == []
    assert _counts(node, 0) == {"3g.40gb": 2}


def test_force_on_a_busy_slice_meets_the_driver_refusal(tmp_path, apply):
    # force lets the module try; the driver still refuses to destroy a compute instance in use.
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=1, mig=True, layout=["3g.40gb", "3g.40gb"])
    node.sim.add_process(0, 4242, "trainer", at=("3g.40gb", 4))
    result, failed = apply(node, layout={"1g.10gb": 7}, force=True)
    assert failed
    assert "In use by another client" in result["msg"]
    assert node.mutating(), "force must attempt the destroy"
    assert ("3g.40gb", 4) in node.layout(0)


def _failed_create_on_gpu1(tmp_path, apply):
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=3, mig=True, layout=["7g.80gb"])
    node.sim.set_faults(fail_create_nth=6)  # GPU 0 creates 4 GIs; the 2nd GI on GPU 1 fails
    result, failed = apply(node, layout=BALANCED_H100)
    assert failed
    return node, result["msg"]


def test_failed_create_rolls_back_and_reports_every_gpu(tmp_path, apply):
    node, msg = _failed_create_on_gpu1(tmp_path, apply)
    assert "Unknown Error" in msg
    assert "rollback of GPU 1" in msg
    assert _counts(node, 0) == BALANCED_H100           # changed before the failure, and says so
    assert node.layout(1) == [("7g.80gb", 0)]          # previous layout restored
    state_now = msg.split("State now:")[1]
    for gpu in ("GPU0", "GPU1", "GPU2"):
        assert gpu in state_now


def test_failed_create_leaves_later_gpus_untouched(tmp_path, apply):
    # atomic per GPU: GPU 2 comes after the failing GPU 1 and must keep its layout
    node, msg = _failed_create_on_gpu1(tmp_path, apply)
    assert node.layout(2) == [("7g.80gb", 0)], msg


@pytest.mark.parametrize("where, message", [
    ("file/mig-layout.yaml", "is not a directory"),  # the parent is a regular file
    ("dir", "is a directory"),
])
def test_unwritable_persist_path_fails_before_any_change(tmp_path, apply, where, message):
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=1)
    (tmp_path / "file").write_text("not a directory")
    (tmp_path / "dir").mkdir()
    result, failed = apply(node, layout=BALANCED_H100, persist_path=str(tmp_path / where))
    assert failed
    assert message in result["msg"] and "Nothing was changed" in result["msg"]
    assert node.mutating() == []
    assert node.layout(0) == []


def test_batched_create_failing_on_a_later_gpu_keeps_the_finished_ones(tmp_path, apply):
    # from scratch all three GPUs share one -cgi; GPU 0 gets its 4 GIs, the 2nd GI on GPU 1 fails
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=3)
    node.sim.set_faults(fail_create_nth=6)
    result, failed = apply(node, layout=BALANCED_H100)
    assert failed
    assert [a for a in node.mutating() if "-cgi" in a][0][:3] == ["mig", "-i", "0,1,2"]
    assert _counts(node, 0) == BALANCED_H100
    assert node.layout(1) == [] and node.layout(2) == [], result["msg"]
    assert "rollback of GPU 1" in result["msg"] and "rollback of GPU 0" not in result["msg"]
    assert "GPUs finished before the failure: 0." in result["msg"]
    assert result["failed_gpus"] == [1, 2]
    # issue 14: the mode change is rolled back too (it used to leave GPUs 1, 2 in MIG mode with no instances)
    assert _modes(node) == [(True, True), (False, False), (False, False)]
    assert "set MIG mode back to disabled" in result["msg"]
    assert [g["mig_mode"]["current"] for g in result["gpus"]] == ["enabled", "disabled", "disabled"]


def test_gpus_with_different_creates_get_their_own_calls(tmp_path, apply):
    # GPU 1 already holds the 3g.40gb: it only needs the rest, so its -cgi differs from GPU 0's
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=2, mig=True, layout=[("3g.40gb", 4)])
    node.sim.run("mig", "-i", "0", "-dci")
    node.sim.run("mig", "-i", "0", "-dgi")
    node.sim.clear_calls()
    result, failed = apply(node, layout=BALANCED_H100)
    assert not failed, result.get("msg")
    creates = [a for a in node.mutating() if "-cgi" in a]
    assert creates == [["mig", "-i", "0", "-cgi", "9:4,14:0,19:2,19:3", "-C"], ["mig", "-i", "1", "-cgi", "14:0,19:2,19:3", "-C"]]
    assert _counts(node, 0) == _counts(node, 1) == BALANCED_H100


def _modes(node):
    return [(g["mig_current"], g["mig_pending"]) for g in node.sim.state()["gpus"]]


def test_ampere_on_bare_metal_switches_at_once_without_reset_or_reboot(tmp_path, apply):
    # issue 14 fact 1: "Enabled MIG Mode for GPU ..." on a bare-metal A100 means the mode is effective; the old
    # planner asked for a reboot (or ran -r) because of the architecture
    for allow_gpu_reset in (False, True):
        node = Node(tmp_path, "p4d-%s" % allow_gpu_reset, model="a100-40gb", gpus=2)
        result, failed = apply(node, layout={"3g.20gb": 2}, allow_gpu_reset=allow_gpu_reset)
        assert not failed, result.get("msg")
        assert result["reboot_required"] is False
        assert _modes(node) == [(True, True)] * 2
        assert not any("-r" in argv for argv in node.mutating())
        assert _counts(node, 0) == {"3g.20gb": 2} and _counts(node, 1) == {"3g.20gb": 2}
        assert len(node.calls()) == 7  # the "Enabled MIG Mode" lines are the confirmation: no re-read


def test_ampere_pending_in_use_is_reset_when_allowed(tmp_path, apply):
    # a client (e.g. DCGM) keeps GPU 1 busy while -mig runs; it is gone when the reset runs
    node = Node(tmp_path, "p4d", model="a100-40gb", gpus=2)
    node.sim.set_gpu(1, clients=["nv-hostengine"])
    node.sim.set_faults(release_clients_after="-mig")  # the client lets go once -mig has run
    result, failed = apply(node, layout={"3g.20gb": 2}, allow_gpu_reset=True)
    assert not failed, result.get("msg")
    assert [a[1:] for a in result["actions"] if "-r" in a] == [["-r", "-i", "1"]]
    assert result["reboot_required"] is False and _modes(node) == [(True, True)] * 2
    assert _counts(node, 1) == {"3g.20gb": 2}


def test_ampere_pending_with_a_refused_reset_reports_pending_everywhere(tmp_path, apply):
    # issue 14: a failed batched reset left pending GPUs with reboot_required false and "MIG disabled"
    node = Node(tmp_path, "p4d", model="a100-40gb", gpus=3)
    node.sim.set_gpu(1, clients=["nv-hostengine"])
    node.sim.set_gpu(2, clients=["nv-hostengine"])
    result, failed = apply(node, layout={"3g.20gb": 2}, allow_gpu_reset=True)
    assert not failed, result.get("msg")
    assert _modes(node) == [(True, True), (False, True), (False, True)]
    assert result["reboot_required"] is True
    assert _counts(node, 0) == {"3g.20gb": 2} and node.layout(1) == [] and node.layout(2) == []
    assert [g["mig_mode"]["change_pending"] for g in result["gpus"]] == [False, True, True]
    assert any("reset refused" in str(w) for w in result["warnings"])
    plan = dict((p["index"], p) for p in result["plan"])
    assert plan[1]["deferred_until_reboot"] and plan[1]["reboot_required"] and not plan[0]["reboot_required"]
    # the batch was refused naming both GPUs: no GPU is left to retry
    assert [a[1:] for a in result["actions"] if "-r" in a] == [["-r", "-i", "1,2"]]
    # the persisted file holds the desired layout: the boot service creates it once the reboot applied the mode
    node.sim.set_gpu(1, clients=[])
    node.sim.set_gpu(2, clients=[])
    node.sim.reboot()
    result, failed = apply(node, config=configs.PERSIST_LABEL, config_file=node.persist_path, persist=False)
    assert not failed, result.get("msg")
    assert all(_counts(node, g) == {"3g.20gb": 2} for g in range(3))


def test_ampere_in_a_vm_needs_a_reboot(tmp_path, apply):
    node = Node(tmp_path, "vm", model="a100-80gb", gpus=1, reset_supported=False)
    result, failed = apply(node, layout={"7g.80gb": 1})
    assert not failed, result.get("msg")
    assert result["reboot_required"] is True and _modes(node) == [(False, True)]
    assert not any("-cgi" in argv for argv in node.mutating())
    assert result["gpus"][0]["mig_mode"] == {"current": "disabled", "pending": "enabled", "change_pending": True}
    assert result["plan"][0]["deferred_until_reboot"] is True


def test_check_mode_says_a_reset_may_be_needed(tmp_path, apply):
    node = Node(tmp_path, "p4d", model="a100-40gb", gpus=1)
    result, failed = apply(node, check=True, layout={"3g.20gb": 2})
    assert not failed and result["reboot_required"] is False
    assert result["plan"][0]["reset_may_be_needed"] is True
    assert any("reset or reboot may be needed" in str(w) for w in result["warnings"])
    assert [a[1:] for a in result["actions"]] == [["-i", "0", "-mig", "1"], ["mig", "-i", "0", "-cgi", "9:0,9:4", "-C"]]


def test_non_mig_gpu_is_skipped(tmp_path, apply):
    node = Node(tmp_path, "mixed", models=["h100-80gb", "a10g-24gb"])
    result, failed = apply(node, layout={"7g.80gb": 1})
    assert not failed, result.get("msg")
    assert [(s["index"], s["reason"]) for s in result["skipped_gpus"]] == [(1, "not MIG capable")]
    assert node.layout(0) == [("7g.80gb", 0)]
    assert not any("1" in argv[argv.index("-i") + 1].split(",") for argv in node.mutating() if "-i" in argv)


@pytest.mark.parametrize("model,config,expected", [
    ("h100-80gb", "all-balanced", {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}),
    ("h100-80gb", "all-1g.10gb", {"1g.10gb": 7}),
    ("a100-40gb", "all-1g.10gb", {"1g.10gb": 4}),
    ("h200-141gb", "all-balanced", {"1g.18gb": 2, "2g.35gb": 1, "3g.71gb": 1}),
])
def test_builtin_config_by_name(tmp_path, apply, model, config, expected):
    node = Node(tmp_path, "n", model=model, gpus=2, mig=True)
    result, failed = apply(node, config=config)
    assert not failed, result.get("msg")
    assert _counts(node, 0) == expected and _counts(node, 1) == expected


def test_config_file_and_persisted_file(tmp_path, apply):
    node = Node(tmp_path, "n", model="h100-80gb", gpus=2)
    config_file = tmp_path / "mig.yaml"
    config_file.write_text(
        "version: v1\nmig-configs:\n  mine:\n    - devices: [0]\n      mig-enabled: true\n"
        "      mig-devices:\n        4g.40gb: 1\n        3g.40gb: 1\n    - devices: [1]\n      mig-enabled: false\n")
    result, failed = apply(node, config="mine", config_file=str(config_file))
    assert not failed, result.get("msg")
    assert _counts(node, 0) == {"4g.40gb": 1, "3g.40gb": 1}
    assert [g["mig_current"] for g in node.sim.state()["gpus"]] == [True, False]
    # the persisted file re-applies to the same state: converged, no mutating call
    with open(node.persist_path) as handle:
        data, _loader = configs.load_config_text(handle.read())
    assert list(data["mig-configs"]) == [configs.PERSIST_LABEL]
    node.sim.clear_calls()
    result, failed = apply(node, config=configs.PERSIST_LABEL, config_file=node.persist_path, persist=False)
    assert not failed and result["changed"] is False and node.mutating() == []


def test_diff_shows_slot_diagrams(tmp_path, apply):
    node = Node(tmp_path, "n", model="h100-80gb", gpus=1, mig=True, layout=["7g.80gb"])
    result, failed = apply(node, check=True, diff=True, layout=BALANCED_H100)
    assert not failed
    before, after = result["diff"]["before"], result["diff"]["after"]
    assert "7g.80gb" in before and "7g.80gb" not in after
    assert "3g.40gb" in after and "2g.20gb" in after and after.count("[1g ]") == 2
    assert before.startswith("GPU0 H100") and after.startswith("GPU0 H100")


def test_disable_destroys_instances_then_mode(tmp_path, apply):
    node = Node(tmp_path, "n", model="h100-80gb", gpus=1, mig=True, layout=["3g.40gb", "2g.20gb"])
    result, failed = apply(node, mig_mode="disabled")
    assert not failed, result.get("msg")
    state = node.sim.state()["gpus"][0]
    assert (state["mig_current"], state["gpu_instances"]) == (False, [])


def _plain(node, tmp_path):
    return {}


def _busy_mig(node, tmp_path):
    node.sim.apply_layout([("3g.40gb", 4), ("3g.40gb", 0)])
    node.sim.add_process(0, 4242, "trainer", at=("3g.40gb", 4))
    return {}


def _busy_gpu(node, tmp_path):
    node.sim.add_process(0, 5151, "xorg")
    return {}


def _config_file(text):
    def setup(node, tmp_path):
        path = tmp_path / "mig-config.yaml"
        path.write_text(text)
        return {"config_file": str(path)}
    return setup


TWO_LABELS = ("version: v1\nmig-configs:\n  a:\n    - devices: all\n      mig-enabled: false\n"
              "  b:\n    - devices: all\n      mig-enabled: false\n")


@pytest.mark.parametrize("setup,args,words", [
    (_plain, {"layout": {"9g.99gb": 1}}, ["9g.99gb", "1g.10gb"]),                 # unknown profile lists valid ones
    (_plain, {"layout": {"4g.40gb": 1, "3g.40gb": 1, "1g.10gb": 1}}, ["4g.40gb", "3g.40gb", "1g.10gb"]),  # infeasible
    (_plain, {"layout": {"4g.40gb": 1, "2g.20gb": 3}}, ["needs 10 memory slots"]),
    (_plain, {"layout": {"1g.10gb": 8}}, ["1g.10gb"]),                             # over max count
    (_plain, {"layout": {"1g.10gb+me": 2}}, ["1g.10gb+me"]),
    (_plain, {"layout": {"1g.10gb": -1}}, ["must not be negative"]),
    (_plain, {"layout": {"1g.10gb": True}}, ["must be an integer"]),
    (_plain, {"layout": ["ten-gig"]}, ["is not a MIG profile name"]),
    (_plain, {"layout": "1g.10gb"}, ["layout"]),
    (_plain, {"layout": {"1g.10gb": 1}, "gpus": ["9"]}, ["9"]),                   # unknown GPU
    (_plain, {"layout": {"1g.10gb": 1}, "gpus": ["GPU-nope"]}, ["no GPU matches", "GPU-nope"]),
    (_plain, {"config": "all-no-such-label"}, ["all-no-such-label"]),
    (_plain, {"layout": {"1g.10gb": 1}, "mig_mode": "disabled"}, ["disabled"]),
    (_config_file("version: v2\nmig-configs: {}\n"), {"config": "a"}, ["version must be 'v1'"]),
    (_config_file(TWO_LABELS), {"config": "nope"}, ["unknown config label 'nope'"]),
    (lambda node, tmp_path: {"config_file": str(tmp_path / "missing.yaml")}, {"config": "a"}, ["cannot be read"]),
    (_busy_mig, {"layout": {"1g.10gb": 7}}, ["4242"]),                           # busy slice would be destroyed
    (_busy_mig, {"mig_mode": "disabled"}, ["4242"]),
    (_busy_gpu, {"layout": {"7g.80gb": 1}}, ["5151"]),                           # MIG enable needs an idle GPU
])
def test_bad_input_changes_nothing(tmp_path, apply, setup, args, words):
    node = Node(tmp_path, "n", model="h100-80gb", gpus=1)
    args = dict(args, **setup(node, tmp_path))
    before = node.sim.state()
    result, failed = apply(node, **args)
    assert failed
    for word in words:
        assert word in result["msg"], result["msg"]
    assert node.mutating() == []
    assert node.sim.state() == before
    assert not os.path.exists(node.persist_path)


@pytest.mark.parametrize("model,layout", [("h100-80gb", BALANCED_H100), ("a100-80gb", {"4g.40gb": 1, "3g.40gb": 1})])
def test_persisted_layout_is_reapplied_after_reboot(tmp_path, apply, model, layout):
    node = Node(tmp_path, "n", model=model, gpus=2, mig=True)
    result, failed = apply(node, layout=layout)
    assert not failed, result.get("msg")
    placements = [node.layout(0), node.layout(1)]
    node.sim.reboot()  # instances vanish; Hopper also loses MIG mode, Ampere keeps it
    assert node.layout(0) == [] and node.layout(1) == []
    # what the boot-time service runs: the persisted mig-parted file, nothing else
    result, failed = apply(node, config=configs.PERSIST_LABEL, config_file=node.persist_path, persist=False)
    assert not failed, result.get("msg")
    assert result["changed"] is True and result["reboot_required"] is False
    assert [node.layout(0), node.layout(1)] == placements


def test_r450_wording_is_read_back_instead_of_failing_after_the_create(tmp_path, apply):
    # issue 14 fact 6: "Successfully created GPU instance on GPU  0 using profile ID  9" has no instance id; the
    # module failed AFTER creating, leaving instances it could not account for
    node = Node(tmp_path, "r450", model="h100-80gb", gpus=2, driver="450.80.02")
    result, failed = apply(node, layout=BALANCED_H100)
    assert not failed, result.get("msg")
    assert any("read back" in str(w) for w in result["warnings"])
    for gpu in (0, 1):
        assert _counts(node, gpu) == BALANCED_H100
        got = sorted((i["profile"], i["placement"]["start"], i["gpu_instance_id"]) for i in result["gpus"][gpu]["instances"])
        assert got == sorted(node.sim.layout(gpu))


def test_r450_wording_with_a_failed_create_rolls_back_what_the_output_did_not_name(tmp_path, apply):
    node = Node(tmp_path, "r450", model="h100-80gb", gpus=1, driver="450.80.02")
    node.sim.set_faults(fail_create_nth=3)
    result, failed = apply(node, layout=BALANCED_H100)
    assert failed
    assert node.layout(0) == [] and _modes(node) == [(False, False)], result["msg"]
    assert "rollback of GPU 0: destroyed GPU instances" in result["msg"]


def test_persisted_file_describes_the_state_left_after_a_failure(tmp_path, apply):
    # issue 14: after a mid-run failure the file kept the old layout for GPUs that had finished
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=3)
    result, failed = apply(node, layout={"7g.80gb": 1})
    assert not failed, result.get("msg")
    node.sim.set_faults(fail_create_nth=6)  # GPU 0 finishes its rebuild, GPU 1 fails, GPU 2 never starts
    result, failed = apply(node, layout=BALANCED_H100)
    assert failed
    assert _counts(node, 0) == BALANCED_H100 and _counts(node, 1) == _counts(node, 2) == {"7g.80gb": 1}
    assert "now describes that state" in result["msg"]
    with open(node.persist_path) as handle:
        data, _loader = configs.load_config_text(handle.read())
    entries = configs.select_entries(data, configs.PERSIST_LABEL)
    assert [dict(e["mig_devices"]) for e in entries] == [BALANCED_H100, {"7g.80gb": 1}, {"7g.80gb": 1}]
    # and the boot service applying it after a reboot rebuilds exactly that
    node.sim.reboot()
    result, failed = apply(node, config=configs.PERSIST_LABEL, config_file=node.persist_path, persist=False)
    assert not failed, result.get("msg")
    assert [_counts(node, g) for g in range(3)] == [BALANCED_H100, {"7g.80gb": 1}, {"7g.80gb": 1}]


def _sim_processes(state_path):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as handle:
                if ("NVIDIA_SMI_SIM_STATE=%s" % state_path).encode() in handle.read().split(b"\0"):
                    found.append(int(pid))
        except (IOError, OSError):
            continue
    return found


def test_hung_nvidia_smi_times_out_is_killed_and_rolled_back(tmp_path, apply):
    # issue 14: no timeout on nvidia-smi, a hung call blocked forever
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=2)
    node.sim.set_faults(hang="-cgi")
    result, failed = apply(node, layout=BALANCED_H100, timeout=2)
    assert failed
    assert "timed out after 2 s (process group killed)" in result["msg"]
    assert _sim_processes(node.sim.path) == []
    assert _modes(node) == [(False, False)] * 2 and node.layout(0) == node.layout(1) == []
    assert result["failed_gpus"] == [0, 1]
