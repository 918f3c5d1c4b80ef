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
    # issue 14 fact 5: an empty list on a MIG-enabled GPU
    assert smi("mig", "-lgi") == (0, "No GPU instances found: Not Found\n", "")


def test_explicit_placements_land_where_asked_with_ids_read_from_the_output(make_node):
    node, smi = make_node(mig=True)
    rc, out, dummy = smi("mig", "-i", "0", "-cgi", "19:0,19:1,14:2,9:4", "-C")
    assert rc == 0, out
    assert _gis(node) == [("1g.10gb", 0), ("1g.10gb", 1), ("2g.20gb", 2), ("3g.40gb", 4)]
    for name, _start, gi in node.layout():
        prof = {"1g.10gb": 19, "2g.20gb": 14, "3g.40gb": 9}[name]
        assert "Successfully created GPU instance ID %2d on GPU  0 using profile MIG %s (ID %2d)\n" % (gi, name, prof) in out
    gi3 = node.gi_id(0, "3g.40gb", 4)
    assert ("Successfully created compute instance ID  0 on GPU  0 GPU instance ID %2d using profile MIG 3g.40gb (ID  2)\n"
            % gi3) in out


def _seven_1g(make_node, seed):
    node, smi = make_node(mig=True, seed=seed)
    assert smi("mig", "-i", "0", "-cgi", ",".join(["19"] * 7), "-C")[0] == 0
    by_id = sorted((gi, start) for _n, start, gi in node.layout())
    return [start for _gi, start in by_id], [gi for gi, _start in by_id], node


def test_gi_ids_and_starts_without_placement_are_the_drivers_unpredictable_choice(make_node):
    # issue 14 facts 2 and 3: real GI ids are not a function of the placement (A100: 2g.20gb at 0 got GI 3 on one
    # GPU and 5 on the next; H100 PCIe: GI 7 at 4:1, GI 11 at 0:1) and seven 1g.10gb landed at 6,4,5,0,1,2,3.
    orders = set()
    id_sets = set()
    for seed in range(6):
        starts, ids, _node = _seven_1g(make_node, "seed-%d" % seed)
        assert sorted(starts) == list(range(7))
        orders.add(tuple(starts))
        id_sets.add(tuple(ids))
    assert len(orders) > 1 and len(id_sets) > 1, (orders, id_sets)
    # the same seed gives the same choices (tests stay reproducible)
    assert _seven_1g(make_node, "seed-0")[:2] == _seven_1g(make_node, "seed-0")[:2]
    # and the same placement on two GPUs of one node gets ids the caller cannot derive from it
    node, smi = make_node(gpus=8, mig=True)
    assert smi("mig", "-i", "0,1,2,3,4,5,6,7", "-cgi", "14:0", "-C")[0] == 0
    assert len(set(node.layout(g)[0][2] for g in range(8))) > 1


def test_driver_order_trap_depends_on_the_drivers_choice(make_node):
    # MIG user guide: "-cgi 19,19,14,9" can fail with Insufficient Resources when the driver
    # places the 1g instances badly; with explicit placements the same set always fits.
    results = set()
    for seed in range(8):
        node, smi = make_node(mig=True, seed="trap-%d" % seed)
        rc, out, dummy = smi("mig", "-i", "0", "-cgi", "19,19,14,9", "-C")
        results.add(rc)
        if rc:
            assert out.endswith("Failed to create GPU instances: Insufficient Resources\n")
            assert len(node.layout()) < 4  # no rollback, like the driver
        node2, smi2 = make_node(mig=True, seed="trap-%d" % seed)
        assert smi2("mig", "-i", "0", "-cgi", "19:2,19:3,14:0,9:4", "-C")[0] == 0
    assert 23 in results


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
    assert "Unable to destroy GPU instance ID %2d from GPU  0: In use by another client\n" % gi in out
    assert len(node.layout()) == 1


