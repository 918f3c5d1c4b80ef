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

The Ampere table (issue 14) runs this checkout's module and the module of the commit before issue 14
(``OLD_COMMIT``, extracted with ``git archive`` and run in a subprocess) against the same corrected simulator:
an idle bare-metal A100 switches MIG mode at once, an A100 held by a client or in a VM keeps it pending.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import itertools
import json
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OLD_COMMIT = "482cd38"  # main before the apply move and issue 14
AMPERE_NOTE = (
    'Reading it: with an idle bare-metal A100 the old module asked for a reboot and created nothing '
    '(`allow_gpu_reset=false`) or ran a needless `-r` (`true`); with two GPUs held by a client, or in a '
    'VM, it failed and left the GPUs in MIG mode without instances or pending without saying so '
    '(`reboot_required` no). Now the idle case costs the same 7 calls as on Hopper with no reset and no '
    'reboot; pending GPUs get one `-r` (the refused batch is not retried for the GPUs its answer names), '
    'are reported (`reboot_required`, `mig_mode.change_pending`) and their instances are created by the '
    'boot-time apply; the GPUs that could switch are sliced in the same run.'
)
BEGIN = "<!-- nvidia_mig bench: begin -->"
END = "<!-- nvidia_mig bench: end -->"
GPUS = 8
BALANCED = {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}
PARTIAL = [("3g.40gb", 4), ("1g.10gb", 2), ("1g.10gb", 3)]  # balanced minus its 2g.20gb


def run_layout(node, workdir, layout, check=False):
    args = {"layout": layout, "nvidia_smi_path": node.write_wrapper(os.path.join(workdir, "nvidia-smi")),
            "persist_path": os.path.join(workdir, "mig-layout.yaml"), "_ansible_check_mode": check}
    return run_module(nvidia_mig.main, args)


_OLD_RUNNER = """
import json, sys
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gpu_slicing.eks.plugins.modules import nvidia_mig
with patch_module_args(json.loads(sys.argv[1])):
    try:
        nvidia_mig.main()
    except SystemExit:
        pass
"""


def old_collection(workdir):
    """The old commit's plugins as a collection tree (for its module only; it runs in its own process)."""
    root = os.path.join(workdir, "old")
    dest = os.path.join(root, "ansible_collections", "gpu_slicing", "eks")
    if not os.path.isdir(dest):
        os.makedirs(dest)
        archive = subprocess.run(["git", "-C", ROOT, "archive", OLD_COMMIT, "plugins"], stdout=subprocess.PIPE, check=True)
        subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)
    return root


def run_old(node, workdir, args):
    """(result, seconds) of the old commit's nvidia_mig against ``node``."""
    args = dict(args, nvidia_smi_path=node.write_wrapper(os.path.join(os.path.dirname(node.path), "nvidia-smi")),
                persist_path=os.path.join(os.path.dirname(node.path), "mig-layout-old.yaml"))
    env = dict(os.environ, PYTHONPATH=old_collection(workdir))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _OLD_RUNNER, json.dumps(args)], env=env, stdout=subprocess.PIPE,
                          universal_newlines=True, check=False)
    elapsed = time.perf_counter() - start
    return json.loads(proc.stdout.strip().splitlines()[-1]), elapsed


def ampere_rows(workdir):
    """issue 14: 8 x A100-40GB from scratch to 2 x 3g.20gb, old commit vs this checkout, same simulator."""
    layout = {"3g.20gb": 2}
    cases = [
        ("idle, bare metal", {}, False),
        ("idle, bare metal", {}, True),
        ("2 GPUs held by a client (DCGM)", {"clients": [1, 2]}, True),
        ("VM without GPU reset", {"no_reset": True}, True),
    ]
    rows = []
    for label, env, reset in cases:
        for tool in ("old (%s)" % OLD_COMMIT, "nvidia_mig"):
            path = os.path.join(workdir, "ampere-%d-%s.json" % (len(rows), tool.split()[0]))
            node = sim.SimNode.create(path, model="a100-40gb", gpus=GPUS, uuid_seed="ampere",
                                      reset_supported=not env.get("no_reset"))
            for gpu in env.get("clients", []):
                node.set_gpu(gpu, clients=["nv-hostengine"])
            node.clear_calls()
            args = {"layout": layout, "allow_gpu_reset": reset, "_ansible_check_mode": False}
            if tool == "nvidia_mig":
                result, seconds = run_module_any(nvidia_mig.main, dict(
                    args, nvidia_smi_path=node.write_wrapper(os.path.join(workdir, "a-nvidia-smi")),
                    persist_path=os.path.join(workdir, "a-mig-layout.yaml")))
            else:
                result, seconds = run_old(node, workdir, args)
            calls = node.calls()
            state = node.state()["gpus"]
            rows.append({
                "case": label, "reset": reset, "tool": tool, "calls": len(calls),
                "mutating": sum(1 for c in calls if c["mutating"]),
                "resets": sum(1 for c in calls if c["argv"][:1] == ["-r"]),
                "failed": bool(result.get("failed")),
                "reboot_required": bool(result.get("reboot_required")),
                "in_mig": sum(1 for g in state if g["mig_current"]),
                "sliced": sum(1 for g in state if len(g["gpu_instances"]) == 2),
                "seconds": seconds,
            })
    return rows


