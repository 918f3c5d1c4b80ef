# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List the collection tarball `ansible-galaxy collection build` made and check what a Galaxy user gets.

It must hold the licence, the plugins, roles, playbooks, docs and tests (sanity and molecule run from an
installed collection), and nothing from development only: bench/, demo/, hacking/, the Makefile, the dev
requirements, venvs, caches, build output, changelog fragments. MANIFEST.json must carry the licence file
and the project links, and no shipped text file may point at ../shared (a folder users never have).

Run by `make ee`, which builds the tarball first:  check_tarball.py build/ee/dist/gpu_slicing-eks-X.tar.gz
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile

REQUIRED = (
    "LICENSE", "MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml", "requirements.txt",
    "execution-environment.yml", "plugins/modules/nvidia_mig.py", "plugins/module_utils/_mig/catalog.py",
    "roles/mig_partition/meta/argument_specs.yml", "playbooks/site.yml", "docs/docsite/extra-docs.yml",
    "docs/docsite/links.yml", "changelogs/changelog.yaml", "tests/config.yml",
)
# top-level names (files or folders) that are development-only
FORBIDDEN_TOP = (
    "bench", "demo", "hacking", "Makefile", "pyproject.toml", "requirements-dev.txt", "requirements-next.txt",
    ".ansible-lint", ".venv", ".venv-next", ".cache", ".ci", ".git", ".gitignore", "build", "ansible_collections", ".hypothesis",
    ".pytest_cache", ".ansible", "demo-output",
)
FORBIDDEN_PREFIX = ("changelogs/fragments/", "tests/output/")
GPL3_HEAD = b"                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n"
LINKS = ("repository", "documentation", "issues")


def check(path):
    """Return (errors, members) for the tarball at ``path``."""
    errors = []
    with tarfile.open(path) as archive:
        members = sorted(member.name for member in archive.getmembers() if member.isfile())
        manifest = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
        licence = archive.extractfile("LICENSE").read() if "LICENSE" in members else b""
        texts = {}
        for name in members:
            if name.endswith((".py", ".md", ".yml", ".yaml", ".txt", ".j2", ".sh", ".cfg", ".ini", ".rst")):
                texts[name] = archive.extractfile(name).read().decode("utf-8", "replace")
    names = set(members)
    for needed in REQUIRED:
        if needed not in names:
            errors.append("tarball lacks %s" % needed)
    for name in members:
        top = name.split("/", 1)[0]
        if top in FORBIDDEN_TOP or name.startswith(FORBIDDEN_PREFIX) or "__pycache__/" in name or name.endswith(".pyc"):
            errors.append("tarball holds development-only %s: extend build_ignore in galaxy.yml" % name)
    if manifest.get("license_file") != "LICENSE":
        errors.append("MANIFEST.json license_file is %r, want 'LICENSE'" % manifest.get("license_file"))
    for link in LINKS:
        if not str(manifest.get(link) or "").startswith("https://"):
            errors.append("MANIFEST.json has no %s URL" % link)
    for name, text in sorted(texts.items()):
        if "../shared" in text:
            errors.append("%s points at ../shared, which users of the collection do not have" % name)
    if "LICENSE" in names and not licence.startswith(GPL3_HEAD):
        errors.append("LICENSE is not the GPLv3 text")
    return errors, members


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball")
    args = parser.parse_args()
    errors, members = check(args.tarball)
    tops = sorted({name.split("/", 1)[0] for name in members})
    print("%s: %d files; top level: %s" % (args.tarball, len(members), " ".join(tops)))
    for error in errors:
        print("FAIL: %s" % error)
    if not errors:
        print("collection tarball OK")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
