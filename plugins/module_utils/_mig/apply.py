# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply a desired MIG state to the GPUs of one node: read -> plan -> order -> execute -> read back -> persist.

``reconcile(runner, request)`` is the ONE entry point shared by the ``nvidia_mig`` module and the boot applier
(a stdlib-only program that runs at node boot without Ansible), so both run the same decision code. Nothing here
imports Ansible; nvidia-smi is reached only through the injected ``runner`` (``_nvidia_smi.NvidiaSmi``) and the
filesystem only through ``persist`` (the persisted layout) and ``ApplyRequest.config_file``.

Ordering: GPUs that destroy instances without a mode change go first, one GPU at a time (destroys then creates),
so a failure leaves every other GPU either finished or untouched. Then the destroys of GPUs that change mode, ONE
mode-change call for all of them (and one reset call), and the creates of every other GPU, batched into one
``-cgi`` call per identical set of ``profile_id:start`` tuples.

Failures: the failing GPU is rolled back (instances this run created are destroyed, destroyed ones restored where
possible), GPUs that never got to their creates get their destroyed instances back, and ``ApplyError`` says which
GPUs finished and the state of every GPU as read after the rollback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import configs, persist, planner, render
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.model import GpuInstance

MIG_MODES = ("enabled", "disabled")


class ApplyError(Exception):
    """Why ``reconcile`` stopped. ``result`` holds what is known (state read after a rollback, actions run).

    ``changed`` tells whether anything was changed on the node before the failure.
    """

    def __init__(self, msg, result=None, failed_gpus=None, changed=False):
        super(ApplyError, self).__init__(msg)
        self.msg = msg
        self.result = result
        self.failed_gpus = list(failed_gpus) if failed_gpus is not None else None
        self.changed = changed
        self.finished = None  # GPUs finished before a failure half-way (set by the executor)

    def to_dict(self):
        out = self.result.to_dict() if self.result is not None else {}
        out["changed"] = self.changed
        if self.failed_gpus is not None:
            out["failed_gpus"] = list(self.failed_gpus)
        return out


class ApplyRequest(object):
    """What to apply; the same fields and meaning as the ``nvidia_mig`` module options.

    ``atomic_move(tmp, dest)`` replaces the persisted file (``os.replace`` when None; the module passes
    ``AnsibleModule.atomic_move`` which also keeps SELinux contexts).
    """

    __slots__ = ("gpus", "mig_mode", "layout", "config", "config_file", "force", "allow_gpu_reset", "persist",
                 "persist_path", "check_mode", "diff", "atomic_move")

    def __init__(self, gpus=None, mig_mode=None, layout=None, config=None, config_file=None, force=False,
                 allow_gpu_reset=False, persist=True, persist_path=persist.DEFAULT_PATH, check_mode=False,
                 diff=False, atomic_move=None):
        self.gpus = list(gpus) if gpus else None
        self.mig_mode = mig_mode
        self.layout = layout
        self.config = config
        self.config_file = config_file
        self.force = bool(force)
        self.allow_gpu_reset = bool(allow_gpu_reset)
        self.persist = bool(persist)
        self.persist_path = persist_path
        self.check_mode = bool(check_mode)
        self.diff = bool(diff)
        self.atomic_move = atomic_move

    def validate(self):
        """Raise ApplyError for a request that cannot mean anything (checked before any command)."""
        if self.mig_mode is not None and self.mig_mode not in MIG_MODES:
            raise ApplyError("mig_mode must be one of %s, got %r" % (", ".join(MIG_MODES), self.mig_mode))
        if self.layout is not None and self.config:
            raise ApplyError("layout and config are mutually exclusive")
        if self.config_file and not self.config:
            raise ApplyError("config_file requires config")
        if self.mig_mode is None and self.layout is None and not self.config:
            raise ApplyError("one of mig_mode, layout or config is required")
        if self.persist and not self.persist_path:
            raise ApplyError("persist_path is required when persist is true")


class ApplyResult(object):
    """What ``reconcile`` did (or would do in check mode). ``to_dict()`` gives the module's return values."""

    def __init__(self, persist_path=None):
        self.changed = False
        self.gpus = []              # model.Gpu: state after the run (before it in check mode)
        self.actions = []           # argv lists run (or that would run)
        self.plans = []             # planner.GpuPlan per managed GPU
        self.reboot_required = False
        self.pending_gpus = []      # indexes whose MIG mode change is pending
        self.skipped_gpus = []      # dicts: index, uuid, name, reason
        self.persist_path = persist_path
        self.nvidia_smi_calls = 0
        self.diff = None            # {before, after, before_header, after_header} when requested
        self.warnings = []          # what the caller should know (reset refused, answer read back, check mode)

    def to_dict(self):
        out = dict(changed=self.changed, gpus=[g.to_dict() for g in self.gpus], actions=[list(a) for a in self.actions],
                   plan=[p.to_dict() for p in self.plans], reboot_required=self.reboot_required,
                   skipped_gpus=list(self.skipped_gpus), persist_path=self.persist_path,
                   nvidia_smi_calls=self.nvidia_smi_calls)
        if self.diff is not None:
            out["diff"] = dict(self.diff)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


