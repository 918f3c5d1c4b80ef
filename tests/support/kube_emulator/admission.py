# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CRD-driven admission: pruning, defaulting, OpenAPI v3 schema validation and CEL rules.

The order is the API server's: prune unknown fields, apply schema defaults, validate the schema
(``jsonschema`` on a converted copy of the structural schema), then evaluate the
``x-kubernetes-validations`` CEL rules with cel-python. Every failure becomes a cause
``{reason, message, field}`` worded like the real server's (``Unsupported value``, ``Required value``,
``Invalid value``), so clients see the same 422 ``Status`` they would see from EKS.

CEL coverage: each rule is compiled when its CRD is installed. A rule is *enforced* when it compiles
and uses only functions this module provides (CEL standard functions and macros, plus the Kubernetes
string/regex/list extensions that the installed CRDs use); otherwise it is *skipped* and reported
with the reason. ``rules_report()`` returns the list that the server logs at start and serves at
``GET /emulator/cel-rules``.
"""

import copy
import json
import re

import celpy
from celpy import celtypes
import jsonschema

# Keywords of OpenAPI v3 (as used by Kubernetes structural schemas) that JSON Schema draft 7 reads the same way.
_PASSTHROUGH = (
    "type", "required", "enum", "pattern", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems",
    "minProperties", "maxProperties", "uniqueItems", "multipleOf", "format",
)

# Functions and macros that the CEL evaluation below understands (standard CEL + celpy + ours).
_KNOWN_FUNCTIONS = {
    "has", "all", "exists", "exists_one", "map", "filter", "size", "int", "uint", "double", "string", "bool",
    "bytes", "type", "dyn", "duration", "timestamp", "contains", "startsWith", "endsWith", "matches",
    "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getFullYear", "getMonth", "getHours",
    "getMilliseconds", "getMinutes", "getSeconds",
}


# ----------------------------------------------------------------------------------------------------
# Kubernetes CEL library functions (subset used by the CRDs we install)
# ----------------------------------------------------------------------------------------------------
def _cel_find(text, pattern):
    """k8s regex library: first match of ``pattern`` in ``text`` or ``''``."""
    match = re.search(str(pattern), str(text))
    return celtypes.StringType(match.group(0) if match else "")


def _cel_find_all(text, pattern, limit=None):
    found = [celtypes.StringType(m.group(0)) for m in re.finditer(str(pattern), str(text))]
    if limit is not None and int(limit) >= 0:
        found = found[:int(limit)]
    return celtypes.ListType(found)


def _cel_split(text, separator, limit=None):
    parts = str(text).split(str(separator)) if limit is None or int(limit) < 0 else str(text).split(str(separator), max(int(limit) - 1, 0))
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


def _cel_join(items, separator=""):
    return celtypes.StringType(str(separator).join(str(item) for item in items))


def _cel_index_of(text, sub, start=0):
    return celtypes.IntType(str(text).find(str(sub), int(start)))


def _cel_last_index_of(text, sub):
    return celtypes.IntType(str(text).rfind(str(sub)))


def _cel_substring(text, start, end=None):
    text = str(text)
    return celtypes.StringType(text[int(start):] if end is None else text[int(start):int(end)])


def _cel_replace(text, old, new, limit=-1):
    return celtypes.StringType(str(text).replace(str(old), str(new), int(limit)))


CEL_FUNCTIONS = {
    "find": _cel_find,
    "findAll": _cel_find_all,
    "split": _cel_split,
    "join": _cel_join,
    "indexOf": _cel_index_of,
    "lastIndexOf": _cel_last_index_of,
    "substring": _cel_substring,
    "replace": _cel_replace,
    "lowerAscii": lambda text: celtypes.StringType(str(text).lower()),
    "upperAscii": lambda text: celtypes.StringType(str(text).upper()),
    "trim": lambda text: celtypes.StringType(str(text).strip()),
}
_KNOWN_FUNCTIONS.update(CEL_FUNCTIONS)
_CALL_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_STRING_RE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_CEL_ENV = celpy.Environment()
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

# The ``format`` values the API server checks that the installed CRDs use; other formats are not checked.
FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time")
def _is_date_time(value):
    return not isinstance(value, str) or bool(_RFC3339.match(value))


@FORMAT_CHECKER.checks("int32")
def _is_int32(value):
    return not isinstance(value, int) or -2 ** 31 <= value < 2 ** 31


@FORMAT_CHECKER.checks("int64")
def _is_int64(value):
    return not isinstance(value, int) or -2 ** 63 <= value < 2 ** 63


class Cause(dict):
    """One field error, serialised as the ``details.causes[]`` item of a 422 Status."""

    def __init__(self, reason, field, message):
        super().__init__(reason=reason, field=field, message=message)


def _quote(value):
    if value is None or isinstance(value, (str, bool, int, float)):
        return json.dumps(value)
    return '"%s"' % type(value).__name__


def format_path(parts):
    """``('spec', 'requirements', 0, 'key')`` -> ``spec.requirements[0].key``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += "[%d]" % part
        else:
            text += ("." if text else "") + str(part)
    return text