def test_busy_compute_instance_blocks_destroy_and_mode_change(make_node):
    node, smi = make_node(mig=True)
    node.apply_layout([("3g.40gb", 4), ("3g.40gb", 0)])
    busy, idle = node.gi_id(0, "3g.40gb", 4), node.gi_id(0, "3g.40gb", 0)
    node.add_process(0, 4242, "python3", at=("3g.40gb", 4))
    rc, out, dummy = smi("mig", "-i", "0", "-dci")
    assert rc == 19
    assert "Unable to destroy compute instance ID  0 from GPU  0 GPU instance ID %2d: In use by another client\n" % busy in out
    assert "Successfully destroyed compute instance ID  0 from GPU  0 GPU instance ID %2d\n" % idle in out
    # issue 14 fact 5: Hopper's refusal wording
    rc, out, dummy = smi("-i", "0", "-mig", "0")
    assert (rc, out) == (19, "Unable to disable MIG Mode for GPU 00000000:53:00.0: In use by another client\n"
                             "Terminating early due to previous errors.\n")
    rc, out, dummy = smi("-q", "-x")
    assert ("<gpu_instance_id>%d</gpu_instance_id>\n\t\t\t\t<compute_instance_id>0</compute_instance_id>\n"
            "\t\t\t\t<pid>4242</pid>" % busy) in out
    node.remove_process(4242)
    assert smi("mig", "-i", "0", "-dci")[0] == 0
    assert smi("mig", "-i", "0", "-dgi")[0] == 0
    assert smi("-i", "0", "-mig", "0")[0] == 0


QUERY_MODE = ("--query-gpu=index,mig.mode.current,mig.mode.pending", "--format=csv,noheader")


def test_ampere_mode_change_on_idle_bare_metal_is_immediate(make_node):
    # issue 14 fact 1: bare-metal A100s (drivers 515, 550) print one line per GPU and switch at once
    node, smi = make_node(model="a100-40gb", gpus=8)
    rc, out, dummy = smi("-mig", "1")
    assert rc == 0
    buses = [g["bus_id"] for g in node.state()["gpus"]]
    assert out == "".join("Enabled MIG Mode for GPU %s\n" % b for b in buses) + "All done.\n"
    assert smi(*QUERY_MODE)[1] == "".join("%d, Enabled, Enabled\n" % i for i in range(8))
    assert smi("mig", "-i", "0", "-cgi", "19", "-C")[0] == 0


def test_ampere_mode_change_pends_while_a_client_holds_the_gpu(make_node):
    # issue 14 fact 1 (A30 wording) and gpu-operator#118: a client blocks the implicit reset and -r
    node, smi = make_node(model="a30-24gb", gpus=2)
    node.set_gpu(0, clients=["nv-hostengine"])
    rc, out, dummy = smi("-mig", "1")
    assert rc == 0
    assert out.startswith("Warning: MIG mode is in pending enable state for GPU 00000000:53:00.0:In use by another client\n")
    assert "Enabled MIG Mode for GPU 00000000:64:00.0\nAll done.\n" in out
    assert smi(*QUERY_MODE)[1] == "0, Disabled, Enabled\n1, Enabled, Enabled\n"
    assert smi("mig", "-i", "0", "-cgi", "14")[0] == 3  # still not in MIG mode
    rc, out, dummy = smi("-r", "-i", "0")
    assert rc == 19 and out.startswith("GPU 00000000:53:00.0 is currently in use by another process.\n")
    node.set_gpu(0, clients=[])
    rc, out, dummy = smi("-r", "-i", "0")
    assert (rc, out) == (0, "GPU 00000000:53:00.0 was successfully reset.\n")
    assert smi(*QUERY_MODE)[1] == "0, Enabled, Enabled\n1, Enabled, Enabled\n"


def test_ampere_mode_change_in_a_vm_without_reset_needs_a_reboot(make_node):
    node, smi = make_node(model="a100-80gb", gpus=1, reset_supported=False)
    rc, out, dummy = smi("-i", "0", "-mig", "1")
    assert rc == 0
    assert out == ("Warning: MIG mode is in pending enable state for GPU 00000000:53:00.0:Not Supported\n"
                   "Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU 00000000:53:00.0\n"
                   "All done.\n")
    assert smi(*QUERY_MODE)[1] == "0, Disabled, Enabled\n"
    assert smi("-r", "-i", "0")[0] == 3
    node.reboot()
    assert smi(*QUERY_MODE)[1] == "0, Enabled, Enabled\n"