# NVIDIA's default-mig-parted-config with every label is ~30 KiB; anything far larger is not a MIG config.
MAX_CONFIG_FILE_BYTES = persist.MAX_FILE_BYTES

Step = collections.namedtuple("Step", "kind plans argv")
"""One nvidia-smi call of the apply: ``kind`` is destroy, mode, reset or create; ``plans`` the GpuPlans it acts on."""


# --------------------------------------------------------------------------------- request -> desired

def config_entries(request):
    """The selected mig-parted entries (built-in label or config_file), or None without ``config``."""
    if not request.config:
        return None
    if not request.config_file:
        return configs.builtin_config(request.config)
    try:
        with open(request.config_file, "rb") as handle:
            raw = handle.read(MAX_CONFIG_FILE_BYTES + 1)
    except (IOError, OSError) as exc:
        raise ApplyError("config_file %s cannot be read: %s" % (request.config_file, exc))
    if len(raw) > MAX_CONFIG_FILE_BYTES:
        raise ApplyError("config_file %s is larger than %d bytes; a mig-parted config is a few KiB"
                         % (request.config_file, MAX_CONFIG_FILE_BYTES))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApplyError("config_file %s is not UTF-8 text (invalid byte at offset %d)" % (request.config_file, exc.start))
    try:
        data, _loader = configs.load_config_text(text)
        return configs.select_entries(data, request.config)
    except configs.MigConfigError as exc:
        raise ApplyError("config_file %s: %s" % (request.config_file, exc))


def desired_states(request, targets, entries):
    """{gpu_index: planner.Desired or None} from layout / mig_mode / config entries."""
    out = {}
    if entries is not None:
        for gpu in targets:
            spec = configs.device_spec(entries, gpu.index, gpu.pci_device_id, gpu.pci_sub_system_id)
            if spec is not None and request.mig_mode and (request.mig_mode == "enabled") != spec.mig_enabled:
                raise ApplyError("mig_mode=%s contradicts config %s for GPU %s"
                                 % (request.mig_mode, request.config, gpu.index))
            out[gpu.index] = planner.Desired(spec.mig_enabled, spec.mig_devices) if spec else None
        return out
    layout = None
    if request.layout is not None:
        layout = configs.normalize_layout(request.layout)
    mode = request.mig_mode or ("enabled" if layout is not None else None)
    if mode is None:
        raise ApplyError("one of mig_mode, layout or config is required")
    if mode == "disabled" and layout:
        raise ApplyError("layout %s was given with mig_mode=disabled" % dict(layout))
    for gpu in targets:
        if mode == "disabled":
            out[gpu.index] = planner.Desired(False, collections.OrderedDict())
        elif layout is None:
            # Only the mode: whatever instances exist stay.
            current = collections.Counter(gi.profile_name for gi in gpu.instances)
            out[gpu.index] = planner.Desired(True, collections.OrderedDict(sorted(current.items())))
        else:
            out[gpu.index] = planner.Desired(True, layout)
    return out


# --------------------------------------------------------------------------------- plan -> ordered steps

def action_argv(index, action, path):
    """argv of one per-GPU action (mode changes and resets are batched by ``ordered_steps``)."""
    if isinstance(action, planner.DestroyCi):
        return smi.argv_destroy_ci(index, action.gi_ids, path)
    if isinstance(action, planner.DestroyGi):
        return smi.argv_destroy_gi(index, action.gi_ids, path)
    if isinstance(action, planner.CreateGi):
        return smi.argv_create_gi(index, [(c.profile_id, c.start) for c in action.creates], True, path)
    if isinstance(action, planner.CreateCi):
        return smi.argv_create_ci(index, action.gi_ids, path)
    raise ValueError("not a per-GPU action: %r" % (action,))


def _destroy_steps(plan, path):
    return [Step("destroy", [plan], action_argv(plan.gpu.index, a, path))
            for a in plan.actions if isinstance(a, planner.DESTROYS)]


