# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real SSH hosts that play GPU nodes, with or without root.

Three ways to get them, best first (``choose_mode`` picks; ``GPU_SLICING_SSH_HOSTS=netns|sshd|asyncssh``
forces one):

  netns     root + iproute2 + openssh-server: one network namespace per node with its own address and sshd
            (``netns.py``); the closest to a real fleet (one IP per node, port 22, root login).
  sshd      no root, an ``sshd`` binary: one unprivileged OpenSSH sshd per node on its own loopback port, with
            its own host key, config, log and environment (``SetEnv GPU_SLICING_NODE=<name>``); logins as the
            current user (OpenSSH runs without privilege separation when started by a normal user).
  asyncssh  no sshd binary: the pure-Python SSH server of the pinned ``asyncssh`` (PyPI), one listener per node
            on its own loopback port with its own host key and environment, exec + SFTP; logins as the
            current user. The client side is always the OpenSSH ``ssh`` of Ansible's ssh connection.

All three return a fleet with the same API as ``netns.make_hosts``: iterate over hosts; each host has
``name``, ``address``, ``port``, ``user``, ``client_key``, ``workdir``, ``hostvars()``, ``ssh_argv()``;
``fleet.destroy()`` (or ``with``), ``fleet.state()``, ``fleet.write_inventory()``.

Leftovers: every loopback fleet records its server pids (with their start times) in
``<tmp>/gse-hosts-<uid>/<run>.json`` together with its owner process; ``cleanup_leftovers()`` (called by
``make_hosts``) stops the servers of fleets whose owner is gone and never touches a live fleet or a recycled
pid.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import getpass
import glob
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

from . import child_env, netns
from .ports import LOOPBACK, free_port

MODES = ("netns", "sshd", "asyncssh")
ENV_MODE = "GPU_SLICING_SSH_HOSTS"
SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/opt/homebrew/sbin/sshd", "/sbin/sshd")
ASYNCSSH_SERVER = "ansible_collections.gpu_slicing.eks.tests.support.asyncssh_server"
SSH_COMMON_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"

# netns.py's sshd config (keys only, no PAM, no strict modes) on a loopback port, for one user, with the node's environment
SSHD_CONFIG_EXTRA = """\
AllowUsers {user}
SetEnv {environment}
"""


def sshd_config(port, address, host_key, pid_file, authorized_keys, user, environment):
    base = netns.SSHD_CONFIG.format(host_key=host_key, pid_file=pid_file, authorized_keys=authorized_keys)
    if "Port 22\nListenAddress 0.0.0.0\n" not in base:
        raise HostsError("netns.SSHD_CONFIG no longer has the Port/ListenAddress lines this module replaces")
    base = base.replace("Port 22\nListenAddress 0.0.0.0\n", "Port %d\nListenAddress %s\n" % (port, address))
    env_line = " ".join("%s=%s" % kv for kv in sorted(environment.items()))
    return base + SSHD_CONFIG_EXTRA.format(user=user, environment=env_line)


class HostsError(RuntimeError):
    pass


def find_sshd():
    """Path of an OpenSSH server binary, or None."""
    for path in (netns.SSHD,) + SSHD_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("sshd")


def _asyncssh_version():
    try:
        import asyncssh
    except ImportError:
        return None
    return asyncssh.__version__


def mode_unavailable_reason(mode):
    """None when ``mode`` can run here, else why not (one line)."""
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return "%s not found: Ansible's ssh connection needs the OpenSSH client (install openssh-client)" % tool
    if mode == "netns":
        return netns.netns_unavailable_reason()
    if mode == "sshd":
        return None if find_sshd() else "no sshd binary (openssh-server is not installed)"
    if mode == "asyncssh":
        return None if _asyncssh_version() else "the asyncssh package is not installed (it is in requirements-dev.txt)"
    return "unknown mode %r (choose one of %s)" % (mode, ", ".join(MODES))


