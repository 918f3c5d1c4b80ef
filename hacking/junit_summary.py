# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sum the pytest JUnit XML files of one ansible-test run into one pytest-style closing line.

ansible-test units runs pytest once per target group (modules, module_utils, controller, ...), so
its output has several summaries; this prints one: `units (python3.11): 123 passed, 2 skipped in 41.2s`.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import xml.etree.ElementTree as ET


def summarize(paths):
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for path in paths:
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            for key in ("tests", "failures", "errors", "skipped"):
                totals[key] += int(suite.get(key, 0))
            totals["time"] += float(suite.get("time", 0))
    totals["passed"] = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit_dir")
    parser.add_argument("--label", default="units")
    parser.add_argument("--pattern", default="*-units.xml")
    parser.add_argument("--plain", action="store_true",
                        help="print only the plain closing line CI reads: '<label>: N passed, N failed'")
    args = parser.parse_args()
    paths = sorted(glob.glob(os.path.join(args.junit_dir, args.pattern)))
    if not paths:
        print("%s: no JUnit results in %s" % (args.label, args.junit_dir))
        return 1
    totals = summarize(paths)
    if args.plain:
        print("%s: %d passed, %d failed" % (args.label, totals["passed"], totals["failures"] + totals["errors"]))
        return 1 if totals["failures"] or totals["errors"] or not totals["tests"] else 0
    parts = ["%d passed" % totals["passed"]]
    for key in ("skipped", "failures", "errors"):
        if totals[key]:
            parts.append("%d %s" % (totals[key], "failed" if key == "failures" else key))
    print("%s: %s in %.1fs (%d pytest runs)" % (args.label, ", ".join(parts), totals["time"], len(paths)))
    return 1 if totals["failures"] or totals["errors"] or not totals["tests"] else 0


if __name__ == "__main__":
    sys.exit(main())
