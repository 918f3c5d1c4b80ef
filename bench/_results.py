# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the bench scripts: run a module's main() in-process, keep one marked section of RESULTS.md."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import io
import json
import os
import time

from ansible.module_utils.common import warnings

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def run_module(main, args):
    """(result dict, seconds) of one in-process module run; a failed run raises RuntimeError with its msg."""
    # imported here: ansible.module_utils.testing is new in ansible-core 2.19, and the floor leg (2.18) imports the
    # bench scripts for their pure helpers without ever running a module
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel

    out = io.StringIO()
    warnings._global_warnings.clear()  # pylint: disable=protected-access  # warnings of earlier runs pile up
    started = time.perf_counter()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit:
            pass
    elapsed = time.perf_counter() - started
    result = json.loads(out.getvalue())
    if result.get("failed"):
        raise RuntimeError(result["msg"])
    return result, elapsed


def write_section(begin, end, section, path=RESULTS):
    """Replace the text from ``begin`` to ``end`` (markers included in ``section``) or append it; other
    sections stay as they are."""
    text = ""
    if os.path.exists(path):
        with open(path) as handle:
            text = handle.read()
    section = section.strip("\n")
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "# Benchmarks\n\n") + section + "\n"
    with open(path, "w") as handle:
        handle.write(text)
