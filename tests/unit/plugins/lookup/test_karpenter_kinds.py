# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""karpenter_kinds and _karpenter.KINDS: the one place Karpenter apiVersions are written, checked against the real
Karpenter CRDs (tests/data/crds), the builders and the _k8s client kinds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

from ansible.errors import AnsibleLookupError

from ansible_collections.gpu_slicing.eks.plugins.lookup import karpenter_kinds
from ansible_collections.gpu_slicing.eks.plugins.module_utils import _karpenter as karpenter

CRDS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "data", "crds"))


def _crd(group, plural):
    with open(os.path.join(CRDS, "%s_%s.yaml" % (group, plural)), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("kind, api_version, plural", karpenter.KINDS)
def test_every_kind_is_served_by_the_real_crd(kind, api_version, plural):
    group, version = api_version.split("/")
    crd = _crd(group, plural)
    assert crd["spec"]["group"] == group
    assert crd["spec"]["names"]["kind"] == kind
    assert crd["spec"]["scope"] == "Cluster"
    assert version in [v["name"] for v in crd["spec"]["versions"] if v.get("served")]


def test_lookup_returns_all_kinds_or_the_named_ones_in_order():
    assert [k["kind"] for k in karpenter_kinds.kinds()] == ["NodePool", "EC2NodeClass", "NodeOverlay"]
    assert karpenter_kinds.kinds(["NodeOverlay", "NodePool"]) == [
        {"api_version": "karpenter.sh/v1alpha1", "kind": "NodeOverlay", "plural": "nodeoverlays"},
        {"api_version": "karpenter.sh/v1", "kind": "NodePool", "plural": "nodepools"},
    ]
    with pytest.raises(AnsibleLookupError, match="unknown kind.*NodeClaim"):
        karpenter_kinds.kinds(["NodeClaim"])


def test_builders_and_client_use_the_same_kinds():
    by_kind = dict((kind, api_version) for kind, api_version, _plural in karpenter.KINDS)
    built = [karpenter.NODEPOOL_API_VERSION, karpenter.EC2NODECLASS_API_VERSION, karpenter.NODEOVERLAY_API_VERSION]
    assert built == [by_kind["NodePool"], by_kind["EC2NodeClass"], by_kind["NodeOverlay"]]
    k8s = pytest.importorskip("ansible_collections.gpu_slicing.eks.plugins.module_utils._k8s")
    for kind in (k8s.NODEPOOL, k8s.EC2NODECLASS, k8s.NODEOVERLAY):
        assert (kind.kind, kind.api_version, kind.plural) in karpenter.KINDS


def test_gpu_names_are_the_catalog_mig_gpus_on_ec2():
    from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
    expected = set(catalog.GPU_MODELS[spec.gpu_model].karpenter_gpu_name for spec in catalog.INSTANCE_TYPES.values()
                   if catalog.GPU_MODELS[spec.gpu_model].mig_capable)
    assert set(karpenter.GPU_NAMES) == expected and len(karpenter.GPU_NAMES) == len(expected)
    assert "t4" not in karpenter.GPU_NAMES and "h100" in karpenter.GPU_NAMES
