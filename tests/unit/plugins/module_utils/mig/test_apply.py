# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The executor (``_mig.apply``) with a fake runner: ordering, batching, rollback, read-back, no Ansible import.

The fake runner answers every nvidia-smi call with the simulator run in-process, except the calls a test scripts
(a refused call, a hung call, an unparseable answer), and records every argv it was given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import apply, planner
from ansible_collections.gpu_slicing.eks.tests.simulators import nvidia_smi_sim as sim

BALANCED_H100 = {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}


class FakeRunCommand(object):
    """``run_command`` for NvidiaSmi: the simulator in-process, plus scripted answers.

    ``script``: list of (predicate(argv) -> bool, answer) where answer is (rc, out, err), an exception instance, or
    a callable(argv, simulated (rc, out, err)) -> (rc, out, err) that may rewrite what the simulator printed.
    """

    def __init__(self, node, script=()):
        self.node = node
        self.script = list(script)
        self.argvs = []

    def __call__(self, argv, environ_update=None):
        assert environ_update == {"LC_ALL": "C"}
        self.argvs.append(list(argv[1:]))
        for predicate, answer in self.script:
            if predicate(argv[1:]):
                if isinstance(answer, Exception):
                    raise answer
                if callable(answer):
                    out, rc = self.node.run(*argv[1:])
                    return answer(argv[1:], (rc, out, ""))
                return answer
        out, rc = self.node.run(*argv[1:])
        return rc, out, ""

    def mutating(self):
        return [a for a in self.argvs if smi.is_mutating(["nvidia-smi"] + a)]


def _node(tmp_path, **kwargs):
    return sim.SimNode.create(str(tmp_path / "node.json"), **kwargs)


def _runner(node, script=()):
    fake = FakeRunCommand(node, script)
    return smi.NvidiaSmi(fake, "nvidia-smi"), fake


def _counts(node, gpu):
    out = {}
    for name, _start, _gi in node.layout(gpu):
        out[name] = out.get(name, 0) + 1
    return out


def test_from_scratch_one_mode_call_and_one_batched_create(tmp_path):
    node = _node(tmp_path, model="h100-80gb", gpus=4)
    runner, fake = _runner(node)
    result = apply.reconcile(runner, apply.ApplyRequest(layout=BALANCED_H100, persist=False))
    assert result.changed
    assert fake.mutating() == [["-i", "0,1,2,3", "-mig", "1"],
                               ["mig", "-i", "0,1,2,3", "-cgi", "9:4,14:0,19:2,19:3", "-C"]]
    assert result.actions == [["nvidia-smi"] + a for a in fake.mutating()]
    assert result.nvidia_smi_calls == len(fake.argvs) == 7
    for gpu in range(4):
        assert _counts(node, gpu) == BALANCED_H100
    # GI ids in the result are the ones the GPU reports (read back), never derived
    reported = dict((g.index, sorted(gi.gi_id for gi in g.instances)) for g in result.gpus)
    assert reported == dict((i, sorted(gi for _n, _s, gi in node.layout(i))) for i in range(4))


def test_check_mode_plans_the_same_steps_without_running_them(tmp_path):
    node = _node(tmp_path, model="h100-80gb", gpus=2)
    runner, fake = _runner(node)
    result = apply.reconcile(runner, apply.ApplyRequest(layout=BALANCED_H100, persist=False, check_mode=True))
    assert result.changed and fake.mutating() == []
    assert [a[1:] for a in result.actions] == [["-i", "0,1", "-mig", "1"],
                                               ["mig", "-i", "0,1", "-cgi", "9:4,14:0,19:2,19:3", "-C"]]


def test_order_rebuilding_gpus_first_then_one_mode_call_then_creates(tmp_path):
    # GPU 0: MIG on with a 7g (rebuild without mode change); GPUs 1, 2: MIG off (mode change + create)
    node = _node(tmp_path, model="h100-80gb", gpus=3)
    node.run("-i", "0", "-mig", "1")
    node.run("mig", "-i", "0", "-cgi", "0:0", "-C")
    runner, _fake = _runner(node)
    gpus = runner.read_state(with_profiles=True)
    plans = [planner.plan_gpu(g, planner.Desired(True, BALANCED_H100)) for g in gpus]
    steps = apply.ordered_steps(plans, "nvidia-smi")
    assert [(s.kind, [p.gpu.index for p in s.plans]) for s in steps] == [
        ("destroy", [0]), ("destroy", [0]), ("create", [0]), ("mode", [1, 2]), ("create", [1, 2])]
    assert all(isinstance(a, (planner.DestroyCi, planner.DestroyGi, planner.CreateGi)) for a in plans[0].actions)
    assert plans[1].actions[0] == planner.SetMode(True) and plans[1].actions[0].enabled is True


