# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placeholder for `make demo` until the demo lands: says what the demo will do, runs nothing."""

from __future__ import annotations

import sys

PLAN = """\
gpu_slicing.eks demo (placeholder - the demo itself is not written yet)

The demo will, on this machine, without a GPU, a cluster or AWS:
  1. start moto (EC2 over HTTP) and seed GPU instances (p5.48xlarge, p4d.24xlarge) tagged for a cluster
  2. start the Kubernetes API emulator with the real Karpenter v1 CRDs
  3. make network-namespace SSH hosts that play the GPU nodes, each with the nvidia-smi simulator
  4. discover the GPU nodes from EC2 tags (inventory plugin gpu_slicing.eks.gpu_nodes)
  5. plan and apply a MIG layout per node (gpu_slicing.eks.nvidia_mig), placement-aware and idempotent
  6. create the Karpenter NodePool / EC2NodeClass / NodeOverlay for the MIG slices
     (gpu_slicing.eks.karpenter_nodepool), then show the capacity Karpenter will see
"""


def main():
    print(PLAN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
