# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Boot path: applier size vs EC2's user-data limit, rendered user data sizes, applier vs nvidia_mig on 8 x H100.

    PYTHONPATH=build/collections .venv/bin/python bench/boot_bench.py [--repeat 3]

Writes the "boot" section of bench/RESULTS.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import base64
import importlib.util
import lzma
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

from ansible_collections.gpu_slicing.eks.bench._results import run_module, write_section
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity, catalog, configs, userdata
from ansible_collections.gpu_slicing.eks.plugins.modules import nvidia_mig
from ansible_collections.gpu_slicing.eks.tests.simulators import nvidia_smi_sim as sim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPLIER = os.path.join(ROOT, "roles", "mig_partition", "files", "gpu-slicing-mig-apply.py")
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
BEGIN, END = "<!-- boot bench: begin -->", "<!-- boot bench: end -->"
URL = "s3://my-bucket/gpu-slicing/gpu-slicing-mig-apply.py"


def embedded_sources():
    """The module_utils sources inside the applier (decoded), concatenated."""
    spec = importlib.util.spec_from_file_location("gpu_slicing_applier_bundle", APPLIER)
    bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle)
    texts = [zlib.decompress(base64.b64decode("".join(chunks))) for _p, _d, chunks in bundle.MODULES.values()]
    return b"".join(texts), len(texts)


def sizes():
    with open(APPLIER, "rb") as handle:
        data = handle.read()
    sources, count = embedded_sources()
    rows = [("applier file (module_utils sources zlib + base64 inside)", len(data)),
            ("the %d embedded module_utils files, plain" % count, len(sources)),
            ("the same sources, xz -9e + base64 (the smallest inline form)",
             len(base64.b64encode(lzma.compress(sources, preset=9 | lzma.PRESET_EXTREME))))]
    al2023, bottlerocket = [], []
    for instance_type in catalog.mig_capable_instance_types():
        for label in configs.builtin_config_names():
            try:
                capacity.node_gpus(instance_type, config=label)
            except capacity.CapacityError:
                continue
            al2023.append(len(userdata.render(instance_type, config=label, applier_url=URL, applier_sha256="0" * 64)))
            try:
                bottlerocket.append(len(userdata.render(instance_type, ami_family="Bottlerocket", config=label)))
            except userdata.UserDataError:
                pass
    rows.append(("AL2023 user data, %d (type, label) pairs: min / max" % len(al2023), "%d / %d" % (min(al2023), max(al2023))))
    rows.append(("Bottlerocket user data, %d expressible pairs: max" % len(bottlerocket), max(bottlerocket)))
    rows.append(("EC2 limit (before base64) / budget left for Karpenter's NodeConfig", "%d / %d" % (
        userdata.EC2_USER_DATA_LIMIT, userdata.KARPENTER_RESERVE)))
    return rows


def applier_run(node, smi, persist, *args):
    node.clear_calls()
    started = time.perf_counter()
    subprocess.run([PYTHON, "-S", "-E", APPLIER, "--nvidia-smi", smi, "--persist-path", persist] + list(args),
                   check=True, capture_output=True)
    return time.perf_counter() - started, len(node.calls())


def module_run(node, smi, persist, **args):
    node.clear_calls()
    _result, elapsed = run_module(nvidia_mig.main, dict(args, nvidia_smi_path=smi, persist_path=persist))
    return elapsed, len(node.calls())


def compare(repeat):
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for tool in ("nvidia_mig (in-process)", "applier (python3 -S -E)"):
            for scenario in ("from scratch", "converged"):
                times, calls = [], None
                for number in range(repeat):
                    base = os.path.join(work, "%s-%s-%d" % (tool[:3], scenario[:4], number))
                    os.makedirs(base)
                    node = sim.SimNode.create(os.path.join(base, "state.json"), model="h100-80gb", gpus=8)
                    smi = node.write_wrapper(os.path.join(base, "nvidia-smi"))
                    persist = os.path.join(base, "mig.yaml")
                    runs = 2 if scenario == "converged" else 1
                    for _run in range(runs):
                        if tool.startswith("nvidia_mig"):
                            elapsed, count = module_run(node, smi, persist, config="all-balanced")
                        else:
                            elapsed, count = applier_run(node, smi, persist, "--config", "all-balanced")
                    times.append(elapsed)
                    calls = count
                rows.append((scenario, tool, calls, statistics.median(times)))
        started = time.perf_counter()
        for _i in range(repeat):
            subprocess.run([PYTHON, "-S", "-E", APPLIER, "--help"], check=True, capture_output=True)
        startup = (time.perf_counter() - started) / repeat
    return rows, startup


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size_rows = sizes()
    rows, startup = compare(args.repeat)
    lines = [BEGIN, "## Boot path: applier and user data (bench/boot_bench.py)", "",
             "`PYTHONPATH=build/collections .venv/bin/python bench/boot_bench.py --repeat %d` on %s, Python %s (bench) and "
             "the system `%s` (applier); %s. 2 CPU cores shared with other jobs: times are indicative."
             % (args.repeat, platform.node(), platform.python_version(), PYTHON, time.strftime("%Y-%m-%d")), "",
             "| what | bytes |", "|---|---:|"]
    lines += ["| %s | %s |" % row for row in size_rows]
    lines += ["", "The applier cannot be inlined in user data (EC2: 16 KB before base64), so the node downloads it and "
              "checks its SHA-256; the rendered part stays near 4 KB.", "",
              "8 x H100 (simulated), config `all-balanced`; calls from the simulator's log, median wall time:", "",
              "| scenario | tool | nvidia-smi calls | wall time (s) |", "|---|---|---:|---:|"]
    lines += ["| %s | %s | %d | %.2f |" % row for row in rows]
    lines += ["", "Same call counts by construction (one `reconcile`); the applier adds its interpreter start and the "
              "loading of the embedded modules: `--help` takes %.2f s." % startup, END]
    section = "\n".join(lines) + "\n"
    write_section(BEGIN, END, section)
    print(section)


if __name__ == "__main__":
    main()