def test_hopper_mode_change_warns_without_persistence_mode(make_node):
    # issue 14 fact 5: a persistence-mode warning and an extra blank line when persistence is off
    node, smi = make_node(persistence=False)
    rc, out, dummy = smi("-i", "0", "-mig", "1")
    assert rc == 0
    lines = out.split("\n")
    assert lines[0].startswith("Warning: persistence mode is disabled on device 00000000:53:00.0.")
    assert lines[1:] == ["", "Enabled MIG Mode for GPU 00000000:53:00.0", "All done.", ""]


def test_lgi_and_lci_rows_by_profile_id_descending_and_width_by_driver(make_node):
    # issue 14 fact 5: rows ordered by profile id, descending; -lgi 59 columns on R580, 57 on <= R550
    for driver, width in (("580.159.04", 59), ("550.127.05", 57)):
        node, smi = make_node(mig=True, driver=driver)
        assert smi("mig", "-i", "0", "-cgi", "19:6,9:0,14:4", "-C")[0] == 0
        rc, out, dummy = smi("mig", "-lgi")
        rows = [line.split() for line in out.splitlines() if " MIG " in line]
        assert [r[3] for r in rows] == ["1g.10gb", "2g.20gb", "3g.40gb"]
        assert [int(r[4]) for r in rows] == [19, 14, 9]
        assert set(len(line) for line in out.splitlines()) == {width}
        rc, out, dummy = smi("mig", "-lci")
        assert [r.split()[4] for r in out.splitlines() if " MIG " in r] == ["1g.10gb", "2g.20gb", "3g.40gb"]


def test_hopper_mode_change_refused_with_processes(make_node):
    node, smi = make_node()
    node.add_process(0, 99, "python3")
    rc, out, dummy = smi("-i", "0", "-mig", "1")
    assert rc == 19 and "In use by another client" in out
    assert smi("--query-gpu=mig.mode.current", "--format=csv,noheader")[1] == "Disabled\n"


