# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stand-in world's leftovers handling (tests/support/world.py, used by the demo, molecule and bench), the
demo's command line, and hacking/gen_docs.py (markup; role argument specs it cannot render fail loudly)
(the demo itself runs in `make demo`)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import world as stand_in

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def _load(relative, name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relative))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo():
    return _load(os.path.join("demo", "run_demo.py"), "gpu_slicing_demo")


@pytest.fixture
def world(monkeypatch):
    # SSH host cleanup has its own tests (test_ssh_hosts.py, tests/unit/support); here only processes and files
    monkeypatch.setattr(stand_in.ssh_hosts, "cleanup_leftovers", lambda: [])
    return stand_in


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


def test_clean_leftovers_kills_recorded_processes_only_when_their_command_line_matches(world, tmp_path):
    ours = _sleeper("moto.server-leftover", world)
    reused = _sleeper("an-unrelated-process", world)
    try:
        workdir = tmp_path / "demo"
        (workdir / "report").mkdir(parents=True)
        (workdir / "report" / "mig-report.md").write_text("previous report")
        (workdir / "nodes" / "ip-10-0-0-1.ec2.internal").mkdir(parents=True)
        (workdir / "site.log").write_text("old log")
        state = {"pids": {"moto": {"pid": ours.pid, "marker": "moto.server"},
                          # a recorded pid now used by another program: must survive
                          "kube_emulator": {"pid": reused.pid, "marker": "kube_emulator"}}}
        (workdir / "state.json").write_text(json.dumps(state))
        removed = world.clean_leftovers(str(workdir))
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


def test_clean_leftovers_without_state_is_a_no_op(world, tmp_path):
    assert world.clean_leftovers(str(tmp_path / "absent")) == []
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "state.json").write_text("{not json")
    assert world.clean_leftovers(str(tmp_path / "broken")) == []
    assert os.listdir(str(tmp_path / "broken")) == []


