# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-GPU MIG planner: desired state + current state -> minimal ordered actions (pure).

Unlike mig-parted (compare counts, wipe and rebuild), the plan KEEPS existing instances that the
desired layout still wants, where they are, if a placement for the rest exists; among all such
targets it keeps the most instances (destroys the fewest), preferring to keep busy ones. New
instances get explicit placements from the exact solver in ``placement``.

Typed actions (``apply`` maps them to argv with ``_nvidia_smi``), in execution order:
  DestroyCi(gi_ids)                   DestroyGi(gi_ids)
  SetMode(enabled)                    Reset()
  CreateGi(creates=[Create(name, profile_id, start, size), ...])   always with default CIs (-C)
  CreateCi(gi_ids)                    default CI for kept GIs that have none
Each is a namedtuple whose first field is its ``kind`` ("destroy_ci", ...), so it prints and compares like the
plain tuple it stands for; code dispatches on the type, never on the string.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import itertools

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import placement


class PlanError(ValueError):
    """The desired state cannot be reached on this GPU; nothing has been run."""


Desired = collections.namedtuple("Desired", "mig_enabled layout")

Create = collections.namedtuple("Create", "name profile_id start size")


def _action(name, kind, fields=""):
    base = collections.namedtuple(name, ("kind " + fields).strip())

    def __new__(cls, *args, **kwargs):
        return base.__new__(cls, kind, *args, **kwargs)

    return type(name, (base,), {"__slots__": (), "__new__": __new__, "KIND": kind})


DestroyCi = _action("DestroyCi", "destroy_ci", "gi_ids")
DestroyGi = _action("DestroyGi", "destroy_gi", "gi_ids")
SetMode = _action("SetMode", "set_mode", "enabled")
Reset = _action("Reset", "reset")
CreateGi = _action("CreateGi", "create_gi", "creates")
CreateCi = _action("CreateCi", "create_ci", "gi_ids")
DESTROYS = (DestroyCi, DestroyGi)
MODE_ACTIONS = (SetMode, Reset)


class GpuPlan(object):
    def __init__(self, gpu, desired):
        self.gpu = gpu
        self.desired = desired
        self.actions = []
        self.kept = []          # GpuInstance objects left in place
        self.destroy = []       # GpuInstance objects destroyed
        self.create = []        # Create(name, profile_id, start, size)
        self.reboot_required = False
        self.mode_change = False
        self.reset_may_be_needed = False  # a mode change that the driver may leave pending (decided when it runs)
        self.deferred = False   # creates postponed until the pending mode change takes effect
        self.notes = []

    @property
    def changed(self):
        return bool(self.actions)

    def target(self):
        """The (name, start) layout after the plan: kept + created."""
        out = [(gi.profile_name, gi.start) for gi in self.kept] + [(c[0], c[2]) for c in self.create]
        return sorted(out, key=lambda item: (item[1], item[0]))

    def to_dict(self):
        return {
            "index": self.gpu.index,
            "changed": self.changed,
            "mode_change": self.mode_change,
            "reset_may_be_needed": self.reset_may_be_needed,
            "reboot_required": self.reboot_required,
            "deferred_until_reboot": self.deferred,
            "kept": [gi.to_dict() for gi in self.kept],
            "destroy": [gi.to_dict() for gi in self.destroy],
            "create": [{"profile": c[0], "profile_id": c[1], "placement": {"start": c[2], "size": c[3]}}
                       for c in self.create],
            "notes": list(self.notes),
        }


def _label(gpu):
    return "GPU %s (%s)" % (gpu.index, gpu.name or gpu.uuid or "unknown")


def _pids(procs):
    return ", ".join(str(p.pid) for p in sorted(procs, key=lambda p: p.pid or 0))


def is_converged(gpu, desired):
    """True when ``gpu`` already matches ``desired`` by mode and profile-name multiset (no profiles needed)."""
    if desired is None:
        return True
    want = "Enabled" if desired.mig_enabled else "Disabled"
    if gpu.mig_current != want or (gpu.mig_pending not in (None, want)):
        return False
    if not desired.mig_enabled:
        return True
    have = collections.Counter(gi.profile_name for gi in gpu.instances)
    if have != collections.Counter(dict((k, v) for k, v in desired.layout.items() if v)):
        return False
    return all(gi.compute_instances for gi in gpu.instances)


def validate_layout(gpu, layout):
    """Raise PlanError unless every name exists on ``gpu`` and the whole layout has a placement."""
    known = [p.name for p in gpu.profiles]
    unknown = [n for n in layout if n not in known]
    if unknown:
        raise PlanError("%s has no MIG profile %s; valid profiles: %s"
                        % (_label(gpu), ", ".join(repr(n) for n in unknown), ", ".join(known) or "none reported"))
    message = placement.explain_infeasible(layout, gpu.profiles, gpu.memory_slots)
    if message:
        raise PlanError("%s: %s" % (_label(gpu), message))


def _choose_kept(gpu, layout, force):
    """Largest subset of current instances to keep (busy ones first) + placements for the rest."""
    current = sorted(gpu.instances, key=lambda gi: (gi.start, gi.gi_id or 0))
    busy = set(id(gi) for gi in current if gpu.processes_on(gi.gi_id))
    want = collections.Counter(layout)
    best = None
    for size in range(len(current), -1, -1):
        for subset in itertools.combinations(current, size):
            have = collections.Counter(gi.profile_name for gi in subset)
            if any(have[n] > want.get(n, 0) for n in have):
                continue
            if not force and any(id(gi) not in set(id(s) for s in subset) for gi in current if id(gi) in busy):
                continue
            missing = want - have
            fixed = [(gi.profile_name, gi.start) for gi in subset]
            try:
                found = placement.find_layout(missing, gpu.profiles, gpu.memory_slots, fixed)
            except placement.PlacementError:
                found = None
            if found is None:
                continue
            score = sum(1 for gi in subset if id(gi) in busy)
            if best is None or score > best[0]:
                best = (score, list(subset), found)
        if best is not None:
            return best[1], best[2]
    return None, None


