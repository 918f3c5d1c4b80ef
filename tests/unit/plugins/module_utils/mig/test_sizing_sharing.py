# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time-slicing alternative of mig_plan, against numbers worked out by hand from the catalog.

Demand 20 x 1g.10gb -> 10 GB per workload. GiB per GPU = catalog memory_mib / 1024:
T4 15.0 -> 1 replica (not feasible); A10G 22.5 and L4 22.5 -> 2; L40S 45.0 -> 4; V100-16 16.0 -> 1; V100-32 32.0 -> 3.
Nodes = ceil(20 / (GPUs x replicas)): g5.xlarge 10 x 1.006 = 10.06; g6.xlarge 10 x 0.8048 = 8.048 (cheapest);
g6e.xlarge 5 x 1.861 = 9.305; g5.12xlarge ceil(20/8) = 3 x 5.672 = 17.016; g6e.48xlarge 1 x 30.13118.
The MIG plan for the same demand: 3 H100 (7 x 1g.10gb each) on 3 p5.4xlarge = 20.64.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import io
import json

import pytest

from ansible.module_utils.common import warnings
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.module_args import patch_module_args

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sizing_sharing
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.sizing_solver import SizingError
from ansible_collections.gpu_slicing.eks.plugins.modules import mig_plan


def options(demand, **kw):
    result = sizing_sharing.time_slicing_options(demand, **kw)
    return result, dict((o["instance_type"], o) for o in result["options"])


def test_hand_computed_options():
    result, by_type = options({"1g.10gb": 20})
    assert result["slices"] == 20 and result["largest_slice_gb"] == 10
    assert result["options"][0]["instance_type"] == "g6.xlarge"
    assert by_type["g6.xlarge"]["replicas_per_gpu"] == 2 and by_type["g6.xlarge"]["nodes"] == 10
    assert by_type["g6.xlarge"]["hourly_cost"] == pytest.approx(8.048)
    assert (by_type["g5.xlarge"]["nodes"], by_type["g5.xlarge"]["hourly_cost"]) == (10, pytest.approx(10.06))
    assert (by_type["g6e.xlarge"]["replicas_per_gpu"], by_type["g6e.xlarge"]["nodes"]) == (4, 5)
    assert (by_type["g5.12xlarge"]["nodes"], by_type["g5.12xlarge"]["capacity"]) == (3, {"nvidia.com/gpu": 8})
    assert by_type["g6e.48xlarge"]["nodes"] == 1
    assert by_type["p3dn.24xlarge"]["replicas_per_gpu"] == 3
    for infeasible in ("g4dn.xlarge", "p3.2xlarge"):
        assert by_type[infeasible]["feasible"] is False and "fewer than two 10 GB" in by_type[infeasible]["reason"]
    assert "no isolation" in result["isolation"]


def test_largest_slice_decides_and_headroom_counts():
    result, by_type = options({"1g.10gb": 10, "3g.40gb": 2}, headroom=10)
    # 10 -> 11, 2 -> 3 (rounded up); a 40 GB workload fits once on an L40S (45 GiB), nowhere twice
    assert result["slices"] == 14 and result["largest_slice_gb"] == 40
    assert not any(o["feasible"] for o in result["options"])


def test_settings_feed_karpenter_nodepool():
    _result, by_type = options({"nvidia.com/mig-1g.10gb": 8}, candidates=["g5.12xlarge"], name="web")
    settings = by_type["g5.12xlarge"]["settings"]
    assert settings == {"name": "web-g5-12xlarge", "instance_types": ["g5.12xlarge"], "device_plugin_config": "web-g5-12xlarge",
                        "node_overlay": True, "sharing": {"mode": "time-slicing", "replicas": 2, "rename_by_default": False,
                                                          "fail_requests_greater_than_one": True, "resources": None}}


@pytest.mark.parametrize("candidates, match", [(["p5.48xlarge"], "MIG-capable"), (["m5.large"], "unknown"), ([], "non-empty")])
def test_bad_candidates(candidates, match):
    with pytest.raises(SizingError, match=match):
        sizing_sharing.time_slicing_options({"1g.10gb": 2}, candidates=candidates)


def test_multi_slice_workload_warns():
    result = sizing_sharing.time_slicing_options([{"name": "big", "resources": {"1g.10gb": 2}}])
    assert any("big" in w and "no more memory" in w for w in result["warnings"])


def run_module(args):
    out = io.StringIO()
    warnings._global_warnings.clear()  # pylint: disable=protected-access
    with patch_module_args(dict(args, _ansible_check_mode=False)), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit):
            mig_plan.main()
    return json.loads(out.getvalue())


def test_mig_plan_reports_both_and_isolation():
    result = run_module({"demand": {"1g.10gb": 20}, "time_slicing": True})
    assert result["hourly_cost"] == pytest.approx(20.64) and "hardware" in result["isolation"]
    assert result["time_slicing"]["options"][0]["instance_type"] == "g6.xlarge"
    assert result["time_slicing"]["cheaper_than_mig"] is True
    plain = run_module({"demand": {"1g.10gb": 20}})
    assert "time_slicing" not in plain


def test_mig_plan_candidates_need_the_flag():
    result = run_module({"demand": {"1g.10gb": 2}, "time_slicing_candidates": ["g5.xlarge"]})
    assert result["failed"] and "time_slicing=true" in result["msg"]
