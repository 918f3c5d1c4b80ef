# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one stdlib loader of MIG config files against PyYAML: never a different value.

The node side reads mig-parted files with ``configs.load_config_text`` only (no PyYAML there, so the module and
the boot applier cannot disagree). For every document this loader accepts, PyYAML (a YAML 1.1 reader, like
mig-parted's Go YAML) must read the same value; what it cannot read the same way it refuses with the line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import random
import re

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import _builtin_configs, configs
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.configs import MigConfigError

yaml = pytest.importorskip("yaml")

# plain scalars a YAML 1.1 reader types: each must be read exactly as PyYAML reads it, or refused
PLAIN_SCALARS = [
    "yes", "No", "ON", "off", "true", "False", "null", "~", "Null", "y", "n", "0", "7", "-3", "+4", "10",
    "0x20B010DE", "0x233010de", "017", "08", "0b101", "1_000", "1:30", "190:20:30", "1.5", "-.5", "1.", ".inf",
    "-.Inf", ".NaN", "1e3", "1.0e+3", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "<<", "=", "1g.10gb",
    "7g.80gb", "all", "mixed", "v1", "a_b", "0x", "0xZZ", "12abc", "1g.10gb+me", "-x", "x-1", "1-2",
]


def pyyaml(text):
    return json.loads(json.dumps(yaml.safe_load(text)))


def ours(text):
    return json.loads(json.dumps(configs.load_config_text(text)[0]))


def same_or_refused(text):
    """The loader's value equals PyYAML's, or it refuses (MigConfigError); returns True when it read it."""
    try:
        value = ours(text)
    except MigConfigError:
        return False
    assert value == pyyaml(text), text
    return True


@pytest.mark.parametrize("scalar", PLAIN_SCALARS)
def test_a_plain_scalar_is_read_as_pyyaml_reads_it_or_refused(scalar):
    read = [same_or_refused("a: %s\n" % scalar), same_or_refused("a: [%s]\n" % scalar),
            same_or_refused("- %s\n" % scalar)]
    assert len(set(read)) == 1, "accepted in one place and refused in another: %r" % scalar


def test_the_types_a_config_needs_are_accepted_and_the_ambiguous_ones_refused():
    accepted = [s for s in PLAIN_SCALARS if same_or_refused("a: %s\n" % s)]
    for needed in ("yes", "off", "true", "null", "~", "7", "-3", "0x20B010DE", "1g.10gb", "1g.10gb+me", "all"):
        assert needed in accepted
    for ambiguous in ("017", "0b101", "1_000", "1:30", "1.5", ".inf", "1e3", "2001-12-14", "<<"):
        assert ambiguous not in accepted
        with pytest.raises(MigConfigError, match="quote it") as err:
            ours("version: v1\nmig-configs:\n  x:\n    - devices: %s\n" % ambiguous)
        assert "config line 4" in str(err.value)


@pytest.mark.parametrize("key", ["1", "on", "no", "1.5", "~"])
def test_a_plain_key_that_is_not_a_string_to_yaml_is_refused(key):
    with pytest.raises(MigConfigError, match="mapping key .* is not a string"):
        ours("mig-configs:\n  %s: []\n" % key)
    assert ours('mig-configs:\n  "%s": []\n' % key) == pyyaml('mig-configs:\n  "%s": []\n' % key)


@pytest.mark.parametrize("text,words", [
    ("a: &x 1\nb: *x\n", "YAML anchor (&x)"),
    ("a: [*x]\n", "YAML alias (*x)"),
    ("a: 1\n---\nb: 2\n", "several YAML documents"),
    ("a: 1\n...\nb: 2\n", "content after the end of the document"),
    ("%YAML 1.1\n---\na: 1\n", "YAML directives"),
    ("a: !!str 1\n", "unsupported YAML syntax"),
    ("a: |\n  text\n", "unsupported YAML syntax"),
    ("a: b: c\n", "unsupported YAML syntax"),
    ("a: - b\n", "unsupported YAML syntax"),
    ("? a\n: b\n", "expected 'key: value'"),
    ("a: {x: 1, x: 2}\n", "duplicate key 'x'"),
])
def test_yaml_features_outside_the_subset_are_refused_with_the_line(text, words):
    with pytest.raises(MigConfigError) as err:
        ours(text)
    assert words in str(err.value) and "config line" in str(err.value)


def test_one_leading_document_marker_and_one_end_marker_are_allowed():
    text = "---\nversion: v1 # comment\nmig-configs: {}\n...\n"
    assert ours(text) == pyyaml(text) == {"version": "v1", "mig-configs": {}}


def test_the_loader_reads_every_builtin_config_as_pyyaml_dumps_it():
    for style in (False, None, True):
        text = yaml.safe_dump(_builtin_configs.BUILTIN_CONFIG, default_flow_style=style, sort_keys=False, width=4096)
        assert ours(text) == pyyaml(text), "default_flow_style=%r" % style


def _random_value(rng, depth):
    kind = rng.choice(["scalar", "scalar", "list", "map"] if depth < 3 else ["scalar"])
    if kind == "list":
        return [_random_value(rng, depth + 1) for _item in range(rng.randint(0, 4))]
    if kind == "map":
        return {_random_key(rng): _random_value(rng, depth + 1) for _item in range(rng.randint(0, 4))}
    return rng.choice([
        rng.randint(-5, 300), rng.choice([True, False, None]), "0x%08X" % rng.getrandbits(32),
        rng.choice(PLAIN_SCALARS), _random_key(rng), "with space", "colon:inside", "hash#inside", "quote's",
        'dq"inside', "", "tail: colon", "x # not a comment?",
    ])


def _random_key(rng):
    return rng.choice(["devices", "mig-enabled", "mig-devices", "device-filter", "version", "mig-configs",
                       "all-1g.10gb", "1g.10gb", "3g.40gb", "custom-config", "1", "on", "k e y", "a:b"])


def _as_mig_parted_writes_it(value, indent=0):
    """Block style with flow lists of scalars, as mig-parted's examples and dump_config write files."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        lines = []
        for key, item in value.items():
            key_text = json.dumps(key)
            if isinstance(item, (dict, list)) and item and not _flat_list(item):
                lines.append("%s%s:\n%s" % (pad, key_text, _as_mig_parted_writes_it(item, indent + 2)))
            else:
                lines.append("%s%s: %s" % (pad, key_text, _inline(item)))
        return "\n".join(lines)
    if isinstance(value, list) and value and not _flat_list(value):
        lines = []
        for item in value:
            if isinstance(item, dict) and item:
                body = _as_mig_parted_writes_it(item, indent + 2)
                lines.append("%s- %s" % (pad, body[indent + 2:]))
            elif isinstance(item, list) and item and not _flat_list(item):
                lines.append("%s-\n%s" % (pad, _as_mig_parted_writes_it(item, indent + 2)))
            else:
                lines.append("%s- %s" % (pad, _inline(item)))
        return "\n".join(lines)
    return pad + _inline(value)


def _flat_list(value):
    return isinstance(value, list) and all(not isinstance(item, (dict, list)) for item in value)


def _inline(value):
    if isinstance(value, list):
        return "[%s]" % ", ".join(_inline(item) for item in value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (json.dumps(k), _inline(v)) for k, v in value.items())
    if isinstance(value, str) and re.match(r"^[A-Za-z0-9._+-]+$", value or "-"):
        return value  # plain, as people write profile names, labels and filters
    return json.dumps(value)


@pytest.mark.parametrize("seed", range(40))
def test_random_documents_read_the_same_as_pyyaml_or_are_refused(seed):
    rng = random.Random(seed)
    read = 0
    for _document in range(25):
        value = {_random_key(rng): _random_value(rng, 0) for _item in range(rng.randint(1, 4))}
        for text in (_as_mig_parted_writes_it(value) + "\n",
                     yaml.safe_dump(value, default_flow_style=False, sort_keys=False, width=4096),
                     yaml.safe_dump(value, default_flow_style=None, sort_keys=False, width=4096)):
            read += same_or_refused(text)
    assert read > 0, "every document refused: the comparison tested nothing"
