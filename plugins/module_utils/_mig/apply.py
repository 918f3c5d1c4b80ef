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

    def to_dict(self):
        out = dict(changed=self.changed, gpus=[g.to_dict() for g in self.gpus], actions=[list(a) for a in self.actions],
                   plan=[p.to_dict() for p in self.plans], reboot_required=self.reboot_required,
                   skipped_gpus=list(self.skipped_gpus), persist_path=self.persist_path,
                   nvidia_smi_calls=self.nvidia_smi_calls)
        if self.diff is not None:
            out["diff"] = dict(self.diff)
        return out


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
        with open(request.config_file) as handle:
            text = handle.read()
    except (IOError, OSError) as exc:
        raise ApplyError("config_file %s cannot be read: %s" % (request.config_file, exc))
    data, _loader = configs.load_config_text(text)
    return configs.select_entries(data, request.config)


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
    """All Steps in execution order (see the module docstring)."""
    steps = []
    moving = [p for p in plans if any(isinstance(a, planner.MODE_ACTIONS) for a in p.actions)]
    rebuilding = [p for p in plans if p not in moving and any(isinstance(a, planner.DESTROYS) for a in p.actions)]
    for plan in rebuilding:
        steps.extend(_destroy_steps(plan, path) + _create_steps_of(plan, path))
    for plan in moving:
        steps.extend(_destroy_steps(plan, path))
    for enabled in (True, False):
        group = [p for p in moving if planner.SetMode(enabled) in p.actions]
        if group:
            steps.append(Step("mode", group, smi.argv_set_mode([p.gpu.index for p in group], enabled, path)))
    resets = [p for p in moving if any(isinstance(a, planner.Reset) for a in p.actions)]
    if resets:
        steps.append(Step("reset", resets, smi.argv_reset([p.gpu.index for p in resets], path)))
    steps.extend(create_steps([p for p in plans if p not in rebuilding], path))
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
    """Book-keeping of one execution: argv run, GPUs done, instances created, GPUs whose destroys ran."""

    def __init__(self):
        self.run = []
        self.pending = set()
        self.done = set()
        self.created = {}
        self.destroyed = set()


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


def rollback_gpu(runner, plan, created):
    """Undo this run's creates on one GPU (``created``: (gpu_index, gi_id, ...) tuples) and try to restore
    destroyed instances; returns a message."""
    index = plan.gpu.index
    path = runner.path
    notes = []
    if created:
        gi_ids = [c[1] for c in created]
        try:
            runner.run(smi.argv_destroy_ci(index, gi_ids, path), check=False)
            runner.run(smi.argv_destroy_gi(index, gi_ids, path))
            notes.append("destroyed GPU instances %s created by this run" % ", ".join(str(g) for g in gi_ids))
        except smi.NvidiaSmiError as exc:
            return "rollback failed, could not destroy GPU instances %s created by this run: %s" % (gi_ids, exc)
    if plan.destroy:
        tuples = [(gi.profile_id, gi.start) for gi in plan.destroy]
        try:
            runner.run(smi.argv_create_gi(index, tuples, True, path))
            restored = ", ".join("%s@%d" % (gi.profile_name, gi.start) for gi in plan.destroy)
            notes.append("restored the destroyed instances %s" % restored)
        except smi.NvidiaSmiError as exc:
            notes.append("could not restore the destroyed instances (%s)" % exc)
    return "; ".join(notes) or "nothing to roll back"


def created_instances(plan, text):
    """GpuInstances created by one ``-cgi`` call: GI ids from the output, placements from the plan (same order)."""
    out = []
    reported = [c for c in smi.parse_created_gis(text) if c[0] == plan.gpu.index]
    for create, found in zip(plan.create, reported):
        if found[3] != create.profile_id:
            raise ApplyError("GPU %s: nvidia-smi reported profile %s (id %s) where %s (id %s) was created"
                             % (plan.gpu.index, found[2], found[3], create.name, create.profile_id), changed=True)
        out.append(GpuInstance(create.name, create.profile_id, create.start, create.size, gi_id=found[1]))
    if len(reported) != len(plan.create):
        raise ApplyError("GPU %s: nvidia-smi reported %d created GPU instances, %d were requested: %s"
                         % (plan.gpu.index, len(reported), len(plan.create), text.strip()), changed=True)
    return out


