# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for what a GPU node should advertise: its GPUs and MIG devices (``nvidia-smi -L``, parsed by the
same ``_nvidia_smi.parse_list`` the modules use), the extended resources the NVIDIA device plugin advertises for
them, and the drift between those and a Node's allocatable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi

RESOURCE_PREFIX = "nvidia.com/"
STRATEGIES = ("none", "single", "mixed")
NO_DEVICES = "No devices were found"


def parse_smi_list(text):
    """Parse ``nvidia-smi -L`` into [{index, name, uuid, mig_devices: [{profile, device_index, uuid}]}].

    The parsing is ``_nvidia_smi.parse_list``; this adds the strictness a filter over untrusted text needs: every
    non-empty line must be a GPU or MIG line that the parser took (a line without one of the parsed UUIDs is an
    error, not silently dropped).
    """
    if not isinstance(text, str):
        raise AnsibleFilterError("nvidia-smi -L output must be a string, got %s" % type(text).__name__)
    if text.strip().startswith(NO_DEVICES):
        return []
    gpus = _nvidia_smi.parse_list(text)
    uuids = set(g["uuid"] for g in gpus) | set(d["uuid"] for g in gpus for d in g["mig_devices"])
    for line in text.splitlines():
        if line.strip() and not any("(UUID: %s)" % uuid in line for uuid in uuids):
            raise AnsibleFilterError("unexpected line in nvidia-smi -L output: %r" % line)
    return gpus


def nvidia_smi_gpus(smi_list):
    """The GPUs and MIG devices of ``nvidia-smi -L`` as a list (see parse_smi_list)."""
    return parse_smi_list(smi_list)


def _parse_modes(text):
    """Parse ``nvidia-smi --query-gpu=index,mig.mode.current --format=csv,noheader`` into {index: bool}."""
    modes = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnsibleFilterError("unexpected mig.mode line %r (want 'index, mode')" % line)
        modes[int(parts[0])] = parts[1] == "Enabled"
    return modes


def nvidia_smi_resources(smi_list, mig_modes, strategy="mixed"):
    """Extended resources the device plugin advertises for this node, as {name: int}.

    Mirrors k8s-device-plugin v0.20 (internal/rm/device_map.go): ``mixed`` -> one
    ``nvidia.com/mig-<profile>`` per MIG device and ``nvidia.com/gpu`` per GPU with MIG disabled (a
    MIG-enabled GPU without instances advertises nothing); ``single`` -> every MIG device is an
    ``nvidia.com/gpu`` and mixing MIG and non-MIG GPUs, or profiles, is an error; ``none`` -> every
    GPU is one ``nvidia.com/gpu``.
    """
    if strategy not in STRATEGIES:
        raise AnsibleFilterError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    gpus = parse_smi_list(smi_list)
    modes = _parse_modes(mig_modes)
    missing = [g["index"] for g in gpus if g["index"] not in modes]
    if missing:
        raise AnsibleFilterError("no mig.mode reported for GPU(s) %s" % missing)
    return _advertised(gpus, modes, strategy)


def _devices_from_info(gpus):
    """nvidia_mig_info ``gpus`` -> ([{index, mig_devices: [{profile}]}], {index: MIG enabled}).

    A MIG device is a compute instance (what ``nvidia-smi -L`` lists and the device plugin enumerates); a GPU
    instance without compute instances is none.
    """
    if not isinstance(gpus, list) or not all(isinstance(g, dict) for g in gpus):
        raise AnsibleFilterError("expected the gpus list of gpu_slicing.eks.nvidia_mig_info, got %s" % type(gpus).__name__)
    devices, modes = [], {}
    for gpu in gpus:
        try:
            index = int(gpu["index"])
            enabled = (gpu.get("mig_mode") or {}).get("current") == "enabled"
            profiles = [ci["profile"] for gi in gpu.get("instances") or [] for ci in gi.get("compute_instances") or []]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AnsibleFilterError("not a gpu of gpu_slicing.eks.nvidia_mig_info (%s): %r" % (exc, gpu))
        if not all(isinstance(p, str) and p for p in profiles):
            raise AnsibleFilterError("GPU %d has a compute instance without a profile name" % index)
        devices.append({"index": index, "mig_devices": [{"profile": p} for p in profiles]})
        modes[index] = enabled
    return devices, modes


def nvidia_mig_resources(gpus, strategy="mixed"):
    """Extended resources the device plugin advertises, from the ``gpus`` that nvidia_mig_info returned.

    Same rules as ``nvidia_smi_resources``; no extra nvidia-smi call on the node.
    """
    if strategy not in STRATEGIES:
        raise AnsibleFilterError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    devices, modes = _devices_from_info(gpus)
    return _advertised(devices, modes, strategy)


def _advertised(gpus, modes, strategy):
    resources = {}

    def add(name, count=1):
        resources[RESOURCE_PREFIX + name] = resources.get(RESOURCE_PREFIX + name, 0) + count

    if strategy == "none":
        if gpus:
            add("gpu", len(gpus))
        return resources
    if strategy == "single":
        enabled = [g for g in gpus if modes[g["index"]]]
        if not enabled:
            if gpus:
                add("gpu", len(gpus))
            return resources
        profiles = set(d["profile"] for g in enabled for d in g["mig_devices"])
        if len(enabled) != len(gpus) or len(profiles) != 1 or any(not g["mig_devices"] for g in enabled):
            raise AnsibleFilterError(
                "MIG strategy 'single' needs MIG enabled on every GPU with one and the same profile; found %s. "
                "Use strategy 'mixed' for this layout." % _describe(gpus, modes))
        add("gpu", sum(len(g["mig_devices"]) for g in enabled))
        return resources
    for gpu in gpus:
        if not modes[gpu["index"]]:
            add("gpu")
        for device in gpu["mig_devices"]:
            # resource names cannot hold "+": the plugin advertises 1g.10gb+me as mig-1g.10gb.me (as mig_capacity)
            add("mig-" + device["profile"].replace("+", "."))
    return resources


def _describe(gpus, modes):
    parts = []
    for gpu in gpus:
        if not modes[gpu["index"]]:
            parts.append("GPU %d: MIG disabled" % gpu["index"])
        else:
            parts.append("GPU %d: %s" % (gpu["index"], ",".join(d["profile"] for d in gpu["mig_devices"]) or "no instances"))
    return "; ".join(parts)


def _quantity(value):
    text = str(value).strip()
    if not text.isdigit():
        raise AnsibleFilterError("extended resource quantity %r is not a whole number" % (value,))
    return int(text)


def resource_drift(allocatable, expected):
    """Return a sorted list of human-readable differences for ``nvidia.com/*`` resources.

    A resource missing from ``allocatable`` counts as 0, like a plugin resource the kubelet zeroes
    after the plugin stops advertising it.
    """
    if not isinstance(expected, dict):
        raise AnsibleFilterError("expected resources must be a mapping, got %s" % type(expected).__name__)
    actual = dict((k, _quantity(v)) for k, v in (allocatable or {}).items() if k.startswith(RESOURCE_PREFIX))
    drift = []
    for name in sorted(set(actual) | set(expected)):
        want, have = int(expected.get(name, 0)), actual.get(name, 0)
        if want != have:
            drift.append("%s: expected %d, allocatable %d" % (name, want, have))
    return drift


class FilterModule(object):
    def filters(self):
        return {
            "nvidia_smi_gpus": nvidia_smi_gpus,
            "nvidia_smi_resources": nvidia_smi_resources,
            "nvidia_mig_resources": nvidia_mig_resources,
            "resource_drift": resource_drift,
        }
