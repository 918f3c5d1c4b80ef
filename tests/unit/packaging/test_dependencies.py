# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The declared dependencies are the true ones.

- every collection the shipped content uses is a galaxy.yml dependency, and every dependency is used;
  molecule may also use the test-only collections of molecule/requirements.yml, nothing else;
- requirements.yml (what users install) says what galaxy.yml says;
- requirements.txt lists exactly the third-party Python packages the controller-side plugins import, and no
  test-only package (kmock, moto, pytest ...) is imported by a plugin;
- the kubernetes minimum is the same in requirements.txt and in the plugin documentation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re
import sys

import pytest
import yaml

import ansible_collections

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
SHIPPED = ("plugins", "roles", "playbooks", "meta")
TEST_ONLY_PACKAGES = {"kmock", "moto", "pytest", "hypothesis", "celpy", "jsonschema", "aiohttp", "responses"}
# import name -> PyPI name where they differ
DISTRIBUTION = {"yaml": "PyYAML"}


def _load(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _installed_collections():
    """ns.name of every collection importable here (the dependency collections of `make collections`)."""
    found = set()
    for base in ansible_collections.__path__:
        for namespace in os.listdir(base) if os.path.isdir(base) else ():
            folder = os.path.join(base, namespace)
            if os.path.isdir(folder) and not namespace.startswith(("_", ".")):
                found.update("%s.%s" % (namespace, name) for name in os.listdir(folder)
                             if os.path.isdir(os.path.join(folder, name)) and not name.startswith(("_", ".")))
    return found


def _files(*tops):
    for top in tops:
        for directory, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith((".yml", ".yaml", ".py", ".j2")):
                    yield os.path.join(directory, name)


def _used(collections, *tops):
    """{collection: first file} for references like ``ns.name.plugin`` to one of ``collections``."""
    pattern = re.compile(r"(?<![\w.])(%s)\.[a-z_][a-z0-9_]*" % "|".join(re.escape(c) for c in sorted(collections)))
    used = {}
    for path in _files(*tops):
        with open(path, encoding="utf-8") as handle:
            for match in pattern.finditer(handle.read()):
                used.setdefault(match.group(1), os.path.relpath(path, ROOT))
    return used


GALAXY = _load("galaxy.yml")
KNOWN = _installed_collections() - {"gpu_slicing.eks"}


@pytest.mark.skipif(not {"kubernetes.core", "amazon.aws"} <= KNOWN, reason="dependency collections not installed")
def test_shipped_content_uses_exactly_the_declared_collections():
    used = _used(KNOWN, *SHIPPED)
    undeclared = sorted(set(used) - set(GALAXY["dependencies"]) - {"ansible.builtin"})
    assert not undeclared, "used but not in galaxy.yml dependencies: %s" % {c: used[c] for c in undeclared}
    unused = sorted(set(GALAXY["dependencies"]) - set(used))
    assert not unused, "galaxy.yml declares %s but nothing shipped uses it" % unused


@pytest.mark.skipif("community.general" not in KNOWN, reason="community.general not installed")
def test_molecule_collections_are_declared():
    test_only = {entry["name"] for entry in _load("molecule/requirements.yml")["collections"]}
    used = _used(KNOWN, "molecule")
    undeclared = sorted(set(used) - set(GALAXY["dependencies"]) - test_only - {"ansible.builtin"})
    assert not undeclared, "molecule uses %s: add them to molecule/requirements.yml" % undeclared
    assert test_only <= set(used) | set(GALAXY["dependencies"]), "molecule/requirements.yml lists unused collections"


def test_requirements_yml_matches_galaxy_dependencies():
    entries = {entry["name"]: entry.get("version", "*") for entry in _load("requirements.yml")["collections"]}
    assert entries == GALAXY["dependencies"]


def _third_party_imports(folder):
    stdlib = set(getattr(sys, "stdlib_module_names", ())) | {"__future__"}
    found = {}
    for path in _files(folder):
        if not path.endswith(".py"):
            continue
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and top not in ("ansible", "ansible_collections"):
                    found.setdefault(top, os.path.relpath(path, ROOT))
    return found


def _requirements_txt():
    packages = {}
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line:
                match = re.match(r"^([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9.]+))?", line)
                packages[match.group(1).lower()] = match.group(2)
    return packages


@pytest.mark.skipif(not hasattr(sys, "stdlib_module_names"), reason="needs Python 3.10+ to tell stdlib modules apart")
def test_requirements_txt_is_what_the_plugins_import():
    imports = _third_party_imports("plugins")
    test_only = sorted(set(imports) & TEST_ONLY_PACKAGES)
    assert not test_only, "plugins import test-only packages: %s" % {p: imports[p] for p in test_only}
    # PyYAML comes with ansible-core itself
    needed = {DISTRIBUTION.get(name, name).lower() for name in imports} - {"pyyaml"}
    assert set(_requirements_txt()) == needed, "requirements.txt %s vs imported %s" % (sorted(_requirements_txt()), imports)


def test_kubernetes_minimum_is_one_number():
    minimum = _requirements_txt()["kubernetes"]
    with open(os.path.join(ROOT, "plugins", "doc_fragments", "k8s_auth.py"), encoding="utf-8") as handle:
        documented = set(re.findall(r"kubernetes >= ([0-9.]+)", handle.read()))
    assert documented == {minimum}