def test_failed_batched_create_rolls_back_the_failing_gpu_and_reports(tmp_path):
    node = _node(tmp_path, model="h100-80gb", gpus=3, mig=True, layout=["7g.80gb"])
    node.set_faults(fail_create_nth=6)  # GPU 0 gets its 4 GIs, the 2nd GI of GPU 1 fails
    runner, fake = _runner(node)
    with pytest.raises(apply.ApplyError) as caught:
        apply.reconcile(runner, apply.ApplyRequest(layout=BALANCED_H100, persist=False))
    exc = caught.value
    assert exc.changed is True and exc.failed_gpus == [1]
    assert "rollback of GPU 1" in exc.msg and "GPUs finished before the failure: 0." in exc.msg
    assert _counts(node, 0) == BALANCED_H100 and node.layout(1) == [("7g.80gb", 0, node.layout(1)[0][2])]
    assert _counts(node, 2) == {"7g.80gb": 1}
    out = exc.to_dict()
    assert out["failed_gpus"] == [1] and out["changed"] is True
    assert out["nvidia_smi_calls"] == len(fake.argvs)
    assert [g["index"] for g in out["gpus"]] == [0, 1, 2]


def test_refused_mode_call_changes_nothing_else(tmp_path):
    node = _node(tmp_path, model="h100-80gb", gpus=2)
    refusal = (3, "", "Unable to enable MIG Mode for GPU 00000000:00:06.0: Insufficient Permissions\n"
                      "Terminating early due to previous errors.\n")
    runner, fake = _runner(node, [(lambda a: "-mig" in a, refusal)])
    with pytest.raises(apply.ApplyError) as caught:
        apply.reconcile(runner, apply.ApplyRequest(layout=BALANCED_H100, persist=False))
    assert "Insufficient Permissions" in caught.value.msg
    assert not any("-cgi" in a for a in fake.argvs)
    assert caught.value.failed_gpus == [0, 1]


def test_nvidia_smi_that_cannot_run_is_one_clear_error(tmp_path):
    node = _node(tmp_path, model="h100-80gb", gpus=1)
    runner, _fake = _runner(node, [(lambda a: a == ["-q", "-x"],
                                    smi.NvidiaSmiError(["nvidia-smi", "-q", "-x"], None, "", "",
                                                       reason="cannot be run: [Errno 2] No such file"))])
    with pytest.raises(apply.ApplyError) as caught:
        apply.reconcile(runner, apply.ApplyRequest(layout=BALANCED_H100, persist=False))
    assert "cannot be run" in caught.value.msg and caught.value.changed is False


@pytest.mark.parametrize("kwargs, words", [
    (dict(layout=["1g.10gb"], config="all-balanced"), "mutually exclusive"),
    (dict(config_file="/x.yaml", mig_mode="enabled"), "requires config"),
    (dict(), "one of mig_mode, layout or config"),
    (dict(mig_mode="on"), "mig_mode must be one of"),
    (dict(layout=["1g.10gb"], persist_path=""), "persist_path is required"),
])
def test_bad_requests_fail_before_any_nvidia_smi_call(tmp_path, kwargs, words):
    node = _node(tmp_path, model="h100-80gb", gpus=1)
    runner, fake = _runner(node)
    with pytest.raises(apply.ApplyError) as caught:
        apply.reconcile(runner, apply.ApplyRequest(**kwargs))
    assert words in caught.value.msg
    assert fake.argvs == []


def test_persisted_file_is_written_with_the_injected_atomic_move(tmp_path):
    node = _node(tmp_path, model="h100-80gb", gpus=1)
    runner, _fake = _runner(node)
    moves = []

    def atomic_move(src, dest):
        moves.append(dest)
        os.replace(src, dest)
    path = str(tmp_path / "etc" / "mig-layout.yaml")
    result = apply.reconcile(runner, apply.ApplyRequest(layout=BALANCED_H100, persist_path=path,
                                                        atomic_move=atomic_move))
    assert moves == [path] and result.persist_path == path
    assert '"gpu-slicing":' in open(path).read()
    # converged: nothing to run, nothing to write
    runner, fake = _runner(node)
    again = apply.reconcile(runner, apply.ApplyRequest(layout=BALANCED_H100, persist_path=path,
                                                       atomic_move=atomic_move))
    assert not again.changed and moves == [path] and fake.mutating() == []


