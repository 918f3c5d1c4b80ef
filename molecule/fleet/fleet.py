# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring the molecule "fleet" world up and down: the stand-in world of tests/support/world.py (the one
`make demo` and bench/site_bench.py use), detached so it outlives this process between molecule stages.

    python fleet.py up --dir DIR     # moto with the instances, Kubernetes with their Nodes, one SSH host per
                                     # GPU node with the nvidia-smi simulator, the device-plugin stand-in;
                                     # writes DIR/inventory.yml, DIR/fleet.gpu_nodes.yml and DIR/state.json
    python fleet.py down --dir DIR   # stop everything `up` recorded in DIR/state.json

Nodes: two p5.48xlarge (8x H100 80GB) and one p4d.24xlarge (8x A100 40GB), named as the playbooks expect.
SSH hosts: $GPU_SLICING_SSH_HOSTS or the best available (see tests/support/ssh_hosts.py).
Run with PYTHONPATH=<dir holding ansible_collections>.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import sys

from ansible_collections.gpu_slicing.eks.tests.support import world as stand_in

CLUSTER = "fleet"


def fleet_spec(extra_h100=0):
    return (
        stand_in.Group("gpu", "p5.48xlarge", 2 + extra_h100, "h100-80gb", "p5-mig-1g", None,
                       names=["gpu-h100-a", "gpu-h100-b"] + ["gpu-h100-x%d" % i for i in range(extra_h100)]),
        stand_in.Group("gpu", "p4d.24xlarge", 1, "a100-40gb", "p4d-mig-balanced", None, names=["gpu-a100-a"]),
    )


def up(workdir, extra_h100=0):
    workdir = os.path.abspath(workdir)
    stand_in.clean_leftovers(workdir)
    world = stand_in.World(workdir, fleet=fleet_spec(extra_h100), cluster=CLUSTER, detach=True)
    try:
        world.start()
        inventory = world.write_static_inventory({"mig_partition_max_fail_percentage": 50})
    except BaseException:
        world.teardown()
        raise
    print(json.dumps({"inventory": inventory, "kubeconfig": world.kubeconfig, "ssh_hosts": world.ssh_mode,
                      "kubernetes": world.kube_backend}))


def down(workdir):
    removed = stand_in.clean_leftovers(os.path.abspath(workdir))
    print("stopped: %s" % (", ".join(removed) or "nothing was running"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--dir", required=True)
    parser.add_argument("--extra-h100", type=int, default=0, help="more 8x H100 nodes (bench)")
    args = parser.parse_args(argv)
    if args.command == "up":
        up(args.dir, args.extra_h100)
    else:
        down(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
