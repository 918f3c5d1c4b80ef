# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mig_capacity and mig_plan filters with careless input (issue 15 items 5 and 18): the same engine checks as the
modules, surfaced as a filter error or a controller warning."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.gpu_slicing.eks.plugins.filter.mig import mig_capacity, mig_plan


def test_mig_capacity_warns_for_a_config_that_applies_to_no_gpu(capsys):
    # all-1g.10gb has entries for A100-80GB and H100 only: an H200 node keeps its 8 whole GPUs
    assert mig_capacity("p5e.48xlarge", config="all-1g.10gb") == {"nvidia.com/gpu": 8}
    err = " ".join(capsys.readouterr().err.split())
    assert "mig_capacity: config all-1g.10gb has no entry for the NVIDIA H200 GPUs" in err, err
    assert "configs that apply: all-enabled, all-balanced, all-1g.18gb" in err


def test_mig_capacity_is_quiet_for_a_config_that_applies(capsys):
    assert mig_capacity("p5.48xlarge", config="all-1g.10gb") == {"nvidia.com/mig-1g.10gb": 56, "nvidia.com/gpu": 0}
    assert "has no entry" not in capsys.readouterr().err


def test_mig_plan_applies_the_demand_bound():
    with pytest.raises(AnsibleFilterError, match="demand asks for 100001 MIG slices; one plan covers at most 100000"):
        mig_plan({"1g.10gb": 100001})
