# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bottlerocket device-sharing settings in user data (bottlerocket.dev "kubelet-device-plugins" settings:
device-sharing-strategy, time-slicing.{replicas, rename-by-default, fail-requests-greater-than-one},
mps.{replicas, rename-by-default}) and what Bottlerocket cannot express."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import userdata
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.userdata import UserDataError

toml = pytest.importorskip("tomllib") if __import__("sys").version_info >= (3, 11) else pytest.importorskip("tomli")


def render(**kwargs):
    return userdata.render(kwargs.pop("types", ["g5.12xlarge"]), ami_family="Bottlerocket", **kwargs)


def test_time_slicing_settings_parse_as_toml():
    text = render(sharing_spec={"mode": "time-slicing", "replicas": 10, "rename_by_default": True})
    nvidia = toml.loads(text)["settings"]["kubelet-device-plugins"]["nvidia"]
    assert nvidia == {"device-sharing-strategy": "time-slicing",
                      "time-slicing": {"replicas": 10, "rename-by-default": True, "fail-requests-greater-than-one": False}}


def test_mps_settings_every_value_written():
    text = render(types=["g6.xlarge"], sharing_spec={"mode": "mps", "replicas": 4})
    nvidia = toml.loads(text)["settings"]["kubelet-device-plugins"]["nvidia"]
    # Bottlerocket renames MPS replicas unless told (bottlerocket-core-kit MPS change: gpu.shared with only replicas)
    assert nvidia == {"device-sharing-strategy": "mps", "mps": {"replicas": 4, "rename-by-default": False}}


def test_user_settings_kept_before_ours():
    text = render(sharing_spec={"mode": "time-slicing", "replicas": 2}, user_data='[settings.kubernetes]\nmax-pods = 50\n')
    parsed = toml.loads(text)
    assert parsed["settings"]["kubernetes"] == {"max-pods": 50}
    assert parsed["settings"]["kubelet-device-plugins"]["nvidia"]["time-slicing"]["replicas"] == 2


@pytest.mark.parametrize("kwargs, match", [
    (dict(sharing_spec={"mode": "time-slicing", "replicas": 2, "resources": ["nvidia.com/mig-1g.10gb"]},
          types=["p5.48xlarge"], config="all-1g.10gb"), "no resource list"),
    (dict(sharing_spec={"mode": "time-slicing", "replicas": 2}, types=["p5.48xlarge"], config="all-1g.10gb"),
     "sharing on MIG devices"),
    (dict(sharing_spec={"mode": "mps", "replicas": 2, "fail_requests_greater_than_one": True}),
     "fail_requests_greater_than_one with MPS"),
    (dict(sharing_spec={"mode": "time-slicing", "replicas": 1}), "at least 2"),
    (dict(sharing_spec={"mode": "time-slicing", "replicas": 2}, types=["m5.large"]), "unknown GPU instance type"),
    (dict(sharing_spec={"mode": "time-slicing", "replicas": 2},
          user_data="[settings.kubelet-device-plugins.nvidia]\ndevice-sharing-strategy = \"mps\"\n"), "already sets"),
])
def test_what_bottlerocket_cannot_express(kwargs, match):
    with pytest.raises(UserDataError, match=match):
        render(**kwargs)


def test_al2023_sharing_without_mig_is_an_error():
    with pytest.raises(UserDataError, match="AL2023 user data does not configure the device plugin"):
        userdata.render(["g5.xlarge"], ami_family="AL2023", applier_url="https://example.com/a.py",
                        sharing_spec={"mode": "time-slicing", "replicas": 2})