def _create_steps_of(plan, path):
    return [Step("create", [plan], action_argv(plan.gpu.index, a, path))
            for a in plan.actions if isinstance(a, (planner.CreateGi, planner.CreateCi))]


def ordered_steps(plans, path):
    """All Steps in execution order as predicted before running (check mode): a mode change is assumed to take
    effect at once; ``execute`` decides from nvidia-smi's answer (a pending GPU gets a reset or waits for a
    reboot, and its creates are left out)."""
    steps = []
    moving = [p for p in plans if any(isinstance(a, planner.MODE_ACTIONS) for a in p.actions)]
    rebuilding = [p for p in plans if p not in moving and any(isinstance(a, planner.DESTROYS) for a in p.actions)]
    for plan in rebuilding:
        steps.extend(_destroy_steps(plan, path) + _create_steps_of(plan, path))
    for plan in moving:
        steps.extend(_destroy_steps(plan, path))
    steps.extend(_mode_steps(moving, path))
    resets = [p for p in moving if any(isinstance(a, planner.Reset) for a in p.actions)]
    if resets:
        steps.append(Step("reset", resets, smi.argv_reset([p.gpu.index for p in resets], path)))
    steps.extend(create_steps([p for p in plans if p not in rebuilding], path))
    return steps


def _mode_steps(moving, path):
    """ONE ``-mig`` call per direction for every GPU that changes its MIG mode."""
    steps = []
    for enabled in (True, False):
        group = [p for p in moving if planner.SetMode(enabled) in p.actions]
        if group:
            steps.append(Step("mode", group, smi.argv_set_mode([p.gpu.index for p in group], enabled, path)))
    return steps


def create_steps(plans, path):
    """Create steps: GPUs whose only create is a ``-cgi`` of the same profile_id:start tuples (the usual case from
    scratch) share ONE call, as ``-i`` takes a comma list; the others get their own calls."""
    batches = collections.OrderedDict()
    steps = []
    for plan in plans:
        creates = [a for a in plan.actions if isinstance(a, (planner.CreateGi, planner.CreateCi))]
        if len(creates) == 1 and isinstance(creates[0], planner.CreateGi):
            batches.setdefault(tuple((c.profile_id, c.start) for c in creates[0].creates), []).append(plan)
        else:
            steps.extend(_create_steps_of(plan, path))
    for tuples, group in batches.items():
        steps.append(Step("create", group, smi.argv_create_gi([p.gpu.index for p in group], tuples, True, path)))
    return steps


# --------------------------------------------------------------------------------- reports

def state_report(gpus, indexes=None):
    """One diagram line per GPU (GIs without a compute instance named)."""
    lines = []
    for gpu in gpus:
        if indexes is not None and gpu.index not in indexes:
            continue
        line = render.gpu_diagram(gpu)
        bare = [str(gi.gi_id) for gi in gpu.instances if not gi.compute_instances]
        if bare:
            line += " (GPU instances without a compute instance: %s)" % ", ".join(bare)
        lines.append(line)
    return lines


def target_lines(plans):
    """Diagram of each GPU as the plan leaves it."""
    lines = []
    for plan in plans:
        gpu = plan.gpu
        if plan.desired is not None and not plan.desired.mig_enabled:
            lines.append(render.diagram_line(gpu.index, gpu.name, gpu.memory_slots, [], "disabled"))
            continue
        sizes = dict((p.name, p.size) for p in gpu.profiles)
        for gi in gpu.instances:
            sizes.setdefault(gi.profile_name, gi.size)
        inst = [(name, start, sizes.get(name, 1)) for name, start in plan.target()]
        line = render.diagram_line(gpu.index, gpu.name, gpu.memory_slots or 8, inst, "enabled")
        if plan.deferred:
            line += "  (after reboot)"
        lines.append(line)
    return lines


# --------------------------------------------------------------------------------- execution and rollback

class _Run(object):
    """Book-keeping of one execution.

    ``run``: argv lists run; ``done``: GPUs whose steps all ran; ``created``: {gpu: [GpuInstance]} this run made;
    ``destroyed``: GPUs whose destroys ran; ``mode_called``: GPUs a mode call was made for; ``pending``: GPUs whose
    mode change waits for a reset or reboot after the mode phase; ``warnings``: things the caller should know.
    """

    def __init__(self):
        self.run = []
        self.done = set()
        self.created = {}
        self.destroyed = set()
        self.mode_called = set()
        self.pending = set()
        self.warnings = []


def _want(plan):
    return "Enabled" if plan.desired.mig_enabled else "Disabled"


