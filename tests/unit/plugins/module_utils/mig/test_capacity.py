# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MIG capacity of one node against a table computed by hand (not by the code under test).

How the expected numbers were worked out (8 GPUs on every *.48xlarge / *.24xlarge, 1 on p5.4xlarge):
- all-<1-slot profile> puts 7 per GPU -> 56; the double-memory 1g (2 memory slots) fits 4 -> 32;
  2g: 3 -> 24; 3g: 2 -> 16; 4g and 7g: 1 -> 8; the ``.me`` labels put one ``+me`` instance -> 8.
- A100-40GB names its double-memory 1-slice profile ``1g.10gb``, so ``all-1g.10gb`` is 4 per GPU on
  p4d (32) but 7 per GPU on the 80 GB parts (56).
- all-balanced is 2x 1g + 1x 2g + 1x 3g per GPU -> 16 / 8 / 8.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.capacity import CapacityError, mig_resources

G = "nvidia.com/gpu"


def m(profile):
    return "nvidia.com/mig-" + profile


# (instance type, built-in label, expected mixed, expected single or an error fragment)
BUILTIN_TABLE = [
    # p4d.24xlarge: 8x A100-SXM4-40GB
    ("p4d.24xlarge", "all-1g.5gb", {m("1g.5gb"): 56, G: 0}, {G: 56}),
    ("p4d.24xlarge", "all-1g.5gb.me", {m("1g.5gb.me"): 8, G: 0}, {G: 8}),
    ("p4d.24xlarge", "all-1g.10gb", {m("1g.10gb"): 32, G: 0}, {G: 32}),
    ("p4d.24xlarge", "all-2g.10gb", {m("2g.10gb"): 24, G: 0}, {G: 24}),
    ("p4d.24xlarge", "all-3g.20gb", {m("3g.20gb"): 16, G: 0}, {G: 16}),
    ("p4d.24xlarge", "all-4g.20gb", {m("4g.20gb"): 8, G: 0}, {G: 8}),
    ("p4d.24xlarge", "all-7g.40gb", {m("7g.40gb"): 8, G: 0}, {G: 8}),
    ("p4d.24xlarge", "all-balanced", {m("1g.5gb"): 16, m("2g.10gb"): 8, m("3g.20gb"): 8, G: 0}, "3 MIG device types"),
    ("p4d.24xlarge", "all-disabled", {G: 8}, {G: 8}),
    ("p4d.24xlarge", "all-enabled", {G: 0}, "no instances"),
    # p4de.24xlarge: 8x A100-SXM4-80GB
    ("p4de.24xlarge", "all-1g.10gb", {m("1g.10gb"): 56, G: 0}, {G: 56}),
    ("p4de.24xlarge", "all-1g.10gb.me", {m("1g.10gb.me"): 8, G: 0}, {G: 8}),
    ("p4de.24xlarge", "all-1g.20gb", {m("1g.20gb"): 32, G: 0}, {G: 32}),
    ("p4de.24xlarge", "all-2g.20gb", {m("2g.20gb"): 24, G: 0}, {G: 24}),
    ("p4de.24xlarge", "all-3g.40gb", {m("3g.40gb"): 16, G: 0}, {G: 16}),
    ("p4de.24xlarge", "all-7g.80gb", {m("7g.80gb"): 8, G: 0}, {G: 8}),
    ("p4de.24xlarge", "all-balanced", {m("1g.10gb"): 16, m("2g.20gb"): 8, m("3g.40gb"): 8, G: 0}, "3 MIG device types"),
    # p5.48xlarge: 8x H100 80GB HBM3; p5.4xlarge: 1x
    ("p5.48xlarge", "all-1g.10gb", {m("1g.10gb"): 56, G: 0}, {G: 56}),
    ("p5.48xlarge", "all-1g.10gb.me", {m("1g.10gb.me"): 8, G: 0}, {G: 8}),
    ("p5.48xlarge", "all-1g.20gb", {m("1g.20gb"): 32, G: 0}, {G: 32}),
    ("p5.48xlarge", "all-2g.20gb", {m("2g.20gb"): 24, G: 0}, {G: 24}),
    ("p5.48xlarge", "all-3g.40gb", {m("3g.40gb"): 16, G: 0}, {G: 16}),
    ("p5.48xlarge", "all-4g.40gb", {m("4g.40gb"): 8, G: 0}, {G: 8}),
    ("p5.48xlarge", "all-7g.80gb", {m("7g.80gb"): 8, G: 0}, {G: 8}),
    ("p5.48xlarge", "all-balanced", {m("1g.10gb"): 16, m("2g.20gb"): 8, m("3g.40gb"): 8, G: 0}, "3 MIG device types"),
    ("p5.4xlarge", "all-1g.10gb", {m("1g.10gb"): 7, G: 0}, {G: 7}),
    ("p5.4xlarge", "all-balanced", {m("1g.10gb"): 2, m("2g.20gb"): 1, m("3g.40gb"): 1, G: 0}, "3 MIG device types"),
    # p5e.48xlarge / p5en.48xlarge: 8x H200 141GB
    ("p5e.48xlarge", "all-1g.18gb", {m("1g.18gb"): 56, G: 0}, {G: 56}),
    ("p5e.48xlarge", "all-1g.35gb", {m("1g.35gb"): 32, G: 0}, {G: 32}),
    ("p5e.48xlarge", "all-2g.35gb", {m("2g.35gb"): 24, G: 0}, {G: 24}),
    ("p5e.48xlarge", "all-3g.71gb", {m("3g.71gb"): 16, G: 0}, {G: 16}),
    ("p5e.48xlarge", "all-7g.141gb", {m("7g.141gb"): 8, G: 0}, {G: 8}),
    ("p5e.48xlarge", "all-balanced", {m("1g.18gb"): 16, m("2g.35gb"): 8, m("3g.71gb"): 8, G: 0}, "3 MIG device types"),
    ("p5en.48xlarge", "all-1g.18gb.me", {m("1g.18gb.me"): 8, G: 0}, {G: 8}),
    # p6-b200.48xlarge: 8x B200
    ("p6-b200.48xlarge", "all-1g.23gb", {m("1g.23gb"): 56, G: 0}, {G: 56}),
    ("p6-b200.48xlarge", "all-balanced", {m("1g.23gb"): 16, m("2g.45gb"): 8, m("3g.90gb"): 8, G: 0},
     "3 MIG device types"),
]


