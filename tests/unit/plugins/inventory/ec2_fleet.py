# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed moto (over HTTP, with boto3) with EKS-like EC2 fleets, tagged the way Karpenter, managed node groups and
self-managed node groups tag their instances (Karpenter's ``GetTags``, aws/karpenter-provider-aws
``pkg/utils/utils.go``, and its nodeclaim tagging controller; docs/inventory.md).

Used by the gpu_nodes inventory tests and by bench/inventory_bench.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import random

import boto3

Node = collections.namedtuple("Node", "name region az ip instance_type tags state")


def karpenter_tags(cluster, nodepool, nodeclass="gpu", nodeclaim=None, node_name=None):
    """Tags at launch; ``nodeclaim``/``node_name`` model the tagging controller after registration."""
    tags = {
        "kubernetes.io/cluster/" + cluster: "owned",
        "eks:eks-cluster-name": cluster,
        "karpenter.sh/nodepool": nodepool,
        "karpenter.k8s.aws/ec2nodeclass": nodeclass,
    }
    if nodeclaim:
        tags["karpenter.sh/nodeclaim"] = nodeclaim
    if node_name:
        tags["Name"] = node_name
    return tags


def managed_tags(cluster, nodegroup, with_cluster_key=True):
    """Managed node group tags (propagated from its Auto Scaling group)."""
    tags = {"eks:cluster-name": cluster, "eks:nodegroup-name": nodegroup, "Name": "%s-%s-Node" % (cluster, nodegroup)}
    if with_cluster_key:
        tags["kubernetes.io/cluster/" + cluster] = "owned"
    return tags


def self_managed_tags(cluster, name):
    return {"kubernetes.io/cluster/" + cluster: "owned", "Name": name}


def ec2_client(endpoint_url, region):
    return boto3.client("ec2", region_name=region, endpoint_url=endpoint_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _tag_spec(tags):
    return [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}]


def launch(endpoint_url, nodes):
    """Run every node (one reservation each, fixed private IP in the AZ's default subnet); stop the stopped ones.

    Returns {name: {"instance_id", "launch_time", "private_dns_name", "public_ip_address"}}.
    """
    clients, subnets, images = {}, {}, {}
    launched = {}
    for node in nodes:
        if node.region not in clients:
            ec2 = clients[node.region] = ec2_client(endpoint_url, node.region)
            images[node.region] = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            subnets[node.region] = dict((s["AvailabilityZone"], s["SubnetId"]) for s in ec2.describe_subnets()["Subnets"]
                                        if s.get("DefaultForAz"))
        ec2 = clients[node.region]
        reply = ec2.run_instances(ImageId=images[node.region], InstanceType=node.instance_type, MinCount=1, MaxCount=1,
                                  SubnetId=subnets[node.region][node.az], PrivateIpAddress=node.ip,
                                  TagSpecifications=_tag_spec(node.tags))
        instance = reply["Instances"][0]
        if node.state == "stopped":
            ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
        launched[node.name] = {
            "instance_id": instance["InstanceId"],
            "launch_time": instance["LaunchTime"].isoformat(),
            "private_dns_name": instance["PrivateDnsName"],
            "public_ip_address": instance.get("PublicIpAddress"),
        }
    return launched


# A bench fleet: GPU and CPU nodes of two clusters, Karpenter and managed, in reservations of 1-4 instances.
BENCH_MIG_TYPES = ("p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge", "p5e.48xlarge")
BENCH_OTHER_GPU_TYPES = ("g5.xlarge", "g6.xlarge")
BENCH_CPU_TYPES = ("m5.large", "c5.xlarge")


def seed_bench_fleet(endpoint_url, region, total, seed=7):
    """Launch ``total`` instances in reservations of 1-4; return per-kind counts of what was launched.

    Mix: 50% MIG GPUs (p4d/p4de/p5/p5e), 15% other GPUs (g5/g6), 35% CPU; clusters "prod" 80% / "dev" 20%;
    70% of nodes Karpenter, 30% managed node groups; 5% stopped.
    """
    rnd = random.Random(seed)
    ec2 = ec2_client(endpoint_url, region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:3]
    counts = collections.Counter()
    launched = 0
    serial = 0
    while launched < total:
        size = min(rnd.choice((1, 2, 3, 4)), total - launched)
        kind = rnd.random()
        if kind < 0.50:
            kind, instance_type = "mig", rnd.choice(BENCH_MIG_TYPES)
        elif kind < 0.65:
            kind, instance_type = "gpu", rnd.choice(BENCH_OTHER_GPU_TYPES)
        else:
            kind, instance_type = "cpu", rnd.choice(BENCH_CPU_TYPES)
        cluster = "prod" if rnd.random() < 0.8 else "dev"
        serial += 1
        if rnd.random() < 0.7:
            pool = "%s-%s" % (kind, instance_type.split(".")[0])
            tags = karpenter_tags(cluster, pool, nodeclaim="%s-%05d" % (pool, serial), node_name="node-%05d" % serial)
            scheme = "karpenter"
        else:
            tags = managed_tags(cluster, "%s-ng" % instance_type.split(".")[0])
            scheme = "managed"
        reply = ec2.run_instances(ImageId=image, InstanceType=instance_type, MinCount=size, MaxCount=size,
                                  Placement={"AvailabilityZone": rnd.choice(zones)}, TagSpecifications=_tag_spec(tags))
        stopped = []
        for instance in reply["Instances"]:
            state = "stopped" if rnd.random() < 0.05 else "running"
            if state == "stopped":
                stopped.append(instance["InstanceId"])
            counts[(cluster, kind, scheme, state)] += 1
        if stopped:
            ec2.stop_instances(InstanceIds=stopped)
        counts["reservations"] += 1
        launched += size
    return counts
