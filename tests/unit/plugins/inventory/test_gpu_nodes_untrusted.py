# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 tags are written by anyone allowed to tag an instance: gpu_nodes must never let them run as templates.

Real ``ansible-inventory`` and ``ansible-playbook`` in subprocesses against moto over HTTP, on whatever
ansible-core this venv has (``make test-floor`` runs this file on the 2.18 floor, where plain strings from an
inventory plugin are templated recursively). A tag value ``{{ lookup('pipe', 'touch MARKER') }}`` must neither
create MARKER nor be rendered; ``{{ 6 * 7 }}`` must come out as written, never as 42.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import subprocess
import sys

import pytest

from ansible_collections.gpu_slicing.eks.tests.support.moto_server import MotoServer
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.inventory import ec2_fleet
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.inventory.ec2_fleet import Node, karpenter_tags
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.inventory.test_gpu_nodes import (
    ANSIBLE_INVENTORY, E1, Runner, unwrap)

ANSIBLE_PLAYBOOK = [sys.executable, "-m", "ansible.cli.playbook"]
ARITHMETIC = "{{ 6 * 7 }}"


def hostile(marker):
    return "{{ lookup('pipe', 'touch %s') }}" % marker


@pytest.fixture
def hostile_fleet(tmp_path):
    """One Karpenter p5 whose Name (= k8s_node_name and host name), team and nodepool-ish tags are hostile, and two
    NodePools whose names differ only in punctuation (mig-a, mig.a)."""
    marker = tmp_path / "pwned"
    tags = karpenter_tags("evil", "gpu-h100", nodeclaim="gpu-h100-x1", node_name=hostile(marker))
    tags.update({"team": hostile(marker), "math": ARITHMETIC, hostile(marker): "tag key"})
    fleet = [
        Node("evil", E1, "us-east-1a", "172.31.0.10", "p5.48xlarge", tags, "running"),
        Node("mig-a", E1, "us-east-1a", "172.31.0.11", "p5.48xlarge", karpenter_tags("clash", "mig-a"), "running"),
        Node("mig.a", E1, "us-east-1b", "172.31.16.12", "p5.48xlarge", karpenter_tags("clash", "mig.a"), "running"),
    ]
    server = MotoServer().start()
    try:
        launched = ec2_fleet.launch(server.endpoint_url, fleet)
        yield Runner(tmp_path, server.endpoint_url), marker, launched
    finally:
        server.stop()


CONSTRUCTED = (
    "plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: evil\n"
    "hostnames: ['tag:Name', instance-id]\n"
    "compose:\n  owner: ec2_tags.team\n  node: k8s_node_name\n  sum: ec2_tags.math\n"
    "groups:\n  teamed: ec2_tags.team is defined and ec2_tags.team | length > 0\n"
    "keyed_groups:\n  - key: ec2_tags.team\n    prefix: team\n  - key: ec2_tags.math\n    prefix: math\n")


def test_inventory_list_never_templates_tag_values(hostile_fleet):
    runner, marker, launched = hostile_fleet
    inventory = runner.run(CONSTRUCTED)
    assert not marker.exists(), "a tag value ran as a template during ansible-inventory --list"
    name = hostile(marker)
    hostvars = inventory["_meta"]["hostvars"]
    assert list(hostvars) == [name]  # host named after the Name tag, kept verbatim
    host = hostvars[name]
    assert host["k8s_node_name"] == name
    assert host["ec2_tags"]["team"] == name and host["ec2_tags"]["math"] == ARITHMETIC
    assert host["ec2_tags"][name] == "tag key"
    # compose copies the values, it does not render them
    assert (host["owner"], host["node"], host["sum"]) == (name, name, ARITHMETIC)
    assert inventory["teamed"]["hosts"] == [name]
    assert launched["evil"]["instance_id"] == host["instance_id"]


def test_playbook_never_templates_host_name_or_tag_values(hostile_fleet):
    runner, marker, dummy = hostile_fleet
    config = runner.tmp_path / "evil.gpu_nodes.yml"
    config.write_text(CONSTRUCTED)
    playbook = runner.tmp_path / "play.yml"
    playbook.write_text(
        "- name: Use every AWS-derived value\n  hosts: all\n  gather_facts: false\n  connection: local\n  tasks:\n"
        "    - name: Show them\n      ansible.builtin.debug:\n"
        "        msg: 'HOST={{ inventory_hostname }} NODE={{ k8s_node_name }} TEAM={{ ec2_tags.team }} "
        "MATH={{ ec2_tags.math }} SUM={{ sum }} OWNER={{ owner }} NODEPOOL={{ karpenter_nodepool }}'\n")
    proc = subprocess.run(ANSIBLE_PLAYBOOK + ["-i", str(config), str(playbook)], env=runner.env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not marker.exists(), "a tag value ran as a template in a play"
    out = proc.stdout
    name = hostile(marker)
    for label in ("HOST", "NODE", "TEAM", "OWNER"):
        assert "%s=%s" % (label, name) in out, out
    assert "MATH=%s SUM=%s" % (ARITHMETIC, ARITHMETIC) in out and "=42" not in out


def test_nodepools_sharing_a_group_name_warn(hostile_fleet):
    runner, dummy, launched = hostile_fleet
    config = runner.tmp_path / "clash.gpu_nodes.yml"
    config.write_text("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: clash\nhostnames: [instance-id]\n")
    proc = subprocess.run(ANSIBLE_INVENTORY + ["-i", str(config), "--list"], env=runner.env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    inventory = unwrap(json.loads(proc.stdout))
    assert sorted(inventory["nodepool_mig_a"]["hosts"]) == sorted([launched["mig-a"]["instance_id"], launched["mig.a"]["instance_id"]])
    stderr = " ".join(proc.stderr.split())
    assert "karpenter_nodepool 'mig-a' and 'mig.a' both map to group nodepool_mig_a" in stderr, stderr
    assert stderr.count("both map to group") == 1  # once per clash, not once per host
    # the host variable still tells them apart
    pools = dict((h, v["karpenter_nodepool"]) for h, v in inventory["_meta"]["hostvars"].items())
    assert sorted(pools.values()) == ["mig-a", "mig.a"]
