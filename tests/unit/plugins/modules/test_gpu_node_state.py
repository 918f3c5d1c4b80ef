# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpu_node_state against the nvidia-smi simulator: one read-only call that tells a converged node from one
that drifted (layout, persisted file, boot files, driver services), and reports failures instead of failing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import hashlib
import os
import pwd

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _node_state as state
from ansible_collections.gpu_slicing.eks.plugins.modules import gpu_node_state, nvidia_mig, nvidia_mig_info
from ansible_collections.gpu_slicing.eks.tests.simulators import nvidia_smi_sim as sim
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.nvidia_smi_harness import Node, run_module


@pytest.fixture
def gather(capsys):
    def run(node, **args):
        args.setdefault("nvidia_smi_path", node.smi)
        return run_module(capsys, gpu_node_state.main, args)
    return run


@pytest.fixture
def module(capsys):
    def run(main, node, **args):
        args.setdefault("nvidia_smi_path", node.smi)
        return run_module(capsys, main, args)
    return run


def _mig(node, **extra):
    out = dict(config="all-1g.10gb", persist=True, persist_path=node.persist_path)
    out.update(extra)
    return out


@pytest.fixture
def converged(tmp_path, module):
    """A p5 node partitioned all-1g.10gb by nvidia_mig, with the persisted file written."""
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=8)
    result, failed = module(nvidia_mig.main, node, config="all-1g.10gb", persist_path=node.persist_path)
    assert not failed and result["changed"], result
    return node


def test_converged_node_reads_once_and_matches_nvidia_mig_info(converged, gather, module):
    before = len(converged.calls())
    result, failed = gather(converged, mig=_mig(converged))
    assert not failed, result.get("msg")
    assert result["changed"] is False
    assert result["mig"]["converged"] is True and result["mig"]["actions"] == []
    assert result["gpu_error"] is None
    assert result["driver_version"] == sim.DEFAULT_DRIVER
    calls = converged.calls()[before:]
    assert [c for c in calls if c["mutating"]] == []
    # -q -x, mig -lgi, -L: the same 3 reads as a converged nvidia_mig run, no -lgip/-lgipp
    assert result["nvidia_smi_calls"] == len(calls) == 3
    info, failed = module(nvidia_mig_info.main, converged, profiles=False)
    assert not failed
    assert result["gpus"] == info["gpus"]
    assert result["layout_diagram"] == info["layout_diagram"]


def test_drifted_layout_is_not_converged(converged, gather):
    converged.sim.apply_layout(["3g.40gb", "1g.10gb"], gpus=[3])
    mutating = len(converged.mutating())
    result, failed = gather(converged, mig=_mig(converged))
    assert not failed
    assert result["mig"]["converged"] is False and result["mig"]["changed"] is True
    assert result["mig"]["actions"] and all("3" in argv for argv in result["mig"]["actions"]), result["mig"]["actions"]
    assert len(converged.mutating()) == mutating  # planned, not run


def test_missing_or_changed_persisted_file_is_not_converged(converged, gather):
    os.remove(converged.persist_path)
    result, _failed = gather(converged, mig=_mig(converged))
    assert result["mig"]["converged"] is False and result["mig"]["actions"] == []
    assert not os.path.exists(converged.persist_path)  # read-only: nothing written


def test_persisted_file_of_someone_else_is_an_error_not_a_failure(converged, gather):
    with open(converged.persist_path, "w") as handle:
        handle.write("version: v1\n")
    result, failed = gather(converged, mig=_mig(converged))
    assert not failed
    assert result["mig"]["converged"] is False
    assert "not written by" in result["mig"]["error"] or "persist_path" in result["mig"]["error"], result["mig"]
    assert len(result["gpus"]) == 8  # the GPUs are still read


def test_bad_config_is_returned_with_the_gpus(converged, gather):
    result, failed = gather(converged, mig=_mig(converged, config="all-9g.999gb"))
    assert not failed
    assert result["mig"]["converged"] is False and "all-9g.999gb" in result["mig"]["error"]
    assert len(result["gpus"]) == 8 and result["gpu_error"] is None


def test_missing_nvidia_smi_is_reported(tmp_path, gather):
    node = Node(tmp_path, "n", model="h100-80gb", gpus=1)
    result, failed = gather(node, nvidia_smi_path=str(tmp_path / "no-such-nvidia-smi"))
    assert not failed
    assert result["driver_version"] == "" and result["gpus"] == []
    assert "no-such-nvidia-smi" in result["gpu_error"]
    assert result["mig"] is None


