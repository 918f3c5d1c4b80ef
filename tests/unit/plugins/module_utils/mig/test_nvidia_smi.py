# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers on the real H100 captures (verbatim) and on MIG-enabled samples written from mig.md 5.1."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.gpu_slicing.eks.tests.support import captures

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
CAPTURES = os.path.join(ROOT, "tests", "data", "nvidia-smi", "h100-80gb-hbm3_driver-580.159.04")
H100_UUID = "GPU-25bd35c4-38ce-a0ef-ebe7-b024f5545ed8"


def capture(name):
    return captures.read_capture(os.path.join(CAPTURES, name))


# ------------------------------------------------------------------ real captures

def test_real_query_xml():
    text, rc = capture("q_xml.txt")
    assert rc == 0
    (gpu,) = smi.parse_query_xml(text)
    assert (gpu.index, gpu.uuid, gpu.name) == (0, H100_UUID, "NVIDIA H100 80GB HBM3")
    assert (gpu.pci_bus_id, gpu.pci_device_id, gpu.pci_sub_system_id) == ("00000000:00:06.0", "0x233010DE", "0x16C110DE")
    assert (gpu.mig_current, gpu.mig_pending, gpu.mig_capable, gpu.mig_enabled) == ("Disabled", "Disabled", True, False)
    assert gpu.architecture == "Hopper" and not gpu.needs_reset_for_mode_change
    assert gpu.memory_mib == 81559
    assert gpu.mig_devices == [] and gpu.processes == []


def test_architecture_falls_back_to_the_pci_device_id():
    text = capture("q_xml.txt")[0]
    old_driver = re.sub(r"\s*<product_architecture>Hopper</product_architecture>", "", text)
    (gpu,) = smi.parse_query_xml(old_driver.replace("233010DE", "20B010DE"))
    assert gpu.architecture == "Ampere" and gpu.needs_reset_for_mode_change
    (gpu,) = smi.parse_query_xml(old_driver.replace("233010DE", "FFFF10DE"))
    assert gpu.architecture is None and not gpu.needs_reset_for_mode_change


def test_real_lgip_and_lgipp():
    profiles = smi.merge_profiles(smi.parse_lgip(capture("lgip.txt")[0]), smi.parse_lgipp(capture("lgipp.txt")[0]))
    assert list(profiles) == [0]
    table = [(p.name, p.id, p.max_count, p.free, p.sm, p.ce, p.dec, p.enc, p.jpeg, p.ofa, p.starts, p.size)
             for p in profiles[0]]
    assert table == [
        ("1g.10gb", 19, 7, 7, 16, 1, 1, 0, 1, 0, (0, 1, 2, 3, 4, 5, 6), 1),
        ("1g.10gb+me", 20, 1, 1, 16, 1, 1, 0, 1, 1, (0, 1, 2, 3, 4, 5, 6), 1),
        ("1g.20gb", 15, 4, 4, 26, 1, 1, 0, 1, 0, (0, 2, 4, 6), 2),
        ("2g.20gb", 14, 3, 3, 32, 2, 2, 0, 2, 0, (0, 2, 4), 2),
        ("3g.40gb", 9, 2, 2, 60, 3, 3, 0, 3, 0, (0, 4), 4),
        ("4g.40gb", 5, 1, 1, 64, 4, 4, 0, 4, 0, (0,), 4),
        ("7g.80gb", 0, 1, 1, 132, 8, 7, 0, 7, 1, (0,), 8),
    ]
    # NVML on the same GPU: 9984/9984/20096/20096/40448/40448/81152 MB (README of the capture).
    assert [p.memory_mib for p in profiles[0]] == [9984, 9984, 20096, 20096, 40448, 40448, 81152]


@pytest.mark.parametrize("name", ["lgi.txt", "lci.txt", "lcip.txt"])
def test_real_no_mig_enabled_devices_is_empty(name):
    text, rc = capture(name)
    assert rc == 0 and "No MIG-enabled devices found." in text
    assert smi.parse_lgi(text) == {} and smi.parse_lci(text) == {} and smi.parse_lgip(text) == {}


def test_real_list():
    assert smi.parse_list(capture("L.txt")[0]) == [
        {"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": H100_UUID, "mig_devices": []}]


def test_real_query_csv_with_header_and_units():
    (row,) = smi.parse_query_csv(capture("query_csv.txt")[0])
    assert row["memory.total"] == "81559"
    assert row["mig.mode.current"] == "Disabled" and row["pci.bus_id"] == "00000000:00:06.0"
    assert row["driver_version"] == "580.159.04"


