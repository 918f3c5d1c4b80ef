# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Label and field selectors as the API server parses them from ``?labelSelector=`` / ``?fieldSelector=``.

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k``
(does not exist), comma-separated (AND). Field selectors: ``path=v``, ``path==v``, ``path!=v`` on dotted
paths (``metadata.name``, ``metadata.namespace``, ``spec.nodeName``, ``status.phase``, ...).
"""

import re

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET_RE = re.compile(r"^\s*(?P<key>%s)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)\s*$" % _KEY)
_EQ_RE = re.compile(r"^\s*(?P<key>%s)\s*(?P<op>==|=|!=)\s*(?P<value>[-A-Za-z0-9_.]*)\s*$" % _KEY)
_EXISTS_RE = re.compile(r"^\s*(?P<neg>!?)\s*(?P<key>%s)\s*$" % _KEY)


class SelectorError(ValueError):
    """A selector that the API server would answer with 400 Bad Request."""


def _split_terms(text):
    """Split on commas that are not inside ``(...)``."""
    terms, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [term for term in terms if term.strip()]


def parse_label_selector(text):
    """Return a list of ``(key, op, values)``; op is one of ``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!``."""
    requirements = []
    for term in _split_terms(text or ""):
        match = _SET_RE.match(term)
        if match:
            values = [value.strip() for value in match.group("values").split(",") if value.strip()]
            requirements.append((match.group("key"), match.group("op"), values))
            continue
        match = _EQ_RE.match(term)
        if match:
            op = "!=" if match.group("op") == "!=" else "="
            requirements.append((match.group("key"), op, [match.group("value")]))
            continue
        match = _EXISTS_RE.match(term)
        if match:
            requirements.append((match.group("key"), "!" if match.group("neg") else "exists", []))
            continue
        raise SelectorError("unable to parse requirement: %r" % term.strip())
    return requirements


def match_labels(requirements, labels):
    """True when ``labels`` (a dict, may be None) satisfies every requirement."""
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        if op == "=" and not (present and value == values[0]):
            return False
        if op == "!=" and present and value == values[0]:
            return False
        if op == "in" and not (present and value in values):
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def parse_field_selector(text):
    """Return a list of ``(dotted_path, op, value)`` with op ``=`` or ``!=``."""
    requirements = []
    for term in _split_terms(text or ""):
        for op in ("!=", "==", "="):
            if op in term:
                path, value = term.split(op, 1)
                path = path.strip()
                if not re.match(r"^[A-Za-z][A-Za-z0-9.]*$", path):
                    raise SelectorError("invalid field selector path: %r" % path)
                requirements.append((path, "!=" if op == "!=" else "=", value.strip()))
                break
        else:
            raise SelectorError("invalid selector: %r; can't understand %r" % (text, term.strip()))
    return requirements


def _field_value(obj, path):
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def match_fields(requirements, obj):
    """True when the object satisfies every field requirement (missing fields compare as empty)."""
    for path, op, value in requirements:
        actual = _field_value(obj, path)
        if op == "=" and actual != value:
            return False
        if op == "!=" and actual == value:
            return False
    return True
