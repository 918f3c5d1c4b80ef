# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX / Automation Controller job slicing on the stand-in world (tests/support/world.py), for tests and bench.

AWX splits the inventory's hosts into N slices and runs the playbook once per slice, at the same time, each with an
inventory that holds only its hosts (the implicit localhost stays); every slice gets the same extra vars.

    paths = slicing.slice_inventories(world.write_static_inventory(), 4)
    codes, logs = slicing.run_slices(world, paths, ["--extra-vars", "gpu_slicing_run_id=42"])
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import subprocess
import sys

from . import world as stand_in


def slice_inventories(inventory_path, count, group="gpu_nodes"):
    """Write ``count`` inventories next to ``inventory_path`` (a ``World.write_static_inventory`` file), slice i with
    the hosts sorted by name at positions i, i+count, ... of ``group``; returns their paths."""
    with open(inventory_path) as handle:
        inventory = json.load(handle)
    hosts = inventory["all"]["children"][group]["hosts"]
    names = sorted(hosts)
    if not 1 <= count <= len(names):
        raise ValueError("%d slices for %d hosts" % (count, len(names)))
    paths = []
    for index in range(count):
        part = copy.deepcopy(inventory)
        part["all"]["children"][group]["hosts"] = dict((name, hosts[name]) for name in names[index::count])
        path = "%s.slice-%d-of-%d.json" % (os.path.splitext(inventory_path)[0], index + 1, count)
        with open(path, "w") as handle:
            json.dump(part, handle, indent=2)
        paths.append(path)
    return paths


def playbook_argv(inventory, playbook=stand_in.SITE, extra_args=()):
    """ansible-playbook of this Python, one batch (serial is a play keyword: extra vars only). ``python -m
    ansible.cli.playbook``: ansible-test's --venv leg has no ansible-playbook script beside python."""
    return [sys.executable, "-m", "ansible.cli.playbook", "-i", inventory, playbook,
            "--extra-vars", "mig_partition_serial=100%"] + list(extra_args)


def run_slices(world, inventories, extra_args=(), env=None, playbook=stand_in.SITE, label="slice", slice_env=None):
    """Start one ansible-playbook per inventory at the same time and wait for all; returns (return codes, log
    paths WORKDIR/<label>-<i>.log). ``env``: added to ``world.ansible_env()``; ``slice_env``: a function of the
    slice number (1..N) returning what else that slice's environment gets (e.g. its own output file)."""
    running = []
    try:
        for index, inventory in enumerate(inventories):
            environment = world.ansible_env()
            environment.update(env or {})
            environment.update(slice_env(index + 1) if slice_env else {})
            log_path = os.path.join(world.workdir, "%s-%d.log" % (label, index + 1))
            with open(log_path, "w") as log:
                proc = subprocess.Popen(playbook_argv(inventory, playbook, extra_args), env=environment, cwd=world.workdir,
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            running.append((proc, log_path))
        return [proc.wait() for proc, _log in running], [log for _proc, log in running]
    finally:
        for proc, _log in running:  # interrupted: leave no playbook behind
            if proc.poll() is None:
                proc.kill()
                proc.wait()