def test_invalid_options_fail(tmp_path, gather):
    node = Node(tmp_path, "n", model="h100-80gb", gpus=1)
    result, failed = gather(node, mig={"config": "all-1g.10gb", "layout": ["1g.10gb"]})
    assert failed and "mutually exclusive" in result["msg"]


def test_files_are_compared_by_type_content_mode_and_owner(tmp_path, gather):
    node = Node(tmp_path, "n", model="h100-80gb", gpus=1)
    path = tmp_path / "unit.service"
    path.write_text("[Unit]\n")
    os.chmod(str(path), 0o644)
    digest = hashlib.sha256(b"[Unit]\n").hexdigest()
    link = tmp_path / "link"
    os.symlink(str(path), str(link))
    owner = pwd.getpwuid(os.getuid())[0]
    group = grp.getgrgid(os.getgid())[0]
    files = [
        dict(path=str(path), state="file", sha256=digest, mode="0644", owner=owner, group=group),
        dict(path=str(path), state="file", sha256=hashlib.sha256(b"other").hexdigest()),
        dict(path=str(path), state="file", mode="0755"),
        dict(path=str(path), state="directory"),
        dict(path=str(tmp_path), state="directory", mode="%04o" % (os.stat(str(tmp_path)).st_mode & 0o7777)),
        dict(path=str(tmp_path / "missing"), state="file"),
        dict(path=str(link), state="file", sha256=digest),
    ]
    result, failed = gather(node, files=files)
    assert not failed, result.get("msg")
    assert [f["matches"] for f in result["files"]] == [True, False, False, False, True, False, False]
    assert result["files"][0]["sha256"] == digest and result["files"][0]["mode"] == "0644"
    assert result["files"][5]["exists"] is False
    assert result["files"][6]["type"] == "link"


def test_service_manager_and_systemctl_show(tmp_path):
    assert state.service_manager(str(tmp_path)) == "systemd"
    assert state.service_manager(str(tmp_path / "none")) == "other"
    text = ("Id=nvidia-fabricmanager.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n"
            "Id=nvidia-persistenced.service\nLoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n")
    calls = []

    def run_command(argv, environ_update=None):
        calls.append(argv)
        return 0, text, ""
    names = ["nvidia-fabricmanager.service", "nvidia-persistenced.service"]
    states, error = state.read_services(run_command, "/usr/bin/systemctl", names)
    assert error is None and len(calls) == 1 and calls[0][-2:] == names
    assert states["nvidia-fabricmanager.service"]["enabled"] is True
    assert states["nvidia-fabricmanager.service"]["active"] is True
    assert states["nvidia-persistenced.service"]["enabled"] is False
    assert states["nvidia-persistenced.service"]["active"] is False
    assert state.read_services(lambda argv, environ_update=None: (1, "", "boom"), "/bin/systemctl", names)[1]
    assert state.read_services(run_command, None, names) == ({}, "systemctl not found")
    assert state.read_services(run_command, "/bin/systemctl", []) == ({}, None)


def test_driver_version_of_foreign_output():
    assert state.driver_version("not xml") == ""
    assert state.driver_version("<nvidia_smi_log><driver_version> 580.1 </driver_version></nvidia_smi_log>") == "580.1"


@pytest.mark.parametrize("main, args", [
    (nvidia_mig.main, {"config": "all-1g.10gb"}),
    (nvidia_mig_info.main, {}),
    (gpu_node_state.main, {"mig": {"config": "all-1g.10gb"}}),
], ids=["nvidia_mig", "nvidia_mig_info", "gpu_node_state"])
@pytest.mark.parametrize("timeout", [0, -5])
def test_timeout_below_one_second_fails_before_any_nvidia_smi_call(tmp_path, module, main, args, timeout):
    # nvidia_smi_path and timeout: one argument spec (_mig_options.NVIDIA_SMI_SPEC) and one check for the three
    node = Node(tmp_path, "p5", model="h100-80gb", gpus=1)
    result, failed = module(main, node, timeout=timeout, **args)
    assert failed and result["msg"] == "timeout must be at least 1 second, got %d" % timeout
    assert node.calls() == []
