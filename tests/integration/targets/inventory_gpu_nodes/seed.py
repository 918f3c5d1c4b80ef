# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed moto with a small EKS fleet: python seed.py <endpoint_url>."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys

from ansible_collections.gpu_slicing.eks.tests.unit.plugins.inventory.ec2_fleet import (
    Node, karpenter_tags, launch, managed_tags)

E1 = "us-east-1"
FLEET = [
    Node("h100-a", E1, "us-east-1a", "172.31.0.10", "p5.48xlarge",
         karpenter_tags("prod", "gpu-h100", nodeclaim="gpu-h100-aaaaa", node_name="ip-172-31-0-10.ec2.internal"), "running"),
    Node("h100-b", E1, "us-east-1b", "172.31.16.10", "p5.48xlarge", karpenter_tags("prod", "gpu-h100"), "running"),
    Node("a100-ng", E1, "us-east-1c", "172.31.32.10", "p4d.24xlarge", managed_tags("prod", "a100-ng"), "running"),
    Node("l4-ng", E1, "us-east-1a", "172.31.0.20", "g6.xlarge", managed_tags("prod", "l4-ng"), "running"),
    Node("cpu", E1, "us-east-1a", "172.31.0.30", "m5.large", karpenter_tags("prod", "default"), "running"),
    Node("dev-h100", E1, "us-east-1a", "172.31.0.40", "p5.48xlarge", karpenter_tags("dev", "gpu-h100"), "running"),
]

if __name__ == "__main__":
    for name, facts in sorted(launch(sys.argv[1], FLEET).items()):
        print(name, facts["instance_id"])
