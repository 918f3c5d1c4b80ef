# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data model of a GPU's MIG state as read from the node (pure, stdlib only).

These objects are filled by ``_nvidia_smi`` parsers, consumed by ``planner`` and ``render`` and
turned into module return values with ``to_dict()``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

_NAME_RE = re.compile(r"^(?:(\d+)c\.)?(\d+)g\.(\d+)gb(?:[+-][a-z.,]+)?$")


def compute_slices_of(name):
    """The ``<G>`` of ``<G>g.<GB>gb`` (or ``<C>c.<G>g.<GB>gb``); None when the name does not parse."""
    match = _NAME_RE.match(name or "")
    return int(match.group(2)) if match else None


def is_valid_profile_name(name):
    return bool(_NAME_RE.match(name or ""))


def strip_mig_prefix(name):
    """``"MIG 1g.10gb"`` -> ``"1g.10gb"`` (nvidia-smi prints the prefix, mig-parted does not)."""
    name = (name or "").strip()
    return name[4:].strip() if name.startswith("MIG ") else name


class Profile(object):
    """One GPU-instance profile as the GPU reports it (``mig -lgip`` + ``mig -lgipp``)."""

    def __init__(self, name, id, max_count, free=None, memory_mib=None, sm=None, ce=None, dec=None,
                 enc=None, jpeg=None, ofa=None, starts=(), size=None, p2p=None):
        self.name = name
        self.id = id
        self.max_count = max_count
        self.free = free
        self.memory_mib = memory_mib
        self.sm = sm
        self.ce = ce
        self.dec = dec
        self.enc = enc
        self.jpeg = jpeg
        self.ofa = ofa
        self.starts = tuple(starts)
        self.size = size
        self.p2p = p2p
        self.compute_slices = compute_slices_of(name)

    def to_dict(self):
        return {
            "name": self.name, "id": self.id, "max_count": self.max_count, "free": self.free,
            "memory_mib": self.memory_mib, "sm": self.sm, "ce": self.ce, "dec": self.dec,
            "enc": self.enc, "jpeg": self.jpeg, "ofa": self.ofa,
            "placements": {"starts": list(self.starts), "size": self.size},
            "compute_slices": self.compute_slices,
        }

    def __repr__(self):
        return "Profile(%r, id=%r, max=%r, starts=%r, size=%r)" % (
            self.name, self.id, self.max_count, self.starts, self.size)


class ComputeInstance(object):
    def __init__(self, ci_id, profile_name=None, profile_id=None, start=None, size=None, mig_uuid=None,
                 device_index=None):
        self.ci_id = ci_id
        self.profile_name = profile_name
        self.profile_id = profile_id
        self.start = start
        self.size = size
        self.mig_uuid = mig_uuid
        self.device_index = device_index

    def to_dict(self):
        return {"compute_instance_id": self.ci_id, "profile": self.profile_name,
                "profile_id": self.profile_id, "mig_uuid": self.mig_uuid}


class GpuInstance(object):
    def __init__(self, profile_name, profile_id, start, size, gi_id=None, compute_instances=None,
                 mig_uuid=None):
        self.profile_name = profile_name
        self.profile_id = profile_id
        self.start = start
        self.size = size
        self.gi_id = gi_id
        self.compute_instances = list(compute_instances or [])
        self.mig_uuid = mig_uuid

    @property
    def key(self):
        """Identity of a slice for diffing: profile and placement (GI ids are reassigned)."""
        return (self.profile_name, self.start)

    def to_dict(self):
        return {
            "profile": self.profile_name,
            "profile_id": self.profile_id,
            "placement": {"start": self.start, "size": self.size},
            "gpu_instance_id": self.gi_id,
            "compute_instances": [ci.to_dict() for ci in self.compute_instances],
            "mig_uuid": self.mig_uuid,
        }

    def __repr__(self):
        return "GpuInstance(%r@%r gi=%r)" % (self.profile_name, self.start, self.gi_id)


