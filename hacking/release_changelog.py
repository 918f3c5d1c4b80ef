# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate CHANGELOG.rst the way a release does, and check it.

A release runs ``antsibull-changelog release`` in the checkout (``make release``): the fragments move into
changelogs/changelog.yaml and CHANGELOG.rst is written from it. ``make test`` runs the same release in a
throw-away copy of the tree (``--check``), so a fragment that would break the release, be left out of it, or a
CHANGELOG.rst that would miss from the Galaxy tarball is found on every change, not on release day.

  release_changelog.py --check            release into a temp copy; check CHANGELOG.rst and the tarball
  release_changelog.py --release          release in the checkout (version from galaxy.yml)
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECTIONS = ("major_changes", "minor_changes", "breaking_changes", "deprecated_features", "removed_features",
            "security_fixes", "bugfixes", "known_issues")


def _words(text):
    return " ".join(text.replace("``", "").split())


def fragment_entries(root):
    """[(fragment file name, entry text)] of every changelog entry waiting in changelogs/fragments."""
    entries = []
    for path in sorted((root / "changelogs" / "fragments").glob("*.y*ml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for section in SECTIONS:
            for entry in data.get(section) or []:
                entries.append((path.name, entry))
    return entries


def release(root, version, date, tool):
    # antsibull-changelog lists the plugins with ansible-doc: the one of the same venv, on PATH
    env = dict(os.environ, PATH=os.pathsep.join([os.path.dirname(os.path.abspath(tool)), os.environ.get("PATH", "")]))
    subprocess.run([tool, "release", "--version", version, "--date", date], cwd=root, check=True, env=env)


def _tracked_copy(destination):
    """Copy what git would ship (tracked and new, unignored files) so the check sees uncommitted fragments."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listing):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def check(tool, galaxy):
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    entries = fragment_entries(ROOT)
    problems = []
    with tempfile.TemporaryDirectory(prefix="gpu-slicing-release-") as temp:
        tree = pathlib.Path(temp) / "ansible_collections" / "gpu_slicing" / "eks"
        _tracked_copy(tree)
        subprocess.run(["git", "init", "-q"], cwd=tree, check=True)  # antsibull-changelog's vcs: auto
        release(tree, version, datetime.date.today().isoformat(), tool)
        changelog = (tree / "CHANGELOG.rst").read_text(encoding="utf-8")
        text = _words(changelog)
        if "v%s" % version not in changelog:
            problems.append("CHANGELOG.rst has no section for v%s" % version)
        for name, entry in entries:
            if _words(entry) not in text:
                problems.append("the entry of %s is missing from CHANGELOG.rst: %.80s" % (name, entry))
        left = sorted(p.name for p in (tree / "changelogs" / "fragments").glob("*.y*ml"))
        if left:
            problems.append("fragments left after the release: %s" % ", ".join(left))
        dist = pathlib.Path(temp) / "dist"
        subprocess.run([galaxy, "collection", "build", "--output-path", str(dist), str(tree)], check=True,
                       capture_output=True)
        with tarfile.open(next(dist.glob("*.tar.gz"))) as archive:
            names = archive.getnames()
        for needed in ("CHANGELOG.rst", "changelogs/changelog.yaml"):
            if needed not in names:
                problems.append("%s is not in the Galaxy tarball" % needed)
    for problem in problems:
        print("release check: %s" % problem, file=sys.stderr)
    if not problems:
        print("release check: v%s would publish CHANGELOG.rst with all %d entries of %d fragments, and the tarball "
              "carries it" % (version, len(entries), len({entry[0] for entry in entries})))
    return 1 if problems else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--release", action="store_true")
    parser.add_argument("--antsibull-changelog", default="antsibull-changelog")
    parser.add_argument("--ansible-galaxy", default="ansible-galaxy")
    args = parser.parse_args(argv)
    if args.check:
        return check(args.antsibull_changelog, args.ansible_galaxy)
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    release(ROOT, version, datetime.date.today().isoformat(), args.antsibull_changelog)
    print("released v%s: CHANGELOG.rst and changelogs/changelog.yaml updated, fragments removed; commit them" % version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