# ----------------------------------------------------------------------------------------------------
# Schema conversion, pruning, defaulting
# ----------------------------------------------------------------------------------------------------
def to_json_schema(schema):
    """Convert a Kubernetes structural OpenAPI v3 schema into a JSON Schema draft 7 document."""
    if not isinstance(schema, dict):
        return {}
    out = {key: copy.deepcopy(schema[key]) for key in _PASSTHROUGH if key in schema}
    if schema.get("exclusiveMinimum") is True and "minimum" in out:
        out["exclusiveMinimum"] = out.pop("minimum")
    if schema.get("exclusiveMaximum") is True and "maximum" in out:
        out["exclusiveMaximum"] = out.pop("maximum")
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in schema:
        out["properties"] = {name: to_json_schema(sub) for name, sub in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        out["items"] = to_json_schema(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(schema["additionalProperties"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            converted = [to_json_schema(sub) for sub in schema[key]]
            out[key] = converted if key not in out else out[key] + converted
    if "not" in schema:
        out["not"] = to_json_schema(schema["not"])
    if schema.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if schema.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
    return out


def prune(obj, schema, path=(), removed=None, root=True):
    """Drop fields the schema does not declare (the API server's pruning). Returns the removed paths."""
    removed = [] if removed is None else removed
    if not isinstance(schema, dict):
        return removed
    if isinstance(obj, dict):
        properties = schema.get("properties")
        if properties is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
            for key in list(obj):
                if key not in properties and not (root and key in ("apiVersion", "kind", "metadata")):
                    removed.append(format_path(path + (key,)))
                    del obj[key]
        for key, value in obj.items():
            if properties and key in properties:
                if not (root and key == "metadata"):
                    prune(value, properties[key], path + (key,), removed, root=False)
            elif isinstance(schema.get("additionalProperties"), dict):
                prune(value, schema["additionalProperties"], path + (key,), removed, root=False)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(obj):
            prune(item, schema["items"], path + (index,), removed, root=False)
    return removed


def apply_defaults(obj, schema):
    """Fill ``default`` values of absent properties, parents before children (as the API server does)."""
    if not isinstance(schema, dict):
        return
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in obj and isinstance(sub, dict) and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                apply_defaults(obj[key], sub)
        if isinstance(schema.get("additionalProperties"), dict):
            known = schema.get("properties") or {}
            for key, value in obj.items():
                if key not in known:
                    apply_defaults(value, schema["additionalProperties"])
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            apply_defaults(item, schema["items"])


def list_map_keys(schema, path):
    """The ``x-kubernetes-list-map-keys`` of the list at ``path`` (dict keys only), or None."""
    node = schema
    for key in path:
        if not isinstance(node, dict):
            return None
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            node = node["items"]
        props = node.get("properties") or {}
        node = props.get(key) if key in props else node.get("additionalProperties")
    if isinstance(node, dict) and node.get("x-kubernetes-list-type") == "map":
        return list(node.get("x-kubernetes-list-map-keys") or [])
    return None


# ----------------------------------------------------------------------------------------------------
# jsonschema errors -> Kubernetes causes
# ----------------------------------------------------------------------------------------------------
def _schema_cause(error):
    parts = tuple(error.absolute_path)
    field = format_path(parts)
    value = error.instance
    keyword = error.validator
    if keyword == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        name = missing.group(1) if missing else "?"
        return Cause("FieldValueRequired", format_path(parts + (name,)), "Required value")
    if keyword == "enum":
        allowed = ", ".join(_quote(item) for item in error.validator_value if item is not None)
        return Cause("FieldValueNotSupported", field, "Unsupported value: %s: supported values: %s" % (_quote(value), allowed))
    if keyword in ("type", "anyOf"):
        wanted = error.validator_value if keyword == "type" else "integer or string"
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return Cause("FieldValueTypeInvalid", field, "Invalid value: %s: %s in body must be of type %s: %s"
                     % (_quote(value), field, wanted, _quote(type(value).__name__)))
    if keyword == "format":
        return Cause("FieldValueInvalid", field, "Invalid value: %s: %s in body must be of type %s: %s"
                     % (_quote(value), field, error.validator_value, _quote(value)))
    explain = {
        "pattern": "%s in body should match '%s'" % (field, error.validator_value),
        "maximum": "%s in body should be less than or equal to %s" % (field, error.validator_value),
        "minimum": "%s in body should be greater than or equal to %s" % (field, error.validator_value),
        "exclusiveMaximum": "%s in body should be less than %s" % (field, error.validator_value),
        "exclusiveMinimum": "%s in body should be greater than %s" % (field, error.validator_value),
        "maxLength": "%s in body may not be longer than %s" % (field, error.validator_value),
        "minLength": "%s in body should be at least %s chars long" % (field, error.validator_value),
        "maxProperties": "%s in body should have at most %s properties" % (field, error.validator_value),
        "minProperties": "%s in body should have at least %s properties" % (field, error.validator_value),
        "uniqueItems": "%s in body shouldn't contain duplicates" % field,
    }
    if keyword == "maxItems":
        return Cause("FieldValueTooMany", field, "Too many: %d: must have at most %s items" % (len(value), error.validator_value))
    if keyword == "minItems":
        return Cause("FieldValueInvalid", field, "Invalid value: %d: %s in body should have at least %s items" % (len(value), field, error.validator_value))
    if keyword == "maxLength":
        return Cause("FieldValueTooLong", field, "Too long: may not be more than %s bytes" % error.validator_value)
    return Cause("FieldValueInvalid", field, "Invalid value: %s: %s" % (_quote(value), explain.get(keyword, error.message)))


# ----------------------------------------------------------------------------------------------------
# CEL rules
# ----------------------------------------------------------------------------------------------------
class CelRule:
    """One ``x-kubernetes-validations`` entry at a schema location."""

    def __init__(self, crd, version, path, spec):
        self.crd = crd
        self.version = version
        self.path = path  # tuple of property names; "*" marks list items / map values
        self.rule = spec.get("rule", "")
        self.message = spec.get("message") or "failed rule: %s" % self.rule
        self.reason = spec.get("reason") or "FieldValueInvalid"
        self.field_path = spec.get("fieldPath") or ""
        self.transition = bool(re.search(r"\boldSelf\b", self.rule))
        self.program = None
        self.skip_reason = None
        self.evaluations = 0
        self.rejections = 0
        self.errors = 0
        unknown = sorted({name for name in _CALL_RE.findall(_STRING_RE.sub("''", self.rule)) if name not in _KNOWN_FUNCTIONS})
        if unknown:
            self.skip_reason = "uses functions the emulator does not provide: %s" % ", ".join(unknown)
            return
        try:
            self.program = _CEL_ENV.program(_CEL_ENV.compile(self.rule), functions=CEL_FUNCTIONS)
        except Exception as exc:  # celpy raises its own parse/compile errors
            self.skip_reason = "does not compile in cel-python: %s" % str(exc).splitlines()[0]

    @property
    def enforced(self):
        return self.program is not None

    def location(self):
        return ".".join(self.path) or "<root>"

    def report(self):
        return {
            "crd": self.crd, "version": self.version, "path": self.location(), "rule": self.rule,
            "message": self.message, "transition": self.transition, "enforced": self.enforced,
            "skip_reason": self.skip_reason, "evaluations": self.evaluations, "rejections": self.rejections,
            "errors": self.errors,
        }

    def evaluate(self, value, old_value, has_old):
        """Return None when the rule holds, otherwise the failure message."""
        if not self.enforced or (self.transition and not has_old):
            return None
        self.evaluations += 1
        activation = {"self": celpy.json_to_cel(value)}
        if has_old:
            activation["oldSelf"] = celpy.json_to_cel(old_value)
        try:
            result = self.program.evaluate(activation)
        except Exception as exc:  # an evaluation error rejects, as in the API server
            self.errors += 1
            self.rejections += 1
            return "%s (evaluation error: %s)" % (self.message, exc)
        if isinstance(result, Exception) or not bool(result):
            self.rejections += 1
            if isinstance(result, Exception):
                self.errors += 1
                return "%s (evaluation error: %s)" % (self.message, result)
            return self.message
        return None


def _collect_rules(crd, version, schema, path, out):
    if not isinstance(schema, dict):
        return
    for spec in schema.get("x-kubernetes-validations") or []:
        out.append(CelRule(crd, version, path, spec))
    for name, sub in (schema.get("properties") or {}).items():
        _collect_rules(crd, version, sub, path + (name,), out)
    if isinstance(schema.get("items"), dict):
        _collect_rules(crd, version, schema["items"], path + ("*",), out)
    if isinstance(schema.get("additionalProperties"), dict):
        _collect_rules(crd, version, schema["additionalProperties"], path + ("*",), out)


def _walk(value, old, has_old, path, concrete):
    """Yield ``(concrete_path, value, old, has_old)`` for every data node matching a rule path."""
    if not path:
        yield concrete, value, old, has_old
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(value, list):
            for index, item in enumerate(value):
                # Items of atomic/set lists have no correlated old item: transition rules do not run there.
                yield from _walk(item, None, False, rest, concrete + (index,))
        elif isinstance(value, dict):
            for key, item in value.items():
                old_item = old.get(key) if has_old and isinstance(old, dict) else None
                yield from _walk(item, old_item, has_old and isinstance(old, dict) and key in old, rest, concrete + (key,))
        return
    if isinstance(value, dict) and head in value:
        has_child_old = has_old and isinstance(old, dict) and head in old
        yield from _walk(value[head], old.get(head) if has_child_old else None, has_child_old, rest, concrete + (head,))


class SchemaAdmission:
    """Admission for one served version of one CRD."""

    def __init__(self, crd_name, version, schema):
        self.crd_name = crd_name
        self.version = version
        self.schema = schema or {}
        self.validator = jsonschema.Draft7Validator(to_json_schema(self.schema), format_checker=FORMAT_CHECKER)
        self.rules = []
        _collect_rules(crd_name, version, self.schema, (), self.rules)

    def admit(self, obj, old=None, subresource=None):
        """Prune + default ``obj`` in place; return ``(causes, pruned_paths)``."""
        pruned = prune(obj, self.schema)
        apply_defaults(obj, self.schema)
        causes = []
        for error in sorted(self.validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
            causes.append(_schema_cause(error))
        if causes:
            # The API server does not run CEL rules on objects that fail the schema, and says so in one more cause.
            if self.rules:
                causes.append(Cause("FieldValueInvalid", "<nil>",
                                    "Invalid value: null: some validation rules were not checked because the object "
                                    "was invalid; correct the existing errors to complete validation"))
            return causes, pruned
        for rule in self.rules:
            for concrete, value, old_value, has_old in _walk(obj, old, old is not None, rule.path, ()):
                failure = rule.evaluate(value, old_value, has_old)
                if failure is not None:
                    field = format_path(concrete)
                    if rule.field_path:
                        field = field + rule.field_path
                    if rule.reason == "FieldValueForbidden":
                        causes.append(Cause(rule.reason, field, "Forbidden: %s" % failure))
                    elif rule.reason == "FieldValueRequired":
                        causes.append(Cause(rule.reason, field, "Required value: %s" % failure))
                    else:
                        # kube-apiserver v1.35 quotes a scalar value, not an object's or a list's type
                        shown = "" if isinstance(value, (dict, list)) else "%s: " % _quote(value)
                        causes.append(Cause(rule.reason, field, "Invalid value: %s%s" % (shown, failure)))
        return causes, pruned

    def map_keys(self, path):
        return list_map_keys(self.schema, path)


def _cel_kind(value):
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return value
