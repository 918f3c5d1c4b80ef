# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mig_plan module run as Ansible runs it (argument spec, check mode, JSON result, warnings, failures)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import io
import json

import pytest

from ansible.module_utils.common import warnings
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.module_args import patch_module_args

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity, configs
from ansible_collections.gpu_slicing.eks.plugins.modules import mig_plan


def run_module(args, check_mode=False):
    module_args = dict(args)
    module_args["_ansible_check_mode"] = check_mode
    out = io.StringIO()
    warnings._global_warnings.clear()  # pylint: disable=protected-access
    with patch_module_args(module_args), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit):
            mig_plan.main()
    result = json.loads(out.getvalue())
    result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
    return result


@pytest.mark.parametrize("check_mode", [False, True])
def test_plan_for_a_mixed_demand(check_mode):
    result = run_module({"demand": {"1g.10gb": 20, "3g.40gb": 6}, "candidates": ["p5.48xlarge", "p5.4xlarge"],
                         "headroom": 10}, check_mode=check_mode)
    assert not result.get("failed") and result["changed"] is False
    # 22x 1g + 7x 3g (10 % headroom, rounded up): 7 halves for 3g; 43 compute slices / 7 -> 7 GPUs
    assert result["demand_with_headroom"] == {"1g.10gb": 22, "3g.40gb": 7}
    assert result["gpus"] == 7 and result["optimality"]["proof"] == "lower-bound"
    assert result["instances"] == {"p5.4xlarge": 7} and result["hourly_cost"] == pytest.approx(7 * 6.88)
    labels = configs.parse_config(result["mig_config"])
    for node in result["nodes"]:
        assert node["name"] in labels
        assert capacity.mig_resources(node["instance_type"], config=result["mig_config"], config_label=node["name"]) == \
            node["capacity"]
    assert [p["settings"]["mig_config"] for p in result["nodepools"]] == [n["name"] for n in result["nodes"]]


def test_single_strategy_workloads_and_custom_name():
    result = run_module({"demand": [{"name": "llm", "replicas": 3, "profile": "3g.40gb"},
                                    {"name": "emb", "replicas": 8, "profile": "nvidia.com/mig-1g.10gb"}],
                         "candidates": {"p5.4xlarge": 5.0}, "strategy": "single", "name": "team-a"})
    assert result["gpus"] == 4  # ceil(3/2) + ceil(8/7)
    assert result["hourly_cost"] == 20.0
    assert sorted(n["name"] for n in result["nodes"]) == ["team-a-1", "team-a-2"]
    assert all(list(n["capacity"]) == ["nvidia.com/gpu"] for n in result["nodes"])


def test_multi_slice_workload_is_a_warning(capsys):
    result = run_module({"demand": [{"name": "pair", "resources": {"1g.10gb": 2}, "replicas": 2}],
                         "candidates": ["p5.4xlarge"]})
    # in the result's warnings; when the pytest process has loaded controller code, ansible-core shows it at once
    shown = capsys.readouterr().err
    assert any("pair asks for 2 slices per pod" in w for w in result["warnings"]) or "pair asks for 2 slices per pod" in shown


@pytest.mark.parametrize("args,message", [
    ({"demand": {"1g.5gb": 3}, "candidates": ["p5.48xlarge"]}, "has no MIG profile '1g.5gb'"),
    ({"demand": {"1g.10gb": -3}}, "must not be negative"),
    ({"demand": {}}, "demand is empty"),
    ({"demand": [{"name": "mix", "resources": {"1g.10gb": 1, "2g.20gb": 1}}], "strategy": "single"}, "single strategy"),
    ({"demand": {"1g.10gb": 1}, "strategy": "bogus"}, "value of strategy must be one of"),
])
def test_bad_input_fails_with_a_clear_message(args, message):
    result = run_module(args)
    assert result["failed"] is True
    assert message in result["msg"]


@pytest.mark.parametrize("args,total", [
    ({"demand": {"1g.10gb": 10 ** 6}}, "1000000"),
    ({"demand": {"1g.10gb": 10 ** 12}}, "1000000000000"),
    ({"demand": [{"name": "web", "replicas": 10 ** 6, "resources": {"1g.10gb": 10 ** 6}}]}, "1000000000000"),
    ({"demand": {"1g.10gb": 50001}, "headroom": 100}, "100002 MIG slices with 100% headroom"),
], ids=["1e6", "1e12", "workload-1e12", "headroom"])
def test_demand_beyond_the_bound_is_refused_at_once(args, total):
    """10^6 slices used to take 4 GB and crash, 10^12 ended in a bare 'Module failed.' (issue 15, item 5)."""
    result = run_module(args)
    assert result["failed"] is True
    assert "demand asks for %s" % total in result["msg"], result["msg"]
    assert "one plan covers at most 100000" in result["msg"] and "split the demand" in result["msg"]
