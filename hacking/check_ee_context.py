# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check the build context `ansible-builder create` made from an installed collection's execution-environment.yml.

No container engine runs here, so we check what the image build would consume: the Containerfile installs the
pinned ansible-core, the galaxy requirements install this collection from its copy in the context (we run that
very `ansible-galaxy collection install` entry, offline, with /build mapped to the context's _build) plus every
dependency of galaxy.yml, the copy holds our plugins and no development files, and the Python requirements of
the plugins reach the image.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import yaml

FORBIDDEN_TOP = {".venv", ".venv-next", "build", ".git", ".cache", ".hypothesis", ".pytest_cache", "ansible_collections",
                 "bench", "demo", "hacking"}
BUILD_DIR = "/build/"  # where the galaxy stage of the Containerfile sees the context's _build folder


def check(context, root, ansible_galaxy):
    errors = []
    with open(os.path.join(root, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    with open(os.path.join(root, "execution-environment.yml"), encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    fqcn = "%s.%s" % (galaxy["namespace"], galaxy["name"])

    with open(os.path.join(context, "Containerfile"), encoding="utf-8") as handle:
        containerfile = handle.read()
    core = spec["dependencies"]["ansible_core"]["package_pip"]
    if core not in containerfile:
        errors.append("Containerfile does not install %s" % core)
    if "COPY _build /build" not in containerfile:
        errors.append("Containerfile no longer copies _build to /build: fix BUILD_DIR here")

    with open(os.path.join(context, "_build", "requirements.yml"), encoding="utf-8") as handle:
        entries = yaml.safe_load(handle)["collections"]
    names = [entry["name"] for entry in entries]
    for dependency in galaxy["dependencies"]:
        if dependency not in names:
            errors.append("galaxy requirements miss the dependency %s" % dependency)
    ours = [e for e in entries if e.get("type") == "dir" and e["name"].startswith(BUILD_DIR)]
    if len(ours) != 1:
        errors.append("galaxy requirements must install %s from one `type: dir` entry under %s, have %s" % (fqcn, BUILD_DIR, names))
        return errors
    copy = os.path.join(context, "_build", ours[0]["name"][len(BUILD_DIR):])
    if not os.path.isfile(os.path.join(copy, "MANIFEST.json")):
        return errors + ["%s is not an installed collection (no MANIFEST.json): run ansible-builder from the installed "
                         "collection, not from a checkout" % copy]
    tops = set(os.listdir(copy))
    if tops & FORBIDDEN_TOP:
        errors.append("the collection copy holds %s" % sorted(tops & FORBIDDEN_TOP))

    # the galaxy stage's install of our entry, for real (offline: the dependencies would come from Galaxy)
    with tempfile.TemporaryDirectory() as target:
        requirements = os.path.join(target, "requirements.yml")
        with open(requirements, "w", encoding="utf-8") as handle:
            yaml.safe_dump({"collections": [{"name": copy, "type": "dir"}]}, handle)
        result = subprocess.run([ansible_galaxy, "collection", "install", "--offline", "--no-deps", "--force", "-r", requirements,
                                 "-p", os.path.join(target, "collections")], capture_output=True, text=True, check=False)
        installed = os.path.join(target, "collections", "ansible_collections", galaxy["namespace"], galaxy["name"])
        if result.returncode != 0:
            errors.append("ansible-galaxy could not install %s from the context: %s" % (fqcn, (result.stderr or result.stdout).strip()))
        else:
            for needed in ("MANIFEST.json", "meta/runtime.yml", "plugins/modules/nvidia_mig.py",
                           "plugins/module_utils/_mig/catalog.py", "roles/mig_partition/tasks/main.yml"):
                if not os.path.isfile(os.path.join(installed, needed)):
                    errors.append("installing %s from the context gives no %s" % (fqcn, needed))

    with open(os.path.join(context, "_build", "requirements.txt"), encoding="utf-8") as handle:
        python_requirements = handle.read()
    for package in ("kubernetes", "boto3"):
        if package not in python_requirements:
            errors.append("python requirements miss %s" % package)
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("context")
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--ansible-galaxy", default="ansible-galaxy")
    args = parser.parse_args()
    errors = check(args.context, args.root, args.ansible_galaxy)
    for error in errors:
        print("FAIL: %s" % error)
    if not errors:
        print("execution environment context OK: %s" % args.context)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
