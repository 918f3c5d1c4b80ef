# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A control plane leaves no process and no temporary dir however its owner ends (issue 11), and the session check
of tests/support/leak_check.py fails a session whose control plane was not stopped.

Each owner is a real child Python process starting a real ``ControlPlane`` (real etcd; a real or deliberately
stubborn kube-apiserver) that then ends the way owners ended when processes leaked: ``os._exit`` as every
ansible-test fork does (so module-scoped fixtures never tear down), SIGKILL half-way through ``start()``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import child_env, control_plane, leak_check, reaper
from ansible_collections.gpu_slicing.eks.tests.unit.support.test_control_plane import fake_bin_dir

OWNER = textwrap.dedent("""
    import os, sys, threading
    from ansible_collections.gpu_slicing.eks.tests.support import control_plane
    options = dict(bin_dir=sys.argv[1], crds=(), scheduler=False, controller_manager=False, log=lambda _m: None)
    if sys.argv[3] != "-":
        options.update(workdir=sys.argv[3], detached=True)
    plane = control_plane.ControlPlane(**options)
    if sys.argv[2] == "thread":  # no PR_SET_PDEATHSIG for a thread's children: the reaper alone must act
        worker = threading.Thread(target=plane.start)
        worker.start()
        worker.join()
    else:
        plane.start()
    print("up", flush=True)
    os._exit(0)  # what every ansible-test fork does after its test: no fixture teardown, no atexit
""")


@pytest.fixture(scope="module")
def bin_dir():
    return control_plane.ensure_binaries(log=lambda _message: None)


def _ledger(tmp_path):
    directory = tmp_path / "ledger"
    directory.mkdir()
    return directory


def _owner(bin_dir, ledger, how="main", workdir="-", **popen):
    env = child_env(**{control_plane.LEDGER_ENV: str(ledger)})
    return subprocess.Popen([sys.executable, "-c", OWNER, str(bin_dir), how, str(workdir)], env=env,  # pylint: disable=consider-using-with
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, **popen)


def _recorded(ledger, names, timeout=120):
    """The ledger's (processes, workdirs) once processes named ``names`` are recorded."""
    deadline = time.monotonic() + timeout
    while True:
        processes, workdirs = leak_check.read_ledger(str(ledger))
        if sorted(p["name"] for p in processes) == sorted(names):
            return processes, workdirs
        assert time.monotonic() < deadline, "the owner never started %s: %s" % (names, processes)
        time.sleep(0.1)


def _gone(processes, workdirs, timeout=30):
    """(still running, still present) after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = ["%s %d" % (p["name"], p["pid"]) for p in processes if reaper.running(p["pid"], p["start_time"])]
        present = [path for path in workdirs if os.path.exists(path)]
        if not (alive or present) or time.monotonic() > deadline:
            return alive, present
        time.sleep(0.1)


@pytest.mark.parametrize("how", ["main", "thread"])
def test_owner_ending_in_os_exit_after_start_leaves_nothing(bin_dir, tmp_path, how):
    """The ansible-test fork path: a module-scoped fixture's private control plane, never torn down."""
    ledger = _ledger(tmp_path)
    owner = _owner(bin_dir, ledger, how)
    output = owner.communicate(timeout=300)[0]
    assert owner.returncode == 0 and "up" in output, output
    processes, workdirs = _recorded(ledger, ["etcd", "kube-apiserver"])
    assert len(workdirs) == 1 and workdirs[0].startswith(os.path.join(control_plane.tempfile.gettempdir(), "gpu-slicing-kube-"))
    assert _gone(processes, workdirs) == ([], [])


def _stubborn_apiserver(bin_dir, tmp_path):
    """A bin dir with the real etcd and a kube-apiserver that never gets ready and ignores SIGTERM (as a real one
    retrying its vanished etcd did, for over half an hour, after a SIGTERM half-way through its start)."""
    return fake_bin_dir(bin_dir, tmp_path, "trap '' TERM\nexec sleep 600\n")


@pytest.mark.parametrize("how,detached", [("main", False), ("thread", False), ("main", True)])
def test_owner_killed_half_way_through_start_leaves_nothing(bin_dir, tmp_path, how, detached):
    """SIGKILL while kube-apiserver is starting (etcd up): no finally runs; every process goes, the temp dir too.
    Detached (``make cluster-up`` killed half-way): its processes go as well (its session dir is up()'s to clean)."""
    ledger = _ledger(tmp_path)
    workdir = tmp_path / "session" if detached else "-"
    owner = _owner(_stubborn_apiserver(bin_dir, tmp_path), ledger, how, workdir)
    try:
        processes, workdirs = _recorded(ledger, ["etcd", "kube-apiserver"])
        assert owner.poll() is None, owner.communicate()[0]  # still waiting for the stubborn apiserver
    finally:
        owner.kill()
        owner.communicate()
    assert len(workdirs) == (0 if detached else 1)
    assert _gone(processes, workdirs) == ([], [])


