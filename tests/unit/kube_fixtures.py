# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest fixtures for tests against the real kube-apiserver (tests/support/control_plane.py).

Use them by name in a test module: ``cluster, kube = kube_fixtures.cluster, kube_fixtures.kube``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import control_plane


@pytest.fixture(scope="module")
def cluster():
    """The session cluster when one runs, else a private control plane for this module."""
    with control_plane.cluster() as running:
        yield running


@pytest.fixture
def kube(cluster):  # pylint: disable=redefined-outer-name
    """The cluster, held by this test alone and without Karpenter objects (the session cluster is shared)."""
    with control_plane.exclusive(cluster):
        yield cluster
