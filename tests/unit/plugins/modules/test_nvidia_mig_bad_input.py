# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_mig with hostile files and a lying nvidia-smi (issue 15 items 4, 11, 12, 13, 14): a clear, short error
and no change, against the nvidia-smi simulator (the witness of every command run)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.gpu_slicing.eks.plugins.modules import nvidia_mig
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.nvidia_smi_harness import Node, run_module

# 9 levels of 9 aliases: 9^9 (~387 million) strings once expanded, from a few hundred bytes.
ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    "%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n" % ((chr(98 + i), chr(98 + i)) + (chr(97 + i),) * 9) for i in range(8))
ALIAS_BOMB += "version: v1\nmig-configs:\n  bomb:\n    - devices: *i\n      mig-enabled: false\n"
GOOD = "version: v1\nmig-configs:\n  ok:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"1g.10gb\": 7}\n"


@pytest.fixture
def apply(capsys):
    def run(node, check=False, **args):
        args.setdefault("nvidia_smi_path", node.smi)
        args.setdefault("persist_path", node.persist_path)
        return run_module(capsys, nvidia_mig.main, args, check=check)
    return run


@pytest.fixture
def node(tmp_path):
    return Node(tmp_path, "n", model="h100-80gb", gpus=1)


def assert_nothing_changed(node, before):
    assert node.mutating() == []
    assert node.sim.state() == before


def test_alias_bomb_as_config_file_is_refused_in_a_short_message(tmp_path, apply, node):
    assert len(ALIAS_BOMB) < 700
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    before = node.sim.state()
    result, failed = apply(node, config="bomb", config_file=str(path))
    assert failed
    assert "config_file %s: config line 1: config file uses a YAML anchor (&a);" % path in result["msg"], result["msg"][:500]
    assert len(result["msg"]) < 500
    assert_nothing_changed(node, before)
    assert not os.path.exists(node.persist_path)


def test_alias_bomb_as_persisted_file_is_not_ours_and_left_alone(tmp_path, apply, node):
    os.makedirs(os.path.dirname(node.persist_path))
    with open(node.persist_path, "w") as handle:
        handle.write(ALIAS_BOMB)
    before = node.sim.state()
    result, failed = apply(node, layout={"1g.10gb": 7})
    assert failed
    assert "was not written by gpu_slicing.eks" in result["msg"] and len(result["msg"]) < 500
    assert_nothing_changed(node, before)
    with open(node.persist_path) as handle:
        assert handle.read() == ALIAS_BOMB


def test_error_text_quoting_a_huge_value_is_truncated(tmp_path, apply, node):
    path = tmp_path / "huge.yaml"
    path.write_text("version: v1\nmig-configs:\n  big:\n    - devices: [%s]\n      mig-enabled: maybe\n"
                    % ", ".join(["-1"] * 50000))
    result, failed = apply(node, config="big", config_file=str(path))
    assert failed
    assert "devices must be 'all' or a non-empty list of GPU indexes" in result["msg"]
    assert "more characters)" in result["msg"] and len(result["msg"]) < 1500


def test_non_utf8_config_file_names_the_file(tmp_path, apply, node):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.encode("utf-8").replace(b"ok:", b"\xe9t\xe9:"))
    before = node.sim.state()
    result, failed = apply(node, config="ok", config_file=str(path))
    assert failed
    assert result["msg"].startswith("config_file %s is not UTF-8 text (invalid byte at offset" % path), result["msg"]
    assert_nothing_changed(node, before)


def test_damaged_persisted_file_of_ours_is_replaced(apply, node):
    os.makedirs(os.path.dirname(node.persist_path))
    with open(node.persist_path, "wb") as handle:
        handle.write(b"# Written by gpu_slicing.eks (nvidia_mig persist); mig-parted v1 format.\n\xff\xfe garbage\n")
    result, failed = apply(node, layout={"1g.10gb": 7})
    assert not failed, result["msg"]
    with open(node.persist_path) as handle:
        text = handle.read()
    assert text.startswith("# Written by gpu_slicing.eks") and '"1g.10gb": 7' in text


