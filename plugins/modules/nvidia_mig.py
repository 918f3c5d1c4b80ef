#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_mig
short_description: Partition NVIDIA GPUs with Multi-Instance GPU (MIG), idempotently and placement-aware
version_added: 0.1.0
description:
  - Sets the MIG mode and the set of MIG GPU instances of NVIDIA GPUs on the managed node with C(nvidia-smi) only.
  - The desired layout is a list or mapping of profile names (O(layout)) or a mig-parted v1 config (O(config), one of
    the 81 built-in labels of the GPU Operator's C(default-mig-parted-config) or a label of O(config_file)).
  - Profile names are resolved to profile ids on each GPU (C(nvidia-smi mig -lgip)); placements are found by an exact
    search over C(nvidia-smi mig -lgipp) and instances are created with explicit C(profile_id:start) tuples.
  - Unlike C(nvidia-mig-parted), instances that the desired layout still contains are kept in place; only what must go
    is destroyed and only what is missing is created. Instances with running processes are never destroyed, and the
    MIG mode of a GPU with processes is never changed (unless O(force=true)); the error lists the PIDs.
  - Converged runs use at most 3 C(nvidia-smi) invocations per host (C(-q -x), C(mig -lgi), C(-L)). A change adds
    C(mig -lgip) and C(mig -lgipp) once per host, one batched C(-mig) call for all GPUs that change mode, one C(-cgi)
    call for all GPUs that get the same instances (else one per GPU; plus C(-dci)/C(-dgi) where instances go) and a
    verification read (C(-q -x), C(-L)). From scratch that is 7 calls for any number of GPUs that get the same layout (plus C(-r) for an Ampere reset).
  - Each GPU is changed atomically. If creating instances fails, the instances this run created are destroyed, the
    previous layout is restored when possible, and the module fails with the state of every GPU.
author:
  - gpu_slicing.eks maintainers (@gpu-slicing)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Runs only read-only C(nvidia-smi) commands and returns the commands it would run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Before/after per GPU, with a diagram of the memory slots.
options:
  gpus:
    description:
      - GPUs to manage, each given as its index, UUID or PCI bus id.
      - Default is every MIG-capable GPU. GPUs that are not MIG capable are skipped and listed in RV(skipped_gpus).
    type: list
    elements: str
  mig_mode:
    description:
      - V(enabled) or V(disabled). Defaults to V(enabled) when O(layout) is given.
      - V(enabled) without O(layout) or O(config) only ensures the mode and leaves existing instances alone.
      - V(disabled) destroys all instances of the GPU first (refused if any has processes, unless O(force=true)).
    type: str
    choices: [enabled, disabled]
  layout:
    description:
      - "Desired GPU instances on every selected GPU, as a list of profile names (V([3g.40gb, 2g.20gb, 1g.10gb])) or a
        mapping profile name to count (V({1g.10gb: 2, 3g.40gb: 1})). Names may carry the C(MIG ) prefix."
      - An empty list or mapping means MIG enabled with no instances.
      - Mutually exclusive with O(config).
    type: raw
  config:
    description:
      - A mig-parted v1 config label. Without O(config_file) one of the built-in labels such as V(all-1g.10gb),
        V(all-balanced), V(all-disabled).
      - Entries select GPUs by C(devices) and C(device-filter); GPUs matched by no entry are left untouched.
    type: str
  config_file:
    description:
      - Path on the managed node of a mig-parted v1 config file (YAML; read with PyYAML when present, else with a
        built-in reader for the block-YAML subset mig-parted files use, or as JSON).
      - Requires O(config).
    type: path
  force:
    description:
      - Skip the busy check that refuses to destroy instances or change the MIG mode while processes run there.
      - The driver itself still refuses to destroy an instance in use (C(In use by another client)); the module then
        restores what it destroyed on that GPU and fails. Use it when the process list is known to be stale.
    type: bool
    default: false
  allow_gpu_reset:
    description:
      - Ampere GPUs (A100, A30) keep a MIG mode change pending until a GPU reset. With V(true) the module runs
        C(nvidia-smi -r -i <gpus>) so that it takes effect at once; with V(false) it returns RV(reboot_required=true)
        and creates the instances after the reboot (from the persisted file).
      - Hopper and later GPUs switch immediately and never need this.
    type: bool
    default: false
  nvidia_smi_path:
    description: Name or path of the C(nvidia-smi) executable.
    type: str
    default: nvidia-smi
  persist:
    description:
      - Write the desired state of the managed GPUs to O(persist_path) so that a boot-time service re-applies it
        (MIG instances vanish on every reboot, and on Hopper and later so does the MIG mode).
    type: bool
    default: true
  persist_path:
    description:
      - File written when O(persist=true); a mig-parted v1 config with the single label C(gpu-slicing) and one entry
        per managed GPU (C(device-filter), C(devices), C(mig-enabled), C(mig-devices)). Entries of GPUs this run did not
        manage (see O(gpus)) are kept from the existing file.
      - Readable by C(nvidia-mig-parted apply -f FILE -c gpu-slicing) and by this module with O(config=gpu-slicing)
        and O(config_file=FILE).
      - When the file must be written, an unwritable path fails the module before the first change.
    type: path
    default: /etc/gpu-slicing/mig-layout.yaml
requirements:
  - nvidia-smi (NVIDIA driver R525 or later; profile listing with MIG disabled needs R580 or later)
notes:
  - Profiles and counts are validated against the GPU before the first change; an infeasible layout fails with a
    message that names the conflicting profiles.
  - A run that changes GPUs re-reads the state afterwards (C(-q -x), C(-L)), which also creates the
    C(/dev/nvidia-caps) device nodes. Restart the device plugin afterwards, it only enumerates MIG devices at start.
seealso:
  - module: gpu_slicing.eks.nvidia_mig_info
  - name: NVIDIA MIG user guide
    description: Profiles, placements and mode changes.
    link: https://docs.nvidia.com/datacenter/tesla/mig-user-guide/
"""

EXAMPLES = r"""
- name: Three slices on every H100, kept in place on later runs
  gpu_slicing.eks.nvidia_mig:
    layout:
      3g.40gb: 1
      2g.20gb: 1
      1g.10gb: 2

- name: The GPU Operator's balanced layout on GPUs 0 and 1 only
  gpu_slicing.eks.nvidia_mig:
    config: all-balanced
    gpus: ["0", "1"]

- name: Re-apply the persisted layout at boot (what the boot service runs)
  gpu_slicing.eks.nvidia_mig:
    config: gpu-slicing
    config_file: /etc/gpu-slicing/mig-layout.yaml
    persist: false

- name: Turn MIG off on an A100 node, resetting the GPUs instead of rebooting
  gpu_slicing.eks.nvidia_mig:
    mig_mode: disabled
    allow_gpu_reset: true
  register: mig

- name: Reboot if the mode change is still pending
  ansible.builtin.reboot:
  when: mig.reboot_required
"""

RETURN = r"""
changed:
  description: Whether any GPU or the persisted file changed (or would change in check mode).
  returned: always
  type: bool
gpus:
  description: State of every GPU on the node after the run (in check mode, before it).
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: GPU index.
      type: int
      returned: always
    uuid:
      description: GPU UUID.
      type: str
      returned: always
    name:
      description: Product name.
      type: str
      returned: always
    pci_bus_id:
      description: PCI bus id.
      type: str
      returned: always
    pci_device_id:
      description: PCI device and vendor id, such as C(0x233010DE).
      type: str
      returned: always
    memory_mib:
      description: Total framebuffer memory.
      type: int
      returned: always
    mig_mode:
      description: MIG mode C(current) and C(pending), each V(enabled), V(disabled) or V(null) (not MIG capable).
      type: dict
      returned: always
    instances:
      description: GPU instances with C(profile), C(profile_id), C(placement) (C(start), C(size)),
        C(gpu_instance_id), C(compute_instances) and C(mig_uuid).
      type: list
      elements: dict
      returned: always
    processes:
      description: Processes on the GPU with the GPU and compute instance they run in.
      type: list
      elements: dict
      returned: always
  sample:
    - index: 0
      uuid: GPU-25bd35c4-38ce-a0ef-ebe7-b024f5545ed8
      name: NVIDIA H100 80GB HBM3
      pci_bus_id: "00000000:00:06.0"
      pci_device_id: "0x233010DE"
      memory_mib: 81559
      mig_mode: {current: enabled, pending: enabled}
      instances:
        - profile: 3g.40gb
          profile_id: 9
          placement: {start: 4, size: 4}
          gpu_instance_id: 2
          compute_instances: [{compute_instance_id: 0, profile: 3g.40gb, profile_id: null, mig_uuid: MIG-0a1b}]
          mig_uuid: MIG-0a1b
      processes: []
actions:
  description: The C(nvidia-smi) argv lists that were run (in check mode, that would be run), in order.
  returned: always
  type: list
  elements: list
  sample: [["nvidia-smi", "-i", "0,1", "-mig", "1"], ["nvidia-smi", "mig", "-i", "0,1", "-cgi", "9:4,14:0,19:2,19:3", "-C"]]
plan:
  description: Per managed GPU, what is kept, destroyed and created, and whether a reboot is needed.
  returned: always
  type: list
  elements: dict
reboot_required:
  description: A MIG mode change stays pending until a reboot (Ampere without O(allow_gpu_reset)).
  returned: always
  type: bool
skipped_gpus:
  description: GPUs not managed, with the reason (not MIG capable, not selected by the config).
  returned: always
  type: list
  elements: dict
  sample: [{index: 1, uuid: GPU-1234, name: NVIDIA A10G, reason: not MIG capable}]
persist_path:
  description: The file the desired state was written to (or would be in check mode); null when O(persist=false).
  returned: always
  type: str
nvidia_smi_calls:
  description: Number of C(nvidia-smi) invocations this run made.
  returned: always
  type: int
diff:
  description: Before/after text per GPU with a diagram of the memory slots (with C(--diff)).
  returned: when diff mode is on
  type: dict
"""

import collections
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import configs, planner, render
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.model import GpuInstance

PERSIST_LABEL = configs.PERSIST_LABEL


class ModuleFailure(Exception):
    def __init__(self, msg, **extra):
        super(ModuleFailure, self).__init__(msg)
        self.extra = extra


def config_entries(params):
    """The selected mig-parted entries (built-in label or config_file), or None without ``config``."""
    if not params["config"]:
        return None
    if not params["config_file"]:
        return configs.builtin_config(params["config"])
    try:
        with open(params["config_file"]) as handle:
            text = handle.read()
    except (IOError, OSError) as exc:
        raise ModuleFailure("config_file %s cannot be read: %s" % (params["config_file"], to_native(exc)))
    data, _loader = configs.load_config_text(text)
    return configs.select_entries(data, params["config"])


def desired_states(params, targets, entries):
    """{gpu_index: planner.Desired or None} from layout / mig_mode / config entries."""
    out = {}
    if entries is not None:
        for gpu in targets:
            spec = configs.device_spec(entries, gpu.index, gpu.pci_device_id, gpu.pci_sub_system_id)
            if spec is not None and params["mig_mode"] and (params["mig_mode"] == "enabled") != spec.mig_enabled:
                raise ModuleFailure("mig_mode=%s contradicts config %s for GPU %s"
                                    % (params["mig_mode"], params["config"], gpu.index))
            out[gpu.index] = planner.Desired(spec.mig_enabled, spec.mig_devices) if spec else None
        return out
    layout = None
    if params["layout"] is not None:
        layout = configs.normalize_layout(params["layout"])
    mode = params["mig_mode"] or ("enabled" if layout is not None else None)
    if mode is None:
        raise ModuleFailure("one of mig_mode, layout or config is required")
    if mode == "disabled" and layout:
        raise ModuleFailure("layout %s was given with mig_mode=disabled" % dict(layout))
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


def plan_argv(plan, path):
    """argv lists for the per-GPU part of a plan (mode changes and resets are batched by the caller)."""
    out = []
    index = plan.gpu.index
    for action in plan.actions:
        kind = action[0]
        if kind == "destroy_ci":
            out.append(("destroy", smi.argv_destroy_ci(index, action[1], path)))
        elif kind == "destroy_gi":
            out.append(("destroy", smi.argv_destroy_gi(index, action[1], path)))
        elif kind == "create_gi":
            out.append(("create", smi.argv_create_gi(index, [(c[1], c[2]) for c in action[1]], True, path)))
        elif kind == "create_ci":
            out.append(("create", smi.argv_create_ci(index, action[1], path)))
    return out


def ordered_commands(plans, path):
    """All (kind, subject, argv) steps in execution order; ``subject`` is the Plan of a destroy and the list
    of Plans of any other step.

    GPUs that destroy instances without a mode change go first, one GPU at a time (destroys then creates),
    so a failure leaves every other GPU either finished or untouched. Then the destroys of GPUs that change
    mode, ONE mode-change call for all of them (and one reset call), and the creates of every other GPU.
    """
    steps = []
    moving = [p for p in plans if any(a[0] in ("set_mode", "reset") for a in p.actions)]
    rebuilding = [p for p in plans if p not in moving and any(a[0].startswith("destroy") for a in p.actions)]
    for plan in rebuilding:
        steps.extend((phase, plan if phase == "destroy" else [plan], argv) for phase, argv in plan_argv(plan, path))
    for plan in moving:
        steps.extend(("destroy", plan, argv) for phase, argv in plan_argv(plan, path) if phase == "destroy")
    for enabled in (True, False):
        group = [p for p in moving if ("set_mode", enabled) in p.actions]
        if group:
            steps.append(("mode", group, smi.argv_set_mode([p.gpu.index for p in group], enabled, path)))
    resets = [p for p in moving if ("reset",) in p.actions]
    if resets:
        steps.append(("reset", resets, smi.argv_reset([p.gpu.index for p in resets], path)))
    steps.extend(create_steps([p for p in plans if p not in rebuilding], path))
    return steps


def create_steps(plans, path):
    """Create steps: GPUs whose only step is a ``-cgi`` of the same profile_id:start tuples (the usual case from
    scratch) share ONE call, as ``-i`` takes a comma list; the others get their own calls."""
    batches = collections.OrderedDict()
    steps = []
    for plan in plans:
        creates = [a for a in plan.actions if a[0] in ("create_gi", "create_ci")]
        if len(creates) == 1 and creates[0][0] == "create_gi":
            batches.setdefault(tuple((c[1], c[2]) for c in creates[0][1]), []).append(plan)
        else:
            steps.extend(("create", [plan], argv) for phase, argv in plan_argv(plan, path) if phase == "create")
    for tuples, group in batches.items():
        steps.append(("create", group, smi.argv_create_gi([p.gpu.index for p in group], tuples, True, path)))
    return steps


def target_lines(plans):
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


def persist_document(plans, path=None):
    """The persisted file: this run's GPUs, plus entries for other GPUs kept from the existing file.

    A run limited with ``gpus`` must not make the boot service forget the other GPUs. Entries of an
    existing file that cannot be read are dropped (the file is ours and gets rewritten).
    """
    per_gpu = {}
    for entry in _existing_persisted_entries(path):
        if isinstance(entry["devices"], list) and len(entry["devices"]) == 1:
            device_id = entry["device_filter"][0][0] if entry["device_filter"] else None
            per_gpu[entry["devices"][0]] = (entry["devices"][0], device_id, entry["mig_enabled"], entry["mig_devices"])
    for plan in plans:
        if plan.desired is None:
            continue
        per_gpu[plan.gpu.index] = (plan.gpu.index, plan.gpu.pci_device_id, plan.desired.mig_enabled, plan.desired.layout)
    return configs.build_document([per_gpu[i] for i in sorted(per_gpu)], PERSIST_LABEL)


def _existing_persisted_entries(path):
    if not path or not os.path.exists(path):
        return []
    try:
        with open(path) as handle:
            data, _loader = configs.load_config_text(handle.read())
        return configs.select_entries(data, PERSIST_LABEL)
    except (IOError, OSError, configs.MigConfigError):
        return []


def persist_needed(path, text):
    try:
        with open(path) as handle:
            return handle.read() != text
    except (IOError, OSError):
        return True


def persist_path_problem(path):
    """Why ``path`` cannot be written (its directory created if missing), or None."""
    if os.path.isdir(path):
        return "is a directory"
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return "cannot be created: %s is not a directory" % parent
    if not os.access(parent, os.W_OK | os.X_OK):
        # the file is replaced atomically through a temporary file in its directory
        return "cannot be written: no write access to %s" % parent
    return None


def write_persist(module, path, text):
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".mig-layout.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    module.atomic_move(tmp, path)


def state_report(gpus, indexes=None):
    lines = []
    for gpu in gpus:
        if indexes is not None and gpu.index not in indexes:
            continue
        line = render.gpu_diagram(gpu)
        bare = [str(gi.gi_id) for gi in gpu.instances if not gi.compute_instances]
        if bare:
            line += " (GPU instances without a compute instance: %s)" % ", ".join(bare)
        lines.append(line)
    return "; ".join(lines)


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
    """Undo this run's creates on one GPU and try to restore destroyed instances; returns a message."""
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


def execute(runner, plans):
    """Run the steps; on failure roll back the failing GPU and raise ModuleFailure with the per-GPU state.

    Returns (argv lists run, indexes of GPUs whose mode change stayed pending, {gpu_index: [created GpuInstance]}).
    """
    run = []
    pending_gpus = set()
    done = set()
    created = {}
    destroyed = set()
    for kind, subject, argv in ordered_commands(plans, runner.path):
        try:
            _rc, out, err = runner.run(argv)
            run.append(argv)
        except smi.NvidiaSmiError as exc:
            run.append(argv)
            raise failure_after(runner, plans, kind, subject, exc, run, done, created, destroyed)
        if kind == "mode":
            pending_buses = set(smi.normalize_bus_id(b) for b in smi.parse_pending_mode(out + err))
            pending_gpus.update(p.gpu.index for p in subject if smi.normalize_bus_id(p.gpu.pci_bus_id) in pending_buses)
        if kind == "reset":
            pending_gpus.difference_update(p.gpu.index for p in subject)
        if kind == "create" and "-cgi" in argv:
            for plan in subject:
                created.setdefault(plan.gpu.index, []).extend(created_instances(plan, out + err))
        if kind == "destroy":
            destroyed.add(subject.gpu.index)
            done.add(subject.gpu.index)
        else:
            done.update(p.gpu.index for p in subject)
    return run, pending_gpus, created


def failure_after(runner, plans, kind, subject, exc, run, done, created, destroyed):
    """Roll back what the failed step left half done and return a ModuleFailure with the per-GPU state."""
    message = str(exc)
    touched = [subject.gpu.index] if kind == "destroy" else [p.gpu.index for p in subject]
    if kind == "create":
        reported = smi.parse_created_gis(exc.out + exc.err)
        with_ci = set((c[0], c[1]) for c in smi.parse_created_cis(exc.out + exc.err))
        for plan in subject:
            made = [c for c in reported if c[0] == plan.gpu.index]
            if len(subject) > 1 and made and len(made) == len(plan.create) and all(c[:2] in with_ci for c in made):
                # a batched -cgi that failed on a later GPU: this one is complete (GIs and CIs), keep it
                created.setdefault(plan.gpu.index, []).extend(created_instances(plan, exc.out + exc.err))
                touched.remove(plan.gpu.index)
                done.add(plan.gpu.index)
                continue
            message += "; rollback of GPU %s: %s" % (plan.gpu.index, rollback_gpu(runner, plan, made))
    elif kind == "destroy":
        message += "; rollback of GPU %s: %s" % (subject.gpu.index, restore_compute_instances(runner, subject))
    failed_step = [subject] if kind == "destroy" else subject
    # GPUs whose destroys ran but whose creates never will: put back what was destroyed.
    for plan in plans:
        if plan not in failed_step and plan.gpu.index in destroyed and plan.gpu.index not in created \
                and plan.destroy and plan.desired is not None and plan.desired.mig_enabled:
            message += "; rollback of GPU %s: %s" % (plan.gpu.index, rollback_gpu(runner, plan, []))
    state = runner.read_state()
    return ModuleFailure(
        "%s. GPUs finished before the failure: %s. State now: %s"
        % (message, ", ".join(str(i) for i in sorted(done - set(touched))) or "none", state_report(state)),
        actions=run, gpus=[g.to_dict() for g in state], failed_gpus=touched)


def created_instances(plan, text):
    """GpuInstances created by one ``-cgi`` call: GI ids from the output, placements from the plan (same order)."""
    out = []
    reported = [c for c in smi.parse_created_gis(text) if c[0] == plan.gpu.index]
    for (name, profile_id, start, size), found in zip(plan.create, reported):
        if found[3] != profile_id:
            raise ModuleFailure("GPU %s: nvidia-smi reported profile %s (id %s) where %s (id %s) was created"
                                % (plan.gpu.index, found[2], found[3], name, profile_id))
        out.append(GpuInstance(name, profile_id, start, size, gi_id=found[1]))
    if len(reported) != len(plan.create):
        raise ModuleFailure("GPU %s: nvidia-smi reported %d created GPU instances, %d were requested: %s"
                            % (plan.gpu.index, len(reported), len(plan.create), text.strip()))
    return out


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
    if any(getattr(g, "mig_devices", None) for g in gpus):
        _rc, listing, _err = runner.run(smi.argv_list_gpus(runner.path))
    smi.assemble_state(gpus, list_text=listing, instances=instances)
    for gpu in gpus:
        known = set(gi.gi_id for gi in gpu.instances)
        gpu.unexpected_devices = [d for d in getattr(gpu, "mig_devices", []) if d["gi_id"] not in known]
    return gpus


def main():
    module = AnsibleModule(
        argument_spec=dict(
            gpus=dict(type="list", elements="str"),
            mig_mode=dict(type="str", choices=["enabled", "disabled"]),
            layout=dict(type="raw"),
            config=dict(type="str"),
            config_file=dict(type="path"),
            force=dict(type="bool", default=False),
            allow_gpu_reset=dict(type="bool", default=False),
            nvidia_smi_path=dict(type="str", default="nvidia-smi"),
            persist=dict(type="bool", default=True),
            persist_path=dict(type="path", default="/etc/gpu-slicing/mig-layout.yaml"),
        ),
        mutually_exclusive=[("layout", "config")],
        required_one_of=[("mig_mode", "layout", "config")],
        required_by={"config_file": "config"},
        supports_check_mode=True,
    )
    params = module.params
    result = dict(changed=False, gpus=[], actions=[], plan=[], reboot_required=False, skipped_gpus=[],
                  persist_path=params["persist_path"] if params["persist"] else None, nvidia_smi_calls=0)

    # Everything that can be validated without the GPU is validated before the first command.
    try:
        if params["layout"] is not None:
            configs.normalize_layout(params["layout"])
        entries = config_entries(params)
    except (configs.MigConfigError, ModuleFailure) as exc:
        module.fail_json(msg=to_native(exc), **result)

    runner = smi.runner_for_module(module, params["nvidia_smi_path"])
    try:
        gpus = runner.read_state()
        selected = smi.select_gpus(gpus, params["gpus"])
        targets = []
        for gpu in selected:
            if not gpu.mig_capable:
                result["skipped_gpus"].append(dict(index=gpu.index, uuid=gpu.uuid, name=gpu.name,
                                                   reason="not MIG capable"))
            else:
                targets.append(gpu)
        desired = desired_states(params, targets, entries)
        for gpu in targets:
            if desired.get(gpu.index) is None:
                result["skipped_gpus"].append(dict(index=gpu.index, uuid=gpu.uuid, name=gpu.name,
                                                   reason="not matched by config %s" % params["config"]))
        managed = [g for g in targets if desired.get(g.index) is not None]
        # Profiles (-lgip, -lgipp) are only needed to place instances; converged GPUs and GPUs that
        # only turn MIG off never need them.
        if any(desired[g.index].mig_enabled and not planner.is_converged(g, desired[g.index]) for g in managed):
            runner.attach_profiles(gpus)
        plans = []
        errors = []
        for gpu in managed:
            try:
                plans.append(planner.plan_gpu(gpu, desired[gpu.index], params["force"], params["allow_gpu_reset"]))
            except planner.PlanError as exc:
                errors.append(to_native(exc))
        if errors:
            raise ModuleFailure("; ".join(errors) + ". Nothing was changed.")
    except (ModuleFailure, configs.MigConfigError, smi.NvidiaSmiError, ValueError) as exc:
        extra = getattr(exc, "extra", {})
        result.update(extra)
        result["nvidia_smi_calls"] = runner.invocations
        module.fail_json(msg=to_native(exc), **result)

    steps = ordered_commands(plans, runner.path)
    before = state_report(managed).replace("; ", "\n")
    after = "\n".join(target_lines(plans))
    result["plan"] = [p.to_dict() for p in plans]
    result["reboot_required"] = any(p.reboot_required for p in plans)
    changed = bool(steps)

    persist_text = None
    if params["persist"] and plans:
        persist_text = configs.dump_config(persist_document(plans, params["persist_path"]))
        if persist_needed(params["persist_path"], persist_text):
            changed = True
        else:
            persist_text = None
    problem = persist_path_problem(params["persist_path"]) if persist_text is not None else None
    if problem:
        # found before the first change, so the GPUs and the file never disagree because of it
        result["nvidia_smi_calls"] = runner.invocations
        module.fail_json(msg="persist_path %s %s. Nothing was changed." % (params["persist_path"], problem), **result)

    if module.check_mode:
        result["actions"] = [argv for _k, _s, argv in steps]
        result["gpus"] = [g.to_dict() for g in gpus]
    else:
        if steps:
            try:
                run, pending, created = execute(runner, plans)
            except ModuleFailure as exc:
                result.update(exc.extra)
                result["changed"] = True
                result["nvidia_smi_calls"] = runner.invocations
                module.fail_json(msg=to_native(exc), **result)
            result["actions"] = run
            result["reboot_required"] = result["reboot_required"] or bool(pending)
            gpus = state_after(runner, gpus, plans, created)
            wrong = []
            by_index = dict((g.index, g) for g in gpus)
            for plan in plans:
                now = by_index.get(plan.gpu.index)
                if plan.deferred or plan.reboot_required or now is None or plan.gpu.index in pending:
                    continue
                if not planner.is_converged(now, plan.desired) or now.unexpected_devices:
                    wrong.append("GPU %s reads back as %s" % (now.index, render.gpu_diagram(now)))
            if wrong:
                result.update(changed=True, gpus=[g.to_dict() for g in gpus], nvidia_smi_calls=runner.invocations)
                module.fail_json(msg="after applying, these GPUs do not match the desired layout: %s" % "; ".join(wrong),
                                 **result)
        result["gpus"] = [g.to_dict() for g in gpus]
        if persist_text is not None:
            try:
                write_persist(module, params["persist_path"], persist_text)
            except (IOError, OSError) as exc:
                result["changed"] = changed
                module.fail_json(msg="MIG applied but persist_path %s could not be written: %s"
                                 % (params["persist_path"], to_native(exc)), **result)
    result["changed"] = changed
    result["nvidia_smi_calls"] = runner.invocations
    if module._diff:
        result["diff"] = dict(before=before + "\n" if before else "", after=after + "\n" if after else "",
                              before_header="nvidia-smi (current)", after_header="nvidia-smi (desired)")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
