# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check the build context `ansible-builder create` made from execution-environment.yml.

No container engine runs here, so we check what the image build would consume: the Containerfile
installs the pinned ansible-core, the collection tarball is in the context under the name the
galaxy requirements point at, it holds our plugins but no venvs/caches/build output, and the Python
requirements of the plugins reach the image.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile

import yaml

FORBIDDEN_TOP = {".venv", ".venv-next", "build", ".git", ".cache", ".hypothesis", ".pytest_cache", "ansible_collections"}


def check(context, root):
    errors = []
    with open(os.path.join(root, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    with open(os.path.join(root, "execution-environment.yml"), encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    tarball = "%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"])

    with open(os.path.join(context, "Containerfile"), encoding="utf-8") as handle:
        containerfile = handle.read()
    core = spec["dependencies"]["ansible_core"]["package_pip"]
    if core not in containerfile:
        errors.append("Containerfile does not install %s" % core)

    with open(os.path.join(context, "_build", "requirements.yml"), encoding="utf-8") as handle:
        names = [entry["name"] for entry in yaml.safe_load(handle)["collections"]]
    expected = "/build/local-collections/%s" % tarball
    if expected not in names:
        errors.append("galaxy requirements do not install %s (have %s); bump execution-environment.yml" % (expected, names))
    for dependency in galaxy["dependencies"]:
        if dependency not in names:
            errors.append("galaxy requirements miss the dependency %s" % dependency)

    path = os.path.join(context, "_build", "local-collections", tarball)
    if not os.path.isfile(path):
        errors.append("collection tarball %s is not in the build context" % path)
    else:
        with tarfile.open(path) as archive:
            members = archive.getnames()
        tops = {member.split("/", 1)[0] for member in members}
        if tops & FORBIDDEN_TOP:
            errors.append("tarball holds %s: extend build_ignore in galaxy.yml" % sorted(tops & FORBIDDEN_TOP))
        for needed in ("MANIFEST.json", "meta/runtime.yml", "plugins/module_utils/_mig/catalog.py"):
            if needed not in members:
                errors.append("tarball lacks %s" % needed)
        if any("/tests/output/" in "/" + member for member in members):
            errors.append("tarball holds tests/output")

    with open(os.path.join(context, "_build", "requirements.txt"), encoding="utf-8") as handle:
        python_requirements = handle.read()
    for package in ("kubernetes", "boto3"):
        if package not in python_requirements:
            errors.append("python requirements miss %s" % package)
    return errors, tarball


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("context")
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = parser.parse_args()
    errors, tarball = check(args.context, args.root)
    for error in errors:
        print("FAIL: %s" % error)
    if not errors:
        print("execution environment context OK: %s, %s" % (args.context, tarball))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