def restore_compute_instances(runner, plan):
    """After a failed destroy: give back the default CI to GIs that lost theirs; GIs already gone stay gone."""
    gpu = next((g for g in runner.read_state() if g.index == plan.gpu.index), None)
    if gpu is None:
        return "GPU no longer listed"
    had_ci = set(gi.gi_id for gi in plan.gpu.instances if gi.compute_instances)
    bare = [gi.gi_id for gi in gpu.instances if not gi.compute_instances and gi.gi_id in had_ci]
    gone = sorted(had_ci - set(gi.gi_id for gi in gpu.instances))
    notes = []
    if gone:
        notes.append("GPU instances %s were already destroyed" % ", ".join(str(g) for g in gone))
    if bare:
        try:
            runner.run(smi.argv_create_ci(gpu.index, bare, runner.path))
            notes.append("recreated the compute instances of GPU instances %s" % ", ".join(str(g) for g in bare))
        except smi.NvidiaSmiError as exc:
            notes.append("could not recreate compute instances (%s)" % exc)
    return "; ".join(notes) or "nothing was destroyed"


def rollback_gpu(runner, plan, created, revert_mode=False):
    """Undo this run on one GPU: destroy the GPU instances it created (``created``: GI ids), set a MIG mode it
    changed back (``revert_mode``), restore the instances it destroyed where MIG is (still) on; returns a message."""
    index = plan.gpu.index
    path = runner.path
    notes = []
    if created:
        try:
            runner.run(smi.argv_destroy_ci(index, created, path), check=False)
            runner.run(smi.argv_destroy_gi(index, created, path))
            notes.append("destroyed GPU instances %s created by this run" % ", ".join(str(g) for g in created))
        except smi.NvidiaSmiError as exc:
            return "rollback failed, could not destroy GPU instances %s created by this run: %s" % (created, exc)
    if revert_mode:
        before = plan.gpu.mig_current == "Enabled"
        try:
            _rc, out, err = runner.run(smi.argv_set_mode([index], before, path))
            pending = smi.parse_pending_mode(out + err)
            suffix = " (pending until a reset or reboot)" if pending else ""
            notes.append("set MIG mode back to %s%s" % ("enabled" if before else "disabled", suffix))
        except smi.NvidiaSmiError as exc:
            notes.append("could not set MIG mode back (%s)" % exc)
    if plan.destroy and plan.gpu.mig_current == "Enabled" and (not revert_mode or plan.desired.mig_enabled):
        tuples = [(gi.profile_id, gi.start) for gi in plan.destroy]
        try:
            runner.run(smi.argv_create_gi(index, tuples, True, path))
            restored = ", ".join("%s@%d" % (gi.profile_name, gi.start) for gi in plan.destroy)
            notes.append("restored the destroyed instances %s" % restored)
        except smi.NvidiaSmiError as exc:
            notes.append("could not restore the destroyed instances (%s)" % exc)
    return "; ".join(notes) or "nothing to roll back"


def _new_instances(plan, state):
    """(found, new) on ``plan``'s GPU in ``state``: ``new`` = GPU instances that are not kept (so this run made
    them), ``found`` = GpuInstance per planned create at its placement, with the id the GPU reports."""
    gpu = next((g for g in state if g.index == plan.gpu.index), None)
    if gpu is None:
        return [], []
    kept = set(gi.gi_id for gi in plan.kept)
    new = [gi for gi in gpu.instances if gi.gi_id not in kept]
    found = []
    for create in plan.create:
        match = next((gi for gi in new if gi.profile_id == create.profile_id and gi.start == create.start
                      and gi not in found), None)
        if match is not None:
            found.append(match)
    return found, new


def _complete(plan, found, new):
    return len(found) == len(plan.create) == len(new) and all(gi.compute_instances for gi in found)


def _from_output(plan, text):
    """The created GpuInstances of ``plan`` as nvidia-smi reported them (same order as the tuples), or None when
    its answer does not account for every one (R450 wording, an unknown wording, a partial answer)."""
    reported = [c for c in smi.parse_created_gis(text) if c[0] == plan.gpu.index]
    if len(reported) != len(plan.create) or any(f[3] != c.profile_id for c, f in zip(plan.create, reported)):
        return None
    return [GpuInstance(c.name, c.profile_id, c.start, c.size, gi_id=f[1]) for c, f in zip(plan.create, reported)]


