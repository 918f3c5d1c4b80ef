# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Regenerate the simulator's output templates from the real H100 captures.

Run from the collection root: ``python tests/simulators/templates/make_templates.py``.
Only the values that depend on the GPU model or on the simulated state are replaced by
``@name@`` placeholders (or whole-line ``@@name@@`` markers); every other byte is the capture's,
so the fidelity tests can prove that rendering the captured state gives the capture back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURES = os.path.join(HERE, "..", "..", "data", "nvidia-smi", "h100-80gb-hbm3_driver-580.159.04")

# capture line number (1-based, the "$ command" line is 1) -> placeholder
Q_VALUES = {
    5: "timestamp", 6: "driver_version", 7: "cuda_version", 9: "attached_gpus", 11: "product_name",
    13: "architecture", 17: "persistence_mode", 20: "mig_current", 21: "mig_pending", 27: "serial",
    28: "uuid", 29: "pdi", 30: "minor_number", 33: "board_id", 35: "gpu_part_number", 43: "module_id",
    62: "driver_version", 66: "pci_bus", 67: "pci_device", 68: "pci_domain", 71: "pci_device_id",
    72: "bus_id", 73: "pci_sub_system_id", 113: "memory_total", 114: "memory_reserved",
    115: "memory_used", 116: "memory_free", 125: "compute_mode", 199: "power_limit",
    200: "power_limit", 201: "power_limit", 203: "power_limit",
}
Q_LINES = {10: "GPU @bus_id@", 255: "@@processes@@"}
Q_INSERT_AFTER = {21: "@@mig_devices@@"}

X_VALUES = {
    5: "timestamp", 6: "driver_version", 7: "cuda_version", 8: "attached_gpus", 10: "product_name",
    12: "architecture", 16: "persistence_mode", 19: "mig_current", 20: "mig_pending", 31: "serial",
    32: "uuid", 33: "pdi", 34: "minor_number", 37: "board_id", 39: "gpu_part_number", 47: "module_id",
    71: "driver_version", 76: "pci_bus_hex", 77: "pci_device_hex", 78: "pci_domain_hex",
    81: "pci_device_id_hex", 82: "bus_id", 83: "pci_sub_system_id_hex", 130: "memory_total",
    131: "memory_reserved", 132: "memory_used", 133: "memory_free", 145: "compute_mode",
    244: "power_limit", 245: "power_limit", 246: "power_limit", 248: "power_limit",
}
X_LINES = {9: '\t<gpu id="@bus_id@">', 22: "@@mig_devices@@", 23: None, 24: None,
           542: "@@processes@@", 543: None}


def _read(name):
    with open(os.path.join(CAPTURES, name), "r") as handle:
        lines = handle.read().split("\n")
    assert lines[0].startswith("$ ") and lines[-2].startswith("[exit "), name
    return lines


def _template(name, values, whole_lines, insert_after, value_re):
    lines = _read(name)
    out = []
    for number, line in enumerate(lines[:-2], start=1):
        if number == 1:
            continue
        if number in whole_lines:
            if whole_lines[number] is not None:
                out.append(whole_lines[number])
        elif number in values:
            new, count = value_re.subn(r"\g<1>@%s@\g<2>" % values[number], line)
            assert count == 1, (name, number, line)
            out.append(new)
        else:
            out.append(line)
        if number in insert_after:
            out.append(insert_after[number])
    return "\n".join(out) + "\n"


def _split(text, first_gpu_marker, tail_lines):
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(first_gpu_marker))
    head = "\n".join(lines[:start]) + "\n"
    body = lines[start:]
    gpu = "\n".join(body[:len(body) - tail_lines]) + "\n"
    tail = "\n".join(body[len(body) - tail_lines:])
    return head, gpu, tail


def main():
    q_text = _template("q.txt", Q_VALUES, Q_LINES, Q_INSERT_AFTER, re.compile(r"^(.*?: ).*()$"))
    x_text = _template("q_xml.txt", X_VALUES, X_LINES, {}, re.compile(r"^(\s*<[a-z_]+>).*?(</[a-z_]+>)$"))
    parts = {
        "q": _split(q_text, "GPU @bus_id@", 1),
        "q_xml": _split(x_text, '\t<gpu id="', 2),
    }
    for kind, (head, gpu, tail) in parts.items():
        for suffix, text in (("head", head), ("gpu", gpu), ("tail", tail)):
            with open(os.path.join(HERE, "%s_%s.tmpl" % (kind, suffix)), "w") as handle:
                handle.write(text)
    for raw in ("mig_help", "help_query"):
        lines = _read(raw + ".txt")
        with open(os.path.join(HERE, raw + ".txt"), "w") as handle:
            handle.write("\n".join(lines[1:-2]) + "\n")


if __name__ == "__main__":
    main()
