# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_mig on a simulated 8 x H100 node: nvidia-smi invocations, disruption and wall time.

Run from the collection root:  PYTHONPATH=build/collections .venv/bin/python bench/nvidia_mig_bench.py [--repeat N]

Every figure comes from the nvidia-smi simulator's call log (tests/simulators): the module runs for
real (in-process ``main()``, each nvidia-smi call a subprocess of the simulator). The comparison is the
"naive" way mig-parted and shell scripts reconfigure a GPU whose layout differs: destroy every compute
and GPU instance, then create the whole layout again without placements, largest first, one GPU at
a time, run against the same simulator. Writes the "nvidia_mig" section of bench/RESULTS.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from ansible_collections.gpu_slicing.eks.bench._results import run_module, write_section
from ansible_collections.gpu_slicing.eks.plugins.modules import nvidia_mig
from ansible_collections.gpu_slicing.eks.tests.simulators import nvidia_smi_sim as sim

BEGIN = "<!-- nvidia_mig bench: begin -->"
END = "<!-- nvidia_mig bench: end -->"
GPUS = 8
BALANCED = {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}
PARTIAL = [("3g.40gb", 4), ("1g.10gb", 2), ("1g.10gb", 3)]  # balanced minus its 2g.20gb


def run_layout(node, workdir, layout, check=False):
    args = {"layout": layout, "nvidia_smi_path": node.write_wrapper(os.path.join(workdir, "nvidia-smi")),
            "persist_path": os.path.join(workdir, "mig-layout.yaml"), "_ansible_check_mode": check}
    return run_module(nvidia_mig.main, args)


