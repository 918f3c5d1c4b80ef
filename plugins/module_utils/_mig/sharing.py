# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU sharing of the NVIDIA device plugin (time-slicing, MPS): validation, config file, capacity (pure, stdlib).

One user-facing dict, the same everywhere (``karpenter_nodepool`` option ``sharing``, the ``device_plugin`` role's
``device_plugin_configs.<name>.sharing``, ``mig_plan`` output)::

    {mode: time-slicing | mps, replicas: int >= 2, rename_by_default: bool = false,
     fail_requests_greater_than_one: bool = false, resources: [resource names] | None}

``resources`` None means every GPU resource the node advertises (``nvidia.com/gpu`` and, with the mixed MIG
strategy, its ``nvidia.com/mig-<profile>`` resources).

The rules are the device plugin's, as documented for the version this collection deploys (v0.20.0, see
``roles/device_plugin/defaults/main.yml``). Sources (NVIDIA/k8s-device-plugin):

- README "Shared Access to GPUs": time-slicing and MPS are mutually exclusive and apply to every GPU of a node;
  ``sharing.timeSlicing.resources[].replicas`` shared accesses per device; ``renameByDefault: true`` advertises
  ``<resource>.shared`` *instead of* ``<resource>`` (8 GPUs x 10 replicas -> ``nvidia.com/gpu.shared: 80``);
  ``failRequestsGreaterThanOne`` makes the plugin refuse a container asking for more than one shared device
  (``UnexpectedAdmissionError``); "the only supported resource available for time-slicing are nvidia.com/gpu as
  well as any of the resource types that emerge from configuring a node with the mixed MIG strategy";
  MPS: "currently not supported on devices with MIG enabled", "the only supported resource available for MPS are
  nvidia.com/gpu resources and only with full GPUs", each replica gets an equal fraction (1/replicas) of the GPU's
  memory and compute.
- ``api/config/v1/replicas.go``: a resource needs ``name`` and ``replicas`` (> 0); ``api/config/v1/sharing.go``:
  the sharing strategy is ``mps`` / ``time-slicing`` only when some resource has more than one replica
  (``isReplicated``), so ``replicas: 1`` is no sharing at all (refused here: omit ``sharing`` instead).
- ``api/config/v1/resources.go``: a name without a prefix gets ``nvidia.com/``.
- ``cmd/nvidia-device-plugin/main.go`` ``validateFlags``: with MPS, ``--mig-strategy=mixed`` is refused, and the
  device list strategy must be a CDI one (``envvar`` and ``volume-mounts`` are refused).

Isolation (README; NVIDIA MIG user guide): MIG partitions memory, compute and faults in hardware; time-slicing
isolates nothing (every replica sees all GPU memory, one fault domain: if one workload crashes the GPU, all do);
MPS limits each client's memory and compute share, but the clients share one fault domain.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog

CONFIG_LABEL = "nvidia.com/device-plugin.config"
SHARING_STRATEGY_LABEL = "nvidia.com/gpu.sharing-strategy"
MODES = ("time-slicing", "mps")
MIG_STRATEGIES = ("none", "single", "mixed")
SHARED_SUFFIX = ".shared"
GPU_RESOURCE = capacity.GPU_RESOURCE
CDI_DEVICE_LIST_STRATEGIES = ("cdi-annotations", "cdi-cri")
DEVICE_LIST_STRATEGIES = ("envvar", "volume-mounts") + CDI_DEVICE_LIST_STRATEGIES
KEYS = ("mode", "replicas", "rename_by_default", "fail_requests_greater_than_one", "resources")

_MIG_RESOURCE = re.compile(r"^nvidia\.com/mig-[0-9]+g\.[0-9]+gb(\.[a-z0-9]+)*$")

ISOLATION = collections.OrderedDict((
    ("mig", "MIG: memory, compute and faults isolated in hardware (each slice has its own memory and fault domain)"),
    ("time-slicing", "time-slicing: no isolation (every replica sees the whole GPU memory; one fault domain: a crash "
                     "takes down every workload on that GPU)"),
    ("mps", "MPS: memory and compute limited to 1/replicas per client, but one shared fault domain"),
    ("none", "whole GPU: one workload per GPU"),
))

Sharing = collections.namedtuple("Sharing", KEYS)


class SharingError(ValueError):
    """A sharing setting the device plugin would refuse or that cannot be computed; the message says why."""


def _resource(name, where):
    if not isinstance(name, str) or not name.strip():
        raise SharingError("%s: resource names must be non-empty strings, got %r" % (where, name))
    name = name.strip()
    if "/" not in name:
        name = "nvidia.com/" + name  # as the plugin does (api/config/v1/resources.go)
    if name != GPU_RESOURCE and not _MIG_RESOURCE.match(name):
        raise SharingError("%s: %r cannot be shared; the device plugin shares only %s and the nvidia.com/mig-<profile> "
                           "resources of the mixed MIG strategy" % (where, name, GPU_RESOURCE))
    return name