def test_a_released_detached_plane_survives_its_owner(bin_dir, tmp_path):
    """``make cluster-up``: once up, the session is handed over; its processes outlive the owner until ``down``."""
    ledger = _ledger(tmp_path)
    session = tmp_path / "session"
    owner = _owner(bin_dir, ledger, "main", session)
    output = owner.communicate(timeout=300)[0]
    assert owner.returncode == 0 and "up" in output, output
    processes, _workdirs = _recorded(ledger, ["etcd", "kube-apiserver"])
    try:
        time.sleep(1)
        assert all(reaper.running(p["pid"], p["start_time"]) for p in processes)
    finally:
        for process in reversed(processes):  # kube-apiserver before its etcd
            control_plane.terminate(process["pid"], process["exe"])
    assert _gone(processes, []) == ([], [])


# ---------------------------------------------------------------------------------------------- the session check

INNER_TEST = textwrap.dedent("""
    import json
    from ansible_collections.gpu_slicing.eks.tests.support import control_plane

    def test_start(tmp_path_factory):
        if {leak!r}:
            # the protection this check backs up, switched off: a plane nobody stops, no reaper
            control_plane.ControlPlane._arm_reaper = lambda self: None
        plane = control_plane.ControlPlane(bin_dir={bin_dir!r}, crds=(), scheduler=False, controller_manager=False)
        plane.start()
        with open({record!r}, "w") as handle:
            json.dump({{"pids": [pid for pid, _exe, _log in plane.processes.values()], "workdir": str(plane.workdir)}}, handle)
        if not {leak!r}:
            plane.stop()
""")


@pytest.mark.parametrize("leak", [True, False])
def test_the_session_check_fails_a_session_that_leaves_a_control_plane(bin_dir, tmp_path, leak):
    record = tmp_path / "record.json"
    test_file = tmp_path / "inner" / "test_inner.py"
    test_file.parent.mkdir()
    test_file.write_text(INNER_TEST.format(leak=leak, bin_dir=str(bin_dir), record=str(record)))
    env = child_env(GPU_SLICING_LEAK_WAIT="3")
    for name in ("PYTEST_PLUGINS", "PYTEST_ADDOPTS", control_plane.LEDGER_ENV):  # ansible-test's plugins, an outer ledger
        env.pop(name, None)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", leak_check.__name__, "--rootdir",
                          str(test_file.parent), str(test_file)], env=env, cwd=str(test_file.parent), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)
    started = json.loads(record.read_text())
    assert len(started["pids"]) == 2, run.stdout
    if leak:
        assert run.returncode == 1, run.stdout
        assert "control plane teardown left 2 process(es) and 1 temporary dir(s) behind" in run.stdout, run.stdout
        assert "directory %s" % started["workdir"] in run.stdout and "1 passed" in run.stdout
    else:
        assert run.returncode == 0 and "teardown left" not in run.stdout, run.stdout
    # the check cleaned up what it found: nothing of the inner session is left either way
    assert not [pid for pid in started["pids"] if control_plane._pid_alive(pid)]
    assert not os.path.exists(started["workdir"])


def test_reaper_ignores_a_recycled_pid(tmp_path):
    """A recorded pid whose start time differs (the pid was reused) is never signalled."""
    sleeper = subprocess.Popen(["sleep", "60"])  # pylint: disable=consider-using-with
    try:
        started = reaper.start_time(sleeper.pid)
        assert reaper.running(sleeper.pid, started)
        reaper.kill(sleeper.pid, str(int(started) - 1))
        time.sleep(0.2)
        assert sleeper.poll() is None
        reaper.kill(sleeper.pid, started)
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()


def test_session_command_stopped_by_sigterm_stops_its_cluster(bin_dir, tmp_path):
    """``control_plane.py session -- COMMAND`` (``make units`` etc. without ``make cluster-up``) killed with SIGTERM
    (a CI timeout, ``kill``): the command gets the signal and the session cluster it started is stopped."""
    session_dir = tmp_path / "session"
    env = child_env(GPU_SLICING_CACHE=str(bin_dir.parent.parent.parent))
    marker, log = tmp_path / "command-started", tmp_path / "session.log"
    record = {"processes": []}
    with open(str(log), "w") as output:
        wrapper = subprocess.Popen([sys.executable, control_plane.__file__, "session", "--dir", str(session_dir),  # pylint: disable=consider-using-with
                                    "--no-scheduler", "--no-controller-manager", "--", "sh", "-c", 'touch "$0"; exec sleep 600',
                                    str(marker)], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert wrapper.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        record = json.loads((session_dir / "session.json").read_text())
        wrapper.send_signal(signal.SIGTERM)
        wrapper.wait(timeout=120)
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
            wrapper.wait()
        alive = [p for p in record["processes"] if control_plane._pid_runs(p["pid"], p["exe"])]
        for process in reversed(alive):  # a failed check leaves nothing running either
            control_plane.terminate(process["pid"], process["exe"], timeout=2)
    assert wrapper.returncode == 128 + signal.SIGTERM, log.read_text()  # the command's own exit: it got the SIGTERM
    assert "cluster down: stopped kube-apiserver, etcd" in log.read_text()
    assert not session_dir.exists()
    assert not alive