def _account_creates(runner, step, text, book, plans, result):
    """Record what a ``-cgi`` step created. GI ids come from nvidia-smi's answer; when it cannot be parsed the
    state is re-read (ids and placements from ``-lgi``) and the run continues if every instance is there, else
    the GPU is rolled back (issue 14 fact 6: never leave instances the run cannot account for)."""
    unknown = []
    for plan in step.plans:
        made = _from_output(plan, text)
        if made is None:
            unknown.append(plan)
        else:
            book.created.setdefault(plan.gpu.index, []).extend(made)
    if not unknown:
        return
    state = runner.read_state()
    for plan in unknown:
        found, new = _new_instances(plan, state)
        if not _complete(plan, found, new):
            raise failure_after(runner, plans, step, None, book, result, state=state,
                                reason="nvidia-smi's answer to %s does not account for the instances of GPU %s: %s"
                                % (" ".join(step.argv), plan.gpu.index, text.strip() or "no output"))
        book.created.setdefault(plan.gpu.index, []).extend(
            GpuInstance(gi.profile_name, gi.profile_id, gi.start, gi.size, gi_id=gi.gi_id) for gi in found)
        book.warnings.append("GPU %s: nvidia-smi's answer to -cgi was not understood; the instances were read back"
                             " from the GPU" % plan.gpu.index)


def _run_step(runner, step, plans, book, result):
    try:
        _rc, out, err = runner.run(step.argv)
    except smi.NvidiaSmiError as exc:
        book.run.append(step.argv)
        if step.kind == "mode":
            book.mode_called.update(p.gpu.index for p in step.plans)
        raise failure_after(runner, plans, step, exc, book, result)
    book.run.append(step.argv)
    return out + err


def _settle_modes(runner, moving, plans, book, result, allow_gpu_reset):
    """After mode calls that did not confirm every GPU ("Enabled MIG Mode for GPU ..."), or for GPUs read as
    pending before the run: re-read the mode and decide from what the GPU says.

    Effective at once (bare-metal Ampere, Hopper+): go on. Pending (a client holds the GPU, a VM without reset):
    with ``allow_gpu_reset`` run one ``-r`` for them (then one per GPU if the batch is refused), else or if the
    reset is refused, report ``reboot_required`` and defer their instances to the boot-time apply."""
    now = dict((g.index, g) for g in runner.query_xml())
    pending = []
    for plan in moving:
        gpu = now.get(plan.gpu.index)
        if gpu is None or gpu.mig_current == _want(plan):
            continue
        if gpu.mig_pending != _want(plan):
            step = Step("mode", [plan], book.run[-1] if book.run else [])
            raise failure_after(runner, plans, step, None, book, result,
                                reason="GPU %s: MIG mode is still %s after nvidia-smi -mig (pending %s)"
                                % (plan.gpu.index, (gpu.mig_current or "unknown").lower(),
                                   (gpu.mig_pending or "unknown").lower()))
        pending.append(plan)
    if pending and allow_gpu_reset:
        groups = [pending]
        refused = []
        while groups:
            group = groups.pop(0)
            argv = smi.argv_reset([p.gpu.index for p in group], runner.path)
            try:
                runner.run(argv)
                book.run.append(argv)
            except smi.NvidiaSmiError as exc:
                book.run.append(argv)
                # One busy GPU must not keep the idle ones pending: retry once without the GPUs the answer names
                # (in use, not supported); an answer that names none is retried GPU by GPU.
                named = smi.parse_bus_ids(exc.out + exc.err)
                rest = [p for p in group if smi.normalize_bus_id(p.gpu.pci_bus_id) not in named]
                if len(group) > 1 and not named:
                    groups.extend([p] for p in group)
                    continue
                blocked = group
                if len(group) > 1 and 0 < len(rest) < len(group):
                    groups.append(rest)
                    blocked = [p for p in group if p not in rest]
                refused.append("GPU %s: %s" % (", ".join(str(p.gpu.index) for p in blocked), exc))
        if refused:
            book.warnings.append("GPU reset refused, the MIG mode change stays pending until a reboot: %s"
                                 % "; ".join(refused))
        now = dict((g.index, g) for g in runner.query_xml())
        pending = [p for p in pending if now.get(p.gpu.index) is None or now[p.gpu.index].mig_current != _want(p)]
    for plan in pending:
        plan.reboot_required = True
        if plan.create:
            plan.deferred = True
            plan.notes.append("instances will be created after the reboot (persisted layout)")
        plan.notes.append("the MIG mode change is pending until a GPU reset or reboot (nvidia-smi's answer)")
    return set(p.gpu.index for p in pending)