def _bool(spec, key, where):
    value = spec.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise SharingError("%s.%s must be true or false, got %r" % (where, key, value))
    return value


def parse(spec, where="sharing"):
    """Validate the user-facing dict; return a Sharing, or None when ``spec`` is None (no sharing)."""
    if spec is None:
        return None
    if isinstance(spec, Sharing):
        return spec
    if not isinstance(spec, dict):
        raise SharingError("%s must be a dictionary with mode and replicas, got %s" % (where, type(spec).__name__))
    unknown = sorted(str(k) for k in spec if k not in KEYS)
    if unknown:
        raise SharingError("%s: unknown key(s) %s; valid: %s" % (where, ", ".join(unknown), ", ".join(KEYS)))
    mode = spec.get("mode")
    if mode not in MODES:
        raise SharingError("%s.mode must be one of %s, got %r" % (where, ", ".join(MODES), mode))
    replicas = spec.get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        if isinstance(replicas, str) and replicas.strip().isdigit():
            replicas = int(replicas.strip())
        else:
            raise SharingError("%s.replicas must be a whole number, got %r" % (where, replicas))
    if replicas < 2:
        raise SharingError("%s.replicas must be at least 2, got %d: the device plugin treats a resource with fewer than "
                           "two replicas as not shared (api/config/v1 sharing.go isReplicated); omit %s for whole GPUs"
                           % (where, replicas, where))
    resources = spec.get("resources")
    if resources is not None:
        if not isinstance(resources, (list, tuple)) or not resources:
            raise SharingError("%s.resources must be a non-empty list of resource names or null (every GPU resource), "
                               "got %r" % (where, resources))
        names = [_resource(r, "%s.resources" % where) for r in resources]
        dupes = sorted(set(n for n in names if names.count(n) > 1))
        if dupes:
            raise SharingError("%s.resources lists %s more than once" % (where, ", ".join(dupes)))
        resources = tuple(names)
    sharing = Sharing(mode, replicas, _bool(spec, "rename_by_default", where),
                      _bool(spec, "fail_requests_greater_than_one", where), resources)
    if mode == "mps" and resources and resources != (GPU_RESOURCE,):
        raise SharingError("%s: MPS shares only %s on full GPUs (device plugin README, 'With CUDA MPS'); got resources "
                           "%s" % (where, GPU_RESOURCE, ", ".join(resources)))
    return sharing


def to_dict(sharing):
    """The user-facing dict of a Sharing (None for None), JSON-safe."""
    sharing = parse(sharing)
    if sharing is None:
        return None
    out = sharing._asdict()
    out["resources"] = list(sharing.resources) if sharing.resources is not None else None
    return dict(out)


def isolation(kind):
    """One line on what a choice isolates: kind in ``mig``, ``time-slicing``, ``mps``, ``none``."""
    try:
        return ISOLATION[kind]
    except KeyError:
        raise SharingError("unknown isolation kind %r; known: %s" % (kind, ", ".join(ISOLATION)))


def check_mig_strategy(sharing, mig_strategy, where="sharing"):
    """Refuse the combinations the plugin's validateFlags refuses (MPS with the mixed MIG strategy)."""
    if mig_strategy not in MIG_STRATEGIES:
        raise SharingError("mig_strategy must be one of %s, got %r" % (", ".join(MIG_STRATEGIES), mig_strategy))
    if sharing is not None and sharing.mode == "mps" and mig_strategy == "mixed":
        raise SharingError("%s: MPS with the mixed MIG strategy is refused by the device plugin ('using "
                           "--mig-strategy=mixed is not supported with MPS', cmd/nvidia-device-plugin validateFlags); use "
                           "time-slicing, or MIG strategy none/single on GPUs without MIG" % where)


def plugin_config(sharing, mig_strategy="none", resources=None, device_list_strategy=None, where="sharing"):
    """Device plugin config file content (one named config of the plugin's ConfigMap) as a dict.

    ``resources``: the GPU resources the nodes advertise, used when ``sharing.resources`` is None (default: just
    ``nvidia.com/gpu``; with the mixed strategy pass the MIG resources too, or list them in ``sharing``).
    ``device_list_strategy``: written to ``flags.plugin.deviceListStrategy`` when given; MPS needs a CDI one and gets
    ``cdi-cri`` when none is given (a ``DEVICE_LIST_STRATEGY`` environment variable overrides the file: keep it CDI).
    """
    sharing = parse(sharing, where)
    check_mig_strategy(sharing, mig_strategy, where)
    config = collections.OrderedDict([("version", "v1"), ("flags", collections.OrderedDict([("migStrategy", mig_strategy)]))])
    if device_list_strategy is not None and device_list_strategy not in DEVICE_LIST_STRATEGIES:
        raise SharingError("device_list_strategy must be one of %s, got %r"
                           % (", ".join(DEVICE_LIST_STRATEGIES), device_list_strategy))
    if sharing is not None and sharing.mode == "mps":
        if device_list_strategy is None:
            device_list_strategy = "cdi-cri"
        elif device_list_strategy not in CDI_DEVICE_LIST_STRATEGIES:
            raise SharingError("%s: MPS needs a CDI device list strategy (%s); the device plugin refuses %r with MPS "
                               "(cmd/nvidia-device-plugin validateFlags)"
                               % (where, " or ".join(CDI_DEVICE_LIST_STRATEGIES), device_list_strategy))
    if device_list_strategy is not None:
        config["flags"]["plugin"] = {"deviceListStrategy": device_list_strategy}
    if sharing is None:
        return config
    names = list(sharing.resources or [_resource(r, "resources") for r in (resources or [GPU_RESOURCE])])
    if mig_strategy != "mixed":
        mig = [n for n in names if n != GPU_RESOURCE]
        if mig:
            raise SharingError("%s: %s exist only under the mixed MIG strategy (MIG strategy %s advertises MIG devices as "
                               "%s or not at all)" % (where, ", ".join(mig), mig_strategy, GPU_RESOURCE))
    body = collections.OrderedDict()
    body["renameByDefault"] = sharing.rename_by_default
    body["failRequestsGreaterThanOne"] = sharing.fail_requests_greater_than_one
    body["resources"] = [collections.OrderedDict([("name", n), ("replicas", sharing.replicas)]) for n in names]
    config["sharing"] = {"timeSlicing" if sharing.mode == "time-slicing" else "mps": body}
    return config


