# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test stand-ins that speak the real protocols: moto (EC2 over HTTP), the Kubernetes API emulator,
network-namespace SSH hosts. Import as ``ansible_collections.gpu_slicing.eks.tests.support.<module>``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def collections_root():
    """The directory holding ``ansible_collections/``: PYTHONPATH for child processes that run our CLIs.

    Under ``ansible-test units`` the collection is importable only through its pytest plugin, so a
    ``python -m ansible_collections.gpu_slicing.eks.tests.support...`` child needs this on PYTHONPATH.
    """
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))


def child_env(**extra):
    """``os.environ`` plus ``collections_root()`` prepended to PYTHONPATH, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [collections_root(), env.get("PYTHONPATH")]))
    env.update(extra)
    return env
