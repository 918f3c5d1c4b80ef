# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mig-parted v1 config dialect (pure, stdlib only).

Input is already-parsed Python data (``parse_config``) or text (``load_config_text``). Text is read
by one stdlib loader on every path -- ``nvidia_mig`` on a node with or without PyYAML, the boot applier,
the userData checks -- so the same file can never mean two things: JSON when it starts with ``{``, else
``_MiniYaml``, a strict reader of the block-YAML subset mig-parted files use (mappings, ``-`` sequences,
``[a, b]`` / ``{}`` flow collections, quoted and plain scalars, comments). Plain scalars resolve as YAML 1.1
readers (PyYAML, mig-parted's Go YAML) resolve them for the types a config needs (null, booleans including
``yes``/``no``/``on``/``off``, decimal and ``0x`` integers); a plain scalar that a YAML 1.1 reader would
turn into anything else (octal, binary, ``1_000``, ``1:30``, floats, dates, ``<<``) and every other YAML
feature (anchors, aliases, tags, block scalars, several documents) is refused with the line, never read
differently. ``dump_config`` writes that same subset, so the files this collection persists are read back
by the same loader and are valid for mig-parted itself.

Semantics follow NVIDIA/mig-parted ``api/spec/v1``: an entry applies to a GPU when its ``devices``
(``all`` or indexes) and its optional ``device-filter`` (``0xDDDDVVVV[:0xSSSSssss]``) both match;
when several entries match one GPU the last one wins (entries are applied in order); GPUs that no
entry matches are left untouched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import copy
import difflib
import json
import re

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import _builtin_configs
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.model import is_valid_profile_name, strip_mig_prefix

DeviceSpec = collections.namedtuple("DeviceSpec", "mig_enabled mig_devices")

PERSIST_LABEL = "gpu-slicing"

_ENTRY_KEYS = ("devices", "mig-enabled", "mig-devices", "device-filter")
_FILTER_RE = re.compile(r"^0x([0-9a-fA-F]{8})(?::0x([0-9a-fA-F]{8}))?$")


# Messages quote the offending values; a hostile file must not turn them into megabytes of text.
MAX_ERROR_CHARS = 1000


class MigConfigError(ValueError):
    """A layout or mig-parted config that is not valid; the message names the offending part (truncated)."""

    def __init__(self, message):
        message = str(message)
        if len(message) > MAX_ERROR_CHARS:
            message = "%s... (%d more characters)" % (message[:MAX_ERROR_CHARS], len(message) - MAX_ERROR_CHARS)
        super(MigConfigError, self).__init__(message)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def normalize_layout(layout, where="layout"):
    """List of names or mapping name -> count  ->  OrderedDict name -> count (zero counts dropped)."""
    out = collections.OrderedDict()
    if isinstance(layout, dict):
        items = list(layout.items())
    elif isinstance(layout, (list, tuple)):
        items = []
        for pos, name in enumerate(layout):
            if not isinstance(name, str):
                raise MigConfigError("%s[%d]: profile name must be a string, got %r" % (where, pos, name))
            items.append((name, 1))
    else:
        raise MigConfigError("%s must be a list of profile names or a mapping name -> count, got %s"
                             % (where, type(layout).__name__))
    for name, count in items:
        if not isinstance(name, str) or not name.strip():
            raise MigConfigError("%s: empty or non-string profile name %r" % (where, name))
        name = strip_mig_prefix(name)
        if not is_valid_profile_name(name):
            raise MigConfigError("%s: %r is not a MIG profile name (expected e.g. 1g.10gb, 3g.40gb, 1g.10gb+me)"
                                 % (where, name))
        if not _is_int(count):
            raise MigConfigError("%s: count of %s must be an integer, got %r" % (where, name, count))
        if count < 0:
            raise MigConfigError("%s: count of %s must not be negative, got %d" % (where, name, count))
        if count:
            out[name] = out.get(name, 0) + count
    return out


def _parse_filter(value, where):
    values = value if isinstance(value, list) else [value]
    if not values:
        raise MigConfigError("%s: device-filter must not be empty" % where)
    out = []
    for item in values:
        if _is_int(item):  # YAML 1.1 reads an unquoted 0x20B010DE as an int
            item = "0x%08X" % item
        match = _FILTER_RE.match(item) if isinstance(item, str) else None
        if not match:
            raise MigConfigError("%s: device-filter %r is not 0xDDDDVVVV[:0xSSSSssss] (e.g. 0x233010DE)"
                                 % (where, item))
        out.append((match.group(1).upper(), match.group(2).upper() if match.group(2) else None))
    return out


def _parse_entry(entry, where):
    if not isinstance(entry, dict):
        raise MigConfigError("%s must be a mapping, got %s" % (where, type(entry).__name__))
    unknown = [k for k in entry if k not in _ENTRY_KEYS]
    if unknown:
        raise MigConfigError("%s: unknown field(s) %s (allowed: %s)"
                             % (where, ", ".join(map(str, unknown)), ", ".join(_ENTRY_KEYS)))
    if "devices" not in entry:
        raise MigConfigError("%s: field 'devices' is required ('all' or a list of GPU indexes)" % where)
    devices = entry["devices"]
    if devices != "all":
        if not isinstance(devices, list) or not devices or not all(_is_int(d) and d >= 0 for d in devices):
            raise MigConfigError("%s: devices must be 'all' or a non-empty list of GPU indexes, got %r"
                                 % (where, devices))
        devices = list(devices)
    if "mig-enabled" not in entry:
        raise MigConfigError("%s: field 'mig-enabled' is required (true or false)" % where)
    enabled = entry["mig-enabled"]
    if not isinstance(enabled, bool):
        raise MigConfigError("%s: mig-enabled must be true or false, got %r" % (where, enabled))
    mig_devices = entry.get("mig-devices")
    if enabled:
        if mig_devices is None:
            raise MigConfigError("%s: mig-devices is required when mig-enabled is true (use {} for none)" % where)
        if not isinstance(mig_devices, dict):
            raise MigConfigError("%s: mig-devices must be a mapping profile -> count" % where)
        layout = normalize_layout(mig_devices, where="%s.mig-devices" % where)
        if mig_devices and not layout:
            raise MigConfigError("%s.mig-devices: counts must not all be 0" % where)
    else:
        if mig_devices:
            raise MigConfigError("%s: mig-devices must be empty when mig-enabled is false" % where)
        layout = collections.OrderedDict()
    out = {"devices": devices, "mig_enabled": enabled, "mig_devices": layout, "device_filter": None}
    if "device-filter" in entry:
        out["device_filter"] = _parse_filter(entry["device-filter"], where)
    return out


def parse_config(doc):
    """Validate a mig-parted v1 document; return OrderedDict label -> list of normalised entries."""
    if not isinstance(doc, dict):
        raise MigConfigError("config must be a mapping with 'version' and 'mig-configs', got %s"
                             % type(doc).__name__)
    unknown = [k for k in doc if k not in ("version", "mig-configs")]
    if unknown:
        raise MigConfigError("config: unknown top-level field(s) %s (allowed: version, mig-configs)"
                             % ", ".join(map(str, unknown)))
    if doc.get("version") != "v1":
        raise MigConfigError("config: version must be 'v1', got %r" % (doc.get("version"),))
    configs = doc.get("mig-configs")
    if not isinstance(configs, dict) or not configs:
        raise MigConfigError("config: 'mig-configs' must be a non-empty mapping label -> list of entries")
    out = collections.OrderedDict()
    for label, entries in configs.items():
        if not isinstance(label, str) or not label:
            raise MigConfigError("config: label %r must be a non-empty string" % (label,))
        if not isinstance(entries, list) or not entries:
            raise MigConfigError("mig-configs[%s] must be a non-empty list of entries" % label)
        out[label] = [_parse_entry(e, "mig-configs[%s][%d]" % (label, i)) for i, e in enumerate(entries)]
    return out


_BUILTIN = None


def _builtin():
    global _BUILTIN
    if _BUILTIN is None:
        _BUILTIN = parse_config(_builtin_configs.BUILTIN_CONFIG)
    return _BUILTIN


def builtin_config_names():
    return list(_builtin())


def _unknown_label(label, names, source):
    if len(names) <= 10:
        return MigConfigError("unknown config label %r in %s; labels: %s" % (label, source, ", ".join(names)))
    close = difflib.get_close_matches(str(label), names, n=5, cutoff=0.5)
    hint = ("; did you mean: %s" % ", ".join(close)) if close else ""
    return MigConfigError("unknown config label %r in %s%s (%d labels available)" % (label, source, hint, len(names)))


def builtin_config(label):
    """Entries of a built-in label (``all-1g.10gb``, ``all-balanced`` ...)."""
    configs = _builtin()
    if label not in configs:
        raise _unknown_label(label, list(configs), "the built-in configs")
    return configs[label]


def builtin_document_entries(label):
    """The mig-parted v1 entries of a built-in label as written in the document (a copy), for building new documents.

    Unknown labels raise MigConfigError with suggestions, like ``builtin_config``.
    """
    builtin_config(label)
    return copy.deepcopy(_builtin_configs.BUILTIN_CONFIG["mig-configs"][label])


def select_entries(config_doc_or_label, label=None):
    """Entries for ``label`` of a document, or of the built-ins when given a label string."""
    if isinstance(config_doc_or_label, str):
        return builtin_config(config_doc_or_label)
    configs = parse_config(config_doc_or_label)
    if label is None:
        if len(configs) != 1:
            raise MigConfigError("config has %d labels (%s); say which one" % (len(configs), ", ".join(configs)))
        return next(iter(configs.values()))
    if label not in configs:
        raise _unknown_label(label, list(configs), "the config file")
    return configs[label]


def _norm_id(value):
    if not value:
        return None
    value = str(value).strip()
    if value.lower().startswith("0x"):
        value = value[2:]
    return value.upper()


def entry_matches(entry, gpu_index, pci_device_id, subsystem_id=None):
    if entry["devices"] != "all" and gpu_index not in entry["devices"]:
        return False
    if entry["device_filter"] is None:
        return True
    dev = _norm_id(pci_device_id)
    sub = _norm_id(subsystem_id)
    for want_dev, want_sub in entry["device_filter"]:
        if want_dev == dev and (want_sub is None or want_sub == sub):
            return True
    return False


def device_spec(entries, gpu_index, pci_device_id, subsystem_id=None):
    """DeviceSpec for one GPU, or None when no entry matches (the GPU is left untouched)."""
    spec = None
    for entry in entries:
        if entry_matches(entry, gpu_index, pci_device_id, subsystem_id):
            spec = DeviceSpec(entry["mig_enabled"], collections.OrderedDict(entry["mig_devices"]))
    return spec


def build_document(per_gpu, label=PERSIST_LABEL):
    """mig-parted v1 document with one entry per GPU: ``per_gpu`` = [(index, pci_device_id, enabled, layout)]."""
    entries = []
    for index, pci_device_id, enabled, layout in per_gpu:
        entry = collections.OrderedDict()
        if pci_device_id:
            entry["device-filter"] = "0x%s" % _norm_id(pci_device_id)
        entry["devices"] = [index]
        entry["mig-enabled"] = bool(enabled)
        if enabled:
            entry["mig-devices"] = collections.OrderedDict(layout)
        entries.append(entry)
    return collections.OrderedDict([("version", "v1"), ("mig-configs", collections.OrderedDict([(label, entries)]))])


# ---------------------------------------------------------------------------------------------
# Text: dump the subset we read, and read it back with JSON or the YAML-subset loader (stdlib only).

def _scalar_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_int(value):
        return str(value)
    if value is None:
        return "null"
    return json.dumps(str(value))


def dump_config(doc):
    """Block-YAML text of a mig-parted document (readable by mig-parted, PyYAML and ``_MiniYaml``)."""
    lines = ["# Written by gpu_slicing.eks (nvidia_mig persist); mig-parted v1 format.",
             "version: %s" % doc["version"], "mig-configs:"]
    for label, entries in doc["mig-configs"].items():
        lines.append("  %s:" % json.dumps(label))
        for entry in entries:
            first = True
            for key, value in entry.items():
                prefix = "    - " if first else "      "
                first = False
                if isinstance(value, dict):
                    if not value:
                        lines.append("%s%s: {}" % (prefix, key))
                        continue
                    lines.append("%s%s:" % (prefix, key))
                    for name, count in value.items():
                        lines.append("        %s: %s" % (json.dumps(name), _scalar_text(count)))
                elif isinstance(value, list):
                    lines.append("%s%s: [%s]" % (prefix, key, ", ".join(_scalar_text(v) for v in value)))
                else:
                    lines.append("%s%s: %s" % (prefix, key, _scalar_text(value)))
    return "\n".join(lines) + "\n"


def load_config_text(text):
    """Parse config file text with the one stdlib loader; returns (data, loader_name)."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text), "json"
        except ValueError:
            pass  # a YAML flow mapping, or broken: the YAML reader says which line
    return _MiniYaml(text).load(), "yaml-subset"


# Plain scalars a YAML 1.1 reader resolves to a type other than str (the implicit resolvers of the YAML 1.1
# type repository: https://yaml.org/type/). The types a mig-parted config uses are resolved the same way here;
# the others are refused, so a value is never read as a string here and as a number or date by mig-parted.
_YAML11_NULL = ("", "~", "null", "Null", "NULL")
_YAML11_TRUE = ("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")
_YAML11_FALSE = ("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")
_DECIMAL_RE = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_HEX_RE = re.compile(r"^[-+]?0x[0-9a-fA-F]+$")
_YAML11_OTHER_RES = (
    ("an integer", re.compile(r"^[-+]?(?:0b[01_]+|0[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*|[1-9][0-9_]*(?::[0-5]?[0-9])+)$")),
    ("a float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?$")),
    ("a float", re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*$")),
    ("a float", re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")),
    ("a float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$")),  # YAML 1.2 readers (mig-parted's Go YAML)
    ("a date", re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?$")),
    ("a merge key or value key", re.compile(r"^(?:<<|=)$")),
)


def _resolve_plain(text):
    """(value, None) for a plain scalar, or (None, reason) when a YAML 1.1 reader would read it otherwise."""
    if text in _YAML11_NULL:
        return None, None
    if text in _YAML11_TRUE:
        return True, None
    if text in _YAML11_FALSE:
        return False, None
    if _DECIMAL_RE.match(text):
        return int(text), None
    if _HEX_RE.match(text):
        return int(text, 16), None
    for kind, pattern in _YAML11_OTHER_RES:
        if pattern.match(text):
            return None, "YAML readers take %s for %s; quote it if a string is meant" % (repr(text[:40]), kind)
    return text, None


class _MiniYaml(object):
    """Block YAML subset: mappings, sequences, flow [..]/{..} of scalars, comments, quoted scalars."""

    def __init__(self, text):
        self.lines = []
        ended = open_flow = False
        for number, raw in enumerate(text.splitlines(), 1):
            content = self._strip_comment(raw).rstrip()
            if not content.strip():
                continue
            if "\t" in raw[:len(raw) - len(raw.lstrip())]:
                raise MigConfigError("config line %d: tabs are not allowed for indentation" % number)
            if content.startswith("%"):
                raise self.error("YAML directives are not supported", number)
            if content in ("---", "...") or content.startswith("--- "):
                # one document: a leading '---' and a trailing '...' are allowed, a second document is not
                if content == "..." and not ended:
                    ended = True
                    continue
                if content == "---" and not self.lines and not ended:
                    continue
                raise self.error("several YAML documents in one file", number)
            if ended:
                raise self.error("content after the end of the document ('...')", number)
            if open_flow:
                # a flow collection continued on this line: one logical line, numbered where it starts
                first, ind, text = self.lines[-1]
                self.lines[-1] = (first, ind, text + " " + content.strip())
            else:
                self.lines.append((number, len(content) - len(content.lstrip()), content.strip()))
            open_flow = self._flow_depth(self.lines[-1][2]) > 0
        if open_flow:
            raise self.error("unterminated flow collection", self.lines[-1][0])
        self.pos = 0

    @staticmethod
    def _flow_depth(text):
        """How many [ / { are still open at the end of ``text`` (quote-aware; 0 for a plain line)."""
        depth, quote, prev = 0, None, None
        for ch in text:
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "\"'" and prev in (None, "[", "{", ",", ":", "-"):
                quote = ch
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            if not ch.isspace():
                prev = ch
        return depth

    @staticmethod
    def _strip_comment(line):
        quote = None
        for i, ch in enumerate(line):
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
                return line[:i]
        return line

    def error(self, msg, number=None):
        if number is None:
            number = self.lines[self.pos][0] if self.pos < len(self.lines) else "EOF"
        return MigConfigError("config line %s: %s (MIG config files are read as a strict YAML subset: block mappings"
                              " and lists, [..] and {..} flow collections, quoted and plain scalars; JSON also works)"
                              % (number, msg))

    def load(self):
        if not self.lines:
            return None
        value = self.block(self.lines[0][1])
        if self.pos != len(self.lines):
            raise self.error("unexpected indentation")
        return value

    def block(self, indent):
        number, ind, text = self.lines[self.pos]
        if ind != indent:
            raise self.error("bad indentation", number)
        if text.startswith("- ") or text == "-":
            return self.sequence(indent)
        if text[:1] in "[{" and self.pos == 0 and len(self.lines) == 1:
            self.pos += 1  # a document that is one flow collection
            return self.scalar(text, number)
        return self.mapping(indent)

    def sequence(self, indent):
        out = []
        while self.pos < len(self.lines):
            number, ind, text = self.lines[self.pos]
            if ind < indent or (ind == indent and not (text.startswith("- ") or text == "-")):
                break  # the end of the sequence (a key after an indentless sequence is the caller's)
            if ind != indent:
                raise self.error("expected '- ' item", number)
            rest = text[1:].strip()
            if not rest:
                # "-" alone: its value is the block indented under it, or null
                self.pos += 1
                nested = self.pos < len(self.lines) and self.lines[self.pos][1] > indent
                out.append(self.block(self.lines[self.pos][1]) if nested else None)
                continue
            if rest.startswith("- ") or rest == "-":
                # "- - item": a sequence nested on the same line, its other items aligned under it
                column = indent + len(text) - len(rest)
                self.lines[self.pos] = (number, column, rest)
                out.append(self.sequence(column))
                continue
            key, sep, _value = self._split_key(rest, number)
            if sep:
                # "- key: value" starts a mapping whose other keys are indented under the key.
                column = indent + len(text) - len(rest)
                self.lines[self.pos] = (number, column, rest)
                out.append(self.mapping(column))
            else:
                self.pos += 1
                out.append(self.scalar(rest, number))
        return out

    def _split_key(self, text, number=None):
        """(key, True, rest) for 'key: rest' (a plain key must resolve to a string), else (None, False, None)."""
        if text[:1] in "\"'":
            end = text.find(text[0], 1)
            if end > 0 and text[end + 1:end + 2] == ":" and text[end + 2:end + 3] in ("", " "):
                key = self.scalar(text[:end + 1], number)
                return key, True, text[end + 2:].strip()
            return None, False, None
        match = re.match(r"^([^:\[\]{},]+?):(\s+|$)(.*)$", text)
        if match:
            return self.key(match.group(1).strip(), number), True, match.group(3).strip()
        return None, False, None

    def mapping(self, indent):
        out = collections.OrderedDict()
        while self.pos < len(self.lines):
            number, ind, text = self.lines[self.pos]
            if ind < indent:
                break
            if ind != indent:
                raise self.error("bad indentation", number)
            key, sep, value = self._split_key(text, number)
            if not sep:
                raise self.error("expected 'key: value'", number)
            if key in out:
                raise self.error("duplicate key %r" % key, number)
            self.pos += 1
            if value:
                out[key] = self.scalar(value, number)
            elif self.pos < len(self.lines) and self.lines[self.pos][1] > indent:
                out[key] = self.block(self.lines[self.pos][1])
            elif self.pos < len(self.lines) and self.lines[self.pos][1] == indent and \
                    self.lines[self.pos][2].startswith("- "):
                out[key] = self.sequence(indent)
            else:
                out[key] = None
        return out

    def scalar(self, text, number):
        if text.startswith("[") or text.startswith("{"):
            closing = "]" if text[0] == "[" else "}"
            if not text.endswith(closing):
                raise self.error("unterminated flow collection", number)
            inner = text[1:-1].strip()
            parts = [p.strip() for p in self._split_flow(inner)] if inner else []
            if any(not part for part in parts):
                raise self.error("empty entry in a flow collection", number)
            if closing == "]":
                return [self.scalar(p, number) for p in parts]
            out = collections.OrderedDict()
            for part in parts:
                key, sep, value = self._split_key(part, number)
                if not sep:
                    raise self.error("expected 'key: value' in a flow mapping", number)
                if key in out:
                    raise self.error("duplicate key %r" % key, number)
                out[key] = self.scalar(value, number) if value else None
            return out
        if text[0] == '"':
            try:
                return json.loads(text)
            except ValueError:
                raise self.error("bad double-quoted string %s" % text, number)
        if text[0] == "'":
            if not text.endswith("'") or len(text) < 2:
                raise self.error("bad single-quoted string %s" % text, number)
            return text[1:-1].replace("''", "'")
        if text[0] in "&*":
            raise MigConfigError("config line %d: config file uses a YAML %s (%s); anchors and aliases are not allowed"
                                 " in MIG configs" % (number, "anchor" if text[0] == "&" else "alias", text.split()[0][:40]))
        if text[0] in "!|>@`%?" or text.startswith("- ") or text == "-" or ": " in text or " #" in text:
            raise self.error("unsupported YAML syntax %r" % text[:40], number)
        value, reason = _resolve_plain(text)
        if reason:
            raise self.error(reason, number)
        return value

    def key(self, text, number):
        """A plain mapping key: it must resolve to a string (a YAML reader would make '1' or 'on' non-strings)."""
        if text[:1] in "&*!?|>%@`":
            self.scalar(text, number)  # raises the anchor/alias/syntax error
        value, reason = _resolve_plain(text)
        if reason or not isinstance(value, str):
            raise self.error("mapping key %r is not a string to YAML readers; quote it" % text[:40], number)
        return value

    @staticmethod
    def _split_flow(text):
        """Split the inside of a flow collection at its top-level commas (a trailing comma is allowed)."""
        parts, depth, quote, cur, prev = [], 0, None, "", None
        for ch in text:
            if quote:
                cur += ch
                if ch == quote:
                    quote = None
                continue
            # a quote opens a quoted scalar only where a scalar starts (quote's is a plain scalar)
            if ch in "\"'" and prev in (None, "[", "{", ",", ":"):
                quote = ch
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(cur)
                cur, prev = "", None
                continue
            cur += ch
            if not ch.isspace():
                prev = ch
        if cur.strip() or not parts:
            parts.append(cur)
        return parts
