# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Extract dependency collections from the PyPI `ansible` wheel into an ansible_collections/ tree.

Galaxy is not reachable in CI here; the community `ansible` wheel carries every collection. We
take only the ones we depend on or test with, e.g.::

    python hacking/extract_collections.py ansible-12.3.0-py3-none-any.whl build/collections \\
        kubernetes.core amazon.aws community.general
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import zipfile


def extract(wheel, destination, collections):
    root = os.path.join(destination, "ansible_collections")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for collection in collections:
            namespace, name = collection.split(".")
            prefix = "ansible_collections/%s/%s/" % (namespace, name)
            members = [member for member in names if member.startswith(prefix) and not member.endswith("/")]
            if not members:
                raise SystemExit("%s has no collection %s" % (wheel, collection))
            target = os.path.join(root, namespace, name)
            shutil.rmtree(target, ignore_errors=True)
            for member in members:
                archive.extract(member, destination)
            with open(os.path.join(target, "MANIFEST.json"), encoding="utf-8") as handle:
                version = json.load(handle)["collection_info"]["version"]
            print("%s %s (%d files) -> %s" % (collection, version, len(members), target))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel")
    parser.add_argument("destination", help="directory that gets ansible_collections/<ns>/<name>")
    parser.add_argument("collections", nargs="+", metavar="NAMESPACE.NAME")
    args = parser.parse_args()
    extract(args.wheel, args.destination, args.collections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