def test_real_query_csv_noheader_nounits():
    fields = ["index", "name", "uuid", "mig.mode.current", "mig.mode.pending"]
    (row,) = smi.parse_query_csv(capture("query_csv_nounits.txt")[0], fields)
    assert row == {"index": "0", "name": "NVIDIA H100 80GB HBM3", "uuid": H100_UUID,
                   "mig.mode.current": "Disabled", "mig.mode.pending": "Disabled"}


def test_real_mig_help_documents_the_placement_tuples_we_use():
    text = capture("mig_help.txt")[0]
    assert "optional placement" in text and "-cgi" in text and "-C | --default-compute-instance" in text


# ------------------------------------------------------------------ MIG-enabled samples (formats of mig.md 5.1)

LGI = """\
+-------------------------------------------------------+
| GPU instances:                                        |
| GPU   Name             Profile  Instance   Placement  |
|                          ID       ID       Start:Size |
|=======================================================|
|   0  MIG 3g.40gb          9        2          4:4     |
+-------------------------------------------------------+
|   0  MIG 2g.20gb         14        3          0:2     |
+-------------------------------------------------------+
|   0  MIG 1g.10gb         19        9          2:1     |
+-------------------------------------------------------+
|   1  MIG 7g.80gb          0        0          0:8     |
+-------------------------------------------------------+
"""

LCI = """\
+--------------------------------------------------------------------+
| Compute instances:                                                 |
| GPU     GPU       Name             Profile   Instance   Placement  |
|       Instance                       ID        ID       Start:Size |
|         ID                                                         |
|====================================================================|
|   0      2       MIG 3g.40gb          2         0          0:3     |
+--------------------------------------------------------------------+
|   0      3       MIG 2g.20gb          1         0          0:2     |
+--------------------------------------------------------------------+
|   1      0       MIG 7g.80gb          4         0          0:7     |
+--------------------------------------------------------------------+
"""

LCI_OLD = """\
+-------------------------------------------------------+
| Compute instances:                                    |
| GPU     GPU       Name             Profile   Instance |
|       Instance                       ID        ID     |
|         ID                                            |
|=======================================================|
|   0      7       MIG 1g.5gb           0         0     |
+-------------------------------------------------------+
"""

LIST = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa)
  MIG 3g.40gb     Device  0: (UUID: MIG-3f6f389f-0000-0000-0000-000000000000)
  MIG 2g.20gb     Device  1: (UUID: MIG-11111111-0000-0000-0000-000000000000)
  MIG 1g.10gb     Device  2: (UUID: MIG-22222222-0000-0000-0000-000000000000)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbbb)
  MIG 7g.80gb     Device  0: (UUID: MIG-33333333-0000-0000-0000-000000000000)
