# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator enforces the real driver's rules (placements, counts, busy, pending mode, faults)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess

import pytest

from ansible_collections.gpu_slicing.eks.tests.simulators import nvidia_smi_sim as sim


def _gis(node, gpu=0):
    return [(name, start) for name, start, _gi in node.layout(gpu)]


def test_no_state_env_is_a_clear_error(make_node):
    node, _smi = make_node()
    env = dict(os.environ)
    env.pop(sim.STATE_ENV, None)
    proc = subprocess.run([node.executable, "-L"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    assert proc.returncode == 9 and proc.stdout == ""
    assert "NVIDIA_SMI_SIM_STATE" in proc.stderr


def test_mig_commands_fail_while_mig_disabled(make_node):
    node, smi = make_node()
    rc, out, dummy = smi("mig", "-cgi", "19", "-C", "-i", "0")
    assert rc == 3 and "Not Supported" in out
    assert node.layout() == []
    assert smi("mig", "-lgi") == (0, "No MIG-enabled devices found.\n", "")


def test_hopper_mode_switches_at_once(make_node):
    node, smi = make_node()
    rc, out, dummy = smi("-i", "0", "-mig", "1")
    assert rc == 0 and out == "Enabled MIG Mode for GPU 00000000:53:00.0\nAll done.\n"
    assert smi("--query-gpu=mig.mode.current,mig.mode.pending", "--format=csv,noheader")[1] == "Enabled, Enabled\n"
    assert smi("mig", "-lgi") == (0, "No GPU instances found.\n", "")


def test_driver_placement_trap_and_explicit_placements(make_node):
    # mig.md 4.2: "-cgi 19,19,14,9" fails with Insufficient Resources, "9,19,14,19" works
    node, smi = make_node(mig=True)
    rc, out, dummy = smi("mig", "-i", "0", "-cgi", "19,19,14,9", "-C")
    assert rc == 23
    assert out.endswith("Unable to create a GPU instance on GPU  0 using profile 9: Insufficient Resources\n"
                        "Failed to create GPU instances: Insufficient Resources\n")
    assert _gis(node) == [("1g.10gb", 5), ("1g.10gb", 6), ("2g.20gb", 2)]  # no rollback, like the driver
    assert smi("mig", "-dci")[0] == 0 and smi("mig", "-dgi")[0] == 0
    rc, out, dummy = smi("mig", "-i", "0", "-cgi", "9,19,14,19", "-C")
    assert rc == 0, out
    assert _gis(node) == [("1g.10gb", 2), ("1g.10gb", 3), ("2g.20gb", 0), ("3g.40gb", 4)]
    assert smi("mig", "-dci")[0] == 0 and smi("mig", "-dgi")[0] == 0
    rc, out, dummy = smi("mig", "-i", "0", "-cgi", "19:0,19:1,14:2,9:4", "-C")
    assert rc == 0, out
    assert "Successfully created GPU instance ID  7 on GPU  0 using profile MIG 1g.10gb (ID 19)\n" in out
    assert "Successfully created GPU instance ID  2 on GPU  0 using profile MIG 3g.40gb (ID  9)\n" in out
    assert "Successfully created compute instance ID  0 on GPU  0 GPU instance ID  2 using profile MIG 3g.40gb (ID  2)\n" in out
    assert node.layout() == [
        ("1g.10gb", 0, 7), ("1g.10gb", 1, 8), ("2g.20gb", 2, 4), ("3g.40gb", 4, 2)]


@pytest.mark.parametrize("tuples,rc,error", [
    ("9:2", 2, "Invalid Argument"),          # not a valid start of 3g.40gb
    ("1", 2, "Invalid Argument"),            # profile id 1 does not exist (seed tutorial mistake)
    ("2g.99gb", 2, "Invalid Argument"),      # unknown name
    ("9:4,14:4", 23, "Insufficient Resources"),  # overlap
    ("20,20", 23, "Insufficient Resources"),     # only one 1g.10gb+me
    ("19,19,19,19,19,19,19,19", 23, "Insufficient Resources"),  # 7 of 1g.10gb at most
    ("5,9,19", 23, "Insufficient Resources"),    # 4g + 3g use all 7 compute slices
])
def test_create_errors(make_node, tuples, rc, error):
    node, smi = make_node(mig=True)
    got_rc, out, dummy = smi("mig", "-i", "0", "-cgi", tuples)
    assert got_rc == rc
    assert out.endswith("Failed to create GPU instances: %s\n" % error)


def test_names_and_mig_prefix_are_accepted(make_node):
    node, smi = make_node(mig=True)
    assert smi("mig", "-i", "0", "-cgi", "3g.40gb:0,MIG 3g.40gb:4")[0] == 0
    assert _gis(node) == [("3g.40gb", 0), ("3g.40gb", 4)]


def test_lgip_free_counts_follow_occupancy(make_node):
    node, smi = make_node(mig=True)
    assert smi("mig", "-i", "0", "-cgi", "9:4", "-C")[0] == 0
    rc, out, dummy = smi("mig", "-lgip")
    free = dict((line.split()[3], line.split()[5]) for line in out.splitlines() if " MIG " in line)
    assert free == {"1g.10gb": "4/7", "1g.10gb+me": "1/1", "1g.20gb": "2/4", "2g.20gb": "2/3", "3g.40gb": "1/2",
                    "4g.40gb": "1/1", "7g.80gb": "0/1"}


def test_profile_ids_are_per_model(make_node):
    # A30: id 14 is 1g.6gb and 5 is 2g.12gb (on A100 id 14 is 2g.10gb)
    node, smi = make_node(model="a30-24gb", mig=True)
    rc, out, dummy = smi("mig", "-i", "0", "-cgi", "14,5", "-C")
    assert rc == 0, out
    assert sorted(n for n, _s in _gis(node)) == ["1g.6gb", "2g.12gb"]
    rc, out, dummy = smi("mig", "-lgipp")
    assert out == ("GPU  0 Profile ID 14 Placements: {0,1,2,3}:1\nGPU  0 Profile ID 21 Placements: {0,1,2,3}:1\n"
                   "GPU  0 Profile ID  5 Placements: {0,2}:2\nGPU  0 Profile ID  0 Placement : {0}:4\n")


def test_gi_with_compute_instances_cannot_be_destroyed(make_node):
    node, smi = make_node(mig=True)
    node.apply_layout([("3g.40gb", 4)])
    gi = node.layout()[0][2]
    rc, out, dummy = smi("mig", "-i", "0", "-dgi", "-gi", gi)
    assert rc == 19
    assert "Unable to destroy GPU instance ID  2 from GPU  0: In use by another client\n" in out
    assert len(node.layout()) == 1


def test_busy_compute_instance_blocks_destroy_and_mode_change(make_node):
    node, smi = make_node(mig=True)
    node.apply_layout([("3g.40gb", 4), ("3g.40gb", 0)])
    node.add_process(0, 4242, "python3", gi=2, ci=0)
    rc, out, dummy = smi("mig", "-i", "0", "-dci")
    assert rc == 19
    assert "Unable to destroy compute instance ID  0 from GPU  0 GPU instance ID  2: In use by another client\n" in out
    assert "Successfully destroyed compute instance ID  0 from GPU  0 GPU instance ID  1\n" in out
    assert smi("-i", "0", "-mig", "0")[0] == 19
    rc, out, dummy = smi("-q", "-x")
    assert "<gpu_instance_id>2</gpu_instance_id>\n\t\t\t\t<compute_instance_id>0</compute_instance_id>\n\t\t\t\t<pid>4242</pid>" in out
    node.remove_process(4242)
    assert smi("mig", "-i", "0", "-dci")[0] == 0
    assert smi("mig", "-i", "0", "-dgi")[0] == 0
    assert smi("-i", "0", "-mig", "0")[0] == 0


def test_ampere_mode_change_pends_until_reset(make_node):
    node, smi = make_node(model="a100-40gb", gpus=2)
    rc, out, dummy = smi("-i", "0", "-mig", "1")
    assert rc == 0
    assert out.startswith("Warning: MIG mode is in pending enable state for GPU 00000000:53:00.0:Not Supported\n")
    query = ("--query-gpu=index,mig.mode.current,mig.mode.pending", "--format=csv,noheader")
    assert smi(*query)[1] == "0, Disabled, Enabled\n1, Disabled, Disabled\n"
    assert smi("mig", "-i", "0", "-cgi", "19")[0] == 3  # still not in MIG mode
    node.add_process(0, 77, "dcgm")
    rc, out, dummy = smi("-r", "-i", "0")
    assert rc == 19 and "GPU 00000000:53:00.0: In use by another client" in out
    node.remove_process(77)
    rc, out, dummy = smi("-r", "-i", "0")
    assert (rc, out) == (0, "GPU 00000000:53:00.0 was successfully reset.\nAll done.\n")
    assert smi(*query)[1] == "0, Enabled, Enabled\n1, Disabled, Disabled\n"


def test_hopper_mode_change_refused_with_processes(make_node):
    node, smi = make_node()
    node.add_process(0, 99, "python3")
    rc, out, dummy = smi("-i", "0", "-mig", "1")
    assert rc == 19 and "In use by another client" in out
    assert smi("--query-gpu=mig.mode.current", "--format=csv,noheader")[1] == "Disabled\n"


def test_non_mig_gpu(make_node):
    node, smi = make_node(model="a10g-24gb", gpus=2)
    assert smi("mig", "-lgip") == (6, "No MIG-supported devices found.\n", "")
    assert smi("--query-gpu=name,mig.mode.current,pci.device_id", "--format=csv,noheader")[1] == (
        "NVIDIA A10G, [N/A], 0x223710DE\n" * 2)
    rc, out, dummy = smi("-i", "1", "-mig", "1")
    assert rc == 3 and "Unable to enable MIG Mode for GPU 00000000:64:00.0: Not Supported" in out


def test_mixed_node_enables_capable_gpus_only(make_node):
    node, smi = make_node(models=["h100-80gb", "a10g-24gb"])
    rc, out, dummy = smi("-mig", "1")
    assert rc == 0
    assert "Treating as warning and moving on." in out
    assert [(g["mig_current"]) for g in node.state()["gpus"]] == [True, False]
    rc, out, dummy = smi("mig", "-lgipp")
    assert all(line.startswith("GPU  0 ") for line in out.splitlines())


def test_device_selection_by_index_uuid_and_bus_id(make_node):
    node, smi = make_node(gpus=3)
    uuid = node.state()["gpus"][2]["uuid"]
    query = ("--query-gpu=index", "--format=csv,noheader")
    assert smi("-i", uuid, *query)[1] == "2\n"
    assert smi("-i", "0000:64:00.0", *query)[1] == "1\n"
    assert smi("--id=0,2", *query)[1] == "0\n2\n"
    assert smi("-i", "7", *query) == (6, "No devices were found\n", "")


def test_query_field_errors(make_node):
    _node, smi = make_node()
    rc, out, dummy = smi("--query-gpu=index,bogus", "--format=csv")
    assert rc == 2 and 'Field "bogus" is not a valid field to query.' in out
    rc, out, dummy = smi("--query-gpu=fan.speed", "--format=csv")
    assert rc == 2 and "not implemented by the nvidia-smi simulator" in out
    assert smi("--query-gpu=index", "--format=json")[0] == 2
    assert smi("--bogus")[0] == 2


def test_query_compute_apps(make_node):
    node, smi = make_node()
    assert smi("--query-compute-apps=pid,process_name,used_memory", "--format=csv") == (
        0, "pid, process_name, used_gpu_memory [MiB]\n".replace("used_gpu_memory", "used_memory"), "")
    node.add_process(0, 4242, "python3", memory_mib=1024)
    assert smi("--query-compute-apps=pid,gpu_uuid,used_gpu_memory", "--format=csv,noheader,nounits")[1] == (
        "4242, %s, 1024\n" % node.state()["gpus"][0]["uuid"])
    assert smi("--query-gpu=memory.used", "--format=csv,noheader")[1] == "1024 MiB\n"


def test_fail_nth_create_is_one_shot(make_node):
    node, smi = make_node(mig=True)
    node.set_faults(fail_create_nth=2)
    rc, out, dummy = smi("mig", "-i", "0", "-cgi", "9:0,9:4", "-C")
    assert rc == 255
    assert out.endswith("Unable to create a GPU instance on GPU  0 using profile 9: Unknown Error\n"
                        "Failed to create GPU instances: Unknown Error\n")
    assert _gis(node) == [("3g.40gb", 0)]
    assert smi("mig", "-i", "0", "-cgi", "9:4", "-C")[0] == 0


def test_fail_destroy(make_node):
    node, smi = make_node(mig=True)
    node.apply_layout(["1g.10gb"])
    node.set_faults(fail_destroy=True, error="In use by another client")
    assert smi("mig", "-dci")[0] == 19
    node.set_faults(clear=True)
    assert smi("mig", "-dci")[0] == 0


def test_call_log_counts_and_classifies(make_node):
    node, smi = make_node(mig=True)
    smi("-L")
    smi("mig", "-i", "0", "-cgi", "19:0", "-C")
    smi("mig", "-i", "0", "-cgi", "20:0")  # fails: slot taken
    calls = node.calls()
    assert [(c["argv"][:2], c["mutating"], c["changed"], c["rc"]) for c in calls] == [
        (["-L"], False, False, 0), (["mig", "-i"], True, True, 0), (["mig", "-i"], True, False, 23)]


def test_parallel_invocations_are_serialised(make_node):
    node, _smi = make_node(mig=True)
    procs = [subprocess.Popen([node.executable, "mig", "-i", "0", "-cgi", "19", "-C"], env=node.env(),
                              stdout=subprocess.PIPE, universal_newlines=True) for dummy in range(8)]
    rcs = sorted(p.wait() for p in procs)
    for proc in procs:
        proc.stdout.close()
    assert rcs == [0] * 7 + [23]
    assert sorted(s for _n, s in _gis(node)) == list(range(7))
    assert len(node.calls()) == 8


def test_wrapper_and_control_cli(tmp_path):
    ctl = os.path.join(os.path.dirname(sim.__file__), "nvidia-smi-sim")
    state = str(tmp_path / "n.json")

    def run(*argv):
        return subprocess.run([ctl] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False)

    assert run("init", "--state", state, "--model", "h200-141gb", "--gpus", "2", "--mig", "enabled",
               "--layout", "3g.71gb,1g.18gb:0").returncode == 0
    assert run("add-process", "--state", state, "--gpu", "0", "--pid", "5").returncode == 2  # MIG GPU: needs --gi/--ci
    assert run("add-process", "--state", state, "--gpu", "0", "--gi", "2", "--ci", "0", "--pid", "5").returncode == 0
    assert run("fault", "--state", state).returncode == 2
    assert run("init", "--state", state, "--model", "h200-141gb", "--layout", "7g.141gb,1g.18gb").returncode == 2
    wrapper = run("wrapper", "--state", state, "--out", str(tmp_path / "nvidia-smi")).stdout.strip()
    env = dict(os.environ)
    env.pop(sim.STATE_ENV, None)
    out = subprocess.run([wrapper, "-L"], env=env, stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    assert out.count("MIG 3g.71gb     Device") == 2 and out.count("MIG 1g.18gb     Device") == 2
    shown = json.loads(run("show", "--state", state).stdout)
    assert shown["gpus"][0]["processes"][0]["pid"] == 5
    assert run("calls", "--state", state, "--count").stdout.strip() == "1"


def test_compute_instances_inside_a_gpu_instance(make_node):
    node, smi = make_node(mig=True)
    assert smi("mig", "-i", "0", "-cgi", "9:0")[0] == 0  # a 3g GI without compute instances
    rc, out, dummy = smi("mig", "-i", "0", "-lcip", "-gi", "1")
    assert rc == 0
    rows = [line.split() for line in out.splitlines() if " MIG " in line]
    assert [(r[4], r[5], r[6]) for r in rows] == [
        ("1c.3g.40gb", "0", "3/3"), ("2c.3g.40gb", "1", "1/1"), ("3g.40gb", "2*", "1/1")]
    rc, out, dummy = smi("mig", "-i", "0", "-cci", "0,0,0", "-gi", "1")
    assert rc == 0 and out.count("Successfully created compute instance ID") == 3
    assert "Successfully created compute instance ID  2 on GPU  0 GPU instance ID  1 using profile MIG 1c.3g.40gb (ID  0)" in out
    assert smi("mig", "-i", "0", "-cci", "-gi", "1")[0] == 23  # no room left for the default 3-slice CI
    rc, out, dummy = smi("mig", "-i", "0", "-dci", "-gi", "1", "-ci", "1")
    assert (rc, out) == (0, "Successfully destroyed compute instance ID  1 from GPU  0 GPU instance ID  1\n")
    rc, out, dummy = smi("mig", "-lci")
    assert [(line.split()[6], line.split()[7]) for line in out.splitlines() if " MIG " in line] == [("0", "0:1"), ("2", "2:1")]
    rc, out, dummy = smi("-L")
    assert out.count("MIG 1c.3g.40gb  Device") == 2


@pytest.mark.parametrize("model,mode_after", [("h100-80gb", (False, False)), ("a100-80gb", (True, True))])
def test_reboot_loses_instances_and_hopper_mode(make_node, model, mode_after):
    node, smi = make_node(model=model, mig=True, layout=["7g.80gb"])
    node.add_process(0, 1, "python3", gi=0, ci=0)
    ctl = os.path.join(os.path.dirname(sim.__file__), "nvidia-smi-sim")
    subprocess.run([ctl, "reboot", "--state", node.path], check=True)
    gpu = node.state()["gpus"][0]
    assert (gpu["mig_current"], gpu["mig_pending"]) == mode_after
    assert (gpu["gpu_instances"], gpu["processes"]) == ([], [])


def test_plain_table_with_mig_devices_and_processes(make_node):
    node, smi = make_node(gpus=2, mig=True, layout=[("3g.40gb", 0), ("1g.10gb", 4)])
    node.add_process(1, 4242, "python3", gi=1, ci=0, memory_mib=2048)
    rc, out, dummy = smi()
    assert rc == 0
    lines = out.splitlines()
    assert all(len(line) == 91 for line in lines[1:] if line), [line for line in lines[1:] if line and len(line) != 91]
    assert "| MIG devices:" in out
    assert sum(1 for line in lines if line.startswith("|  ") and "MiB / 40448MiB" in line) == 2
    assert "|    1    1    0             4242      C   python3" in out and "2048MiB |" in out