def choose_mode(requested=None):
    """``(mode, why)``: the best mode that works here, or the requested one (argument or $GPU_SLICING_SSH_HOSTS).

    Raises ``HostsError`` when the requested mode cannot run, or none can.
    """
    requested = requested or os.environ.get(ENV_MODE) or "auto"
    if requested != "auto":
        reason = mode_unavailable_reason(requested)
        if reason:
            raise HostsError("%s=%s cannot run here: %s" % (ENV_MODE, requested, reason))
        return requested, "requested with %s=%s" % (ENV_MODE, requested)
    skipped = []
    for mode in MODES:
        reason = mode_unavailable_reason(mode)
        if reason is None:
            return mode, "; ".join(skipped) if skipped else "root, iproute2 and sshd are here"
        skipped.append("%s unavailable: %s" % (mode, reason))
    raise HostsError("no way to run SSH hosts here: %s" % "; ".join(skipped))


def describe(mode):
    """One line that says what the GPU nodes are in ``mode``."""
    if mode == "netns":
        return "one network namespace per node (own IP, port 22) with its own OpenSSH sshd, root login"
    if mode == "sshd":
        return "one unprivileged OpenSSH sshd per node on its own 127.0.0.1 port (own host key and environment), " \
               "login as %s" % getpass.getuser()
    return "one pure-Python SSH server (asyncssh %s) listener per node on its own 127.0.0.1 port (own host key " \
           "and environment), login as %s" % (_asyncssh_version(), getpass.getuser())


# ------------------------------------------------------------------------------------------ leftovers

def state_dir():
    return os.path.join(tempfile.gettempdir(), "gse-hosts-%d" % os.getuid())


def _start_time(pid):
    return netns._process_start_time(pid)


def cmdline(pid):
    """The command line of ``pid`` as one string ("" when it is gone)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _same_process(entry):
    """True when the recorded pid still is the recorded process (start time, and command line marker)."""
    pid = entry.get("pid")
    if not pid or _start_time(pid) != entry.get("start"):
        return False
    marker = entry.get("marker")
    return not marker or marker in cmdline(pid)


def _stop(entry, timeout=5.0):
    if not _same_process(entry):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(entry["pid"], sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if os.waitpid(entry["pid"], os.WNOHANG)[0] == entry["pid"]:
                    return
            except ChildProcessError:
                pass
            if _start_time(entry["pid"]) != entry.get("start"):
                return
            time.sleep(0.05)


def close_masters(prefix):
    """Ask every ssh ControlMaster whose socket starts with ``prefix`` to exit, then remove what is left.

    An unprivileged sshd serves each connection in a process of its own session: stopping the listener does
    not end a session that a persistent Ansible master keeps open. Closing the masters does.
    """
    for path in glob.glob(prefix + "*"):
        if not os.path.basename(path).startswith(os.path.basename(prefix)):
            continue
        subprocess.run(["ssh", "-o", "ControlPath=%s" % path, "-O", "exit", "gse-host"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=False)
        try:
            os.unlink(path)
        except OSError:
            pass


def stop_recorded(state):
    """Stop the servers recorded in a loopback fleet's ``state()`` and remove its files; idempotent."""
    for prefix in state.get("control_paths", []):
        close_masters(prefix)
    for entry in state.get("servers", []):
        _stop(entry)
    if state.get("workdir"):
        shutil.rmtree(state["workdir"], ignore_errors=True)
    if state.get("run"):
        try:
            os.unlink(os.path.join(state_dir(), state["run"] + ".json"))
        except OSError:
            pass


def cleanup_leftovers():
    """Stop loopback fleets (of this user) whose owner process is gone, and namespaces likewise; return names."""
    removed = []
    for path in glob.glob(os.path.join(state_dir(), "*.json")):
        try:
            with open(path) as handle:
                state = json.load(handle)
        except (OSError, ValueError):
            continue
        if _same_process(state.get("owner", {})):
            continue
        stop_recorded(state)
        removed.append("%s SSH hosts %s" % (state.get("mode"), state.get("run")))
    if os.geteuid() == 0 and shutil.which("ip"):
        removed += netns.cleanup_leftovers()
    return removed


# ------------------------------------------------------------------------------------------ loopback hosts