class Process(object):
    def __init__(self, pid, gpu_index=None, gi_id=None, ci_id=None, name=None, used_memory=None, type=None):
        self.pid = pid
        self.gpu_index = gpu_index
        self.gi_id = gi_id
        self.ci_id = ci_id
        self.name = name
        self.used_memory = used_memory
        self.type = type

    def to_dict(self):
        return {"pid": self.pid, "gpu_index": self.gpu_index, "gpu_instance_id": self.gi_id,
                "compute_instance_id": self.ci_id, "name": self.name, "used_memory": self.used_memory}


class MigDevice(collections.namedtuple("MigDevice", "index gi_id ci_id")):
    """One ``<mig_device>`` of ``-q -x``: MIG device index (as in ``-L``), GPU instance id, compute instance id."""

    __slots__ = ()


class Gpu(object):
    """A physical GPU. ``mig_current``/``mig_pending`` are "Enabled", "Disabled" or None (not MIG capable).

    ``mig_devices`` are the MIG devices ``-q -x`` lists (MigDevice); ``unexpected_devices`` those of them that
    belong to no GPU instance the engine accounts for (set by the read-back after a change).
    """

    def __init__(self, index, uuid=None, name=None, pci_bus_id=None, pci_device_id=None, memory_mib=None,
                 mig_current=None, mig_pending=None, profiles=None, instances=None, processes=None,
                 architecture=None, pci_sub_system_id=None, mig_devices=None, unexpected_devices=None):
        self.index = index
        self.uuid = uuid
        self.name = name
        self.pci_bus_id = pci_bus_id
        self.pci_device_id = pci_device_id
        self.pci_sub_system_id = pci_sub_system_id
        self.memory_mib = memory_mib
        self.mig_current = mig_current
        self.mig_pending = mig_pending
        self.profiles = list(profiles or [])
        self.instances = list(instances or [])
        self.processes = list(processes or [])
        self.architecture = architecture
        self.mig_devices = list(mig_devices or [])
        self.unexpected_devices = list(unexpected_devices or [])

    @property
    def mig_capable(self):
        return self.mig_current in ("Enabled", "Disabled")

    @property
    def mig_enabled(self):
        return self.mig_current == "Enabled"

    @property
    def needs_reset_for_mode_change(self):
        """Ampere (and older) reset the GPU for a mode change, which can stay pending (client, VM); Hopper+ never.

        Only a hint: whether a change IS pending is read from the GPU (``mig_change_pending``), never derived.
        """
        return (self.architecture or "").lower() in ("ampere",)

    @property
    def mig_change_pending(self):
        """True when a MIG mode change waits for a GPU reset or reboot (current differs from pending)."""
        return self.mig_capable and self.mig_pending is not None and self.mig_pending != self.mig_current

    @property
    def memory_slots(self):
        ends = [s + p.size for p in self.profiles if p.size for s in p.starts]
        return max(ends) if ends else 0

    def profile(self, name):
        for prof in self.profiles:
            if prof.name == name:
                return prof
        return None

    def processes_on(self, gi_id=None):
        """Processes on this GPU, restricted to one GPU instance when ``gi_id`` is given."""
        if gi_id is None:
            return list(self.processes)
        return [p for p in self.processes if p.gi_id == gi_id]

    def to_dict(self, with_profiles=False):
        out = {
            "index": self.index,
            "uuid": self.uuid,
            "name": self.name,
            "pci_bus_id": self.pci_bus_id,
            "pci_device_id": self.pci_device_id,
            "memory_mib": self.memory_mib,
            "mig_mode": {"current": _mode_word(self.mig_current), "pending": _mode_word(self.mig_pending),
                         "change_pending": self.mig_change_pending},
            "instances": [i.to_dict() for i in sorted(self.instances, key=lambda i: (i.start, i.gi_id or 0))],
            "processes": [p.to_dict() for p in self.processes],
        }
        if with_profiles:
            out["profiles"] = [p.to_dict() for p in self.profiles]
        return out


def _mode_word(value):
    if value == "Enabled":
        return "enabled"
    if value == "Disabled":
        return "disabled"
    return None
