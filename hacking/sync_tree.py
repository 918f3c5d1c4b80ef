# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mirror the checkout into <dest>/ansible_collections/gpu_slicing/eks as real files for ansible-test.

ansible-test finds the collection from os.getcwd(), which resolves symlinks, so a symlinked tree
is not enough. The copy gets an empty git repo of its own (ansible-test lists untracked files through
it). We copy what git would commit (tracked + untracked, minus .gitignore'd files), keep
<dest>/.../tests/output (ansible-test results), and delete files that vanished from the checkout.
Dependency collections are linked beside it from the collections tree made by `make collections`.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys

KEEP = ("tests/output", ".git")
DEPENDENCIES = ("kubernetes/core", "amazon/aws", "community/general")


def checkout_files(source):
    output = subprocess.run(["git", "-C", source, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            check=True, capture_output=True).stdout.decode("utf-8")
    return sorted({path for path in output.split("\0") if path and os.path.isfile(os.path.join(source, path))})


def sync(source, target):
    wanted = checkout_files(source)
    copied = 0
    for path in wanted:
        src, dst = os.path.join(source, path), os.path.join(target, path)
        if os.path.isfile(dst) and not os.path.islink(dst) and filecmp.cmp(src, dst, shallow=False):
            shutil.copymode(src, dst)
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.lexists(dst):
            os.unlink(dst)
        shutil.copy2(src, dst)
        copied += 1
    wanted_set = set(wanted)
    removed = 0
    for directory, subdirs, files in os.walk(target, topdown=True):
        relative = os.path.relpath(directory, target)
        relative = "" if relative == "." else relative + "/"
        subdirs[:] = [name for name in subdirs if (relative + name) not in KEEP]
        for name in files:
            if relative + name not in wanted_set:
                os.unlink(os.path.join(directory, name))
                removed += 1
    for directory, _subdirs, _files in os.walk(target, topdown=False):
        relative = os.path.relpath(directory, target)
        if any(relative == kept or relative.startswith(kept + "/") for kept in KEEP):
            continue  # git keeps empty refs/ and objects/ folders it needs
        if directory != target and not os.listdir(directory):
            os.rmdir(directory)
    return len(wanted), copied, removed


def link_dependencies(collections_root, ansible_collections):
    for dependency in DEPENDENCIES:
        source = os.path.join(collections_root, "ansible_collections", dependency)
        if not os.path.isdir(source):
            raise SystemExit("missing %s: run `make collections` first" % source)
        link = os.path.join(ansible_collections, dependency)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.islink(link) and os.readlink(link) == source:
            continue
        if os.path.islink(link):
            os.unlink(link)
        elif os.path.exists(link):
            shutil.rmtree(link)
        os.symlink(source, link)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the checkout (collection root)")
    parser.add_argument("dest", help="directory that gets ansible_collections/")
    parser.add_argument("--collections", required=True, help="tree holding the dependency collections")
    args = parser.parse_args()
    source = os.path.realpath(args.source)
    ansible_collections = os.path.join(os.path.realpath(args.dest), "ansible_collections")
    target = os.path.join(ansible_collections, "gpu_slicing", "eks")
    if os.path.realpath(target) == source:
        raise SystemExit("refusing to sync %s into itself" % source)
    if os.path.islink(target):
        os.unlink(target)
    os.makedirs(target, exist_ok=True)
    total, copied, removed = sync(source, target)
    # ansible-test lists content with git from the nearest .git upwards; without its own repo here it
    # would find the checkout's, where build/ is ignored, and see no files at all
    toplevel = subprocess.run(["git", "-C", target, "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                              check=False).stdout.strip()
    if os.path.realpath(toplevel or "/") != os.path.realpath(target):
        shutil.rmtree(os.path.join(target, ".git"), ignore_errors=True)  # missing or broken
        subprocess.run(["git", "init", "--quiet", target], check=True)
    link_dependencies(os.path.realpath(args.collections), ansible_collections)
    print("ansible-test tree %s: %d files (%d copied, %d removed)" % (target, total, copied, removed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