def test_unrelated_file_at_persist_path_is_never_replaced(tmp_path, apply, node):
    victim = tmp_path / "fstab"
    victim.write_text("/dev/sda1 / ext4 defaults 0 1\n")
    before = node.sim.state()
    result, failed = apply(node, layout={"1g.10gb": 7}, persist_path=str(victim))
    assert failed
    assert "persist_path %s exists and was not written by gpu_slicing.eks" % victim in result["msg"]
    assert "Nothing was changed" in result["msg"]
    assert_nothing_changed(node, before)
    assert victim.read_text() == "/dev/sda1 / ext4 defaults 0 1\n"


@pytest.mark.parametrize("path", ["", "relative/mig-layout.yaml"], ids=["empty", "relative"])
def test_persist_path_empty_or_relative_is_refused_before_any_change(tmp_path, monkeypatch, apply, node, path):
    monkeypatch.chdir(tmp_path)  # where a relative path would land
    before = node.sim.state()
    result, failed = apply(node, layout={"1g.10gb": 7}, persist_path=path)
    assert failed
    assert "persist_path" in result["msg"]
    assert_nothing_changed(node, before)
    assert not os.path.exists("relative")


@pytest.mark.parametrize("output,words", [
    ("<<<\x01 not xml", "nvidia-smi -q -x printed output that is not XML"),
    ("<html><body>proxy error</body></html>", "root element <html>"),
], ids=["garbage", "other-xml"])
def test_garbage_nvidia_smi_output_is_named_as_such(tmp_path, apply, node, output, words):
    liar = tmp_path / "nvidia-smi-liar"
    liar.write_text("#!/bin/sh\nprintf '%%s\\n' '%s'\n" % output)
    liar.chmod(0o755)
    result, failed = apply(node, layout={"1g.10gb": 7}, nvidia_smi_path=str(liar))
    assert failed
    assert words in result["msg"], result["msg"]
    assert node.mutating() == []


# a YAML comment line: a file padded with it stays a valid config, only larger
PADDING = "# " + "x" * 1021 + "\n"


def test_config_file_larger_than_one_mib_is_refused_naming_the_file(tmp_path, apply, node):
    path = tmp_path / "big.yaml"
    path.write_text(GOOD + PADDING * 1024)  # 1 MiB + len(GOOD): a valid config, only too large
    assert os.path.getsize(str(path)) > 1024 * 1024
    before = node.sim.state()
    result, failed = apply(node, config="ok", config_file=str(path))
    assert failed, "a config file over 1 MiB was read and applied"
    assert result["msg"] == ("config_file %s is larger than 1048576 bytes; a mig-parted config is a few KiB" % path), \
        result["msg"]
    assert_nothing_changed(node, before)
    # the bound is on the size, not the content: the same config just under 1 MiB applies
    path.write_text(GOOD + PADDING * (1024 - 1))
    result, failed = apply(node, config="ok", config_file=str(path))
    assert not failed, result["msg"]


def test_persisted_file_larger_than_one_mib_is_not_read_and_is_replaced(apply, node):
    """A file of ours (marker first) past the bound is damaged: it is not parsed (its entries are not kept) and
    the new layout replaces it, as for a non-UTF-8 one."""
    os.makedirs(os.path.dirname(node.persist_path))
    ours = ("# Written by gpu_slicing.eks (nvidia_mig persist); mig-parted v1 format.\nversion: v1\nmig-configs:\n"
            "  gpu-slicing:\n    - devices: [5]\n      mig-enabled: true\n      mig-devices: {\"7g.80gb\": 1}\n")
    with open(node.persist_path, "w") as handle:
        handle.write(ours + PADDING * 1024)
    result, failed = apply(node, layout={"1g.10gb": 7})
    assert not failed, result["msg"]
    with open(node.persist_path) as handle:
        text = handle.read()
    assert text.startswith("# Written by gpu_slicing.eks") and '"1g.10gb": 7' in text
    assert "7g.80gb" not in text and len(text) < 4096, "the oversized file was parsed and its GPU 5 entry kept"