def run_module_any(main, args):
    """Like _results.run_module, but a failed run is a result too."""
    try:
        return run_module(main, args)
    except RuntimeError as exc:
        return {"failed": True, "msg": str(exc)}, 0.0


def run_naive(node, layout):
    """Destroy everything and recreate the layout largest first without placements, per GPU."""
    smi = node.executable
    env = node.env()
    start = time.perf_counter()
    names = sorted(layout, key=lambda n: -int(n.split("g.")[0]))
    tuples = ",".join(n for n in names for dummy in range(layout[n]))
    subprocess.run([smi, "-q", "-x"], env=env, stdout=subprocess.DEVNULL, check=True)  # mig-parted asserts first
    subprocess.run([smi, "-mig", "1"], env=env, stdout=subprocess.DEVNULL, check=True)
    orders = sorted(set(itertools.permutations(tuples.split(","))), key=lambda o: o != tuple(tuples.split(",")))
    for gpu in range(GPUS):
        # like mig-parted: largest first; when the driver's placement choice strands capacity ("Insufficient
        # Resources", now that the simulator's choices are unpredictable like the driver's), clear and try the
        # next ordering
        for order in orders:
            for argv in (["mig", "-i", str(gpu), "-dci"], ["mig", "-i", str(gpu), "-dgi"]):
                subprocess.run([smi] + argv, env=env, stdout=subprocess.DEVNULL, check=False)  # rc 6 when empty
            done = subprocess.run([smi, "mig", "-i", str(gpu), "-cgi", ",".join(order), "-C"], env=env,
                                  stdout=subprocess.DEVNULL, check=False)
            if done.returncode == 0:
                break
        else:
            raise RuntimeError("naive apply found no ordering for GPU %d" % gpu)
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
    ampere = ampere_rows(workdir)
    write_results(rows, call_cost(workdir), ampere)
    for row in rows + ampere:
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


def write_results(rows, cost, ampere):
    lines = [
        BEGIN,
        "## nvidia_mig: nvidia-smi invocations and wall time (8 x H100, simulated)",
        "",
        "`PYTHONPATH=build/collections .venv/bin/python bench/nvidia_mig_bench.py --repeat %d` on %s, Python %s, %s; "
        "%s. Counts come from the simulator's call log; `kept`/`destroyed`/`created` count MIG devices (by MIG UUID) "
        "that survived, vanished or appeared. `naive` = what mig-parted and shell scripts do to a GPU whose layout "
        "differs: destroy all CIs and GIs, then `-cgi` the whole layout largest first without placements, GPU by GPU, "
        "clearing and trying the next ordering when the driver's (seeded, unpredictable) placement choice strands "
        "capacity, as mig-parted does "
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
              "",
              "### Ampere MIG mode changes (issue 14): 8 x A100-40GB, MIG off -> 2 x 3g.20gb, old commit vs now",
              "",
              "Both modules run against the same corrected simulator (an idle bare-metal A100 switches at once, one held "
              "by a client or in a VM stays pending). `old` is commit %s run in a subprocess (its wall time includes "
              "the Python start-up). `sliced` = GPUs that end with their 2 instances; `in MIG` = GPUs in MIG mode."
              % OLD_COMMIT,
              "",
              "| case | allow_gpu_reset | tool | calls | mutating | `-r` calls | failed | reboot_required | in MIG | sliced "
              "| wall time (s) |",
              "|---|---|---|---:|---:|---:|---|---|---:|---:|---:|"]
    for row in ampere:
        lines.append("| %s | %s | %s | %d | %d | %d | %s | %s | %d | %d | %.2f |" % (
            row["case"], "true" if row["reset"] else "false", row["tool"], row["calls"], row["mutating"], row["resets"],
            "yes" if row["failed"] else "no", "yes" if row["reboot_required"] else "no", row["in_mig"], row["sliced"],
            row["seconds"]))
    lines += ["", AMPERE_NOTE, "", END, ""]
    write_section(BEGIN, END, "\n".join(lines))


if __name__ == "__main__":
    PARSER = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    PARSER.add_argument("--repeat", type=int, default=3)
    ARGS = PARSER.parse_args()
    sys.exit(main())
