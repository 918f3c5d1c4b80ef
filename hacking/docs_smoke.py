# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-doc smoke test: every plugin and role of the collection renders, none is UNDOCUMENTED.

Lists each plugin type with `ansible-doc -t TYPE -l COLLECTION --json`, renders every entry as text
(what users see) and fails on a non-zero exit, an error/warning on stderr, an "UNDOCUMENTED" entry
or a module/inventory file that ansible-doc does not list at all. Needs ANSIBLE_COLLECTIONS_PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# plugin type -> folder; files there must each show up in the listing
TYPES = {"module": "modules", "inventory": "inventory", "filter": "filter", "test": "test", "lookup": "lookup",
         "callback": "callback", "connection": "connection", "role": None}
FILE_CHECKED = ("module", "inventory", "lookup", "callback", "connection")


def ansible_doc(binary, *args):
    return subprocess.run([binary] + list(args), capture_output=True, text=True, check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection")
    parser.add_argument("--ansible-doc", default="ansible-doc")
    args = parser.parse_args()
    failures, rendered = [], 0
    for plugin_type, folder in TYPES.items():
        listing = ansible_doc(args.ansible_doc, "-t", plugin_type, "-l", args.collection, "--json")
        if listing.returncode != 0:
            failures.append("ansible-doc -t %s -l failed: %s" % (plugin_type, listing.stderr.strip()))
            continue
        entries = json.loads(listing.stdout or "{}")
        for name, summary in sorted(entries.items()):
            if plugin_type == "role":  # roles are documented per entry point (meta/argument_specs.yml)
                points = summary.get("entry_points") or {}
                description = "UNDOCUMENTED" if not points or "UNDOCUMENTED" in points.values() else "ok"
            else:
                description = summary.get("description") if isinstance(summary, dict) else summary
            if description == "UNDOCUMENTED":
                failures.append("%s %s is UNDOCUMENTED" % (plugin_type, name))
                continue
            result = ansible_doc(args.ansible_doc, "-t", plugin_type, name)
            problems = [line for line in result.stderr.splitlines() if "[ERROR]" in line or "[WARNING]" in line]
            if result.returncode != 0 or problems or not result.stdout.strip():
                detail = " ".join(problems) or result.stderr.strip()
                failures.append("%s %s does not render (rc %d): %s" % (plugin_type, name, result.returncode, detail))
            else:
                rendered += 1
        if plugin_type in FILE_CHECKED and folder:
            directory = os.path.join(ROOT, "plugins", folder)
            files = sorted(f[:-3] for f in os.listdir(directory) if f.endswith(".py") and not f.startswith("_")) \
                if os.path.isdir(directory) else []
            for missing in sorted(set("%s.%s" % (args.collection, f) for f in files) - set(entries)):
                failures.append("%s %s exists but ansible-doc does not list it (broken DOCUMENTATION?)"
                                % (plugin_type, missing))
    for failure in failures:
        print("FAIL: %s" % failure)
    print("ansible-doc rendered %d plugins/roles of %s, %d failures" % (rendered, args.collection, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