@pytest.mark.parametrize("instance_type,label,mixed,single", BUILTIN_TABLE,
                         ids=["%s-%s" % (row[0], row[1]) for row in BUILTIN_TABLE])
def test_builtin_configs_match_hand_table(instance_type, label, mixed, single):
    assert mig_resources(instance_type, config=label) == mixed
    assert mig_resources(instance_type, config=label, strategy="mixed") == mixed
    if isinstance(single, dict):
        assert mig_resources(instance_type, config=label, strategy="single") == single
    else:
        with pytest.raises(CapacityError, match=single):
            mig_resources(instance_type, config=label, strategy="single")


# (instance type, layout of every GPU, expected mixed)
LAYOUT_TABLE = [
    ("p5.48xlarge", {"4g.40gb": 1, "3g.40gb": 1}, {m("4g.40gb"): 8, m("3g.40gb"): 8, G: 0}),
    ("p5.48xlarge", ["1g.10gb", "1g.10gb", "1g.10gb", "3g.40gb"], {m("1g.10gb"): 24, m("3g.40gb"): 8, G: 0}),
    ("p5.48xlarge", {"1g.20gb": 2, "3g.40gb": 1}, {m("1g.20gb"): 16, m("3g.40gb"): 8, G: 0}),
    ("p5.48xlarge", {"1g.10gb": 6, "1g.10gb+me": 1}, {m("1g.10gb"): 48, m("1g.10gb.me"): 8, G: 0}),
    ("p5.48xlarge", {"2g.20gb": 3, "1g.10gb": 1}, {m("2g.20gb"): 24, m("1g.10gb"): 8, G: 0}),
    ("p5.48xlarge", {"2g.20gb": 3, "1g.20gb": 1}, {m("2g.20gb"): 24, m("1g.20gb"): 8, G: 0}),
    ("p5.4xlarge", {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}, {m("3g.40gb"): 1, m("2g.20gb"): 1, m("1g.10gb"): 2, G: 0}),
    ("p4d.24xlarge", {"1g.10gb": 2, "3g.20gb": 1}, {m("1g.10gb"): 16, m("3g.20gb"): 8, G: 0}),
    ("p4d.24xlarge", {"4g.20gb": 1, "1g.5gb": 3}, {m("4g.20gb"): 8, m("1g.5gb"): 24, G: 0}),
    ("p4de.24xlarge", {"1g.10gb": 3, "3g.40gb": 1}, {m("1g.10gb"): 24, m("3g.40gb"): 8, G: 0}),
    ("p5e.48xlarge", {"3g.71gb": 1, "2g.35gb": 2}, {m("3g.71gb"): 8, m("2g.35gb"): 16, G: 0}),
    ("p5en.48xlarge", {"4g.71gb": 1, "1g.35gb": 2}, {m("4g.71gb"): 8, m("1g.35gb"): 16, G: 0}),
]


