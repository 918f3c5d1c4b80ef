# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pure-Python SSH server (asyncssh) for simulated GPU nodes on machines without an sshd binary.

One process serves every host of a fleet, each on its own loopback port with its own host key and its own
environment. It accepts public-key logins of one user (the one running it) with the fleet's client key, runs
each exec request as ``/bin/sh -c COMMAND`` with stdin/stdout/stderr and the exit status passed through (what
Ansible's ssh connection with pipelining needs), and serves SFTP (what it uses to copy files otherwise).
There is no shell, no PTY and no port forwarding: Ansible needs none of them.

    python -m ansible_collections.gpu_slicing.eks.tests.support.asyncssh_server --spec hosts.json

spec (JSON)::

    {"authorized_keys": PATH, "user": NAME,
     "hosts": [{"name": N, "address": "127.0.0.1", "port": P, "host_key": PATH, "env": {...}, "log": PATH}]}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import asyncio
import json
import os
import signal
import sys

import asyncssh

CHUNK = 1 << 16


class _Server(asyncssh.SSHServer):
    def __init__(self, user, keys, log):
        self.user = user
        self.keys = keys
        self.log = log

    def begin_auth(self, username):
        return True  # authentication is always required

    def password_auth_supported(self):
        return False

    def public_key_auth_supported(self):
        return True

    def validate_public_key(self, username, key):
        accepted = username == self.user and key.public_data in self.keys
        if not accepted:
            self.log("refused %s (%s)" % (username, "unknown key" if username == self.user else "unknown user"))
        return accepted


async def _pump(source, sink, close=False):
    try:
        while True:
            data = await source.read(CHUNK)
            if not data:
                break
            sink.write(data)
            await sink.drain()
    except (BrokenPipeError, ConnectionResetError, asyncssh.Error):
        pass
    finally:
        if close:
            try:
                sink.close()
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass


def _handler(host_env):
    async def handle(process):
        if not process.command:
            process.stderr.write(b"this test host runs commands only (no interactive shell)\n")
            process.exit(1)
            return
        env = dict(os.environ)
        env.update(host_env)
        env.update(process.env or {})
        child = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", process.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=os.path.expanduser("~"), start_new_session=True)
        feeder = asyncio.ensure_future(_pump(process.stdin, child.stdin, close=True))
        await asyncio.gather(_pump(child.stdout, process.stdout), _pump(child.stderr, process.stderr))
        status = await child.wait()
        feeder.cancel()
        process.exit(status if status >= 0 else 128 - status)
    return handle


async def serve(spec):
    keys = set(key.public_data for key in asyncssh.read_public_key_list(spec["authorized_keys"]))
    servers = []
    for host in spec["hosts"]:
        log_path = host.get("log")

        def log(message, _path=log_path):
            if _path:
                with open(_path, "a") as handle:
                    handle.write(message + "\n")

        env = dict(host.get("env") or {})
        server = await asyncssh.create_server(
            lambda _user=spec["user"], _log=log: _Server(_user, keys, _log), host["address"], host["port"],
            server_host_keys=[host["host_key"]], process_factory=_handler(env), sftp_factory=True,
            encoding=None, allow_scp=True, agent_forwarding=False, x11_forwarding=False,
            allow_pty=False, line_editor=False)
        servers.append(server)
        log("listening on %s:%d" % (host["address"], host["port"]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"listening": [h["port"] for h in spec["hosts"]]}), flush=True)
    await stop.wait()
    for server in servers:
        server.close()
        await server.wait_closed()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="JSON file describing the hosts")
    args = parser.parse_args(argv)
    with open(args.spec) as handle:
        spec = json.load(handle)
    asyncio.run(serve(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