GPU 2: NVIDIA A10G (UUID: GPU-cccc)
"""


def _mig_xml():
    """The real -q -x capture turned into a 3-GPU node: two MIG-enabled H100s and an A10G."""
    real = capture("q_xml.txt")[0]
    head, rest = real.split("\t<gpu id=", 1)
    body = "\t<gpu id=" + rest.rsplit("</nvidia_smi_log>", 1)[0]

    def gpu(uuid, devices, processes, mode="Enabled", pending="Enabled", product=None, device_id=None):
        text = body.replace("GPU-25bd35c4-38ce-a0ef-ebe7-b024f5545ed8", uuid)
        text = text.replace("<current_mig>Disabled</current_mig>", "<current_mig>%s</current_mig>" % mode)
        text = text.replace("<pending_mig>Disabled</pending_mig>", "<pending_mig>%s</pending_mig>" % pending)
        mig = "".join("<mig_device><index>%d</index><gpu_instance_id>%d</gpu_instance_id>"
                      "<compute_instance_id>%d</compute_instance_id></mig_device>" % d for d in devices)
        text = re.sub(r"<mig_devices>\s*None\s*</mig_devices>", "<mig_devices>%s</mig_devices>" % (mig or "None"), text)
        procs = "".join("<process_info><gpu_instance_id>%s</gpu_instance_id><compute_instance_id>%s</compute_instance_id>"
                        "<pid>%d</pid><type>C</type><process_name>python3</process_name><used_memory>512 MiB</used_memory>"
                        "</process_info>" % p for p in processes)
        text = re.sub(r"<processes>\s*</processes>", "<processes>%s</processes>" % procs, text)
        if product:
            text = text.replace("NVIDIA H100 80GB HBM3", product).replace("233010DE", device_id)
        return text

    return head + gpu("GPU-aaaa", [(0, 2, 0), (1, 3, 0)], [("2", "0", 4242)]) + \
        gpu("GPU-bbbb", [(0, 0, 0)], []) + \
        gpu("GPU-cccc", [], [("N/A", "N/A", 777)], "N/A", "N/A", "NVIDIA A10G", "223710DE") + "</nvidia_smi_log>\n"


def test_mig_enabled_tables():
    gis = smi.parse_lgi(LGI)
    assert [(g.profile_name, g.profile_id, g.gi_id, g.start, g.size) for g in gis[0]] == [
        ("3g.40gb", 9, 2, 4, 4), ("2g.20gb", 14, 3, 0, 2), ("1g.10gb", 19, 9, 2, 1)]
    assert [(g.profile_name, g.gi_id) for g in gis[1]] == [("7g.80gb", 0)]
    cis = smi.parse_lci(LCI)
    assert [(c.ci_id, c.profile_id, c.start, c.size) for c in cis[0][2]] == [(0, 2, 0, 3)]
    assert sorted(cis[0]) == [2, 3] and list(cis[1]) == [0]
    old = smi.parse_lci(LCI_OLD)
    assert old[0][7][0].start is None and old[0][7][0].profile_name == "1g.5gb"


def test_list_with_mig_devices():
    listing = smi.parse_list(LIST)
    assert [g["uuid"] for g in listing] == ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"]
    assert listing[0]["mig_devices"][1] == {"profile": "2g.20gb", "device_index": 1,
                                            "uuid": "MIG-11111111-0000-0000-0000-000000000000"}
    assert listing[2]["mig_devices"] == []


def test_assemble_joins_xml_lgi_and_list():
    gpus = smi.assemble_state(smi.parse_query_xml(_mig_xml()), LGI, LIST)
    h0, h1, a10 = gpus
    assert [g.index for g in gpus] == [0, 1, 2]
    assert not a10.mig_capable and a10.instances == [] and a10.pci_device_id == "0x223710DE"
    assert [p.pid for p in a10.processes] == [777] and a10.processes[0].gi_id is None
    by_gi = dict((g.gi_id, g) for g in h0.instances)
    assert by_gi[2].mig_uuid == "MIG-3f6f389f-0000-0000-0000-000000000000"
    assert by_gi[3].compute_instances[0].ci_id == 0
    assert by_gi[9].compute_instances == [] and by_gi[9].mig_uuid is None  # a GI without CI
    assert [(p.pid, p.gi_id, p.ci_id) for p in h0.processes_on(2)] == [(4242, 2, 0)]
    assert h0.processes_on(3) == []
    assert h1.instances[0].mig_uuid == "MIG-33333333-0000-0000-0000-000000000000"
    out = h0.to_dict()
    assert out["mig_mode"] == {"current": "enabled", "pending": "enabled", "change_pending": False}
    assert out["instances"][0]["placement"] == {"start": 0, "size": 2}


def test_query_csv_na_values_and_no_header():
    text = "0, NVIDIA A100-SXM4-40GB, Disabled, Enabled\n1, NVIDIA A10G, [N/A], [N/A]\n2, Tesla T4, [Not Supported], N/A\n"
    rows = smi.parse_query_csv(text, ["index", "name", "mig.mode.current", "mig.mode.pending"])
    assert [(r["mig.mode.current"], r["mig.mode.pending"]) for r in rows] == [
        ("Disabled", "Enabled"), (None, None), (None, None)]
    with pytest.raises(ValueError, match="CSV row has 3 values for 4 fields"):
        smi.parse_query_csv("0, a, b\n", ["index", "name", "x", "y"])


def test_create_and_mode_messages():
    out = ("Successfully created GPU instance ID  2 on GPU  0 using profile MIG 3g.40gb (ID  9)\n"
           "Successfully created compute instance ID  0 on GPU  0 GPU instance ID  2 using profile MIG 3g.40gb (ID  2)\n"
           "Successfully created GPU instance ID 13 on GPU  0 using profile MIG 1g.10gb (ID 19)\n"
           "Unable to create a GPU instance on GPU  0 using profile 14: Insufficient Resources\n")
    assert smi.parse_created_gis(out) == [(0, 2, "3g.40gb", 9), (0, 13, "1g.10gb", 19)]
    assert smi.parse_created_cis(out) == [(0, 2, 0, "3g.40gb", 2)]
    warn = ("Enabled MIG Mode for GPU 00000000:07:00.0\n"
            "Warning: MIG mode is in pending enable state for GPU 00000000:07:00.0:Not Supported\n"
            "Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU 00000000:07:00.0\n"
            "All done.\n")
    assert smi.parse_pending_mode(warn) == {"00000000:07:00.0": "enable"}
    assert smi.parse_pending_mode("Enabled MIG Mode for GPU 00000000:00:06.0\nAll done.\n") == {}


# ------------------------------------------------------------------ argv and runner

def test_argv_forms_are_lists():
    assert smi.argv_set_mode([0, 1], True) == ["nvidia-smi", "-i", "0,1", "-mig", "1"]
    assert smi.argv_reset([3]) == ["nvidia-smi", "-r", "-i", "3"]
    assert smi.argv_destroy_ci(0, [7, 8]) == ["nvidia-smi", "mig", "-i", "0", "-dci", "-gi", "7,8"]
    assert smi.argv_destroy_gi(0, [7]) == ["nvidia-smi", "mig", "-i", "0", "-dgi", "-gi", "7"]
    assert smi.argv_create_gi(0, [(9, 4), (14, 0)]) == ["nvidia-smi", "mig", "-i", "0", "-cgi", "9:4,14:0", "-C"]
    assert smi.argv_create_ci(2, [5]) == ["nvidia-smi", "mig", "-i", "2", "-cci", "-gi", "5"]
    with pytest.raises(ValueError):
        smi.argv_mig_list("-cgi")


@pytest.mark.parametrize("argv,mutating", [
    (["nvidia-smi", "-q", "-x"], False), (["nvidia-smi", "-L"], False), (["nvidia-smi", "mig", "-lgipp"], False),
    (["nvidia-smi", "--query-gpu=index", "--format=csv"], False), (["nvidia-smi", "-i", "0", "-mig", "1"], True),
    (["nvidia-smi", "mig", "-i", "0", "-cgi", "9:4", "-C"], True), (["nvidia-smi", "-r", "-i", "0"], True),
])
def test_is_mutating(argv, mutating):
    assert smi.is_mutating(argv) is mutating


def test_runner_counts_sets_lc_all_and_raises(tmp_path):
    script = tmp_path / "fake-smi"
    # A stand-in executable that echoes its locale and argv; exits 6 for "mig -lgip" like a non-MIG GPU.
    script.write_text("#!/bin/sh\necho \"LC_ALL=$LC_ALL $*\"\n"
                      "if [ \"$2\" = \"-lgip\" ]; then echo 'No MIG-supported devices found.'; exit 6; fi\n"
                      "if [ \"$1\" = \"-r\" ]; then echo 'Unable to reset GPU: In use by another client' >&2; exit 19; fi\n")
    script.chmod(0o755)
    runner = smi.NvidiaSmi(smi.subprocess_run_command(timeout=30), str(script))
    rc, out, _err = runner.run([str(script), "-L"])
    assert rc == 0 and out.startswith("LC_ALL=C -L")
    assert "No MIG-supported devices found." in runner.mig_list("-lgip")
    with pytest.raises(smi.NvidiaSmiError) as err:
        runner.run(smi.argv_reset([0], str(script)))
    assert err.value.rc == 19 and "In use by another client" in str(err.value)
    assert runner.invocations == 3
    assert runner.history[1] == [str(script), "mig", "-lgip"]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie is dead for our purpose
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().split(")")[-1].split()[0] != "Z"


def test_hung_call_times_out_and_its_whole_process_group_is_killed(tmp_path):
    # issue 14: a hung nvidia-smi blocked forever; with the task timeout the child kept running
    script = tmp_path / "hung-smi"
    pidfile = tmp_path / "child.pid"
    script.write_text("#!/bin/sh\nsleep 300 &\necho $! > %s\nwait\n" % pidfile)
    script.chmod(0o755)
    runner = smi.NvidiaSmi(smi.subprocess_run_command(timeout=1), str(script))
    started = time.time()
    with pytest.raises(smi.NvidiaSmiTimeout) as err:
        runner.run([str(script), "-q", "-x"])
    assert time.time() - started < 30
    assert "timed out after 1 s" in str(err.value) and err.value.rc is None
    child = int(pidfile.read_text())
    for _i in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child), "the grandchild of the hung call survived"
    assert runner.invocations == 1


def test_missing_executable_is_an_nvidia_smi_error(tmp_path):
    runner = smi.NvidiaSmi(smi.subprocess_run_command(), str(tmp_path / "nope"))
    with pytest.raises(smi.NvidiaSmiError, match="cannot be run"):
        runner.query_xml()
    with pytest.raises(smi.NvidiaSmiError, match="not found in PATH"):
        smi.resolve_path("nvidia-smi-that-does-not-exist")


def test_select_gpus_by_index_uuid_and_short_bus_id():
    gpus = smi.parse_query_xml(capture("q_xml.txt")[0])
    only = gpus[0]
    assert smi.select_gpus(gpus, None) == gpus
    assert smi.select_gpus(gpus, [str(only.index), only.uuid.upper()]) == [only]
    # nvidia-smi prints an 8-digit PCI domain; lspci and the device plugin print 4 digits
    short_bus = only.pci_bus_id.split(":", 1)[0][-4:] + ":" + only.pci_bus_id.split(":", 1)[1]
    assert smi.select_gpus(gpus, [short_bus]) == [only]
    with pytest.raises(ValueError, match="no GPU matches 'GPU-nope'"):
        smi.select_gpus(gpus, ["GPU-nope"])
