# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real SSH hosts in Linux network namespaces ("GPU nodes" without VMs or containers).

Each host is a network namespace with a veth pair (a /30 in 10.213.0.0/16, host side .1, namespace
side .2, called eth0 inside) and its own sshd (own config, host key, key-only root login with a
throwaway client key). Namespaces share the file system, so a fake ``nvidia-smi`` must live at a
per-host path if hosts should differ. Needs root and iproute2 + openssh-server.

    with make_hosts(2) as fleet:
        fleet.write_inventory(tmp_path / "inventory.yml", group="gpu_nodes")
        subprocess.run(fleet.hosts[0].ssh_argv("hostname"), check=True)

Teardown kills every pid in the namespace (``ip netns pids``) before ``ip netns del`` (a surviving
sshd session would keep the namespace and its veth alive), then deletes the veth. Namespaces left by
a crashed run (their owner process is gone) are removed by ``cleanup_leftovers()``, which
``make_hosts`` calls first; namespaces of other live runs are never touched.

CLI (molecule, demo)::

    python -m ansible_collections.gpu_slicing.eks.tests.support.netns up --count 3 --state S --inventory I
    python -m ansible_collections.gpu_slicing.eks.tests.support.netns down --state S
    python -m ansible_collections.gpu_slicing.eks.tests.support.netns cleanup
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import fcntl
import glob
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

PREFIX = "gse-"                      # namespace names: gse-<run>-<index>
VETH_PREFIX = "gse"                  # host-side veth: gse<run>h<index> (<= 15 chars, kernel limit)
NETWORK = ipaddress.ip_network("10.213.0.0/16")  # private test range, one /30 per host
STATE_DIR = "/run/gse-netns"         # one JSON file per namespace: owner pid, veth, work dir
SSHD = "/usr/sbin/sshd"
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]

SSHD_CONFIG = """\
# sshd for one test namespace; nothing here is used outside the namespace
Port 22
ListenAddress 0.0.0.0
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
LogLevel ERROR
"""


class NetnsError(RuntimeError):
    pass


def netns_unavailable_reason():
    """None when network-namespace hosts can be made here, else why not (for pytest.skip)."""
    if os.geteuid() != 0:
        return "network-namespace SSH hosts need root (ip netns, veth, sshd)"
    for tool in ("ip", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return "%s not found (install iproute2 / openssh-client)" % tool
    if not os.access(SSHD, os.X_OK):
        return "%s not found (install openssh-server)" % SSHD
    probe = "%sprobe-%d" % (PREFIX, os.getpid())
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return "`ip netns add` failed: %s" % result.stderr.strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _run(argv, check=True):
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetnsError("%s failed (rc %d): %s" % (" ".join(argv), result.returncode, result.stderr.strip()))
    return result


def _process_start_time(pid):
    """Start time of ``pid`` in clock ticks (field 22 of /proc/PID/stat), None if it is gone.

    Stored with the pid so a recycled pid is not mistaken for a live owner.
    """
    try:
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _owner_alive(state):
    pid = state.get("owner_pid")
    return bool(pid) and _process_start_time(pid) == state.get("owner_start")


def _list_namespaces():
    output = _run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in output.splitlines() if line.strip()]


def _netns_pids(name):
    result = _run(["ip", "netns", "pids", name], check=False)
    return [int(pid) for pid in result.stdout.split()] if result.returncode == 0 else []


