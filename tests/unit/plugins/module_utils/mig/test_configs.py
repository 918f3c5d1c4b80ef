# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mig-parted v1 dialect: the 81 built-in labels agree with the real ConfigMap; validation errors name the field."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import importlib.util
import json
import os
import sys

import pytest
import yaml

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import configs
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.configs import MigConfigError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
CONFIGMAP = os.path.join(ROOT, "tests", "data", "crds", "nvidia_default-mig-parted-config.yaml")
GENERATED = os.path.join(ROOT, "plugins", "module_utils", "_mig", "_builtin_configs.py")
GENERATOR = os.path.join(ROOT, "hacking", "gen_builtin_configs.py")


def _real_config_text():
    with open(CONFIGMAP) as handle:
        return yaml.safe_load(handle)["data"]["config.yaml"]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_builtin_configs", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerating_gives_the_same_file():
    gen = _generator()
    with open(GENERATED) as handle:
        assert handle.read() == gen.render(gen.load_source(CONFIGMAP))


def test_all_81_labels_agree_with_the_configmap():
    real = configs.parse_config(yaml.safe_load(_real_config_text()))
    assert len(real) == 81
    assert configs.builtin_config_names() == list(real)
    for label in real:
        assert configs.builtin_config(label) == real[label], label


def test_mini_yaml_reads_the_real_configmap_like_pyyaml():
    text = _real_config_text()
    assert json.dumps(configs._MiniYaml(text).load()) == json.dumps(yaml.safe_load(text))


@pytest.mark.parametrize("label,index,device_id,expected", [
    ("all-balanced", 0, "0x233010DE", {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}),
    ("all-balanced", 3, "0x20B010DE", {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}),
    ("all-balanced", 0, "0x233510DE", {"1g.18gb": 2, "2g.35gb": 1, "3g.71gb": 1}),
    ("all-1g.10gb", 0, "0x233010DE", {"1g.10gb": 7}),
    ("all-1g.10gb", 0, "0x20B010DE", {"1g.10gb": 4}),
    ("all-3g.40gb", 5, "0x233010de", {"3g.40gb": 2}),
    ("all-enabled", 1, "0x233010DE", {}),
])
def test_builtin_device_spec(label, index, device_id, expected):
    spec = configs.device_spec(configs.builtin_config(label), index, device_id)
    assert spec.mig_enabled is True
    assert dict(spec.mig_devices) == expected


def test_unmatched_gpu_is_left_alone():
    assert configs.device_spec(configs.builtin_config("all-balanced"), 0, "0x223710DE") is None
    assert configs.device_spec(configs.builtin_config("all-disabled"), 0, "0x223710DE").mig_enabled is False


def _doc(entries, label="custom"):
    return {"version": "v1", "mig-configs": {label: entries}}