def execute(runner, plans, result, allow_gpu_reset=False):
    """Run the plans (see the module docstring for the order); on failure roll back and raise ApplyError.

    Returns a _Run: argv lists run, pending GPU indexes, {gpu_index: [created GpuInstance]}, warnings.
    """
    book = _Run()
    path = runner.path
    moving = [p for p in plans if any(isinstance(a, planner.MODE_ACTIONS) for a in p.actions)]
    rebuilding = [p for p in plans if p not in moving and any(isinstance(a, planner.DESTROYS) for a in p.actions)]
    for plan in rebuilding:
        for step in _destroy_steps(plan, path):
            _run_step(runner, step, plans, book, result)
            book.destroyed.add(plan.gpu.index)
        for step in _create_steps_of(plan, path):
            text = _run_step(runner, step, plans, book, result)
            if "-cgi" in step.argv:
                _account_creates(runner, step, text, book, plans, result)
        book.done.add(plan.gpu.index)
    for plan in moving:
        for step in _destroy_steps(plan, path):
            _run_step(runner, step, plans, book, result)
            book.destroyed.add(plan.gpu.index)
    if moving:
        confirmed = {}
        for step in _mode_steps(moving, path):
            confirmed.update(smi.parse_mode_set(_run_step(runner, step, plans, book, result)))
            book.mode_called.update(p.gpu.index for p in step.plans)
        if not all(confirmed.get(smi.normalize_bus_id(p.gpu.pci_bus_id)) is p.desired.mig_enabled for p in moving):
            book.pending = _settle_modes(runner, moving, plans, book, result, allow_gpu_reset)
        book.done.update(p.gpu.index for p in moving if p.gpu.index in book.pending or not p.create)
    later = [p for p in plans if p not in rebuilding and p.gpu.index not in book.pending]
    for step in create_steps(later, path):
        text = _run_step(runner, step, plans, book, result)
        if "-cgi" in step.argv:
            _account_creates(runner, step, text, book, plans, result)
        book.done.update(p.gpu.index for p in step.plans)
    book.done.update(p.gpu.index for p in plans)
    return book


def failure_after(runner, plans, step, exc, book, result, state=None, reason=None):
    """Roll back every GPU the failed step left half done, and every GPU whose steps will now never finish, and
    return an ApplyError with the state of every GPU as read afterwards.

    What this run made is found by re-reading the state (GPU instances that are not kept are new), never by
    parsing the failed command's answer, which can be partial, in an unknown wording or missing (timeout).
    """
    message = reason or str(exc)
    touched = [p.gpu.index for p in step.plans]
    if state is None:
        state = runner.read_state()
    by_index = dict((g.index, g) for g in state)
    if step.kind == "create":
        for plan in step.plans:
            if plan.gpu.index in book.created:  # accounted for before another GPU of the step failed
                touched.remove(plan.gpu.index)
                book.done.add(plan.gpu.index)
                continue
            found, new = _new_instances(plan, state)
            if len(step.plans) > 1 and _complete(plan, found, new):
                # a batched -cgi that failed on a later GPU: this one is complete (GIs and CIs), keep it
                book.created.setdefault(plan.gpu.index, []).extend(found)
                touched.remove(plan.gpu.index)
                book.done.add(plan.gpu.index)
                continue
            undone = rollback_gpu(runner, plan, [gi.gi_id for gi in new], revert_mode=plan.gpu.index in book.mode_called)
            message += "; rollback of GPU %s: %s" % (plan.gpu.index, undone)
    elif step.kind == "destroy":
        message += "; rollback of GPU %s: %s" % (step.plans[0].gpu.index, restore_compute_instances(runner, step.plans[0]))
    elif step.kind == "mode":
        for plan in step.plans:
            gpu = by_index.get(plan.gpu.index)
            changed = gpu is not None and (gpu.mig_current != plan.gpu.mig_current or gpu.mig_pending != plan.gpu.mig_pending)
            if changed or plan.destroy:
                message += "; rollback of GPU %s: %s" % (plan.gpu.index, rollback_gpu(runner, plan, [], revert_mode=changed))
    # GPUs whose steps will never finish: put back what this run destroyed, and the MIG mode it changed.
    for plan in plans:
        index = plan.gpu.index
        if plan in step.plans or index in book.done:
            continue
        revert = index in book.mode_called and plan.desired is not None and plan.desired.mig_enabled
        if (index in book.destroyed and plan.destroy and plan.desired is not None and plan.desired.mig_enabled) or revert:
            touched.append(index)
            message += "; rollback of GPU %s: %s" % (index, rollback_gpu(runner, plan, [], revert_mode=revert))
    state = runner.read_state()
    result.actions = book.run
    result.gpus = state
    result.warnings = list(book.warnings)
    pending = [g.index for g in state if g.mig_change_pending]
    result.pending_gpus = pending
    result.reboot_required = bool(pending)
    finished = sorted(book.done - set(touched))
    err = ApplyError(
        "%s. GPUs finished before the failure: %s. State now: %s"
        % (message, ", ".join(str(i) for i in finished) or "none", "; ".join(state_report(state))),
        result=result, failed_gpus=touched, changed=True)
    err.finished = set(finished)
    return err