class LoopbackHost:
    """One simulated node: an SSH server on 127.0.0.1:``port`` for the current user."""

    def __init__(self, name, port, workdir, client_key, control_path_prefix):
        self.name = name
        self.address = LOOPBACK
        self.port = port
        self.user = getpass.getuser()
        self.workdir = workdir
        self.client_key = client_key
        self.control_path_prefix = control_path_prefix
        self.host_key = os.path.join(workdir, "ssh_host_ed25519_key")

    def ssh_argv(self, command):
        return (["ssh", "-i", self.client_key, "-p", str(self.port)] + netns.SSH_OPTIONS
                + ["%s@%s" % (self.user, self.address), command])

    def hostvars(self, python_interpreter=None):
        return {
            "ansible_host": self.address,
            "ansible_port": self.port,
            "ansible_user": self.user,
            "ansible_ssh_private_key_file": self.client_key,
            "ansible_ssh_common_args": SSH_COMMON_ARGS,
            # short socket paths (sun_path is 108 bytes); %C hashes host, port and user, so nodes never share one
            "ansible_ssh_args": "-C -o ControlMaster=auto -o ControlPersist=5s -o ControlPath=%s%%C" % self.control_path_prefix,
            "ansible_python_interpreter": python_interpreter or sys.executable,
        }

    def wait(self, alive, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.address, self.port), timeout=1.0) as sock:
                    if sock.recv(64).startswith(b"SSH-2.0-"):
                        return
            except OSError:
                pass
            if not alive():
                raise HostsError("the SSH server of %s exited before it answered on port %d; see %s"
                                 % (self.name, self.port, self.workdir))
            if time.monotonic() >= deadline:
                raise HostsError("the SSH server of %s does not answer on %s:%d after %.0fs"
                                 % (self.name, self.address, self.port, timeout))
            time.sleep(0.05)


class LoopbackFleet(netns.NetnsFleet):
    """Hosts of one ``make_hosts`` call in the ``sshd`` or ``asyncssh`` mode; a context manager."""

    def __init__(self, mode, run, workdir, owner_pid):
        super(LoopbackFleet, self).__init__([], workdir)
        self.mode = mode
        self.run = run
        self.servers = []        # {"pid", "start", "marker"}
        self.owner_pid = owner_pid

    def state(self):
        owner = self.owner_pid
        if owner == "sshd":  # CLI fleets live as long as their first server
            owner = self.servers[0]["pid"] if self.servers else os.getpid()
        owner = owner or os.getpid()
        return {"mode": self.mode, "run": self.run, "workdir": self.workdir,
                "owner": {"pid": owner, "start": _start_time(owner)},
                "servers": list(self.servers),
                "control_paths": sorted(set(h.control_path_prefix for h in self.hosts)),
                "hosts": [{"name": h.name, "address": h.address, "port": h.port, "user": h.user,
                           "client_key": h.client_key, "workdir": h.workdir} for h in self.hosts]}

    def save(self):
        os.makedirs(state_dir(), mode=0o700, exist_ok=True)
        path = os.path.join(state_dir(), self.run + ".json")
        with open(path + ".tmp", "w") as handle:
            json.dump(self.state(), handle, indent=2)
        os.replace(path + ".tmp", path)

    def track(self, pid, marker):
        self.servers.append({"pid": pid, "start": _start_time(pid), "marker": marker})
        self.save()

    def destroy(self):
        stop_recorded(self.state())
        self.servers = []


def proc_alive(proc):
    """A callable: is ``proc`` (a Popen) still running?"""
    return lambda: proc.poll() is None