def test_devices_list_subsystem_filter_and_last_entry_wins():
    entries = configs.select_entries(_doc([
        {"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}},
        {"devices": [1], "mig-enabled": True, "mig-devices": {"7g.80gb": 1}},
        {"device-filter": "0x233010DE:0x16C110DE", "devices": [2], "mig-enabled": False},
    ]))
    assert dict(configs.device_spec(entries, 0, "0x233010DE").mig_devices) == {"1g.10gb": 7}
    assert dict(configs.device_spec(entries, 1, "0x233010DE").mig_devices) == {"7g.80gb": 1}
    assert configs.device_spec(entries, 2, "0x233010DE", "0x16C110DE").mig_enabled is False
    assert configs.device_spec(entries, 2, "0x233010DE", "0x00000000").mig_enabled is True


def test_unquoted_hex_filter_read_as_int_by_yaml11():
    entries = configs.select_entries(yaml.safe_load(
        "version: v1\nmig-configs:\n  x:\n    - device-filter: 0x233010DE\n      devices: all\n      mig-enabled: false\n"))
    assert configs.device_spec(entries, 0, "233010DE") is not None


def test_unknown_builtin_label_suggests_close_matches():
    with pytest.raises(MigConfigError) as err:
        configs.builtin_config("all-1g.10g")
    assert "did you mean" in str(err.value) and "all-1g.10gb" in str(err.value)


def test_document_with_several_labels_needs_a_label():
    doc = {"version": "v1", "mig-configs": {
        "a": [{"devices": "all", "mig-enabled": False}], "b": [{"devices": "all", "mig-enabled": False}]}}
    with pytest.raises(MigConfigError, match="2 labels"):
        configs.select_entries(doc)
    with pytest.raises(MigConfigError, match="unknown config label 'c' in the config file; labels: a, b"):
        configs.select_entries(doc, "c")
    assert configs.select_entries(doc, "b")[0]["mig_enabled"] is False


@pytest.mark.parametrize("layout,expected", [
    (["3g.40gb", "1g.10gb", "1g.10gb"], {"3g.40gb": 1, "1g.10gb": 2}),
    ({"1g.10gb": 2, "2g.20gb": 0}, {"1g.10gb": 2}),
    (["MIG 1g.10gb+me"], {"1g.10gb+me": 1}),
    ([], {}),
    ({"1c.3g.40gb": 1, "2g.48gb+me.all": 1, "1g.24gb-me": 2}, {"1c.3g.40gb": 1, "2g.48gb+me.all": 1, "1g.24gb-me": 2}),
])
def test_normalize_layout(layout, expected):
    assert configs.normalize_layout(layout) == collections.OrderedDict(expected)


@pytest.mark.parametrize("layout,words", [
    ({"1g.10gb": -1}, "count of 1g.10gb must not be negative"),
    ({"1g.10gb": "2"}, "count of 1g.10gb must be an integer"),
    ({"1g.10gb": True}, "must be an integer, got True"),
    ({"1g.10gb": 1.5}, "must be an integer"),
    ({"": 1}, "empty or non-string profile name"),
    (["1g.10gb", 3], "layout[1]: profile name must be a string"),
    (["ten-gig"], "'ten-gig' is not a MIG profile name"),
    ("1g.10gb", "must be a list of profile names or a mapping"),
])
def test_normalize_layout_rejects(layout, words):
    with pytest.raises(MigConfigError) as err:
        configs.normalize_layout(layout)
    assert words in str(err.value)


@pytest.mark.parametrize("doc,words", [
    ([], "config must be a mapping"),
    ({"version": "v2", "mig-configs": {}}, "version must be 'v1', got 'v2'"),
    ({"version": "v1"}, "'mig-configs' must be a non-empty mapping"),
    ({"version": "v1", "mig-configs": {"x": []}, "extra": 1}, "unknown top-level field(s) extra"),
    (_doc([]), "mig-configs[custom] must be a non-empty list"),
    (_doc(["all"]), "mig-configs[custom][0] must be a mapping"),
    (_doc([{"mig-enabled": False}]), "mig-configs[custom][0]: field 'devices' is required"),
    (_doc([{"devices": "some", "mig-enabled": False}]), "devices must be 'all' or a non-empty list of GPU indexes"),
    (_doc([{"devices": [-1], "mig-enabled": False}]), "devices must be 'all'"),
    (_doc([{"devices": "all"}]), "field 'mig-enabled' is required"),
    (_doc([{"devices": "all", "mig-enabled": "yes"}]), "mig-enabled must be true or false, got 'yes'"),
    (_doc([{"devices": "all", "mig-enabled": True}]), "mig-devices is required when mig-enabled is true"),
    (_doc([{"devices": "all", "mig-enabled": False, "mig-devices": {"1g.10gb": 1}}]),
     "mig-devices must be empty when mig-enabled is false"),
    (_doc([{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 0}}]), "counts must not all be 0"),
    (_doc([{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": -2}}]),
     "mig-configs[custom][0].mig-devices: count of 1g.10gb must not be negative"),
    (_doc([{"devices": "all", "mig-enabled": False, "device-filter": "0x2330"}]),
     "device-filter '0x2330' is not 0xDDDDVVVV"),
    (_doc([{"devices": "all", "mig-enabled": False, "device-filter": []}]), "device-filter must not be empty"),
    (_doc([{"devices": "all", "mig-enabled": False, "gpus": 2}]), "unknown field(s) gpus"),
])
def test_parse_config_rejects_with_the_field_named(doc, words):
    with pytest.raises(MigConfigError) as err:
        configs.parse_config(doc)
    assert words in str(err.value)


def test_persist_document_round_trips_through_pyyaml_and_the_mini_loader():
    doc = configs.build_document([(0, "0x233010DE", True, {"3g.40gb": 1, "1g.10gb": 2}),
                                  (1, "233010DE", False, {}), (2, None, True, {})])
    text = configs.dump_config(doc)
    by_yaml = configs.select_entries(yaml.safe_load(text), "gpu-slicing")
    by_mini = configs.select_entries(configs._MiniYaml(text).load(), "gpu-slicing")
    assert by_yaml == by_mini
    assert dict(configs.device_spec(by_mini, 0, "0x233010DE").mig_devices) == {"3g.40gb": 1, "1g.10gb": 2}
    assert configs.device_spec(by_mini, 0, "0x20B010DE") is None
    assert configs.device_spec(by_mini, 1, "0x233010DE").mig_enabled is False
    assert configs.device_spec(by_mini, 2, "0x20B010DE") == configs.DeviceSpec(True, collections.OrderedDict())


def test_load_config_text_reads_json_and_the_yaml_subset_without_pyyaml(monkeypatch):
    # the node side never imports PyYAML: the module and the boot applier read a file the same way
    monkeypatch.setitem(sys.modules, "yaml", None)
    data, loader = configs.load_config_text('{"version": "v1", "mig-configs": {"a": []}}')
    assert loader == "json" and data["version"] == "v1"
    data, loader = configs.load_config_text("version: v1\nmig-configs: {a: []}\n")
    assert loader == "yaml-subset" and data == {"version": "v1", "mig-configs": {"a": []}}
    with pytest.raises(MigConfigError, match="config line 1: unterminated flow collection"):
        configs.load_config_text('{"version": [')
    with pytest.raises(MigConfigError, match="unterminated flow collection"):
        configs.load_config_text("version: [v1\n")


@pytest.mark.parametrize("text,words", [
    ("version: v1\n\tmig-configs: {}\n", "tabs are not allowed"),
    ("a: 1\na: 2\n", "duplicate key 'a'"),
    ("a: [1, 2\n", "unterminated flow collection"),
    ("a: &anchor 1\n", "YAML anchor (&anchor)"),
    ("a: 1\n   b: 2\n", "bad indentation"),
])
def test_mini_yaml_errors_say_which_line(text, words):
    with pytest.raises(MigConfigError) as err:
        configs._MiniYaml(text).load()
    assert words in str(err.value) and "config line" in str(err.value)