def _kill_namespace_processes(name, timeout=5.0):
    pids = _netns_pids(name)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while _netns_pids(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in _netns_pids(name):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while _netns_pids(name):
        if time.monotonic() >= deadline:
            raise NetnsError("processes %s in namespace %s survive SIGKILL" % (_netns_pids(name), name))
        time.sleep(0.05)


def _state_path(name):
    return os.path.join(STATE_DIR, name + ".json")


def _read_state(name):
    try:
        with open(_state_path(name)) as handle:
            return json.load(handle)
    except (FileNotFoundError, ValueError):
        return {}


def destroy_namespace(name, veth=None, workdir=None):
    """Kill every process in namespace ``name``, delete it, its veth and its state; idempotent.

    Safe against a concurrent destroy of the same namespace (its owner tearing down while another run's
    ``cleanup_leftovers`` sees the owner gone, e.g. a CLI fleet whose owner is its sshd): a namespace that someone
    else deleted meanwhile is not an error."""
    if name in _list_namespaces():
        _kill_namespace_processes(name)
        deleted = _run(["ip", "netns", "del", name], check=False)
        if deleted.returncode != 0 and name in _list_namespaces():
            raise NetnsError("ip netns del %s failed (rc %d): %s" % (name, deleted.returncode, deleted.stderr.strip()))
    if veth and _run(["ip", "link", "show", "dev", veth], check=False).returncode == 0:
        _run(["ip", "link", "del", "dev", veth], check=False)  # usually gone with its peer
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    try:
        os.unlink(_state_path(name))
    except FileNotFoundError:
        pass


def cleanup_leftovers(prefix=PREFIX):
    """Remove namespaces named ``prefix*`` whose owner process is gone; return their names.

    Namespaces of live owners (another test run, a CLI fleet whose sshd still runs) are kept.
    """
    removed = []
    for name in _list_namespaces():
        if not name.startswith(prefix):
            continue
        state = _read_state(name)
        if _owner_alive(state):
            continue
        destroy_namespace(name, state.get("veth"), state.get("workdir"))
        removed.append(name)
    return removed


def _used_networks():
    """The /30s already taken: addresses on host interfaces plus our recorded hosts."""
    used = set()
    output = _run(["ip", "-4", "-o", "addr", "show"]).stdout
    for line in output.split("\n"):
        fields = line.split()
        if "inet" in fields:
            interface = ipaddress.ip_interface(fields[fields.index("inet") + 1])
            used.add(ipaddress.ip_network("%s/30" % interface.ip, strict=False))
    if os.path.isdir(STATE_DIR):
        for entry in os.listdir(STATE_DIR):
            if entry.endswith(".json"):
                address = _read_state(entry[:-5]).get("address")
                if address:
                    used.add(ipaddress.ip_network("%s/30" % address, strict=False))
    return used


def _free_network():
    used = _used_networks()
    for index, subnet in enumerate(NETWORK.subnets(new_prefix=30)):
        if index > 0 and subnet not in used:  # 10.213.0.0/30 is left to hand-made namespaces
            return subnet
    raise NetnsError("no free /30 left in %s" % NETWORK)


class _StateLock:
    """Serialises address allocation between concurrent test runs."""

    def __enter__(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        self.handle = open(os.path.join(STATE_DIR, ".lock"), "w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


class NetnsHost:
    """One namespace with a veth and an sshd; ``address`` is where SSH answers."""

    def __init__(self, name, veth, subnet, workdir, client_key):
        self.name = name
        self.veth = veth
        hosts = list(subnet.hosts())
        self.host_address = str(hosts[0])   # our side of the veth
        self.address = str(hosts[1])        # the namespace side (eth0)
        self.prefixlen = subnet.prefixlen
        self.workdir = workdir
        self.client_key = client_key
        self.sshd_pid = None

    def create(self, owner_pid=None, owner_authorized_keys=None):
        os.makedirs(self.workdir, exist_ok=True)
        state = {"name": self.name, "veth": self.veth, "address": self.address, "workdir": self.workdir}
        self._write_state(dict(state, owner_pid=os.getpid(), owner_start=_process_start_time(os.getpid())))
        _run(["ip", "netns", "add", self.name])
        head, dummy, index = self.veth.rpartition("h")
        peer = head + "n" + index  # renamed to eth0 once inside
        _run(["ip", "link", "add", self.veth, "type", "veth", "peer", "name", peer, "netns", self.name])
        _run(["ip", "addr", "add", "%s/%d" % (self.host_address, self.prefixlen), "dev", self.veth])
        _run(["ip", "link", "set", self.veth, "up"])
        self.exec(["ip", "link", "set", "lo", "up"])
        self.exec(["ip", "link", "set", peer, "name", "eth0"])
        self.exec(["ip", "addr", "add", "%s/%d" % (self.address, self.prefixlen), "dev", "eth0"])
        self.exec(["ip", "link", "set", "eth0", "up"])
        self.exec(["ip", "route", "add", "default", "via", self.host_address])
        self._start_sshd(owner_authorized_keys)
        if owner_pid == "sshd":  # CLI fleets live as long as their sshd
            owner_pid = self.sshd_pid
        owner_pid = owner_pid or os.getpid()
        self._write_state(dict(state, owner_pid=owner_pid, owner_start=_process_start_time(owner_pid)))
        return self

    def _write_state(self, state):
        with open(_state_path(self.name), "w") as handle:
            json.dump(state, handle)

    def _start_sshd(self, authorized_keys):
        host_key = os.path.join(self.workdir, "ssh_host_ed25519_key")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", host_key])
        config = os.path.join(self.workdir, "sshd_config")
        pid_file = os.path.join(self.workdir, "sshd.pid")
        with open(config, "w") as handle:
            handle.write(SSHD_CONFIG.format(host_key=host_key, pid_file=pid_file, authorized_keys=authorized_keys))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege-separation dir sshd insists on
        _run([SSHD, "-t", "-f", config])
        self.exec([SSHD, "-f", config, "-E", os.path.join(self.workdir, "sshd.log")])
        self._wait_for_ssh()
        with open(pid_file) as handle:
            self.sshd_pid = int(handle.read().strip())

    def _wait_for_ssh(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.address, 22), timeout=1.0) as sock:
                    if sock.recv(64).startswith(b"SSH-2.0-"):
                        return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise NetnsError("sshd in %s does not answer on %s:22 after %.0fs" % (self.name, self.address, timeout))
            time.sleep(0.05)

    def exec(self, argv, check=True):
        """Run ``argv`` inside the namespace (as root, on the shared file system)."""
        return _run(["ip", "netns", "exec", self.name] + list(argv), check=check)

    def ssh_argv(self, command):
        """argv for ``ssh root@host command`` with the throwaway key."""
        return ["ssh", "-i", self.client_key] + SSH_OPTIONS + ["root@%s" % self.address, command]

    @property
    def control_path_prefix(self):
        return "/tmp/%s-" % self.name.rsplit("-", 1)[0]   # /tmp/gse-<run>-

    def destroy(self):
        destroy_namespace(self.name, self.veth, self.workdir)
        for entry in glob.glob(self.control_path_prefix + "*"):
            try:
                os.unlink(entry)
            except OSError:
                pass
        self.sshd_pid = None

    def hostvars(self, python_interpreter=None):
        return {
            "ansible_host": self.address,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": self.client_key,
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            # short-lived masters with short socket paths (sun_path is 108 bytes; ssh appends 17 chars while
            # binding, so a path under a deep work dir fails); destroy() removes what is left
            "ansible_ssh_args": "-C -o ControlMaster=auto -o ControlPersist=5s -o ControlPath=%s%%C" % self.control_path_prefix,
            "ansible_python_interpreter": python_interpreter or _default_python(),
        }


def _default_python():
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


class NetnsFleet:
    """The hosts of one ``make_hosts`` call; a context manager that destroys them all."""

    def __init__(self, hosts, workdir):
        self.hosts = hosts
        self.workdir = workdir

    def __iter__(self):
        return iter(self.hosts)

    def __len__(self):
        return len(self.hosts)

    def __getitem__(self, index):
        return self.hosts[index]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.destroy()

    def destroy(self):
        errors = []
        for host in self.hosts:
            try:
                host.destroy()
            except NetnsError as exc:
                errors.append(str(exc))
        shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            raise NetnsError("; ".join(errors))

    def ansible_inventory(self, group="netns_hosts", names=None, python_interpreter=None):
        return ansible_inventory(self.hosts, group=group, names=names, python_interpreter=python_interpreter)

    def write_inventory(self, path, group="netns_hosts", names=None, python_interpreter=None):
        """Write a YAML inventory (JSON is valid YAML); return its path."""
        with open(str(path), "w") as handle:
            json.dump(self.ansible_inventory(group, names, python_interpreter), handle, indent=2)
        return str(path)

    def state(self):
        return {"workdir": self.workdir,
                "hosts": [{"name": h.name, "veth": h.veth, "address": h.address, "client_key": h.client_key,
                           "workdir": h.workdir} for h in self.hosts]}


def ansible_inventory(hosts, group="netns_hosts", names=None, python_interpreter=None):
    """An Ansible YAML-inventory dict: ``{group: {hosts: {name: hostvars}}}``.

    ``names`` gives inventory host names (default ``node1``, ``node2``, ...).
    """
    names = names or ["node%d" % (index + 1) for index in range(len(hosts))]
    if len(names) != len(hosts):
        raise ValueError("%d names for %d hosts" % (len(names), len(hosts)))
    return {group: {"hosts": {name: host.hostvars(python_interpreter) for name, host in zip(names, hosts)}}}


def make_hosts(count, owner_pid=None, workdir=None):
    """Create ``count`` namespace SSH hosts; return a ``NetnsFleet`` (use it as a context manager).

    ``owner_pid``: the process whose death makes the hosts leftovers (default: this process; the CLI
    passes "sshd" so each host lives as long as its own sshd).
    """
    if not 1 <= count <= 64:
        raise ValueError("count must be between 1 and 64, got %r" % (count,))
    reason = netns_unavailable_reason()
    if reason:
        raise NetnsError(reason)
    cleanup_leftovers()
    run_id = uuid.uuid4().hex[:6]
    workdir = workdir or tempfile.mkdtemp(prefix="gse-netns-%s-" % run_id)
    os.chmod(workdir, 0o700)
    client_key = os.path.join(workdir, "id_ed25519")
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gse-netns-client", "-f", client_key])
    authorized_keys = os.path.join(workdir, "authorized_keys")
    shutil.copyfile(client_key + ".pub", authorized_keys)
    fleet = NetnsFleet([], workdir)
    try:
        for index in range(count):
            with _StateLock():
                host = NetnsHost("%s%s-%d" % (PREFIX, run_id, index), "%s%sh%d" % (VETH_PREFIX, run_id, index),
                                 _free_network(), os.path.join(workdir, "host%d" % index), client_key)
                fleet.hosts.append(host)
                host.create(owner_pid=owner_pid, owner_authorized_keys=authorized_keys)
    except BaseException:
        fleet.destroy()
        raise
    return fleet


def _cmd_up(args):
    fleet = make_hosts(args.count, owner_pid="sshd")
    with open(args.state, "w") as handle:
        json.dump(fleet.state(), handle, indent=2)
    if args.inventory:
        fleet.write_inventory(args.inventory, group=args.group)
    for host in fleet:
        print("%s %s" % (host.name, host.address))
    return 0


def _cmd_down(args):
    try:
        with open(args.state) as handle:
            state = json.load(handle)
    except FileNotFoundError:
        print("no state file %s: nothing to tear down" % args.state)
        return 0
    for host in state["hosts"]:
        destroy_namespace(host["name"], host["veth"], host["workdir"])
    shutil.rmtree(state["workdir"], ignore_errors=True)
    os.unlink(args.state)
    return 0


def _cmd_cleanup(args):
    for name in cleanup_leftovers():
        print("removed %s" % name)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="netns", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="create SSH hosts that live until `down`")
    up.add_argument("--count", type=int, default=1)
    up.add_argument("--state", required=True, help="JSON file recording the hosts (for `down`)")
    up.add_argument("--inventory", help="write an Ansible YAML inventory here")
    up.add_argument("--group", default="netns_hosts", help="inventory group name")
    up.set_defaults(func=_cmd_up)
    down = commands.add_parser("down", help="destroy the hosts recorded in a state file")
    down.add_argument("--state", required=True)
    down.set_defaults(func=_cmd_down)
    cleanup = commands.add_parser("cleanup", help="remove namespaces whose owner process is gone")
    cleanup.set_defaults(func=_cmd_cleanup)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (NetnsError, ValueError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
