# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small text diagrams of MIG memory slots (pure), e.g. ``GPU0 H100 [3g.40gb    ][2g.20gb][1g][1g]``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

SLOT_WIDTH = 5  # characters per memory slot, brackets included


def _short_model(name):
    words = (name or "").replace("NVIDIA", "").split()
    return words[0] if words else "GPU"


def _cell(label, size):
    width = SLOT_WIDTH * size - 2
    if len(label) > width:
        label = label.split(".")[0] if "." in label else label[:width]
    return "[" + label[:width].ljust(width) + "]"


def diagram_line(index, name, slots, instances, mig_mode=None, pending=None):
    """One line: ``instances`` is an iterable of (profile_name, start, size); free slots show as ``[ -- ]``.

    ``pending`` ("enabled"/"disabled") names a MIG mode change that waits for a GPU reset or reboot.
    """
    head = "GPU%s %s" % (index, _short_model(name))
    tail = " (MIG %s pending: reset or reboot)" % ("enable" if pending == "enabled" else "disable") if pending else ""
    if mig_mode == "disabled":
        return head + " MIG disabled" + tail
    if mig_mode is None and not instances:
        return head + " not MIG capable"
    by_start = dict((start, (label, size)) for label, start, size in instances)
    cells = []
    slot = 0
    total = max([slots] + [s + z for _l, s, z in instances]) if instances or slots else 0
    while slot < total:
        if slot in by_start:
            label, size = by_start[slot]
            cells.append(_cell(label, size))
            slot += size
        else:
            cells.append(_cell("--", 1))
            slot += 1
    return head + " " + "".join(cells) + tail


def gpu_diagram(gpu, instances=None):
    """Diagram of a model.Gpu (current instances unless ``instances`` is given)."""
    if instances is None:
        instances = [(gi.profile_name, gi.start, gi.size) for gi in gpu.instances]
    mode = None
    if gpu.mig_current == "Enabled":
        mode = "enabled"
    elif gpu.mig_current == "Disabled":
        mode = "disabled"
    slots = gpu.memory_slots or max([s + z for _l, s, z in instances] + [8 if instances else 0])
    pending = None
    if gpu.mig_capable and gpu.mig_pending in ("Enabled", "Disabled") and gpu.mig_pending != gpu.mig_current:
        pending = gpu.mig_pending.lower()
    return diagram_line(gpu.index, gpu.name, slots, instances, mode, pending)


def host_diagram(gpus):
    return "\n".join(gpu_diagram(g) for g in gpus)