def plan_gpu(gpu, desired, force=False, allow_gpu_reset=False):
    """Plan one GPU. ``desired``: Desired/DeviceSpec (mig_enabled, layout) or None (leave untouched).

    ``gpu.profiles`` must be filled (``-lgip``/``-lgipp``) unless ``is_converged`` is true.
    Raises PlanError naming the GPU, the profiles and the PIDs involved.
    """
    plan = GpuPlan(gpu, desired)
    if desired is None or is_converged(gpu, desired):
        plan.kept = list(gpu.instances)
        return plan
    if not gpu.mig_capable:
        raise PlanError("%s is not MIG capable" % _label(gpu))
    layout = collections.OrderedDict((k, v) for k, v in (desired.layout or {}).items() if v)
    if desired.mig_enabled:
        if not gpu.profiles:
            raise PlanError("%s reported no MIG profiles (nvidia-smi mig -lgip); cannot plan %s"
                            % (_label(gpu), ", ".join(layout) or "MIG mode"))
        validate_layout(gpu, layout)
    elif layout:
        raise PlanError("%s: a layout was given but MIG is to be disabled" % _label(gpu))

    want_mode = "Enabled" if desired.mig_enabled else "Disabled"
    current_ok = gpu.mig_current == want_mode
    needs_mode_call = (not current_ok) or (gpu.mig_pending not in (None, want_mode))

    if gpu.mig_enabled and not desired.mig_enabled:
        kept, to_place = [], []
    elif gpu.mig_enabled:
        kept, to_place = _choose_kept(gpu, layout, force)
        if kept is None:
            busy = [gi for gi in gpu.instances if gpu.processes_on(gi.gi_id)]
            detail = ", ".join("%s (GPU instance %s, PIDs %s)" % (gi.profile_name, gi.gi_id, _pids(gpu.processes_on(gi.gi_id)))
                               for gi in busy)
            raise PlanError("%s: the layout %s cannot be reached without destroying busy instances %s;"
                            " stop those processes or set force=true"
                            % (_label(gpu), placement.describe_request(layout), detail))
    else:
        kept, to_place = [], placement.find_layout(layout, gpu.profiles, gpu.memory_slots) or []

    kept_ids = set(id(gi) for gi in kept)
    plan.kept = kept
    plan.destroy = [gi for gi in gpu.instances if id(gi) not in kept_ids]

    # Busy checks: destroying an instance or switching the mode with processes running.
    if not force:
        for gi in plan.destroy:
            procs = gpu.processes_on(gi.gi_id)
            if procs:
                raise PlanError("%s: %s (GPU instance %s) must be destroyed but is in use by PIDs %s;"
                                " stop them or set force=true" % (_label(gpu), gi.profile_name, gi.gi_id, _pids(procs)))
        if needs_mode_call and not current_ok and gpu.processes:
            raise PlanError("%s: changing MIG mode to %s needs an idle GPU but PIDs %s are running;"
                            " stop them or set force=true" % (_label(gpu), want_mode.lower(), _pids(gpu.processes)))

    with_ci = [gi.gi_id for gi in plan.destroy if gi.compute_instances]
    if with_ci:
        plan.actions.append(DestroyCi(with_ci))
    if plan.destroy:
        plan.actions.append(DestroyGi([gi.gi_id for gi in plan.destroy]))

    # Whether a mode change takes effect at once is NOT known here: the driver resets the GPU itself when it
    # can (bare-metal Ampere, Hopper and later) and leaves the change pending when a client holds the GPU or
    # the GPU cannot be reset (VMs). ``apply`` decides from nvidia-smi's answer and a re-read of the mode.
    effective_now = True
    if needs_mode_call:
        plan.mode_change = not current_ok
        if gpu.mig_pending != want_mode:
            plan.actions.append(SetMode(desired.mig_enabled))
            if not current_ok and (gpu.needs_reset_for_mode_change or not gpu.architecture):
                # a hint only (Hopper and later switch or refuse, never pend); the outcome is read when it runs
                plan.reset_may_be_needed = True
                plan.notes.append("%s: the MIG mode change may stay pending until a GPU reset or reboot if a client"
                                  " holds the GPU or it cannot be reset; decided from nvidia-smi's answer" % _label(gpu))
        elif not current_ok:
            # read as pending already (an earlier run, or nvidia-smi -mig by hand): only a reset is missing
            if allow_gpu_reset:
                plan.actions.append(Reset())
            else:
                plan.reboot_required = True
                effective_now = False
                plan.notes.append("%s has its MIG mode change pending until a GPU reset or reboot"
                                  " (allow_gpu_reset=false)" % _label(gpu))

    if desired.mig_enabled:
        by_name = dict((p.name, p) for p in gpu.profiles)
        # Largest first, as NVIDIA recommends, although explicit placements make the order irrelevant.
        create = sorted((Create(name, by_name[name].id, start, by_name[name].size) for name, start in to_place),
                        key=lambda c: (-c[3], c[2]))
        if effective_now:
            plan.create = create
            if create:
                plan.actions.append(CreateGi(create))
            missing_ci = [gi.gi_id for gi in kept if not gi.compute_instances]
            if missing_ci:
                plan.actions.append(CreateCi(missing_ci))
        else:
            plan.deferred = True
            plan.create = create
            plan.notes.append("instances will be created after the reboot (persisted layout)")
    return plan
