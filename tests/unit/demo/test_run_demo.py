# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""demo/run_demo.py leftovers handling and hacking/gen_docs.py markup (the demo itself runs in `make demo`)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def _load(relative, name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relative))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo():
    return _load(os.path.join("demo", "run_demo.py"), "gpu_slicing_demo")


@pytest.fixture(scope="module")
def gen_docs():
    return _load(os.path.join("hacking", "gen_docs.py"), "gpu_slicing_gen_docs")


def _sleeper(tag, demo):
    # a process whose command line carries ``tag``, in its own session like the demo's servers
    proc = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(120)", tag], start_new_session=True)
    # on a loaded machine /proc/<pid>/cmdline can lag behind Popen's return: the tests are about matching it
    deadline = time.monotonic() + 10
    while tag not in demo._cmdline(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc


def _gone(proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return True
        time.sleep(0.05)
    return False


def test_clean_leftovers_kills_recorded_processes_only_when_their_command_line_matches(demo, tmp_path, monkeypatch):
    # namespace cleanup has its own tests (tests/unit/support); here only the recorded processes and files
    monkeypatch.setattr(demo.netns, "cleanup_leftovers", lambda: [])
    ours = _sleeper("moto.server-leftover", demo)
    reused = _sleeper("an-unrelated-process", demo)
    try:
        workdir = tmp_path / "demo"
        (workdir / "report").mkdir(parents=True)
        (workdir / "report" / "mig-report.md").write_text("previous report")
        (workdir / "nodes" / "ip-10-0-0-1.ec2.internal").mkdir(parents=True)
        (workdir / "site.log").write_text("old log")
        state = {"pids": {"moto": {"pid": ours.pid, "marker": "moto.server"},
                          # a recorded pid now used by another program: must survive
                          "kube_emulator": {"pid": reused.pid, "marker": "kube_emulator"}},
                 "netns": []}
        (workdir / "state.json").write_text(json.dumps(state))
        removed = demo.clean_leftovers(str(workdir))
        assert _gone(ours), "the recorded leftover process still runs"
        assert reused.poll() is None, "a process whose command line does not match was killed"
        assert removed[0] == "moto (pid %d)" % ours.pid
        assert sorted(os.listdir(str(workdir))) == ["report"]
        assert (workdir / "report" / "mig-report.md").read_text() == "previous report"
    finally:
        for proc in (ours, reused):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_clean_leftovers_without_state_is_a_no_op(demo, tmp_path, monkeypatch):
    monkeypatch.setattr(demo.netns, "cleanup_leftovers", lambda: [])
    assert demo.clean_leftovers(str(tmp_path / "absent")) == []
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "state.json").write_text("{not json")
    assert demo.clean_leftovers(str(tmp_path / "broken")) == []
    assert os.listdir(str(tmp_path / "broken")) == []


def test_kill_group_ignores_a_pid_whose_command_line_lacks_the_marker(demo):
    proc = _sleeper("innocent", demo)
    try:
        demo._kill_group(proc.pid, marker="ansible-playbook", timeout=1.0)
        assert proc.poll() is None
        demo._kill_group(proc.pid, marker="innocent", timeout=5.0)
        assert _gone(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_recap_counts_sum_over_hosts(demo):
    recap = ["node-a : ok=48   changed=10   unreachable=0    failed=0    skipped=12",
             "localhost : ok=17   changed=2    unreachable=0    failed=1    skipped=2"]
    assert demo._recap_counts(recap) == {"ok": 65, "changed": 12, "unreachable": 0, "failed": 1, "skipped": 14}


@pytest.mark.parametrize("source, expected", [
    ("Set O(mig_config) to V(all-1g.10gb).", "Set `mig_config` to `all-1g.10gb`."),
    ("O(force=true) skips it", "`force=true` skips it"),
    ("returns RV(reboot_required=true)", "returns `reboot_required=true`"),
    ("see U(https://example.com) or M(kubernetes.core.k8s)", "see <https://example.com> or `kubernetes.core.k8s`"),
    ("a | b\nc", "a \\| b c"),
    (["first.", "second."], "first. second."),
])
def test_markup_to_markdown(gen_docs, source, expected):
    assert gen_docs.markup(source) == expected


def test_options_table_lists_suboptions_and_defaults(gen_docs):
    rows = gen_docs._options_table({"node_class": {"type": "dict", "description": "C(EC2NodeClass)", "suboptions": {
        "name": {"type": "str", "required": True, "description": "Name."}}},
        "wait": {"type": "bool", "default": True, "description": "Wait."}})
    assert rows[0].startswith("| `node_class` | dict | `EC2NodeClass`")
    assert rows[1].startswith("| `node_class.name` | str | Name.") and "**required**" in rows[1]
    assert "default: `true`" in rows[2]
