# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator reproduces every real H100 capture byte for byte (output and exit status)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex

import pytest

CAPTURES = os.path.join(os.path.dirname(__file__), "..", "..", "data", "nvidia-smi", "h100-80gb-hbm3_driver-580.159.04")
CAPTURE_FILES = sorted(f for f in os.listdir(CAPTURES) if f.endswith(".txt"))


def _capture(name):
    with open(os.path.join(CAPTURES, name), "r") as handle:
        lines = handle.read().split("\n")
    argv = shlex.split(lines[0][2:])
    assert argv[0] == "nvidia-smi" and lines[-2].startswith("[exit ")
    return argv[1:], "\n".join(lines[1:-2]) + "\n", int(lines[-2][6:-1])


def test_every_capture_is_covered():
    # the brief's list: a new capture without a simulator command would show up here
    assert set(f[:-4] for f in CAPTURE_FILES) >= set(
        "L smi q q_xml query_csv query_csv_nounits lgip lgipp lgi lci lcip mig_help help_query".split())


@pytest.mark.parametrize("name", CAPTURE_FILES)
def test_output_equals_capture(make_node, name):
    node, smi = make_node(model="h100-80gb", gpus=1, identity="h100-capture")
    argv, expected, expected_rc = _capture(name)
    rc, out, err = smi(*argv)
    assert (rc, err) == (expected_rc, "")
    assert out == expected


def test_clock_is_injectable(make_node):
    node, smi = make_node(identity="h100-capture")
    rc, out, _err = smi(env={"NVIDIA_SMI_SIM_TIME": "1796126400"})
    assert rc == 0
    assert out.splitlines()[0] == "Tue Dec 01 12:00:00 2026       "
    rc, out, _err = smi("-q", env={"NVIDIA_SMI_SIM_TIME": "1796126400"})
    assert "Timestamp                                              : Tue Dec 01 12:00:00 2026\n" in out


def test_other_identity_differs_only_in_identity_fields(make_node):
    _node, smi = make_node(identity="h100-capture")
    _node2, smi2 = make_node(uuid_seed="other")
    out1 = smi("-q")[1].splitlines()
    out2 = smi2("-q")[1].splitlines()
    differing = sorted(set(a.split(":")[0].strip() for a, b in zip(out1, out2) if a != b))
    assert differing == ["Board ID", "Bus", "Bus Id", "Device", "GPU 00000000", "GPU PDI", "GPU UUID", "Module Id", "Serial Number"]