@pytest.mark.parametrize("instance_type,layout,mixed", LAYOUT_TABLE,
                         ids=["%s-%d" % (row[0], i) for i, row in enumerate(LAYOUT_TABLE)])
def test_layouts_match_hand_table(instance_type, layout, mixed):
    assert mig_resources(instance_type, layout=layout) == mixed


def test_single_strategy_with_one_profile_layout():
    assert mig_resources("p5.48xlarge", layout={"3g.40gb": 2}, strategy="single") == {G: 16}
    assert mig_resources("p5e.48xlarge", layout=["1g.18gb"] * 5, strategy="single") == {G: 40}
    with pytest.raises(CapacityError, match="2 MIG device types"):
        mig_resources("p5.48xlarge", layout={"4g.40gb": 1, "3g.40gb": 1}, strategy="single")
    # +me is a different device type for the device plugin (other attributes)
    with pytest.raises(CapacityError, match="1g.10gb, 1g.10gb\\+me"):
        mig_resources("p5.48xlarge", layout={"1g.10gb": 6, "1g.10gb+me": 1}, strategy="single")


def _doc(**labels):
    return {"version": "v1", "mig-configs": labels}


def test_per_gpu_document_half_sliced():
    doc = _doc(half=[
        {"devices": [0, 1, 2, 3], "mig-enabled": True, "mig-devices": {"1g.10gb": 7}},
        {"devices": [4, 5, 6, 7], "mig-enabled": False},
    ])
    assert mig_resources("p5.48xlarge", config=doc) == {m("1g.10gb"): 28, G: 4}
    with pytest.raises(CapacityError, match="mixes 4 MIG-enabled and 4 MIG-disabled"):
        mig_resources("p5.48xlarge", config=doc, strategy="single")


def test_gpus_no_entry_matches_are_whole_gpus():
    doc = _doc(some=[{"devices": [1, 3], "mig-enabled": True, "mig-devices": {"3g.40gb": 2}}])
    assert mig_resources("p5.48xlarge", config=doc) == {m("3g.40gb"): 4, G: 6}
    # the doc's GPU indexes beyond the instance's GPU count match nothing
    assert mig_resources("p5.4xlarge", config=doc) == {G: 1}


def test_device_filter_selects_by_the_instance_types_gpu():
    doc = _doc(byid=[
        {"device-filter": "0x20B010DE", "devices": "all", "mig-enabled": True, "mig-devices": {"1g.5gb": 7}},
        {"device-filter": ["0x233010DE", "0x20B210DE"], "devices": "all", "mig-enabled": True,
         "mig-devices": {"2g.20gb": 3}},
    ])
    assert mig_resources("p4d.24xlarge", config=doc) == {m("1g.5gb"): 56, G: 0}
    assert mig_resources("p4de.24xlarge", config=doc) == {m("2g.20gb"): 24, G: 0}
    assert mig_resources("p5.48xlarge", config=doc) == {m("2g.20gb"): 24, G: 0}
    # H200 matches no entry: 8 whole GPUs
    assert mig_resources("p5e.48xlarge", config=doc) == {G: 8}