def run_naive(node, layout):
    """Destroy everything and recreate the layout largest first without placements, per GPU."""
    smi = node.executable
    env = node.env()
    start = time.perf_counter()
    names = sorted(layout, key=lambda n: -int(n.split("g.")[0]))
    tuples = ",".join(n for n in names for dummy in range(layout[n]))
    subprocess.run([smi, "-q", "-x"], env=env, stdout=subprocess.DEVNULL, check=True)  # mig-parted asserts first
    subprocess.run([smi, "-mig", "1"], env=env, stdout=subprocess.DEVNULL, check=True)
    for gpu in range(GPUS):
        for argv in (["mig", "-i", str(gpu), "-dci"], ["mig", "-i", str(gpu), "-dgi"]):
            subprocess.run([smi] + argv, env=env, stdout=subprocess.DEVNULL, check=False)  # rc 6 when empty
        subprocess.run([smi, "mig", "-i", str(gpu), "-cgi", tuples, "-C"], env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def mig_uuids(node):
    return set(ci["uuid"] for gpu in node.state()["gpus"] for gi in gpu["gpu_instances"] for ci in gi["compute_instances"])


def figures(node, before_uuids):
    calls = node.calls()
    after = mig_uuids(node)
    return {
        "calls": len(calls),
        "mutating": sum(1 for c in calls if c["mutating"]),
        "kept": len(before_uuids & after),
        "destroyed": len(before_uuids - after),
        "created": len(after - before_uuids),
    }


def scenario(name, workdir, setup_layout, runner, prepare=None):
    """Fresh 8-GPU node per repetition; returns the figures of the last run and the median wall time."""
    times = []
    result = None
    for rep in range(ARGS.repeat):
        path = os.path.join(workdir, "%s-%d.json" % (name, rep))
        node = sim.SimNode.create(path, model="h100-80gb", gpus=GPUS, uuid_seed=name)
        if setup_layout:
            node.apply_layout(setup_layout)
        if prepare:
            prepare(node)
        before = mig_uuids(node)
        node.clear_calls()
        elapsed = runner(node)
        times.append(elapsed)
        result = figures(node, before)
    result["seconds"] = statistics.median(times)
    return result


def expand(layout):
    return [n for n in sorted(layout) for dummy in range(layout[n])]


def main():
    workdir = tempfile.mkdtemp(prefix="nvidia-mig-bench-")
    rows = []

    def module(layout, check=False):
        def run(node):
            return run_layout(node, os.path.dirname(node.path), layout, check)[1]
        return run

    def apply_first(node):
        run_layout(node, os.path.dirname(node.path), BALANCED)

    naive = run_naive
    for label, name, setup, runner, prepare in (
            ("from scratch (MIG off -> balanced)", "scratch", None, module(BALANCED), None),
            ("from scratch (MIG off -> balanced)", "scratch-naive", None, lambda node: naive(node, BALANCED), None),
            ("from scratch, check mode", "check", None, module(BALANCED, True), None),
            ("converged (balanced -> balanced)", "conv", None, module(BALANCED), apply_first),
            ("converged (balanced -> balanced)", "conv-naive", expand(BALANCED), lambda node: naive(node, BALANCED), None),
            ("grow (3g + 2 x 1g -> balanced)", "grow", PARTIAL, module(BALANCED), None),
            ("grow (3g + 2 x 1g -> balanced)", "grow-naive", PARTIAL, lambda node: naive(node, BALANCED), None)):
        tool = "naive" if name.endswith("-naive") else "nvidia_mig"
        rows.append((label, tool, scenario(name, workdir, setup, runner, prepare)))
    write_results(rows, call_cost(workdir))
    for row in rows:
        print(row)


def call_cost(workdir):
    """Median wall time of one simulator invocation (`-q -x` on the 8-GPU node), the unit of everything above."""
    node = sim.SimNode.create(os.path.join(workdir, "cost.json"), model="h100-80gb", gpus=GPUS)
    node.apply_layout(expand(BALANCED))
    times = []
    for dummy in range(20):
        start = time.perf_counter()
        subprocess.run([node.executable, "-q", "-x"], env=node.env(), stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_results(rows, cost):
    lines = [
        BEGIN,
        "## nvidia_mig: nvidia-smi invocations and wall time (8 x H100, simulated)",
        "",
        "`PYTHONPATH=build/collections .venv/bin/python bench/nvidia_mig_bench.py --repeat %d` on %s, Python %s, %s; "
        "%s. Counts come from the simulator's call log; `kept`/`destroyed`/`created` count MIG devices (by MIG UUID) "
        "that survived, vanished or appeared. `naive` = what mig-parted and shell scripts do to a GPU whose layout "
        "differs: destroy all CIs and GIs, then `-cgi` the whole layout largest first without placements, GPU by GPU "
        "(mig-parted itself skips GPUs whose profile counts already match, so its converged case costs only its NVML "
        "reads). Wall time is the median over the repetitions, on 2 CPU cores shared with other test runs (noisy); "
        "one simulator call (`-q -x`, 8 GPUs) takes a median %.0f ms, so the time is dominated by the number of calls."
        % (ARGS.repeat, platform.node() or "host", platform.python_version(), platform.machine(),
           time.strftime("%Y-%m-%d", time.gmtime()), cost * 1000),
        "",
        "| scenario | tool | nvidia-smi calls | mutating | MIG devices kept | destroyed | created | wall time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scen, tool, fig in rows:
        lines.append("| %s | %s | %d | %d | %d | %d | %d | %.2f |" % (
            scen, tool, fig["calls"], fig["mutating"], fig["kept"], fig["destroyed"], fig["created"], fig["seconds"]))
    lines += ["", "Budgets from the issue: converged <= 3 calls per host, from scratch <= 2 + 2 x GPUs = %d." % (2 + 2 * GPUS),
              "From scratch, GPUs that get the same layout share one `-mig` and one `-cgi` call (`-i` takes a comma list), "
              "so the run costs 7 calls whatever the GPU count: the host reads (`-q -x`, `-lgip`, `-lgipp`) and the "
              "verification read (`-q -x`, `-L`) are per host. That is within the budget from 3 GPUs up, but over it on "
              "a 1-GPU (budget 4) or 2-GPU (budget 6) node.",
              END, ""]
    write_section(BEGIN, END, "\n".join(lines))


if __name__ == "__main__":
    PARSER = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    PARSER.add_argument("--repeat", type=int, default=3)
    ARGS = PARSER.parse_args()
    sys.exit(main())
