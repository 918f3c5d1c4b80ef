# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MIG capacity of one node: (instance type, mig-parted config or layout, strategy) -> extended resources.

Karpenter knows ``nvidia.com/gpu`` per instance type but never a ``nvidia.com/mig-*`` resource, so the
numbers a NodeOverlay must add come from here (pure, stdlib only).

The resource names and counts follow NVIDIA's k8s-device-plugin v0.20 (``internal/rm``):

- ``mixed``: each MIG profile is its own resource ``nvidia.com/mig-<profile>``, with ``+`` turned into
  ``.`` (``1g.10gb+me`` -> ``nvidia.com/mig-1g.10gb.me``); GPUs with MIG disabled stay
  ``nvidia.com/gpu``. We always return ``nvidia.com/gpu`` (0 when every GPU is sliced) so that an
  overlay also overrides Karpenter's physical GPU count.
- ``single``: every MIG device is advertised as ``nvidia.com/gpu``. The plugin refuses a node whose
  GPUs mix MIG-enabled and MIG-disabled, a MIG GPU without instances, or more than one MIG device type
  (GPU feature discovery then labels ``<model>-MIG-INVALID`` with count 0), so those are errors here.

Which GPU a config entry applies to is decided by ``configs.device_spec`` with the PCI device id of the
instance type's GPU (the first id of the catalog model: the part EC2 ships). A GPU that no entry
matches keeps MIG disabled, i.e. counts as a whole GPU.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import configs
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import placement

GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
STRATEGIES = ("mixed", "single")


class CapacityError(ValueError):
    """Inputs that do not describe a valid MIG node; the message says what and why."""


def resource_name(profile_name):
    """Extended resource of a MIG profile under the mixed strategy (``1g.10gb+me`` -> ``nvidia.com/mig-1g.10gb.me``)."""
    return MIG_RESOURCE_PREFIX + profile_name.replace("+", ".")


def profile_for_resource(resource, model):
    """Inverse of :func:`resource_name` for the profiles of ``model``; None when no profile maps to it."""
    for spec in model.profiles:
        if resource_name(spec.name) == resource:
            return spec.name
    return None


def mig_model(instance_type):
    """The catalog GpuModel of a MIG-capable instance type; CapacityError otherwise."""
    try:
        model = catalog.model_for_instance_type(instance_type)
    except catalog.CatalogError as exc:
        raise CapacityError(str(exc))
    if not model.mig_capable:
        raise CapacityError(
            "%s has %s GPUs, which do not support MIG; MIG-capable instance types: %s"
            % (instance_type, model.product_name, ", ".join(catalog.mig_capable_instance_types())))
    return model


def check_layout(model, layout, where="layout"):
    """Validate one GPU's layout on ``model``; return OrderedDict profile -> count.

    Names must be profiles of the model (the error lists the valid ones), counts within the per-GPU
    maximum, and the instances must have a non-overlapping placement (``placement.find_layout``).
    """
    try:
        counts = configs.normalize_layout(layout, where=where)
    except configs.MigConfigError as exc:
        raise CapacityError(str(exc))
    valid = [p.name for p in model.profiles]
    unknown = [name for name in counts if name not in valid]
    if unknown:
        raise CapacityError("%s: %s has no MIG profile %s; valid: %s"
                            % (where, model.product_name, ", ".join(repr(n) for n in unknown), ", ".join(valid)))
    if counts and placement.find_layout(counts, model.profiles, model.memory_slots) is None:
        why = placement.explain_infeasible(counts, model.profiles, model.memory_slots)
        raise CapacityError("%s does not fit one %s: %s" % (where, model.product_name, why))
    return counts


def _check_config_args(config, layout, config_label):
    if config is None and layout is None:
        raise CapacityError("give either config (a mig-parted label or document) or layout")
    if config is not None and layout is not None:
        raise CapacityError("give either config or layout, not both")
    if config is not None and not isinstance(config, (str, dict)):
        raise CapacityError("config must be a built-in label such as 'all-1g.10gb' or a parsed mig-parted v1 "
                            "document, got %s" % type(config).__name__)
    if isinstance(config, str) and config_label not in (None, config):
        raise CapacityError("config_label %r only applies to a config document; config is already the label %r"
                            % (config_label, config))


def node_gpus(instance_type, config=None, layout=None, config_label=None):
    """Per-GPU state of one node: (GpuModel, list with, per GPU index, an OrderedDict layout or None).

    None means MIG disabled (a whole GPU); an empty OrderedDict means MIG enabled without instances.
    """
    model = mig_model(instance_type)
    _check_config_args(config, layout, config_label)
    count = catalog.instance_type(instance_type).gpu_count
    if layout is not None:
        counts = check_layout(model, layout)
        return model, [collections.OrderedDict(counts) for _i in range(count)]
    try:
        entries = configs.select_entries(config, config_label)
    except configs.MigConfigError as exc:
        raise CapacityError(str(exc))
    if isinstance(config, str):
        label = config
    else:
        label = config_label or next(iter(config["mig-configs"]))  # select_entries checked there is one
    pci_id = model.pci_device_ids[0]
    gpus = []
    for index in range(count):
        spec = configs.device_spec(entries, index, pci_id)
        if spec is None or not spec.mig_enabled:
            gpus.append(None)
            continue
        where = "config %s, GPU %d (%s, device id %s)" % (label, index, model.product_name, pci_id)
        gpus.append(check_layout(model, spec.mig_devices, where=where))
    return model, gpus