def test_non_mig_gpu(make_node):
    node, smi = make_node(model="a10g-24gb", gpus=2)
    assert smi("mig", "-lgip") == (6, "No MIG-supported devices found.\n", "")
    # every other mig action fails the same way: there is no MIG device to list, create or destroy
    for action in (("-lgi",), ("-lci",), ("-lgipp",), ("-cgi", "0", "-C"), ("-dgi",)):
        assert smi("mig", *action) == (6, "No MIG-supported devices found.\n", ""), action
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
    assert run("add-process", "--state", state, "--gpu", "0", "--at", "3g.71gb:4", "--pid", "5").returncode == 0
    assert run("fault", "--state", state).returncode == 2
    assert run("init", "--state", state, "--model", "h200-141gb", "--layout", "7g.141gb,1g.18gb").returncode == 2
    wrapper = run("wrapper", "--state", state, "--out", str(tmp_path / "nvidia-smi")).stdout.strip()
    env = dict(os.environ)
    env.pop(sim.STATE_ENV, None)
    out = subprocess.run([wrapper, "-L"], env=env, stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    assert out.count("MIG 3g.71gb     Device") == 2 and out.count("MIG 1g.18gb     Device") == 2
    shown = json.loads(run("show", "--state", state).stdout)
    assert shown["gpus"][0]["processes"][0]["pid"] == 5
    assert shown["gpus"][0]["processes"][0]["gi"] == sim.SimNode(state).gi_id(0, "3g.71gb", 4)
    assert run("calls", "--state", state, "--count").stdout.strip() == "1"


def test_compute_instances_inside_a_gpu_instance(make_node):
    node, smi = make_node(mig=True)
    assert smi("mig", "-i", "0", "-cgi", "9:0")[0] == 0  # a 3g GI without compute instances
    gi = str(node.gi_id(0, "3g.40gb", 0))
    rc, out, dummy = smi("mig", "-i", "0", "-lcip", "-gi", gi)
    assert rc == 0
    rows = [line.split() for line in out.splitlines() if " MIG " in line]
    assert [(r[4], r[5], r[6]) for r in rows] == [
        ("1c.3g.40gb", "0", "3/3"), ("2c.3g.40gb", "1", "1/1"), ("3g.40gb", "2*", "1/1")]
    rc, out, dummy = smi("mig", "-i", "0", "-cci", "0,0,0", "-gi", gi)
    assert rc == 0 and out.count("Successfully created compute instance ID") == 3
    assert ("Successfully created compute instance ID  2 on GPU  0 GPU instance ID %2s using profile MIG 1c.3g.40gb (ID  0)"
            % gi) in out
    assert smi("mig", "-i", "0", "-cci", "-gi", gi)[0] == 23  # no room left for the default 3-slice CI
    rc, out, dummy = smi("mig", "-i", "0", "-dci", "-gi", gi, "-ci", "1")
    assert (rc, out) == (0, "Successfully destroyed compute instance ID  1 from GPU  0 GPU instance ID %2s\n" % gi)
    rc, out, dummy = smi("mig", "-lci")
    assert [(line.split()[6], line.split()[7]) for line in out.splitlines() if " MIG " in line] == [("0", "0:1"), ("2", "2:1")]
    rc, out, dummy = smi("-L")
    assert out.count("MIG 1c.3g.40gb  Device") == 2


def test_compute_instance_split_one_plus_two_slices(make_node):
    # issue 14 fact 4: a real A100 created MIG 1c.3g.40gb (ID 0) and MIG 2c.3g.40gb (ID 1) in one 3g GI; the
    # simulator used to refuse it (it only tried CI starts that are multiples of the CI size)
    node, smi = make_node(model="a100-80gb", mig=True)
    assert smi("mig", "-i", "0", "-cgi", "9:4")[0] == 0
    gi = str(node.gi_id(0, "3g.40gb", 4))
    rc, out, dummy = smi("mig", "-i", "0", "-cci", "0,1", "-gi", gi)
    assert rc == 0, out
    assert "using profile MIG 1c.3g.40gb (ID  0)" in out and "using profile MIG 2c.3g.40gb (ID  1)" in out
    rc, out, dummy = smi("mig", "-lci")
    cis = sorted((r.split()[4], r.split()[7]) for r in out.splitlines() if " MIG " in r)
    assert cis == [("1c.3g.40gb", "0:1"), ("2c.3g.40gb", "1:2")]


@pytest.mark.parametrize("model,mode_after", [("h100-80gb", (False, False)), ("a100-80gb", (True, True))])
def test_reboot_loses_instances_and_hopper_mode(make_node, model, mode_after):
    node, smi = make_node(model=model, mig=True, layout=["7g.80gb"])
    node.add_process(0, 1, "python3", at=("7g.80gb", 0))
    ctl = os.path.join(os.path.dirname(sim.__file__), "nvidia-smi-sim")
    subprocess.run([ctl, "reboot", "--state", node.path], check=True)
    gpu = node.state()["gpus"][0]
    assert (gpu["mig_current"], gpu["mig_pending"]) == mode_after
    assert (gpu["gpu_instances"], gpu["processes"]) == ([], [])


def test_plain_table_with_mig_devices_and_processes(make_node):
    node, smi = make_node(gpus=2, mig=True, layout=[("3g.40gb", 0), ("1g.10gb", 4)])
    gi = node.gi_id(1, "3g.40gb", 0)
    node.add_process(1, 4242, "python3", at=("3g.40gb", 0), memory_mib=2048)
    rc, out, dummy = smi()
    assert rc == 0
    lines = out.splitlines()
    assert all(len(line) == 91 for line in lines[1:] if line), [line for line in lines[1:] if line and len(line) != 91]
    assert "| MIG devices:" in out
    assert sum(1 for line in lines if line.startswith("|  ") and "MiB / 40448MiB" in line) == 2
    assert "|    1 %4d    0             4242      C   python3" % gi in out and "2048MiB |" in out
