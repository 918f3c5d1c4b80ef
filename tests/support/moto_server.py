# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""moto in server mode (EC2 and friends over real HTTP) on a free loopback port.

Ansible modules and inventory plugins run in child processes, so in-process ``mock_aws`` cannot
reach them; a real HTTP server can. Use it as a context manager in tests::

    with MotoServer() as moto:
        env = dict(os.environ, **moto.env())        # AWS_ENDPOINT_URL + dummy credentials
        ...
        moto.reset()                                # forget all state between cases

or from a shell (molecule, demo)::

    python -m ansible_collections.gpu_slicing.eks.tests.support.moto_server serve --port 5055 --pidfile moto.pid
    python -m ansible_collections.gpu_slicing.eks.tests.support.moto_server stop --pidfile moto.pid
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from urllib.request import Request, urlopen

from ansible_collections.gpu_slicing.eks.tests.support.ports import LOOPBACK, free_port, wait_for_port

# Dummy values moto accepts; they are not secrets and never reach AWS.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
DEFAULT_REGION = "us-east-1"


# Runs moto's own CLI, plus a thread that ends the server when its starter is gone: ansible-test units
# runs each test in a fork that leaves with os._exit, so a crashed or killed test must not leave moto behind.
_WITH_PARENT = """
import os, sys, threading, time
parent = int(sys.argv.pop(1))
def watch():
    while True:
        time.sleep(1)
        try:
            os.kill(parent, 0)
        except OSError:
            os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
"""


class MotoServer:
    """A ``moto.server`` subprocess bound to ``host:port`` (a free loopback port by default)."""

    def __init__(self, host=LOOPBACK, port=None, log_path=None, start_timeout=30.0):
        if not host.startswith("127."):
            raise ValueError("MotoServer only listens on 127.0.0.0/8, not %r" % host)
        self.host = host
        self.port = port
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.process = None

    @property
    def endpoint_url(self):
        if self.port is None:
            raise RuntimeError("MotoServer is not started")
        return "http://%s:%d" % (self.host, self.port)

    def env(self, region=DEFAULT_REGION):
        """Environment for boto3 / amazon.aws / our plugins in child processes."""
        values = dict(DUMMY_CREDENTIALS)
        values.update({
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        })
        return values

    def start(self, detach=False):
        """Start the server and wait until it answers HTTP. Retries on a port lost to a race.

        ``detach`` lets it outlive the caller (CLI ``serve``); otherwise it stops within ~1 s of the
        caller's death even when ``stop()`` never runs.
        """
        attempts = 1 if self.port is not None else 3
        last_error = None
        for dummy in range(attempts):
            port = self.port if self.port is not None else free_port(self.host)
            try:
                self._spawn(port, detach)
                return self
            except (RuntimeError, TimeoutError) as exc:
                last_error = exc
                self._kill()
        raise RuntimeError("moto server did not start: %s (log: %s)" % (last_error, self.log_path or "discarded"))

    def _spawn(self, port, detach):
        if detach:
            argv = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(port)]
        else:
            argv = [sys.executable, "-c", _WITH_PARENT, str(os.getpid()), "-H", self.host, "-p", str(port)]
        log = open(self.log_path, "ab") if self.log_path else open(os.devnull, "wb")
        try:
            # stdin/stdout closed to the caller: a detached server must not hold a pipe of its parent open
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, close_fds=True)
        finally:
            log.close()
        self.port = port
        wait_for_port(self.host, port, timeout=self.start_timeout, alive=lambda: self.process.poll() is None)
        self._request("GET", "/moto-api/data.json", timeout=self.start_timeout)

    def _request(self, method, path, timeout=10.0):
        request = Request(self.endpoint_url + path, method=method, data=b"" if method == "POST" else None)
        with urlopen(request, timeout=timeout) as response:  # nosec - loopback only, checked in __init__
            return response.status, response.read()

    def reset(self):
        """Drop every resource moto holds (POST /moto-api/reset)."""
        status, body = self._request("POST", "/moto-api/reset")
        if status != 200:
            raise RuntimeError("moto reset answered HTTP %d: %r" % (status, body[:200]))
        return json.loads(body.decode("utf-8"))

    def stop(self):
        self._kill()
        self.process = None

    def _kill(self):
        if self.process is None or self.process.poll() is not None:
            return
        terminate_group(self.process.pid)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            terminate_group(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def terminate_group(pid, sig=signal.SIGTERM):
    """Signal the process group led by ``pid`` (our servers run with start_new_session)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _cmd_serve(args):
    server = MotoServer(host=args.host, port=args.port, log_path=args.log)
    if args.foreground:
        server.start()
        if args.pidfile:
            _write_pidfile(args.pidfile, server.process.pid)
        print(server.endpoint_url, flush=True)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
        return 0
    server.start(detach=True)
    if args.pidfile:
        _write_pidfile(args.pidfile, server.process.pid)
    print(server.endpoint_url, flush=True)
    return 0


def _write_pidfile(path, pid):
    with open(path, "w") as handle:
        handle.write("%d\n" % pid)


def _cmd_stop(args):
    try:
        with open(args.pidfile) as handle:
            pid = int(handle.read().strip())
    except FileNotFoundError:
        print("no pidfile %s: nothing to stop" % args.pidfile)
        return 0
    except ValueError:
        print("pidfile %s does not hold a pid" % args.pidfile, file=sys.stderr)
        return 2
    terminate_group(pid)
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(pid):
        terminate_group(pid, signal.SIGKILL)
    os.unlink(args.pidfile)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="moto_server", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start moto on a loopback port, print the endpoint URL")
    serve.add_argument("--host", default=LOOPBACK)
    serve.add_argument("--port", type=int, default=None, help="default: a free port")
    serve.add_argument("--pidfile", help="write the server pid here (for `stop`)")
    serve.add_argument("--log", help="append server output here (default: discarded)")
    serve.add_argument("--foreground", action="store_true", help="stay attached until interrupted")
    serve.set_defaults(func=_cmd_serve)
    stop = commands.add_parser("stop", help="stop the server of a pidfile")
    stop.add_argument("--pidfile", required=True)
    stop.set_defaults(func=_cmd_stop)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (RuntimeError, ValueError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