def _keygen(path, comment):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _start_sshd(fleet, host, authorized_keys, environment, attempts=5):
    sshd = find_sshd()
    config = os.path.join(host.workdir, "sshd_config")
    pid_file = os.path.join(host.workdir, "sshd.pid")
    log = os.path.join(host.workdir, "sshd.log")
    if os.geteuid() == 0:  # as root sshd insists on its privilege-separation directory
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    for attempt in range(attempts):
        with open(config, "w") as handle:
            handle.write(sshd_config(host.port, host.address, host.host_key, pid_file, authorized_keys, host.user,
                                     environment))
        check = subprocess.run([sshd, "-t", "-f", config], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise HostsError("%s rejects %s: %s" % (sshd, config, check.stderr.strip()))
        # -D: stay in the foreground so the pid is ours; own session so a terminal's Ctrl-C goes to the demo only
        proc = subprocess.Popen([sshd, "-D", "-f", config, "-E", log], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        fleet.track(proc.pid, config)
        try:
            host.wait(proc_alive(proc))
            return
        except HostsError:
            if proc.poll() is None or attempt == attempts - 1:
                raise
            host.port = free_port()  # lost the race for the port: try another one


def _start_asyncssh(fleet, authorized_keys, environments):
    spec = os.path.join(fleet.workdir, "asyncssh-hosts.json")
    with open(spec, "w") as handle:
        json.dump({"authorized_keys": authorized_keys, "user": getpass.getuser(),
                   "hosts": [{"name": h.name, "address": h.address, "port": h.port, "host_key": h.host_key,
                              "env": env, "log": os.path.join(h.workdir, "server.log")}
                             for h, env in zip(fleet.hosts, environments)]}, handle, indent=2)
    log = open(os.path.join(fleet.workdir, "asyncssh-server.log"), "ab")
    proc = subprocess.Popen([sys.executable, "-m", ASYNCSSH_SERVER, "--spec", spec], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, env=child_env(), start_new_session=True)
    log.close()
    fleet.track(proc.pid, spec)
    for host in fleet.hosts:
        host.wait(proc_alive(proc), timeout=30.0)


def make_hosts(count, mode=None, owner_pid=None, workdir=None, environments=None):
    """Create ``count`` SSH hosts; return a fleet (``netns.NetnsFleet`` or ``LoopbackFleet``) with ``.mode``.

    ``mode``: netns | sshd | asyncssh | auto/None (``choose_mode``). ``environments``: one dict per host of
    variables every session on it gets (loopback modes; a namespace host shares the machine's environment).
    ``owner_pid``: whose death makes the hosts leftovers (default this process; "sshd" = the servers themselves).
    """
    if not 1 <= count <= 512:
        raise ValueError("count must be between 1 and 512, got %r" % (count,))
    mode = choose_mode(mode)[0]
    cleanup_leftovers()
    if mode == "netns":
        if count > 64:
            raise ValueError("network-namespace hosts: at most 64 (one /30 each), got %d" % count)
        fleet = netns.make_hosts(count, owner_pid=owner_pid, workdir=workdir)
        fleet.mode = mode
        for host in fleet:  # the loopback hosts' attributes, for callers that handle every mode alike
            host.port, host.user = 22, "root"
        return fleet
    environments = environments or [{} for dummy in range(count)]
    run = uuid.uuid4().hex[:6]
    # a short path: the ssh ControlPath socket (prefix + 40 chars of %C + 17 while binding) must fit in 108 bytes
    workdir = workdir or tempfile.mkdtemp(prefix="gse-%s-" % run)
    os.makedirs(workdir, exist_ok=True)
    os.chmod(workdir, 0o700)
    fleet = LoopbackFleet(mode, run, workdir, owner_pid)
    try:
        client_key = os.path.join(workdir, "id_ed25519")
        _keygen(client_key, "gse-hosts-client")
        authorized_keys = os.path.join(workdir, "authorized_keys")
        shutil.copyfile(client_key + ".pub", authorized_keys)
        control = os.path.join(tempfile.gettempdir(), "gse-%s-" % run)
        for index in range(count):
            host_dir = os.path.join(workdir, "host%d" % index)
            os.makedirs(host_dir)
            host = LoopbackHost("gse-%s-%d" % (run, index), free_port(), host_dir, client_key, control)
            _keygen(host.host_key, host.name)
            fleet.hosts.append(host)
        fleet.save()
        for host, env in zip(fleet.hosts, environments):
            env.setdefault("GPU_SLICING_NODE", host.name)
        if mode == "sshd":
            for host, env in zip(fleet.hosts, environments):
                _start_sshd(fleet, host, authorized_keys, env)
        else:
            _start_asyncssh(fleet, authorized_keys, environments)
        fleet.save()
    except BaseException:
        fleet.destroy()
        raise
    return fleet


def destroy_state(state):
    """Tear down a fleet from its ``state()`` (the CLI / another process): namespaces or loopback servers."""
    if state.get("mode", "netns") == "netns" and "servers" not in state:
        for host in state.get("hosts", []):
            netns.destroy_namespace(host["name"], host["veth"], host["workdir"])
        if state.get("workdir"):
            shutil.rmtree(state["workdir"], ignore_errors=True)
        return
    stop_recorded(state)


def fleet_state(fleet):
    """``fleet.state()`` plus its mode (netns fleets do not record it themselves)."""
    return dict(fleet.state(), mode=fleet.mode)