def config_mismatch(instance_type, config, config_label=None):
    """None when some entry of ``config`` selects a GPU of ``instance_type``; else why not, and what would.

    A config without an entry for the instance type's GPU (``all-1g.10gb`` on an H200, whose device-filter lists
    only A100/H100 parts) leaves MIG as it is, so the node advertises whole GPUs: callers warn or fail with this
    message instead of advertising ``nvidia.com/gpu`` silently. Raises CapacityError for invalid input.
    """
    model = mig_model(instance_type)
    _check_config_args(config, None, config_label)
    try:
        entries = configs.select_entries(config, config_label)
    except configs.MigConfigError as exc:
        raise CapacityError(str(exc))
    count = catalog.instance_type(instance_type).gpu_count
    pci_id = model.pci_device_ids[0]
    if any(configs.device_spec(entries, index, pci_id) is not None for index in range(count)):
        return None
    fits = [name for name in configs.builtin_config_names() if _builtin_fits(model, name, count, pci_id)]
    label = config if isinstance(config, str) else (config_label or "the config")
    return ("config %s has no entry for the %s GPUs (device id %s) of %s, so it would leave them as whole GPUs "
            "(%s: %d); configs that apply: %s"
            % (label, model.product_name, pci_id, instance_type, GPU_RESOURCE, count, ", ".join(fits) or "none built in"))


def _builtin_fits(model, label, count, pci_id):
    """True when built-in ``label`` slices at least one GPU of the model and every layout it selects is valid there."""
    specs = [configs.device_spec(configs.builtin_config(label), index, pci_id) for index in range(count)]
    if not any(spec is not None and spec.mig_enabled for spec in specs):
        return False
    try:
        for spec in specs:
            if spec is not None and spec.mig_enabled:
                check_layout(model, spec.mig_devices)
    except CapacityError:
        return False
    return True


def resources_for_gpus(gpus, strategy="mixed", what="the node"):
    """Extended resources advertised for per-GPU layouts (see :func:`node_gpus`) under ``strategy``."""
    if strategy not in STRATEGIES:
        raise CapacityError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    whole = sum(1 for gpu in gpus if gpu is None)
    if strategy == "mixed":
        totals = collections.Counter()
        for gpu in gpus:
            for name, count in (gpu or {}).items():
                totals[resource_name(name)] += count
        out = collections.OrderedDict((key, totals[key]) for key in sorted(totals))
        out[GPU_RESOURCE] = whole
        return out
    # single: the device plugin only accepts a uniform node.
    sliced = [gpu for gpu in gpus if gpu is not None]
    if not sliced:
        return collections.OrderedDict([(GPU_RESOURCE, whole)])
    if whole:
        raise CapacityError(
            "single strategy: %s mixes %d MIG-enabled and %d MIG-disabled GPUs; the device plugin requires the same "
            "MIG mode on every GPU (GPU feature discovery would label it -MIG-INVALID); use strategy mixed"
            % (what, len(sliced), whole))
    empty = [i for i, gpu in enumerate(gpus) if not gpu]
    if empty:
        raise CapacityError("single strategy: GPU(s) %s of %s have MIG enabled but no instances; the device plugin "
                            "rejects that" % (", ".join(map(str, empty)), what))
    types = sorted(set(name for gpu in sliced for name in gpu))
    if len(types) > 1:
        raise CapacityError(
            "single strategy: %s would have %d MIG device types (%s); the device plugin allows one type per node "
            "(it would advertise -MIG-INVALID); use one profile per node or strategy mixed"
            % (what, len(types), ", ".join(types)))
    return collections.OrderedDict([(GPU_RESOURCE, sum(sum(gpu.values()) for gpu in sliced))])


def mig_resources(instance_type, config=None, layout=None, strategy="mixed", config_label=None):
    """Extended resources (name -> int) one node of ``instance_type`` advertises.

    ``config``: a built-in mig-parted label (``all-1g.10gb``, ``all-balanced``) or a parsed mig-parted v1
    document (``config_label`` picks the label when it has several). ``layout``: profile names (list) or
    profile -> count (mapping) applied to every GPU. ``strategy``: ``mixed`` or ``single``.
    """
    if strategy not in STRATEGIES:
        raise CapacityError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    _model, gpus = node_gpus(instance_type, config=config, layout=layout, config_label=config_label)
    return dict(resources_for_gpus(gpus, strategy, what="a %s node" % instance_type))
