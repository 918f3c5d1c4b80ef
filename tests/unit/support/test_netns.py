# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network-namespace SSH hosts: real sshd, real ssh client, real teardown."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import netns

REASON = netns.netns_unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=str(REASON))


def _process_gone(pid):
    """Exited (a zombie not yet reaped by init counts as exited)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _ssh_with_inventory_vars(hostvars, command):
    """ssh exactly as the inventory tells Ansible to (key, user, address, common args)."""
    argv = ["ssh", "-i", hostvars["ansible_ssh_private_key_file"], "-o", "BatchMode=yes"]
    argv += hostvars["ansible_ssh_common_args"].split()
    argv += ["%s@%s" % (hostvars["ansible_user"], hostvars["ansible_host"]), command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_two_hosts_answer_ssh_in_their_own_namespace_and_teardown_leaves_nothing():
    with netns.make_hosts(2) as fleet:
        inventory = fleet.ansible_inventory(group="gpu_nodes")
        hostvars = inventory["gpu_nodes"]["hosts"]
        assert sorted(hostvars) == ["node1", "node2"]
        for name, host in zip(["node1", "node2"], fleet):
            result = _ssh_with_inventory_vars(hostvars[name], "ip netns identify; ip -4 -o addr show dev eth0")
            assert result.returncode == 0, result.stderr
            assert result.stdout.split()[0] == host.name  # the command ran inside this host's namespace
            assert "inet %s/30" % host.address in result.stdout
        assert fleet[0].address != fleet[1].address
        names = [host.name for host in fleet]
        veths = [host.veth for host in fleet]
        sshd_pids = [host.sshd_pid for host in fleet]
        workdir = fleet.workdir
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    for name, veth, pid in zip(names, veths, sshd_pids):
        assert name not in listed
        assert veth + "@" not in links
        assert _process_gone(pid)
    assert not os.path.exists(workdir)


def test_teardown_kills_sessions_that_would_keep_the_namespace_alive():
    fleet = netns.make_hosts(1)
    host = fleet[0]
    # a long-running session inside the namespace, like an SSH ControlPersist master's server side
    lingering = subprocess.Popen(host.ssh_argv("sleep 300"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        fleet.destroy()
        assert host.name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        assert lingering.wait(timeout=15) != 0  # its server side was killed
    finally:
        if lingering.poll() is None:
            lingering.kill()


def test_cleanup_removes_namespaces_of_dead_owners_only(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with netns.make_hosts(1) as alive, netns.make_hosts(1, owner_pid=os.getpid()) as orphan:
        # pretend the second fleet's owner died (the pid of an exited process)
        state_file = os.path.join(netns.STATE_DIR, orphan[0].name + ".json")
        with open(state_file) as handle:
            state = json.load(handle)
        state["owner_pid"] = dead.pid
        with open(state_file, "w") as handle:
            json.dump(state, handle)
        removed = netns.cleanup_leftovers()
        assert orphan[0].name in removed
        assert alive[0].name not in removed
        assert subprocess.run(alive[0].ssh_argv("true"), timeout=30, check=False).returncode == 0


def test_a_namespace_deleted_by_someone_else_meanwhile_is_not_an_error(monkeypatch):
    """Two runs tear down the same leftover at once (its owner, and another run's cleanup_leftovers): the one whose
    listing is stale finds `ip netns del` failing because the namespace is gone, which is what it wanted."""
    with netns.make_hosts(1) as fleet:
        name = fleet[0].name
        listings = []
        real_list = netns._list_namespaces

        def stale_then_real():
            listings.append(1)
            if len(listings) == 1:  # the listing destroy_namespace acts on: taken before the other run deleted it
                netns._kill_namespace_processes(name)  # the other run's destroy: its sshd first, then the namespace
                subprocess.run(["ip", "netns", "del", name], check=True)
                return real_list() + [name]
            return real_list()
        monkeypatch.setattr(netns, "_list_namespaces", stale_then_real)
        netns.destroy_namespace(name, fleet[0].veth, fleet[0].workdir)
        assert name not in real_list() and not os.path.exists(os.path.join(netns.STATE_DIR, name + ".json"))
        assert _process_gone(fleet[0].sshd_pid)

        # a delete that fails while the namespace is still there is still an error, with ip's reason
        monkeypatch.setattr(netns, "_list_namespaces", lambda: real_list() + ["gse-no-such-namespace"])
        with pytest.raises(netns.NetnsError, match="ip netns del gse-no-such-namespace failed"):
            netns.destroy_namespace("gse-no-such-namespace")


def test_bad_count_is_refused_before_anything_is_created():
    before = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    with pytest.raises(ValueError, match="between 1 and 64"):
        netns.make_hosts(0)
    assert subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout == before


@pytest.mark.skipif(shutil.which("ansible") is None, reason="ansible CLI not on PATH")
def test_ansible_reaches_hosts_through_the_written_inventory(tmp_path):
    with netns.make_hosts(1) as fleet:
        inventory = fleet.write_inventory(tmp_path / "inventory.yml", group="gpu_nodes")
        result = subprocess.run(["ansible", "gpu_nodes", "-i", inventory, "-m", "ansible.builtin.command",
                                 "-a", "ip netns identify"], capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False"), check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert fleet[0].name in result.stdout
