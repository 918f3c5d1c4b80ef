# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mig filter plugin: mig_capacity (and mig_plan) as Jinja sees them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.gpu_slicing.eks.plugins.filter.mig import FilterModule

FILTERS = FilterModule().filters()


def test_mig_capacity_mixed_and_single():
    cap = FILTERS["mig_capacity"]
    assert cap("p5.48xlarge", config="all-1g.10gb") == {"nvidia.com/mig-1g.10gb": 56, "nvidia.com/gpu": 0}
    assert cap("p5.48xlarge", config="all-1g.10gb", strategy="single") == {"nvidia.com/gpu": 56}
    assert cap("p4d.24xlarge", layout=["1g.5gb", "1g.5gb", "2g.10gb", "3g.20gb"]) == {
        "nvidia.com/mig-1g.5gb": 16, "nvidia.com/mig-2g.10gb": 8, "nvidia.com/mig-3g.20gb": 8, "nvidia.com/gpu": 0}


@pytest.mark.parametrize("args,kwargs,message", [
    (("g5.xlarge",), {"config": "all-1g.10gb"}, "do not support MIG"),
    ((["p5.48xlarge"],), {"config": "all-1g.10gb"}, "must be an EC2 instance type name"),
    (("p5.48xlarge",), {"config": "all-balanced", "strategy": "single"}, "3 MIG device types"),
])
def test_mig_capacity_errors_are_filter_errors(args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match="mig_capacity: .*" + message):
        FILTERS["mig_capacity"](*args, **kwargs)


def test_mig_plan_filter_matches_the_engine():
    plan = FILTERS["mig_plan"]({"1g.10gb": 20, "3g.40gb": 6}, candidates=["p5.48xlarge"])
    assert plan["gpus"] == 6 and plan["instances"] == {"p5.48xlarge": 1}
    assert plan["nodepools"][0]["capacity"] == {"nvidia.com/mig-1g.10gb": 32, "nvidia.com/mig-3g.40gb": 8,
                                                "nvidia.com/gpu": 0}


def test_mig_plan_filter_pool_limits_and_weight():
    capped = FILTERS["mig_plan"]({"1g.10gb": 20, "3g.40gb": 6}, candidates=["p5.48xlarge"], pool_weight=20)
    assert capped["nodepools"][0]["settings"]["limits"] == {"nvidia.com/mig-1g.10gb": 32, "nvidia.com/mig-3g.40gb": 8}
    assert capped["nodepools"][0]["settings"]["weight"] == 20
    uncapped = FILTERS["mig_plan"]({"1g.10gb": 20, "3g.40gb": 6}, candidates=["p5.48xlarge"], pool_limits=False)
    assert "limits" not in uncapped["nodepools"][0]["settings"]
    with pytest.raises(AnsibleFilterError, match="mig_plan: pool_weight must be a whole number in 1..100"):
        FILTERS["mig_plan"]({"1g.10gb": 1}, pool_weight=500)


def test_mig_plan_filter_errors_are_filter_errors():
    with pytest.raises(AnsibleFilterError, match="mig_plan: .*must not be negative"):
        FILTERS["mig_plan"]({"1g.10gb": -1})