def test_document_with_several_labels_needs_config_label():
    doc = _doc(a=[{"devices": "all", "mig-enabled": True, "mig-devices": {"7g.80gb": 1}}],
               b=[{"devices": "all", "mig-enabled": False}])
    assert mig_resources("p5.48xlarge", config=doc, config_label="a") == {m("7g.80gb"): 8, G: 0}
    assert mig_resources("p5.48xlarge", config=doc, config_label="b", strategy="single") == {G: 8}
    with pytest.raises(CapacityError, match="2 labels"):
        mig_resources("p5.48xlarge", config=doc)
    with pytest.raises(CapacityError, match="unknown config label 'c'"):
        mig_resources("p5.48xlarge", config=doc, config_label="c")


BAD = [
    (dict(instance_type="g5.48xlarge", config="all-1g.10gb"), "do not support MIG"),
    (dict(instance_type="p3.16xlarge", layout=["1g.10gb"]), "do not support MIG"),
    (dict(instance_type="p9.48xlarge", config="all-1g.10gb"), "unknown GPU instance type 'p9.48xlarge'"),
    (dict(instance_type="p5.48xlarge", config="all-1g.5gb"), "has no MIG profile '1g.5gb'; valid: 1g.10gb, 1g.10gb\\+me"),
    (dict(instance_type="p5.48xlarge", layout={"1g.5gb": 1}), "valid: 1g.10gb, 1g.10gb\\+me, 1g.20gb"),
    (dict(instance_type="p5.48xlarge", layout={"1g.10gb": 8}), "max 7"),
    (dict(instance_type="p5.48xlarge", layout={"3g.40gb": 2, "1g.10gb": 1}), "needs 9 memory slots"),
    (dict(instance_type="p5.48xlarge", layout={"2g.20gb": 3, "1g.20gb": 2}), "cannot be placed"),
    (dict(instance_type="p5.48xlarge", layout={"4g.40gb": 1, "2g.20gb": 2, "1g.10gb": 1}), "cannot be placed"),
    (dict(instance_type="p5.48xlarge", layout={"1g.10gb": -1}), "must not be negative"),
    (dict(instance_type="p5.48xlarge", layout={"1g.10gb": 1.5}), "must be an integer"),
    (dict(instance_type="p5.48xlarge", layout="1g.10gb"), "list of profile names or a mapping"),
    (dict(instance_type="p5.48xlarge", config="all-1g.10gb", strategy="none"), "strategy must be one of"),
    (dict(instance_type="p5.48xlarge", config="all-1g.10gb", layout=["1g.10gb"]), "not both"),
    (dict(instance_type="p5.48xlarge"), "either config"),
    (dict(instance_type="p5.48xlarge", config="all-1g.10gbb"), "unknown config label 'all-1g.10gbb'"),
    (dict(instance_type="p5.48xlarge", config=7), "built-in label"),
    (dict(instance_type="p5.48xlarge", config={"version": "v2", "mig-configs": {}}), "version must be 'v1'"),
    (dict(instance_type="p5.48xlarge", config="all-1g.10gb", config_label="other"), "only applies to a config document"),
]


@pytest.mark.parametrize("kwargs,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_is_a_clear_error_and_input_is_untouched(kwargs, message):
    before = copy.deepcopy(kwargs)
    with pytest.raises(CapacityError, match=message):
        mig_resources(**kwargs)
    assert kwargs == before


def test_error_names_the_gpu_of_a_bad_document_entry():
    doc = _doc(x=[{"devices": [2], "mig-enabled": True, "mig-devices": {"4g.40gb": 1, "3g.40gb": 2}}])
    with pytest.raises(CapacityError, match="config x, GPU 2 \\(NVIDIA H100 80GB HBM3"):
        mig_resources("p5.48xlarge", config=doc)


def test_resource_names_follow_the_device_plugin():
    assert capacity.resource_name("1g.10gb") == "nvidia.com/mig-1g.10gb"
    assert capacity.resource_name("1g.10gb+me") == "nvidia.com/mig-1g.10gb.me"
    model = capacity.mig_model("p5.48xlarge")
    assert capacity.profile_for_resource("nvidia.com/mig-1g.10gb.me", model) == "1g.10gb+me"
    assert capacity.profile_for_resource("nvidia.com/mig-1g.5gb", model) is None
