# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every unit test session fails when a control plane it started left a process or a temporary dir behind
(tests/support/leak_check.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gpu_slicing.eks.tests.support.leak_check import (  # noqa: F401  # pylint: disable=unused-import
    pytest_configure, pytest_sessionfinish, pytest_unconfigure)
