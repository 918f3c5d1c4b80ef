# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stop a test control plane's processes and remove its temporary directory once its owner is gone.

``python reaper.py --fd N``: reads lines from file descriptor ``N``, the read end of a pipe whose only write end
the owning Python process holds (not inherited by the processes it starts)::

    proc PID STARTTIME EXE     a process to stop (STARTTIME: field 22 of /proc/PID/stat, so a recycled pid is never hit)
    dir PATH                   a directory to remove once those processes are gone
    release                    the owner hands everything over (a detached ``make cluster-up`` session): do nothing

End of file means the owner closed the pipe or died, whichever way (``os._exit`` in an ansible-test fork, SIGKILL,
an exception past every ``finally``). Then every recorded process that still runs is SIGKILLed (its process group
too: each component leads its own session) and, once none runs any more, the directories are removed. A process
that got SIGTERM with its etcd gone can hang in kube-apiserver's graceful shutdown for good, so no SIGTERM here:
the data is throwaway. The owner's own ``stop()`` has normally done all of it already; then there is nothing left.

Standard library only; own session (``start_new_session``), so a Ctrl-C sent to the owner's process group does not
stop it before it has cleaned up.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import os
import shutil
import signal
import sys
import time


def die_with_parent():
    """``preexec_fn`` for a test component: SIGKILL it when the thread that started it dies (Linux PR_SET_PDEATHSIG).

    SIGKILL, not SIGTERM: kube-apiserver told to stop gracefully while its etcd stops too (both get the signal at
    once) can retry etcd for good and never exit, and a controller has nothing to finish against a vanished API
    server. The state is throwaway; the reaper removes the work dir. Elsewhere than Linux: nothing (the reaper and
    ``stop()`` still do their part).
    """
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_time(pid):
    """Field 22 of ``/proc/PID/stat`` (clock ticks after boot), None when ``pid`` is gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def running(pid, started):
    """True while ``pid`` is the process that started at ``started`` (not a zombie, not a recycled pid)."""
    return started is not None and start_time(pid) == started


def kill(pid, started):
    """SIGKILL ``pid`` (and its process group when it leads one) if it is still the recorded process."""
    if not running(pid, started):
        return
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def reap(processes, directories, timeout=30.0):
    """Kill ``processes`` ([(pid, starttime)]), wait until they are gone, remove ``directories``; returns what is left."""
    for pid, started in processes:
        kill(pid, started)
    deadline = time.monotonic() + timeout
    while any(running(pid, started) for pid, started in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    for directory in directories:
        for _attempt in range(20):  # a process that was still writing into it may have just died
            shutil.rmtree(directory, ignore_errors=True)
            if not os.path.exists(directory):
                break
            time.sleep(0.1)
    return ([pid for pid, started in processes if running(pid, started)],
            [directory for directory in directories if os.path.exists(directory)])


def read_orders(stream):
    """(processes, directories, released) from the owner's lines, until end of file."""
    processes, directories, released = [], [], False
    for line in stream:
        words = line.rstrip("\n").split(" ", 3)
        if words[0] == "proc" and len(words) >= 3:
            processes.append((int(words[1]), words[2]))
        elif words[0] == "dir" and len(words) >= 2:
            directories.append(line.rstrip("\n").split(" ", 1)[1])
        elif words[0] == "release":
            released = True
    return processes, directories, released


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--fd", type=int, required=True, help="read end of the owner's pipe")
    args = parser.parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # finish the cleanup; SIGKILL still ends it
    with os.fdopen(args.fd, "r") as stream:
        processes, directories, released = read_orders(stream)
    if released:
        return 0
    alive, left = reap(processes, directories)
    if alive or left:
        sys.stderr.write("reaper: still running %s, still present %s\n" % (alive, left))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
