# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH hosts without root: unprivileged sshd and asyncssh on loopback ports (real servers, real ssh client,
real Ansible), the mode choice, and leftovers of a dead owner."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import child_env, ssh_hosts

NO_CLIENT = shutil.which("ssh") is None or shutil.which("ssh-keygen") is None
LOOPBACK_MODES = [
    pytest.param("sshd", marks=pytest.mark.skipif(ssh_hosts.mode_unavailable_reason("sshd") is not None,
                                                  reason=str(ssh_hosts.mode_unavailable_reason("sshd")))),
    pytest.param("asyncssh", marks=pytest.mark.skipif(ssh_hosts.mode_unavailable_reason("asyncssh") is not None,
                                                      reason=str(ssh_hosts.mode_unavailable_reason("asyncssh")))),
]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


# ------------------------------------------------------------------------------------------ mode choice

@pytest.fixture
def availability(monkeypatch):
    """Pretend which modes can run: set the dict's values to None (available) or a reason."""
    reasons = {"netns": "needs root", "sshd": None, "asyncssh": None}
    monkeypatch.setattr(ssh_hosts, "mode_unavailable_reason", lambda mode: reasons.get(mode, "unknown mode"))
    monkeypatch.delenv(ssh_hosts.ENV_MODE, raising=False)
    return reasons


def test_auto_prefers_netns_then_sshd_then_asyncssh(availability):
    availability["netns"] = None
    assert ssh_hosts.choose_mode()[0] == "netns"
    availability["netns"] = "needs root"
    mode, why = ssh_hosts.choose_mode()
    assert mode == "sshd" and "needs root" in why
    availability["sshd"] = "no sshd binary"
    mode, why = ssh_hosts.choose_mode("auto")
    assert (mode, why) == ("asyncssh", "netns unavailable: needs root; sshd unavailable: no sshd binary")


def test_no_mode_at_all_is_one_clear_error(availability):
    availability.update(sshd="no sshd binary", asyncssh="asyncssh is not installed")
    with pytest.raises(ssh_hosts.HostsError, match="no way to run SSH hosts here: netns unavailable: needs root; "
                                                   "sshd unavailable: no sshd binary; asyncssh unavailable: asyncssh"):
        ssh_hosts.choose_mode()


def test_a_requested_mode_that_cannot_run_is_refused_not_replaced(availability, monkeypatch):
    monkeypatch.setenv(ssh_hosts.ENV_MODE, "netns")
    with pytest.raises(ssh_hosts.HostsError, match="GPU_SLICING_SSH_HOSTS=netns cannot run here: needs root"):
        ssh_hosts.choose_mode()
    assert ssh_hosts.choose_mode("asyncssh") == ("asyncssh", "requested with GPU_SLICING_SSH_HOSTS=asyncssh")


def test_unknown_mode_is_refused():
    with pytest.raises(ssh_hosts.HostsError, match="unknown mode 'docker'"):
        ssh_hosts.choose_mode("docker")


# ------------------------------------------------------------------------------------------ real servers

@pytest.mark.skipif(NO_CLIENT, reason="no OpenSSH client")
@pytest.mark.parametrize("mode", LOOPBACK_MODES)
def test_loopback_hosts_run_commands_with_stdin_status_and_their_own_environment(mode, tmp_path):
    with ssh_hosts.make_hosts(2, mode=mode, environments=[{"NODE_COLOUR": "red"}, {"NODE_COLOUR": "blue"}]) as fleet:
        assert fleet.mode == mode and len(set(h.port for h in fleet)) == 2
        for host, colour in zip(fleet, ("red", "blue")):
            result = subprocess.run(host.ssh_argv("echo $NODE_COLOUR $GPU_SLICING_NODE; cat; exit 7"), input="piped\n",
                                    capture_output=True, text=True, timeout=30, check=False)
            assert result.returncode == 7, result.stderr
            assert result.stdout.split() == [colour, host.name, "piped"]
        servers = [entry["pid"] for entry in fleet.servers]
        assert all(_alive(pid) for pid in servers)
    assert all(_wait_gone(pid) for pid in servers), "a server outlived destroy()"
    assert not os.path.exists(fleet.workdir)
    assert not os.path.exists(os.path.join(ssh_hosts.state_dir(), fleet.run + ".json"))


