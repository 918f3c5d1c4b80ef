# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Costs of the real control plane (tests/support/control_plane.py): first build, cached lookup, start, stop.

Run from the checkout:  PYTHONPATH=build/collections .venv/bin/python bench/control_plane_bench.py [--runs 3] [--write]
The first-build time is read from the cache's BUILD-INFO.json (written by the build that filled the cache);
``--write`` replaces the marked "Real control plane" section of bench/RESULTS.md.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

from ansible_collections.gpu_slicing.eks.tests.support import control_plane

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import write_section  # noqa: E402  pylint: disable=wrong-import-position

BEGIN = "<!-- control-plane-bench:begin -->"
END = "<!-- control-plane-bench:end -->"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    bin_dir = control_plane.ensure_binaries()
    lookup = time.perf_counter() - started
    info = json.loads((bin_dir / "BUILD-INFO.json").read_text())
    sizes = dict((name, (bin_dir / name).stat().st_size // 2 ** 20) for name in control_plane.BINARIES)

    starts, stops, crds = [], [], []
    for _run in range(args.runs):
        plane = control_plane.ControlPlane(bin_dir=bin_dir, log=lambda _message: None)
        began = time.perf_counter()
        plane.start()
        starts.append(time.perf_counter() - began)
        began = time.perf_counter()
        plane.extra_crds(control_plane.DEFAULT_CRDS)  # re-apply the 5 CRDs + wait Established
        crds.append(time.perf_counter() - began)
        began = time.perf_counter()
        plane.stop()
        stops.append(time.perf_counter() - began)

    load = os.getloadavg()
    lines = [
        BEGIN,
        "## Real control plane: build, start, stop (bench/control_plane_bench.py)",
        "",
        "%s, %d CPUs, load average %.1f / %.1f / %.1f at the end (shared machine: upper bounds); %s; %s." % (
            time.strftime("%Y-%m-%d"), os.cpu_count(), load[0], load[1], load[2], info["go_version"], platform.python_version()),
        "",
        "| what | time |",
        "|---|---|",
        "| first build (compile + link; module download only when the module cache is cold) of etcd %s, "
        "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl %s), from BUILD-INFO.json | %dm%02ds |"
        % (info["etcd"], info["kubernetes"], info["build_seconds"] // 60, info["build_seconds"] % 60),
        "| cached lookup (`ensure_binaries()` when built) | %.3f s |" % lookup,
        "| start: PKI + etcd + kube-apiserver + 5 CRDs Established + controller-manager + scheduler, median of %d | %.1f s (min %.1f, max %.1f) |"
        % (args.runs, statistics.median(starts), min(starts), max(starts)),
        "| re-apply the 5 CRDs and wait Established, median | %.2f s |" % statistics.median(crds),
        "| stop (SIGTERM, wait, remove the work dir), median | %.2f s |" % statistics.median(stops),
        "| binary sizes (stripped) | %s |" % ", ".join("%s %d MiB" % kv for kv in sorted(sizes.items())),
        "",
        "Cache: `~/.cache/gpu-slicing/kube/<sha256(go.mod+go.sum)[:16]>/bin` (key %s); a new pin means a new build." % info["key"],
        END,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(BEGIN, END, text)


if __name__ == "__main__":
    main()