def test_kill_group_ignores_a_pid_whose_command_line_lacks_the_marker(world):
    proc = _sleeper("innocent", world)
    try:
        world._kill_group(proc.pid, marker="ansible-playbook", timeout=1.0)
        assert proc.poll() is None
        world._kill_group(proc.pid, marker="innocent", timeout=5.0)
        assert _gone(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_clean_leftovers_stops_recorded_ssh_hosts(tmp_path, monkeypatch):
    stopped = []
    monkeypatch.setattr(stand_in.ssh_hosts, "cleanup_leftovers", lambda: [])
    monkeypatch.setattr(stand_in.ssh_hosts, "destroy_state", stopped.append)
    hosts = {"mode": "sshd", "run": "r1", "servers": [], "hosts": [{"name": "gse-r1-0"}, {"name": "gse-r1-1"}]}
    (tmp_path / "state.json").write_text(json.dumps({"pids": {}, "hosts": hosts}))
    assert stand_in.clean_leftovers(str(tmp_path)) == ["2 sshd SSH hosts"]
    assert stopped == [hosts]


def test_recap_counts_sum_over_hosts(world):
    recap = ["node-a : ok=48   changed=10   unreachable=0    failed=0    skipped=12",
             "localhost : ok=17   changed=2    unreachable=0    failed=1    skipped=2"]
    assert world.recap_counts(recap) == {"ok": 65, "changed": 12, "unreachable": 0, "failed": 1, "skipped": 14}


def test_bench_fleet_is_four_p5_per_p4d():
    assert [(g.instance_type, g.count) for g in stand_in.bench_fleet(50)] == [("p5.48xlarge", 40), ("p4d.24xlarge", 10)]
    assert [(g.instance_type, g.count) for g in stand_in.bench_fleet(1)] == [("p5.48xlarge", 1)]


def test_world_refuses_a_bad_fleet_before_starting_anything(tmp_path, monkeypatch):
    monkeypatch.setattr(stand_in.ssh_hosts, "choose_mode", lambda mode: ("asyncssh", "test"))
    with pytest.raises(stand_in.WorldError, match="1 names for 2 p5.48xlarge instances"):
        stand_in.World(str(tmp_path / "w"), fleet=[stand_in.Group("gpu", "p5.48xlarge", 2, "h100-80gb", "p", None,
                                                                  names=["only-one"])])
    with pytest.raises(stand_in.WorldError, match="GPU group p4d.24xlarge needs a simulator model"):
        stand_in.World(str(tmp_path / "w"), fleet=[stand_in.Group("gpu", "p4d.24xlarge", 1, None, "p", None)])
    assert not (tmp_path / "w").exists()


def test_demo_refuses_an_unknown_ssh_hosts_mode(demo, capsys):
    with pytest.raises(SystemExit):
        demo.main(["--ssh-hosts", "docker"])
    assert "invalid choice: 'docker'" in capsys.readouterr().err


@pytest.mark.parametrize("source, expected", [
    ("Set O(mig_config) to V(all-1g.10gb).", "Set `mig_config` to `all-1g.10gb`."),
    ("O(force=true) skips it", "`force=true` skips it"),
    ("returns RV(reboot_required=true)", "returns `reboot_required=true`"),
    ("see O(gpu_slicing.eks.nvidia_mig#module:layout)", "see `layout` of `gpu_slicing.eks.nvidia_mig`"),
    ("as RV(gpu_slicing.eks.nvidia_mig_info#module:gpus) with O(gpu_slicing.eks.nvidia_mig_info#module:profiles=false)",
     "as `gpus` of `gpu_slicing.eks.nvidia_mig_info` with `profiles=false` of `gpu_slicing.eks.nvidia_mig_info`"),
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


def _role(collection, name, spec):
    meta = collection / "roles" / name / "meta"
    meta.mkdir(parents=True)
    (collection / "roles" / name / "tasks").mkdir()
    (collection / "roles" / name / "tasks" / "main.yml").write_text("---\n[]\n")
    if spec is not None:
        (meta / "argument_specs.yml").write_text(spec)


_GOOD_SPEC = "---\nargument_specs:\n  main:\n    short_description: Good role\n    options: {}\n"


@pytest.fixture
def role_collection(tmp_path, monkeypatch):
    """A collection gpu_slicing.eks of roles only, which the real ansible-doc reads (run from outside any other
    collection, so that only this one is found)."""
    collection = tmp_path / "ansible_collections" / "gpu_slicing" / "eks"
    _role(collection, "good", _GOOD_SPEC)
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return collection


@pytest.fixture
def ansible_doc(tmp_path):
    """The ansible-doc of the ansible-core under test (ansible-test's --venv puts no ansible-doc next to Python)."""
    path = tmp_path / "ansible-doc"
    path.write_text("#!%s\nimport runpy\nrunpy.run_module('ansible.cli.doc', run_name='__main__')\n" % sys.executable)
    path.chmod(0o755)
    return str(path)


def test_role_listing_of_readable_specs(gen_docs, role_collection, ansible_doc):
    listing = gen_docs.list_roles(ansible_doc, str(role_collection))
    assert listing["gpu_slicing.eks.good"]["entry_points"] == {"main": "Good role"}


def test_role_spec_that_cannot_be_rendered_fails_naming_the_file(gen_docs, role_collection, ansible_doc):
    # ansible-doc -l only warns about the first one and exits 0; the others it lists without anything to render
    _role(role_collection, "broken", "---\nargument_specs:\n  main:\n    short_description: [oops\n")
    _role(role_collection, "bare", None)
    _role(role_collection, "empty", "---\nargument_specs: {}\n")
    with pytest.raises(SystemExit) as failure:
        gen_docs.list_roles(ansible_doc, str(role_collection))
    message = str(failure.value)
    spec = os.path.join(str(role_collection), "roles", "%s", "meta", "argument_specs.yml")
    assert spec % "broken" + ": ansible-doc could not read it" in message
    assert "while parsing a flow sequence" in message  # ansible-doc's own reason, with the line
    assert spec % "bare" + ": missing" in message
    assert spec % "empty" + ": no entry point" in message
    assert spec % "good" not in message


def test_generated_pages_of_removed_things_are_found(gen_docs, tmp_path):
    for relative in ("docs/modules/kept.md", "docs/modules/removed.md", "docs/docsite/rst/gone.rst",
                     "docs/docsite/extra-docs.yml", "docs/awx.md"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    rendered = {os.path.join("docs", "modules", "kept.md"): "x", os.path.join("docs", "docsite", "extra-docs.yml"): "x"}
    # only the folders gen_docs alone writes: the hand-written guides under docs/ and docs/docsite/*.yml are not its own
    assert gen_docs.orphaned(rendered, root=str(tmp_path)) == [
        os.path.join("docs", "docsite", "rst", "gone.rst"), os.path.join("docs", "modules", "removed.md")]
    assert gen_docs.orphaned(dict.fromkeys(gen_docs.orphaned(rendered, root=str(tmp_path)), "x"), root=str(tmp_path)) == [
        os.path.join("docs", "modules", "kept.md")]


class _FakeControlPlane:
    class BuildError(RuntimeError):
        pass

    def __init__(self, error=None):
        self.error = error
        self.built = 0

    def ensure_binaries(self, log):
        self.built += 1
        if self.error:
            raise self.BuildError(self.error)
        return "/cache/bin"


@pytest.fixture
def kube_env(monkeypatch):
    monkeypatch.delenv(stand_in.ENV_KUBE, raising=False)
    return monkeypatch


def test_kube_prefers_the_real_control_plane(kube_env):
    fake = _FakeControlPlane()
    kube_env.setattr(stand_in, "_control_plane", lambda: fake)
    assert stand_in.choose_kube() == ("control-plane", None)
    assert fake.built == 1


def test_kube_falls_back_to_the_emulator_naming_why(kube_env):
    kube_env.setattr(stand_in, "_control_plane", lambda: _FakeControlPlane("Go is not installed (no `go` on PATH)"))
    assert stand_in.choose_kube() == ("emulator", "Go is not installed (no `go` on PATH)")
    kube_env.setattr(stand_in, "_control_plane", lambda: None)
    assert stand_in.choose_kube("auto") == ("emulator", "this checkout has no tests/support/control_plane.py")


def test_kube_forced_control_plane_that_cannot_run_is_an_error(kube_env):
    kube_env.setattr(stand_in, "_control_plane", lambda: _FakeControlPlane("the module proxy refused k8s.io/api@v0.35.4"))
    kube_env.setenv(stand_in.ENV_KUBE, "control-plane")
    with pytest.raises(stand_in.WorldError, match="GPU_SLICING_KUBE=control-plane cannot run here: the module proxy refused"):
        stand_in.choose_kube()


def test_kube_forced_emulator_builds_nothing(kube_env):
    fake = _FakeControlPlane()
    kube_env.setattr(stand_in, "_control_plane", lambda: fake)
    assert stand_in.choose_kube("emulator") == ("emulator", "requested with GPU_SLICING_KUBE=emulator")
    assert fake.built == 0
    with pytest.raises(stand_in.WorldError, match="unknown Kubernetes mode 'kind'"):
        stand_in.choose_kube("kind")


def test_bench_describes_the_world_it_measured():
    bench = _load(os.path.join("bench", "site_bench.py"), "gpu_slicing_site_bench")

    class Args:
        nodes, forks, rounds, old = 10, 5, 2, "0048358"

    class World:
        ssh_mode, kube_mode, kube_version = "sshd", "control-plane", "v1.35.4"

    text = bench.describe(Args, World, 8, 42.4, "0048358")
    assert "--nodes 10 --forks 5 --rounds 2 --old 0048358" in text
    assert "a real kube-apiserver v1.35.4, one sshd SSH host" in text
    assert "8 x p5.48xlarge (all-1g.10gb) and 2 x p4d.24xlarge" in text and "Setup of the world: 42 s" in text
    assert "re-run with the collection at 0048358" in text
    World.kube_mode = "emulator"
    assert "moto, the API emulator, one sshd SSH host" in bench.describe(Args, World, 8, 1, None)


def test_bench_ratio_uses_only_reruns_after_their_own_collection():
    bench = _load(os.path.join("bench", "site_bench.py"), "gpu_slicing_site_bench")

    def row(label, collection, after, wall, remote):
        return dict(label=label, collection=collection, after=after, wall=wall, remote={"n1": remote, "n2": remote})

    rows = [row("first run", "new", None, 1000, 11),
            row("re-run 1", "new", "new", 200, 4),      # converged for new
            row("re-run 1", "old", "new", 900, 11),     # rewrites the old commit's boot files: not in the ratio
            row("re-run 2", "old", "old", 800, 11),     # converged for old
            row("re-run 2", "new", "old", 500, 9)]      # rewrites new's boot files: not in the ratio
    text = "\n".join(bench.summary(rows))
    assert "200 s / 800 s = 0.25x" in text
    assert "at most 4" in text
    assert "| re-run 2 | new | old |" in "\n".join(bench.table(
        [dict(r, rc=0, cpu=1.0, nodes=2, load=("1", "1"), totals={"changed": 0}) for r in rows]))
    # no converged re-run of one collection: no ratio rather than a wrong one
    assert not any("x." in line for line in bench.summary(rows[:3]))


def test_slices_bench_counts_remote_tasks_over_every_slice(tmp_path):
    bench = _load(os.path.join("bench", "slices_bench.py"), "gpu_slicing_slices_bench")
    env = bench.count_env(str(tmp_path), "re-run")
    assert env(2)["GPU_SLICING_TASK_COUNT_FILE"] == str(tmp_path / "re-run-2.tasks.json")
    assert env(1)["GPU_SLICING_TASK_COUNT_FILE"] != env(2)["GPU_SLICING_TASK_COUNT_FILE"]  # slices never share one file
    for index, hosts in ((1, {"n1": {"remote": 2}, "localhost": {"remote": 0}}), (2, {"n2": {"remote": 3}})):
        (tmp_path / ("re-run-%d.tasks.json" % index)).write_text(json.dumps({"hosts": hosts}))
    assert bench.remote_tasks_per_node(str(tmp_path), "re-run", 2, ["n1", "n2"]) == (2, 3)
    # a node that no slice ran anything on shows as 0, not left out
    assert bench.remote_tasks_per_node(str(tmp_path), "re-run", 2, ["n1", "n2", "n3"]) == (0, 3)
    assert bench.remote_tasks_per_node(str(tmp_path), "first-run", 2, ["n1"]) == (0, 0)
