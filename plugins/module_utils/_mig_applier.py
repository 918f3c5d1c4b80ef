# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line of the boot applier ``gpu-slicing-mig-apply`` (stdlib only, Python >= 3.9, no Ansible).

``hacking/build_applier.py`` bundles this file and every ``module_utils`` file it imports, byte for byte,
into ``roles/mig_partition/files/gpu-slicing-mig-apply``: one Python file that the role's boot unit and the
Karpenter user data run. It calls ``_mig.apply.reconcile`` -- the entry point of the ``nvidia_mig`` module --
so planner, placements, busy checks, rollback and the persisted file are the module's, line for line.

    gpu-slicing-mig-apply --config all-1g.10gb                      # a built-in mig-parted label
    gpu-slicing-mig-apply --config-file F --config LABEL            # a label of a mig-parted v1 file
    gpu-slicing-mig-apply --layout 3g.40gb,2g.20gb,1g.10gb:2        # every MIG-capable GPU
    gpu-slicing-mig-apply --mig-mode disabled

Exit status: 0 applied (or nothing to do), 1 failed (the message says what changed and the state left),
2 bad arguments (nothing changed), 3 applied but a MIG mode change waits for a reboot.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import sys

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import apply, persist, render

PROG = "gpu-slicing-mig-apply"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REBOOT = 0, 1, 2, 3


def parse_layout(text):
    """``3g.40gb,1g.10gb:2`` -> {"3g.40gb": 1, "1g.10gb": 2} (order kept); ``""`` -> {} (MIG on, no instances)."""
    out = {}
    for item in [part.strip() for part in text.split(",") if part.strip()]:
        name, _sep, count = item.partition(":")
        try:
            number = int(count) if count else 1
        except ValueError:
            raise argparse.ArgumentTypeError("layout item %r: the count after ':' must be an integer" % item)
        out[name.strip()] = out.get(name.strip(), 0) + number
    return out


def argument_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Apply a MIG layout to this node's GPUs with the planner of gpu_slicing.eks.nvidia_mig.")
    what = parser.add_argument_group("what to apply (like the nvidia_mig options)")
    what.add_argument("--config", help="mig-parted label: built-in (all-1g.10gb, all-balanced ...) or of --config-file")
    what.add_argument("--config-file", help="mig-parted v1 file (YAML or JSON)")
    what.add_argument("--layout", type=parse_layout, help="profiles of every GPU: 3g.40gb,2g.20gb,1g.10gb:2")
    what.add_argument("--mig-mode", choices=apply.MIG_MODES)
    what.add_argument("--gpus", help="comma-separated GPU indexes, UUIDs or PCI bus ids (default: all MIG-capable)")
    how = parser.add_argument_group("how")
    how.add_argument("--nvidia-smi", default="/usr/bin/nvidia-smi", help="nvidia-smi executable (%(default)s)")
    how.add_argument("--persist-path", default=persist.DEFAULT_PATH,
                     help="file the boot unit re-applies after a reboot (%(default)s)")
    how.add_argument("--no-persist", dest="persist", action="store_false", help="do not write --persist-path")
    how.add_argument("--allow-gpu-reset", action="store_true",
                     help="reset Ampere GPUs so a MIG mode change takes effect now (safe before kubelet starts)")
    how.add_argument("--force", action="store_true", help="skip the busy check (the driver still refuses busy slices)")
    how.add_argument("--check", action="store_true", help="only read the GPUs and print what would be done")
    how.add_argument("--timeout", type=float, default=300.0, help="seconds per nvidia-smi call (%(default)s)")
    how.add_argument("--json", action="store_true", help="print the result as JSON (the nvidia_mig return values)")
    return parser


def request_from(args):
    return apply.ApplyRequest(
        gpus=[g.strip() for g in args.gpus.split(",") if g.strip()] if args.gpus else None,
        mig_mode=args.mig_mode, layout=args.layout, config=args.config, config_file=args.config_file,
        force=args.force, allow_gpu_reset=args.allow_gpu_reset, persist=args.persist,
        persist_path=args.persist_path, check_mode=args.check)


def _say(stream, text):
    stream.write("%s: %s\n" % (PROG, text))
    stream.flush()


def report(result, stream, check=False):
    """One line per GPU (the module's diagram) and one summary line."""
    for gpu in result.gpus:
        _say(stream, render.gpu_diagram(gpu))
    for skipped in result.skipped_gpus:
        _say(stream, "GPU %s skipped: %s" % (skipped.get("index"), skipped.get("reason")))
    verb = ("would change" if check else "changed") if result.changed else "already as desired"
    reboot = "; a reboot is required" if result.reboot_required else ""
    _say(stream, "%s (%d nvidia-smi calls)%s" % (verb, result.nvidia_smi_calls, reboot))


def main(argv=None, stdout=None, stderr=None):
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = argument_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    request = request_from(args)
    try:
        path = smi.resolve_path(args.nvidia_smi)
        runner = smi.NvidiaSmi(smi.subprocess_run_command(timeout=args.timeout), path=path)
        result = apply.reconcile(runner, request)
    except apply.ApplyError as exc:
        _say(stderr, "FAILED: %s" % exc)
        if args.json:
            stdout.write(json.dumps(dict(exc.to_dict(), failed=True, msg=str(exc)), sort_keys=True) + "\n")
        return EXIT_FAILED
    except smi.NvidiaSmiError as exc:
        _say(stderr, "FAILED before any change: %s" % exc)
        return EXIT_FAILED
    if args.json:
        stdout.write(json.dumps(result.to_dict(), sort_keys=True) + "\n")
    else:
        report(result, stdout, check=args.check)
    return EXIT_REBOOT if result.reboot_required and not args.check else EXIT_OK