def shared_name(resource, sharing):
    """The name a shared resource is advertised under."""
    return resource + SHARED_SUFFIX if sharing.rename_by_default else resource


def shared_capacity(base, sharing, what="the node"):
    """What a node advertises WITH sharing, from what it advertises without it (``{resource: count}``).

    Shared resources are multiplied by ``replicas``; with ``rename_by_default`` they move to ``<resource>.shared`` and
    the original is kept at 0 (the plugin advertises the renamed one *instead*, and an overlay must override
    Karpenter's ``nvidia.com/gpu``). Listed resources the node does not advertise are refused (a typo would otherwise
    silently share nothing). MPS refuses a node with MIG devices.
    """
    sharing = parse(sharing)
    out = collections.OrderedDict((k, int(v)) for k, v in sorted(base.items()))
    if sharing is None:
        return out
    present = [r for r, n in out.items() if n > 0 and (r == GPU_RESOURCE or _MIG_RESOURCE.match(r))]
    if sharing.mode == "mps":
        mig = [r for r in present if r != GPU_RESOURCE]
        if mig:
            raise SharingError("MPS is not supported on devices with MIG enabled (device plugin README, 'With CUDA MPS'), "
                               "and %s has %s; use time-slicing or whole GPUs" % (what, ", ".join(mig)))
    if sharing.resources is None:
        targets = present
        if not targets:
            raise SharingError("%s advertises no GPU resource to share (%s)" % (what, _describe(out)))
    else:
        missing = [r for r in sharing.resources if r not in present]
        if missing:
            raise SharingError("sharing.resources: %s advertises no %s (it advertises %s)"
                               % (what, ", ".join(missing), _describe(out)))
        targets = list(sharing.resources)
    for resource in targets:
        count = out[resource] * sharing.replicas
        if sharing.rename_by_default:
            out[resource] = 0
        out[shared_name(resource, sharing)] = count
    return collections.OrderedDict((k, out[k]) for k in sorted(out))


def _describe(resources):
    items = ["%s: %d" % (k, v) for k, v in resources.items() if v]
    return ", ".join(items) or "nothing"


def node_capacity(instance_type, sharing, config=None, layout=None, strategy="mixed", config_label=None):
    """Extended resources one node of ``instance_type`` advertises with ``sharing`` (None: no sharing).

    Without ``config``/``layout`` the node's GPUs are whole (MIG off; any GPU type of the catalog). With them the MIG
    capacity comes from ``capacity.mig_resources`` under ``strategy`` and time-slicing multiplies those resources.
    Raises SharingError (also for what ``capacity`` refuses, with its message).
    """
    sharing = parse(sharing)
    try:
        spec = catalog.instance_type(instance_type)
        if config is None and layout is None:
            base = {GPU_RESOURCE: spec.gpu_count}
            mig_strategy = "none"
        else:
            base = capacity.mig_resources(instance_type, config=config, layout=layout, strategy=strategy,
                                          config_label=config_label)
            mig_strategy = strategy
    except (catalog.CatalogError, capacity.CapacityError) as exc:
        raise SharingError(str(exc))
    if sharing is not None and sharing.mode == "mps" and mig_strategy != "none":
        _model, gpus = capacity.node_gpus(instance_type, config=config, layout=layout, config_label=config_label)
        if any(gpu is not None for gpu in gpus):
            raise SharingError("MPS is not supported on devices with MIG enabled (device plugin README, 'With CUDA "
                               "MPS'): the MIG layout of %s enables MIG; use time-slicing, or MPS on whole GPUs"
                               % instance_type)
    check_mig_strategy(sharing, mig_strategy)
    return shared_capacity(base, sharing, what="a %s node" % instance_type)