@pytest.mark.skipif(NO_CLIENT, reason="no OpenSSH client")
@pytest.mark.parametrize("mode", LOOPBACK_MODES)
def test_a_wrong_key_is_refused(mode, tmp_path):
    other = str(tmp_path / "other_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    with ssh_hosts.make_hosts(1, mode=mode) as fleet:
        argv = fleet[0].ssh_argv("true")
        argv[argv.index("-i") + 1] = other
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 255 and "Permission denied" in result.stderr


@pytest.mark.skipif(NO_CLIENT, reason="no OpenSSH client")
@pytest.mark.parametrize("mode", LOOPBACK_MODES)
def test_ansible_runs_modules_and_copies_files_over_the_hosts(mode, tmp_path):
    """Ansible's ssh connection as the world uses it: pipelining on (stdin) and off (SFTP transfers)."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy: {content: '{{ inventory_hostname }}', dest: '%s/{{ inventory_hostname }}.txt', mode: '0644'}\n"
        "    - ansible.builtin.command: {argv: [cat, '%s/{{ inventory_hostname }}.txt']}\n"
        "      register: out\n"
        "    - ansible.builtin.assert: {that: [out.stdout == inventory_hostname]}\n" % (tmp_path, tmp_path))
    with ssh_hosts.make_hosts(2, mode=mode) as fleet:
        inventory = fleet.write_inventory(tmp_path / "inventory.yml", group="nodes", python_interpreter=sys.executable)
        for pipelining in ("true", "false"):
            env = child_env(ANSIBLE_PIPELINING=pipelining, ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_NOCOLOR="1",
                            ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
            # `python -m ansible.cli.playbook`: ansible-test's --venv leg has no ansible-playbook script beside python
            result = subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-i", inventory,
                                     str(playbook)], capture_output=True, text=True, env=env, timeout=180, check=False)
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
            assert "failed=0" in result.stdout and "unreachable=0" in result.stdout
    assert sorted(p.name for p in tmp_path.glob("node*.txt")) == ["node1.txt", "node2.txt"]


@pytest.mark.skipif(NO_CLIENT, reason="no OpenSSH client")
@pytest.mark.parametrize("mode", LOOPBACK_MODES)
def test_cleanup_stops_the_hosts_of_a_dead_owner_and_keeps_a_live_ones(mode, monkeypatch):
    monkeypatch.setattr(ssh_hosts.netns, "cleanup_leftovers", lambda: [])  # other runs' namespaces are not ours
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        orphan = ssh_hosts.make_hosts(1, mode=mode, owner_pid=owner.pid)
        kept = ssh_hosts.make_hosts(1, mode=mode)  # owned by this (live) process
        try:
            orphan_pids = [entry["pid"] for entry in orphan.servers]
            assert "%s SSH hosts %s" % (mode, orphan.run) not in ssh_hosts.cleanup_leftovers()  # owner alive
            owner.kill()
            owner.wait()
            removed = ssh_hosts.cleanup_leftovers()
            assert "%s SSH hosts %s" % (mode, orphan.run) in removed
            assert "%s SSH hosts %s" % (mode, kept.run) not in removed
            assert all(_wait_gone(pid) for pid in orphan_pids)
            assert not os.path.exists(orphan.workdir)
            assert all(_alive(entry["pid"]) for entry in kept.servers)
        finally:
            kept.destroy()
            orphan.destroy()
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_cleanup_never_signals_a_recycled_pid(tmp_path, monkeypatch):
    """A recorded server pid now used by another program (other start time) survives cleanup."""
    monkeypatch.setattr(ssh_hosts, "state_dir", lambda: str(tmp_path))
    monkeypatch.setattr(ssh_hosts.netns, "cleanup_leftovers", lambda: [])
    innocent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state = {"mode": "sshd", "run": "abc123", "workdir": str(tmp_path / "gone"), "control_paths": [],
                 "owner": {"pid": 999999999, "start": 1},
                 "servers": [{"pid": innocent.pid, "start": 12345, "marker": "python"}]}
        (tmp_path / "abc123.json").write_text(json.dumps(state))
        assert ssh_hosts.cleanup_leftovers() == ["sshd SSH hosts abc123"]
        assert innocent.poll() is None
        assert not (tmp_path / "abc123.json").exists()
    finally:
        innocent.kill()
        innocent.wait()


_KILLED_WORLD = """
import sys, time
from ansible_collections.gpu_slicing.eks.tests.support import world
w = world.World(sys.argv[1], fleet=[world.Group("gpu", "p5.48xlarge", 1, "h100-80gb", "p5-mig-1g", None)],
                ssh_mode=sys.argv[2], kube_mode="emulator")
w.start()
print("ready", flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(NO_CLIENT, reason="no OpenSSH client")
@pytest.mark.parametrize("mode", LOOPBACK_MODES)
def test_the_next_start_cleans_up_after_a_world_killed_with_sigkill(mode, tmp_path, monkeypatch):
    """kill -9 of the process that built a world leaves its SSH servers; clean_leftovers (the next demo start)
    stops them and everything else it recorded."""
    from ansible_collections.gpu_slicing.eks.tests.support import world

    monkeypatch.setattr(ssh_hosts.netns, "cleanup_leftovers", lambda: [])  # other runs' namespaces are not ours
    workdir = tmp_path / "world"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WORLD, str(workdir), mode], stdout=subprocess.PIPE,
                            env=child_env(), universal_newlines=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        state = json.loads((workdir / "state.json").read_text())
        servers = [entry["pid"] for entry in state["hosts"]["servers"]]
        recorded = [entry["pid"] for entry in state["pids"].values()]
        assert servers and all(_alive(pid) for pid in servers)
    finally:
        proc.kill()
        proc.wait()
    time.sleep(0.5)
    assert all(_alive(pid) for pid in servers), "the SSH servers should outlive a kill -9 (that is the point)"
    removed = world.clean_leftovers(str(workdir))
    assert any(("SSH hosts" in entry) for entry in removed), removed
    assert all(_wait_gone(pid) for pid in servers + recorded)
    assert not os.path.exists(os.path.join(ssh_hosts.state_dir(), state["hosts"]["run"] + ".json"))
    assert os.listdir(str(workdir)) == []
