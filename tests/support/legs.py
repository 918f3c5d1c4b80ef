# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which ansible-core leg a test runs on.

`make test` runs the units on three ansible-core versions: the main leg (the ansible-core pinned in
requirements-dev.txt), 2.21 (`make test-next`) and the 2.18 floor (`make test-floor`). Tests whose subject does
not depend on ansible-core at all -- the Kubernetes emulator held to the real kube-apiserver, whole simulated
fleets -- run on the main leg only (as the integration targets scale_up_loop and karpenter_kwok do); running them
three times would prove nothing more and cost CI time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

try:  # the installed distribution: no import of ansible (module_utils unit tests may not import it)
    from importlib.metadata import version as _distribution_version
    ANSIBLE_CORE_VERSION = _distribution_version("ansible-core")
except Exception:  # noqa: BLE001 - not installed as a distribution (a source checkout on PYTHONPATH)
    try:
        from ansible.release import __version__ as ANSIBLE_CORE_VERSION
    except ImportError:  # an import-restricted test context: unknown, so never skipped
        ANSIBLE_CORE_VERSION = None

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main_leg_core(root=ROOT):
    """The ansible-core version pinned in requirements-dev.txt, or None when the file is not there."""
    try:
        with open(os.path.join(root, "requirements-dev.txt")) as handle:
            match = re.search(r"^ansible-core==(\S+)", handle.read(), re.MULTILINE)
    except (IOError, OSError):
        return None
    return match.group(1) if match else None


def on_main_leg(root=ROOT):
    """True on the main leg, and wherever the pin cannot be read (a test is never skipped by accident)."""
    pinned = main_leg_core(root)
    return pinned is None or ANSIBLE_CORE_VERSION is None or pinned == ANSIBLE_CORE_VERSION


def skip_reason():
    return "runs on the main ansible-core leg (%s) only: its subject does not depend on ansible-core %s" % (
        main_leg_core(), ANSIBLE_CORE_VERSION)


def main(argv=None):
    """``python -m ...tests.support.legs NAME``: exit 0 on the main leg, else print why NAME is skipped, exit 3."""
    import sys
    name = (argv if argv is not None else sys.argv[1:] or ["this test"])[0]
    if on_main_leg():
        return 0
    print("SKIP %s: %s" % (name, skip_reason()))
    return 3


if __name__ == "__main__":
    raise SystemExit(main())