def state_after(runner, before, plans, created):
    """Re-read -q -x and -L; instances are the kept + created ones (placements known from the plan)."""
    gpus = runner.query_xml()
    planned = dict((p.gpu.index, p) for p in plans)
    instances = {}
    for old in before:
        plan = planned.get(old.index)
        if plan is None:
            keep = old.instances
        elif plan.desired is not None and not plan.desired.mig_enabled:
            keep = []
        else:
            keep = plan.kept
        instances[old.index] = [GpuInstance(gi.profile_name, gi.profile_id, gi.start, gi.size, gi.gi_id)
                                for gi in keep] + created.get(old.index, [])
    listing = None
    if any(g.mig_devices for g in gpus):
        _rc, listing, _err = runner.run(smi.argv_list_gpus(runner.path))
    smi.assemble_state(gpus, list_text=listing, instances=instances)
    for gpu in gpus:
        known = set(gi.gi_id for gi in gpu.instances)
        gpu.unexpected_devices = [d for d in gpu.mig_devices if d.gi_id not in known]
    return gpus


# --------------------------------------------------------------------------------- the entry point

def _plan(runner, request, result):
    """Read the node and plan every managed GPU; raises ApplyError before any change."""
    entries = config_entries(request)
    gpus = runner.read_state()
    try:
        selected = smi.select_gpus(gpus, request.gpus)
    except ValueError as exc:
        raise ApplyError(str(exc))
    targets = []
    for gpu in selected:
        if not gpu.mig_capable:
            result.skipped_gpus.append(dict(index=gpu.index, uuid=gpu.uuid, name=gpu.name, reason="not MIG capable"))
        else:
            targets.append(gpu)
    desired = desired_states(request, targets, entries)
    for gpu in targets:
        if desired.get(gpu.index) is None:
            result.skipped_gpus.append(dict(index=gpu.index, uuid=gpu.uuid, name=gpu.name,
                                            reason="not matched by config %s" % request.config))
    managed = [g for g in targets if desired.get(g.index) is not None]
    # Profiles (-lgip, -lgipp) are only needed to place instances; converged GPUs and GPUs that
    # only turn MIG off never need them.
    if any(desired[g.index].mig_enabled and not planner.is_converged(g, desired[g.index]) for g in managed):
        runner.attach_profiles(gpus)
    plans = []
    errors = []
    for gpu in managed:
        try:
            plans.append(planner.plan_gpu(gpu, desired[gpu.index], request.force, request.allow_gpu_reset))
        except planner.PlanError as exc:
            errors.append(str(exc))
    if errors:
        raise ApplyError("; ".join(errors) + ". Nothing was changed.")
    return gpus, managed, plans


def _persist_entries(plans):
    return [persist.PersistEntry(p.gpu.index, p.gpu.pci_device_id, p.desired.mig_enabled, p.desired.layout)
            for p in plans if p.desired is not None]


def _persist_entries_left(plans, state, finished):
    """Persist entries after a failure half-way: finished GPUs get their desired state, the others the state they
    were left in (mode as it will be after a reboot, instances as read), so the boot service re-creates what is
    really there instead of a layout no GPU has."""
    by_index = dict((g.index, g) for g in state)
    out = []
    for plan in plans:
        if plan.desired is None:
            continue
        gpu = by_index.get(plan.gpu.index)
        if plan.gpu.index in finished or gpu is None:
            out.extend(_persist_entries([plan]))
            continue
        enabled = (gpu.mig_pending or gpu.mig_current) == "Enabled"
        layout = collections.OrderedDict(sorted(collections.Counter(gi.profile_name for gi in gpu.instances).items()))
        out.append(persist.PersistEntry(plan.gpu.index, plan.gpu.pci_device_id, enabled, layout if enabled else {}))
    return out


