# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Free TCP ports on the loopback interface, and waiting until something listens."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import time

LOOPBACK = "127.0.0.1"


def free_port(host=LOOPBACK):
    """Return a TCP port that is free on ``host`` right now.

    The kernel picks it (bind to port 0). There is a small window before the caller binds it, so
    callers that start servers retry with a new port when the bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def is_listening(host, port, timeout=0.5):
    """True when a TCP connect to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def poll(probe, timeout, interval=0.05, alive=None, errors=(OSError,)):
    """Call ``probe()`` until it returns something true (then True), ``alive()`` returns False or ``timeout``
    seconds pass (then False). A probe raising one of ``errors`` counts as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return True
        except errors:
            pass
        if alive is not None and not alive():
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_for_port(host, port, timeout=15.0, interval=0.05, alive=None):
    """Wait until ``host:port`` accepts connections; raise ``TimeoutError`` otherwise.

    ``alive`` is an optional callable; when it returns False (e.g. the server process died) waiting
    stops at once with ``RuntimeError`` instead of running into the timeout.
    """
    if poll(lambda: is_listening(host, port), timeout, interval=interval, alive=alive):
        return
    if alive is not None and not alive():
        raise RuntimeError("server for %s:%d exited before it listened" % (host, port))
    raise TimeoutError("nothing listens on %s:%d after %.1fs" % (host, port, timeout))
