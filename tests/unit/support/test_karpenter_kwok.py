# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kwok instance types real Karpenter runs with are the GPU catalog's facts, in kwok's JSON format."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.tests.support import karpenter_kwok as kk

REQUIRED = ("p4d.24xlarge", "p4de.24xlarge", "p5.4xlarge", "p5.48xlarge", "p5e.48xlarge", "p5en.48xlarge",
            "p6-b200.48xlarge", "g5.xlarge", "g5.48xlarge", "g6.xlarge")


def _by_name():
    return dict((t["name"], t) for t in kk.instance_types())


def test_required_types_present():
    types = _by_name()
    assert set(REQUIRED) <= set(types)
    assert "p6e-gb200.36xlarge" not in types  # arm64 Grace host: not an amd64 kwok type


@pytest.mark.parametrize("name", sorted(_by_name()))
def test_resources_and_labels_are_the_catalog_facts(name):
    generated, spec = _by_name()[name], catalog.instance_type(name)
    model = catalog.GPU_MODELS[spec.gpu_model]
    assert generated["resources"] == {"cpu": str(spec.vcpu), "memory": "%dMi" % spec.memory_mib,
                                      "nvidia.com/gpu": str(spec.gpu_count)}
    assert (generated["architecture"], generated["operatingSystems"]) == ("amd64", ["linux"])
    if spec.price_usd_hour is None:
        assert generated["offerings"] == []
        return
    assert [o["Price"] for o in generated["offerings"]] == [spec.price_usd_hour] * len(kk.ZONES)
    for zone, offering in zip(kk.ZONES, generated["offerings"]):
        reqs = dict((r["key"], r["values"]) for r in offering["Requirements"])
        assert all(r["operator"] == "In" and len(r["values"]) == 1 for r in offering["Requirements"])
        assert reqs["topology.kubernetes.io/zone"] == [zone]
        assert reqs["karpenter.sh/capacity-type"] == ["on-demand"]
        assert reqs["karpenter.k8s.aws/instance-gpu-name"] == [model.karpenter_gpu_name]
        assert reqs["karpenter.k8s.aws/instance-gpu-count"] == [str(spec.gpu_count)]
        assert reqs["karpenter.k8s.aws/instance-gpu-memory"] == [str(model.ec2_memory_mib)]
        assert reqs["karpenter.k8s.aws/instance-cpu"] == [str(spec.vcpu)]
        assert reqs["karpenter.k8s.aws/instance-memory"] == [str(spec.memory_mib)]
        assert reqs["karpenter.k8s.aws/instance-family"] == [name.split(".")[0]]
        assert reqs["karpenter.k8s.aws/instance-size"] == [name.split(".")[1]]


@pytest.mark.parametrize("name, category, generation", [
    ("p5.48xlarge", "p", "5"), ("p5en.48xlarge", "p", "5"), ("p6-b200.48xlarge", "p", "6"), ("g6e.xlarge", "g", "6"),
    ("p4de.24xlarge", "p", "4"), ("g4dn.xlarge", "g", "4")])
def test_category_and_generation(name, category, generation):
    labels = kk.aws_labels(catalog.instance_type(name))
    assert labels["karpenter.k8s.aws/instance-category"] == category
    assert labels["karpenter.k8s.aws/instance-generation"] == generation


def test_file_is_kwok_json(tmp_path):
    path = kk.write_instance_types(tmp_path / "types.json", ["p5.48xlarge"])
    loaded = json.loads(path.read_text())
    assert [t["name"] for t in loaded] == ["p5.48xlarge"] and loaded[0]["offerings"][0]["Available"] is True


def test_unknown_instance_type_is_an_error():
    with pytest.raises(catalog.CatalogError):
        kk.instance_types(["p9.huge"])
