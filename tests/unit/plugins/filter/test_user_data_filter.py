# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mig_user_data filter is the engine's rendering, with Ansible errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.gpu_slicing.eks.plugins.filter.user_data import FilterModule, mig_user_data
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import userdata
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig._applier_digest import APPLIER_SHA256

toml = pytest.importorskip("tomllib") if __import__("sys").version_info >= (3, 11) else pytest.importorskip("tomli")

URL = "s3://my-bucket/gpu-slicing/gpu-slicing-mig-apply.py"


def test_filter_is_the_same_rendering_and_reports_errors():
    assert mig_user_data("p5.48xlarge", config="all-1g.10gb", applier_url=URL) == userdata.render(
        "p5.48xlarge", config="all-1g.10gb", applier_url=URL, applier_sha256=APPLIER_SHA256)
    with pytest.raises(AnsibleFilterError, match="mig_user_data: applier_url is required"):
        mig_user_data("p5.48xlarge", config="all-1g.10gb")


def test_filter_is_registered_and_takes_lists_and_bottlerocket():
    assert FilterModule().filters()["mig_user_data"] is mig_user_data
    text = mig_user_data(["p5.48xlarge", "p5.4xlarge"], config="all-3g.40gb", ami_family="Bottlerocket")
    assert '"h100.80gb" = "3g.40gb"' in text
    with pytest.raises(AnsibleFilterError, match="Bottlerocket cannot express"):
        mig_user_data("p5.48xlarge", config="all-balanced", ami_family="Bottlerocket")


def test_filter_passes_sharing_through():
    text = mig_user_data(["g5.xlarge", "g5.12xlarge"], ami_family="Bottlerocket",
                         sharing={"mode": "time-slicing", "replicas": 4})
    assert toml.loads(text)["settings"]["kubelet-device-plugins"]["nvidia"]["time-slicing"]["replicas"] == 4
    with pytest.raises(AnsibleFilterError, match="at least 2"):
        mig_user_data("g5.xlarge", ami_family="Bottlerocket", sharing={"mode": "time-slicing", "replicas": 1})