def test_apply_imports_no_ansible():
    """The boot applier runs without Ansible: importing apply (and what it imports) must not need ``ansible``."""
    code = ("import sys\n"
            "class Block(object):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'ansible' or name.startswith('ansible.'):\n"
            "            raise ImportError('ansible imported: ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import apply\n"
            "print(apply.reconcile.__name__)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "reconcile"


def _future_wording(argv, answer):
    """An answer in a wording the parsers do not know (a future driver): same effect, other words."""
    rc, out, err = answer
    return rc, out.replace("Successfully created GPU instance ID", "Created GPU instance #"), err


def test_unparseable_create_answer_is_read_back_and_the_run_continues(tmp_path):
    # issue 14 fact 6: "whenever a mutating command's output cannot be parsed, re-read the state"
    node = _node(tmp_path, model="h100-80gb", gpus=2)
    runner, fake = _runner(node, [(lambda a: "-cgi" in a, _future_wording)])
    result = apply.reconcile(runner, apply.ApplyRequest(layout=BALANCED_H100, persist=False))
    assert any("read back" in w for w in result.warnings)
    for gpu in result.gpus:
        assert sorted((gi.profile_name, gi.start, gi.gi_id) for gi in gpu.instances) == sorted(node.layout(gpu.index))
    # the re-read is one read_state (-q -x, -lgi, -L) after the -cgi
    cgi = next(i for i, a in enumerate(fake.argvs) if "-cgi" in a)
    assert fake.argvs[cgi + 1:cgi + 4] == [["-q", "-x"], ["mig", "-lgi"], ["-L"]]


def test_unparseable_answer_over_a_partial_create_is_rolled_back(tmp_path):
    # rc 0 but only the first instance exists (and the answer names none): never keep what cannot be accounted for
    node = _node(tmp_path, model="h100-80gb", gpus=1)

    class Partial(FakeRunCommand):
        def __call__(self, argv, environ_update=None):
            if "-cgi" in argv and not self.__dict__.get("done"):
                self.done = True
                self.argvs.append(list(argv[1:]))
                first = argv[argv.index("-cgi") + 1].split(",")[0]
                self.node.run("mig", "-i", "0", "-cgi", first, "-C")
                return 0, "", ""
            return FakeRunCommand.__call__(self, argv, environ_update)

    fake = Partial(node)
    runner = smi.NvidiaSmi(fake, "nvidia-smi")
    with pytest.raises(apply.ApplyError) as caught:
        apply.reconcile(runner, apply.ApplyRequest(layout=BALANCED_H100, persist=False))
    assert "does not account for the instances of GPU 0" in caught.value.msg
    assert node.layout(0) == []
    assert node.state()["gpus"][0]["mig_current"] is False  # the mode change of this run is rolled back too
    assert caught.value.failed_gpus == [0]


def test_refused_batched_reset_is_retried_without_the_gpus_it_names(tmp_path):
    # issue 14: a failed batched reset left idle GPUs pending too; the GPUs the answer names stay pending (reboot),
    # the others are reset in one more call
    node = _node(tmp_path, model="a100-40gb", gpus=3)
    for gpu in (1, 2):
        node.set_gpu(gpu, clients=["nv-hostengine"])
    node.set_faults(release_clients_after="-mig")  # GPU 1's and 2's clients let go after -mig ...
    busy = node.state()["gpus"][2]["bus_id"]
    refusal = (19, "GPU %s is currently in use by another process.\n\n1 device is currently being used by one or more"
                   " other processes.\n" % busy, "")
    # ... but GPU 2 is busy again when the batched reset runs (scripted answer)
    runner, fake = _runner(node, [(lambda a: a == ["-r", "-i", "1,2"], refusal),
                                  (lambda a: a == ["-r", "-i", "2"], refusal)])
    result = apply.reconcile(runner, apply.ApplyRequest(layout={"3g.20gb": 2}, persist=False, allow_gpu_reset=True))
    assert [a for a in fake.argvs if a[0] == "-r"] == [["-r", "-i", "1,2"], ["-r", "-i", "1"]]
    assert result.pending_gpus == [2] and result.reboot_required
    assert [g.mig_current for g in result.gpus] == ["Enabled", "Enabled", "Disabled"]
    assert [len(node.layout(g)) for g in range(3)] == [2, 2, 0]
    assert any("GPU 2:" in w and "reboot" in w for w in result.warnings)