def _write_after_failure(request, plans, err):
    """Make the persisted file describe the state a failed run left (issue 14); returns a note for the message."""
    if not (request.persist and plans) or err.result is None or getattr(err, "finished", None) is None:
        return ""
    text = persist.render(_persist_entries_left(plans, err.result.gpus, err.finished), request.persist_path)
    if not persist.needed(request.persist_path, text):
        return ""
    try:
        persist.write(request.persist_path, text, request.atomic_move)
    except (IOError, OSError) as exc:
        return ". persist_path %s could not be updated to that state: %s" % (request.persist_path, exc)
    return ". persist_path %s now describes that state" % request.persist_path


def _reconcile(runner, request, result):
    request.validate()
    if request.layout is not None:
        configs.normalize_layout(request.layout)
    gpus, managed, plans = _plan(runner, request, result)

    steps = ordered_steps(plans, runner.path)
    before = "\n".join(state_report(managed))
    result.plans = plans
    result.reboot_required = any(p.reboot_required for p in plans)
    changed = bool(steps)

    persist_text = None
    if request.persist and plans:
        persist_text = persist.render(_persist_entries(plans), request.persist_path)
        if persist.needed(request.persist_path, persist_text):
            changed = True
        else:
            persist_text = None
    # the file is also written after a failure half-way, so its path is checked whenever a GPU changes
    if persist_text is not None or (request.persist and steps):
        problem = persist.path_problem(request.persist_path)
        if problem:
            # found before the first change, so the GPUs and the file never disagree because of it
            raise ApplyError("persist_path %s %s. Nothing was changed." % (request.persist_path, problem))

    if request.check_mode:
        result.actions = [s.argv for s in steps]
        result.gpus = gpus
        if any(p.reset_may_be_needed for p in plans):
            result.warnings.append("check mode cannot tell whether a MIG mode change takes effect at once: the driver"
                                   " decides when it runs (a reset or reboot may be needed on GPUs %s)"
                                   % ", ".join(str(p.gpu.index) for p in plans if p.reset_may_be_needed))
    else:
        if steps:
            try:
                book = execute(runner, plans, result, request.allow_gpu_reset)
            except ApplyError as err:
                err.msg += _write_after_failure(request, plans, err)
                err.args = (err.msg,)
                raise
            result.actions = book.run
            result.warnings.extend(book.warnings)
            result.pending_gpus = sorted(book.pending)
            result.reboot_required = result.reboot_required or bool(book.pending)
            gpus = state_after(runner, gpus, plans, book.created)
            wrong = []
            by_index = dict((g.index, g) for g in gpus)
            for plan in plans:
                now = by_index.get(plan.gpu.index)
                if plan.deferred or plan.reboot_required or now is None or plan.gpu.index in book.pending:
                    continue
                if not planner.is_converged(now, plan.desired) or now.unexpected_devices:
                    wrong.append("GPU %s reads back as %s" % (now.index, render.gpu_diagram(now)))
            if wrong:
                result.gpus = gpus
                raise ApplyError("after applying, these GPUs do not match the desired layout: %s" % "; ".join(wrong),
                                 result=result, changed=True)
            if persist_text is not None:
                # plans may have learnt that a GPU is pending: the file text does not change (desired state)
                persist_text = persist.render(_persist_entries(plans), request.persist_path)
        result.gpus = gpus
        if persist_text is not None:
            try:
                persist.write(request.persist_path, persist_text, request.atomic_move)
            except (IOError, OSError) as exc:
                raise ApplyError("MIG applied but persist_path %s could not be written: %s"
                                 % (request.persist_path, exc), result=result, changed=changed)
    result.changed = changed
    if request.diff:
        after = "\n".join(target_lines(plans))
        result.diff = dict(before=before + "\n" if before else "", after=after + "\n" if after else "",
                           before_header="nvidia-smi (current)", after_header="nvidia-smi (desired)")
    return result


def reconcile(runner, request):
    """Apply ``request`` (ApplyRequest) to the node behind ``runner`` (``_nvidia_smi.NvidiaSmi``).

    Returns an ApplyResult; raises ApplyError (with ``.result`` and ``.to_dict()``) for bad input, refused plans,
    failed nvidia-smi calls (after rolling back), read-back mismatches and persist failures. Bad input and refused
    plans are found before the first mutating command.
    """
    result = ApplyResult(request.persist_path if request.persist else None)
    try:
        return _reconcile(runner, request, result)
    except ApplyError as exc:
        if exc.result is None:
            exc.result = result
        exc.result.nvidia_smi_calls = runner.invocations
        raise
    except (configs.MigConfigError, smi.NvidiaSmiError, ValueError) as exc:
        result.nvidia_smi_calls = runner.invocations
        raise ApplyError(str(exc), result=result, changed=bool(result.actions))
    finally:
        result.nvidia_smi_calls = runner.invocations