def execute(runner, plans, result):
    """Run the steps; on failure roll back the failing GPU and raise ApplyError with the per-GPU state.

    Returns a _Run (argv lists run, pending GPU indexes, {gpu_index: [created GpuInstance]}).
    """
    book = _Run()
    for step in ordered_steps(plans, runner.path):
        try:
            _rc, out, err = runner.run(step.argv)
            book.run.append(step.argv)
        except smi.NvidiaSmiError as exc:
            book.run.append(step.argv)
            raise failure_after(runner, plans, step, exc, book, result)
        if step.kind == "mode":
            pending_buses = set(smi.normalize_bus_id(b) for b in smi.parse_pending_mode(out + err))
            book.pending.update(p.gpu.index for p in step.plans
                                if smi.normalize_bus_id(p.gpu.pci_bus_id) in pending_buses)
        if step.kind == "reset":
            book.pending.difference_update(p.gpu.index for p in step.plans)
        if step.kind == "create" and "-cgi" in step.argv:
            for plan in step.plans:
                book.created.setdefault(plan.gpu.index, []).extend(created_instances(plan, out + err))
        if step.kind == "destroy":
            book.destroyed.update(p.gpu.index for p in step.plans)
        book.done.update(p.gpu.index for p in step.plans)
    return book


def failure_after(runner, plans, step, exc, book, result):
    """Roll back what the failed step left half done and return an ApplyError with the per-GPU state."""
    message = str(exc)
    touched = [p.gpu.index for p in step.plans]
    if step.kind == "create":
        reported = smi.parse_created_gis(exc.out + exc.err)
        with_ci = set((c[0], c[1]) for c in smi.parse_created_cis(exc.out + exc.err))
        for plan in step.plans:
            made = [c for c in reported if c[0] == plan.gpu.index]
            if len(step.plans) > 1 and made and len(made) == len(plan.create) and all(c[:2] in with_ci for c in made):
                # a batched -cgi that failed on a later GPU: this one is complete (GIs and CIs), keep it
                book.created.setdefault(plan.gpu.index, []).extend(created_instances(plan, exc.out + exc.err))
                touched.remove(plan.gpu.index)
                book.done.add(plan.gpu.index)
                continue
            message += "; rollback of GPU %s: %s" % (plan.gpu.index, rollback_gpu(runner, plan, made))
    elif step.kind == "destroy":
        message += "; rollback of GPU %s: %s" % (step.plans[0].gpu.index, restore_compute_instances(runner, step.plans[0]))
    # GPUs whose destroys ran but whose creates never will: put back what was destroyed.
    for plan in plans:
        if plan not in step.plans and plan.gpu.index in book.destroyed and plan.gpu.index not in book.created \
                and plan.destroy and plan.desired is not None and plan.desired.mig_enabled:
            message += "; rollback of GPU %s: %s" % (plan.gpu.index, rollback_gpu(runner, plan, []))
    state = runner.read_state()
    result.actions = book.run
    result.gpus = state
    return ApplyError(
        "%s. GPUs finished before the failure: %s. State now: %s"
        % (message, ", ".join(str(i) for i in sorted(book.done - set(touched))) or "none",
           "; ".join(state_report(state))),
        result=result, failed_gpus=touched, changed=True)


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


def _reconcile(runner, request, result):
    request.validate()
    if request.layout is not None:
        configs.normalize_layout(request.layout)
    gpus, managed, plans = _plan(runner, request, result)

    steps = ordered_steps(plans, runner.path)
    before = "\n".join(state_report(managed))
    after = "\n".join(target_lines(plans))
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
    problem = persist.path_problem(request.persist_path) if persist_text is not None else None
    if problem:
        # found before the first change, so the GPUs and the file never disagree because of it
        raise ApplyError("persist_path %s %s. Nothing was changed." % (request.persist_path, problem))

    if request.check_mode:
        result.actions = [s.argv for s in steps]
        result.gpus = gpus
    else:
        if steps:
            book = execute(runner, plans, result)
            result.actions = book.run
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
        result.gpus = gpus
        if persist_text is not None:
            try:
                persist.write(request.persist_path, persist_text, request.atomic_move)
            except (IOError, OSError) as exc:
                raise ApplyError("MIG applied but persist_path %s could not be written: %s"
                                 % (request.persist_path, exc), result=result, changed=changed)
    result.changed = changed
    if request.diff:
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
