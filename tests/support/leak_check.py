# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest plugin: the session fails when a control plane it started left a process or its temporary dir behind.

At ``pytest_configure`` the plugin makes an empty ledger directory and exports it as
``$GPU_SLICING_CONTROL_PLANE_LEDGER``; every ``ControlPlane`` started in this process tree (the test process, its
ansible-test forks, its pytest-xdist workers, CLI children) records there its processes (pid + start time, so a
recycled pid is never blamed) and the temporary work dir it created. At ``pytest_sessionfinish`` - after every
fixture's teardown - the plugin waits up to ``LEAK_WAIT`` seconds (reapers of forks that ended by ``os._exit`` work
asynchronously), then names every recorded process still running and every work dir still present, stops and
removes them (a failed check must not leak either) and sets the exit status to "tests failed".

``tests/unit/conftest.py`` loads it for the unit tests, and the pytest-based integration targets (karpenter_kwok,
scale_up_loop, site_fleet) load it with ``python -m pytest -p ansible_collections.gpu_slicing.eks.tests.support.leak_check``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import shutil
import tempfile
import time

from ansible_collections.gpu_slicing.eks.tests.support import control_plane, reaper

LEAK_WAIT = 60.0  # seconds; $GPU_SLICING_LEAK_WAIT overrides it (the plugin's own tests)


def read_ledger(directory):
    """(processes, workdirs) every control plane recorded in ``directory``: [dict(name, pid, start_time, exe, owner)], [path]."""
    processes, workdirs = [], []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        try:
            with open(path) as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            continue
        for process in record.get("processes", []):
            processes.append(dict(process, owner=record.get("owner")))
        if record.get("workdir"):
            workdirs.append(record["workdir"])
    return processes, workdirs


def leftovers(directory, wait=LEAK_WAIT):
    """What the ledger's control planes left: (processes still running, work dirs still present), after up to ``wait`` s."""
    deadline = time.monotonic() + wait
    while True:
        processes, workdirs = read_ledger(directory)
        alive = [p for p in processes if reaper.running(p["pid"], p["start_time"])]
        present = [path for path in workdirs if os.path.exists(path)]
        if not (alive or present) or time.monotonic() >= deadline:
            return alive, present
        time.sleep(0.2)


def clean(alive, present):
    """SIGKILL ``alive`` (ledger records) and remove ``present`` (directories), as the reaper does."""
    reaper.reap([(process["pid"], process["start_time"]) for process in alive], present)


def describe(alive, present):
    lines = ["control plane teardown left %d process(es) and %d temporary dir(s) behind:" % (len(alive), len(present))]
    lines += ["  process %s pid %d (%s), started by pid %s" % (p["name"], p["pid"], p["exe"], p["owner"]) for p in alive]
    lines += ["  directory %s" % path for path in present]
    lines.append("(stopped and removed now; a test or fixture does not stop what it started on every path)")
    return lines


def pytest_configure(config):
    if hasattr(config, "workerinput") and os.environ.get(control_plane.LEDGER_ENV):
        return  # a pytest-xdist worker: the controller's ledger (inherited), checked once every worker is done
    directory = tempfile.mkdtemp(prefix="gpu-slicing-ledger-")
    config.gpu_slicing_ledger = (directory, os.environ.get(control_plane.LEDGER_ENV))
    os.environ[control_plane.LEDGER_ENV] = directory


def pytest_sessionfinish(session):
    owned = getattr(session.config, "gpu_slicing_ledger", None)
    if owned is None:
        return
    alive, present = leftovers(owned[0], wait=float(os.environ.get("GPU_SLICING_LEAK_WAIT") or LEAK_WAIT))
    if not (alive or present):
        return
    clean(alive, present)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for line in describe(alive, present):
        if reporter is not None:
            reporter.write_line(line, red=True, bold=True)
        else:
            print(line)
    session.exitstatus = 1  # pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    owned = getattr(config, "gpu_slicing_ledger", None)
    if owned is None:
        return
    directory, previous = owned
    shutil.rmtree(directory, ignore_errors=True)
    if previous is None:
        os.environ.pop(control_plane.LEDGER_ENV, None)
    else:
        os.environ[control_plane.LEDGER_ENV] = previous
    del config.gpu_slicing_ledger
