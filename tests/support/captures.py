# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the real nvidia-smi captures in tests/data/nvidia-smi: a ``$ command`` first line, the output, and an
``[exit N]`` last line (see that folder's README)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


def strip_capture(text):
    """(output, exit code) of a capture's text: the ``$ command`` line and the ``[exit N]`` line removed."""
    lines = (text or "").split("\n")
    if lines and lines[0].startswith("$ "):
        lines = lines[1:]
    while lines and lines[-1] == "":
        lines.pop()
    rc = 0
    if lines and re.match(r"^\[exit \d+\]$", lines[-1]):
        rc = int(lines[-1][6:-1])
        lines.pop()
    return "\n".join(lines) + "\n", rc


def read_capture(path):
    """(output, exit code) of the capture file at ``path``."""
    with open(path, encoding="utf-8") as handle:
        return strip_capture(handle.read())
