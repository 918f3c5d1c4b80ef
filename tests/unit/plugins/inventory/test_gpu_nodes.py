# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpu_slicing.eks.gpu_nodes end to end: ``ansible-inventory`` in a subprocess against moto in server mode over HTTP.

The fleet below is seeded with boto3; every expectation is written out by hand (groups, host vars), only the
instance ids and launch times come from RunInstances.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from ansible.release import __version__ as ansible_version

from ansible_collections.gpu_slicing.eks.tests.support.moto_server import MotoServer
from ansible_collections.gpu_slicing.eks.tests.support.ports import free_port
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.inventory import ec2_fleet
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.inventory.aws_fault_proxy import FaultProxy
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.inventory.ec2_fleet import (
    Node, karpenter_tags, managed_tags, self_managed_tags)

# <root>/ansible_collections/gpu_slicing/eks/tests/unit/plugins/inventory/ec2_fleet.py, as imported
COLLECTIONS_ROOT = os.path.abspath(os.path.join(os.path.dirname(ec2_fleet.__file__), *([os.pardir] * 7)))
# `python -m` works in a plain venv and under ansible-test, whose venvs get ansible through PYTHONPATH only
ANSIBLE_INVENTORY = [sys.executable, "-m", "ansible.cli.inventory"]
# The ansible-core that ANSIBLE_INVENTORY runs (same interpreter). The floor leg (make test-floor) runs this file on
# 2.18, whose CLI differs from 2.19+ in three ways the helpers below absorb:
# - ansible-inventory has no --flush-cache (2.19 added it): flushing an inventory cache there means removing its files;
# - the plugin's error reaches stderr inside "[WARNING]:  * Failed to parse FILE with auto plugin: MESSAGE", wrapped
#   at 79 columns (Display uses the TTY width, or 79 when stdout is not a TTY, whatever COLUMNS says), where 2.19+
#   prints MESSAGE on a line of its own;
# - compose values are rendered as strings (no native Jinja2 types unless jinja2_native is set), where 2.19+ keeps
#   the expression's type.
CORE = tuple(int(part) for part in re.findall(r"\d+", ansible_version)[:2])
NATIVE_COMPOSE = CORE >= (2, 19)

E1, W2 = "us-east-1", "us-west-2"
FLEET = [
    # cluster "prod", us-east-1
    Node("karp-p5", E1, "us-east-1a", "172.31.0.10", "p5.48xlarge",
         karpenter_tags("prod", "gpu-h100", nodeclaim="gpu-h100-7xk2p", node_name="ip-172-31-0-10.ec2.internal"), "running"),
    Node("karp-p5e-fresh", E1, "us-east-1b", "172.31.16.11", "p5e.48xlarge", karpenter_tags("prod", "gpu-h200"), "running"),
    Node("karp-p4d", E1, "us-east-1a", "172.31.0.12", "p4d.24xlarge",
         karpenter_tags("prod", "gpu-a100", nodeclass="a100", nodeclaim="gpu-a100-q8v4d", node_name="ip-172-31-0-12.ec2.internal"),
         "running"),
    Node("karp-p4de", E1, "us-east-1c", "172.31.32.13", "p4de.24xlarge", karpenter_tags("prod", "gpu-a100", nodeclass="a100"),
         "running"),
    Node("mng-p5", E1, "us-east-1b", "172.31.16.14", "p5.4xlarge", managed_tags("prod", "h100-small"), "running"),
    Node("mng-p4d-no-k8s-tag", E1, "us-east-1c", "172.31.32.15", "p4d.24xlarge",
         managed_tags("prod", "a100-ng", with_cluster_key=False), "running"),
    Node("self-p5", E1, "us-east-1a", "172.31.0.16", "p5.48xlarge", self_managed_tags("prod", "self-gpu"), "running"),
    Node("karp-g5", E1, "us-east-1a", "172.31.0.17", "g5.xlarge", karpenter_tags("prod", "gpu-small"), "running"),
    Node("mng-g6", E1, "us-east-1b", "172.31.16.18", "g6.xlarge", managed_tags("prod", "l4-ng"), "running"),
    Node("karp-cpu", E1, "us-east-1a", "172.31.0.19", "m5.large", karpenter_tags("prod", "default", nodeclass="default"),
         "running"),
    Node("karp-p5-stopped", E1, "us-east-1c", "172.31.32.20", "p5.48xlarge", karpenter_tags("prod", "gpu-h100"), "stopped"),
    # cluster "dev", same region: must not leak into prod
    Node("dev-karp-p5", E1, "us-east-1a", "172.31.0.30", "p5.48xlarge", karpenter_tags("dev", "gpu-h100"), "running"),
    Node("dev-mng-p4d", E1, "us-east-1b", "172.31.16.31", "p4d.24xlarge", managed_tags("dev", "a100-ng"), "running"),
    # no cluster at all
    Node("lone-p5", E1, "us-east-1c", "172.31.32.40", "p5.48xlarge", {"Name": "lone-gpu"}, "running"),
    # cluster "prod", us-west-2
    Node("west-karp-p5", W2, "us-west-2a", "172.31.0.50", "p5.48xlarge", karpenter_tags("prod", "gpu-h100"), "running"),
]
NODES = dict((node.name, node) for node in FLEET)

# Per GPU instance type: (gpu_name, gpu_count, gpu_memory_mib, gpu_model, mig_capable) as EC2 + the catalog say.
GPU = {
    "p5.48xlarge": ("H100", 8, 81920, "h100-80gb", True),
    "p5.4xlarge": ("H100", 1, 81920, "h100-80gb", True),
    "p5e.48xlarge": ("H200", 8, 144384, "h200-141gb", True),
    "p4d.24xlarge": ("A100", 8, 40960, "a100-40gb", True),
    "p4de.24xlarge": ("A100", 8, 81920, "a100-80gb", True),
    "g5.xlarge": ("A10G", 1, 22888, "a10g-24gb", False),
    "g6.xlarge": ("L4", 1, 22888, "l4-24gb", False),
}


def dns(node):
    suffix = "ec2.internal" if node.region == E1 else "%s.compute.internal" % node.region
    return "ip-%s.%s" % (node.ip.replace(".", "-"), suffix)


def expected_vars(name, launched, k8s_node_name=None, **extra):
    """The host vars the plugin must produce for fleet node ``name`` (written out, not computed by the plugin)."""
    node = NODES[name]
    gpu_name, gpu_count, gpu_memory_mib, gpu_model, mig_capable = GPU[node.instance_type]
    result = {
        "ansible_host": node.ip,
        "instance_id": launched[name]["instance_id"],
        "instance_type": node.instance_type,
        "instance_state": node.state,
        "availability_zone": node.az,
        "private_ip_address": node.ip,
        "private_dns_name": dns(node),
        "k8s_node_name": k8s_node_name or dns(node),
        "gpu_name": gpu_name,
        "gpu_count": gpu_count,
        "gpu_memory_mib": gpu_memory_mib,
        "gpu_model": gpu_model,
        "mig_capable": mig_capable,
        "karpenter_nodepool": node.tags.get("karpenter.sh/nodepool"),
        "ec2nodeclass": node.tags.get("karpenter.k8s.aws/ec2nodeclass"),
        "node_group": node.tags.get("eks:nodegroup-name"),
        "ec2_tags": dict(node.tags),
        "launch_time": launched[name]["launch_time"],
    }
    result.update(extra)
    return result


def squeezed(text):
    """``text`` without any whitespace: compares a message however ansible-core wrapped it."""
    return "".join(text.split())


def plugin_errors(stderr):
    """The gpu_nodes error messages in ansible-inventory's stderr (2.18: taken out of its wrapped warnings)."""
    if CORE >= (2, 19):
        return [line for line in stderr.splitlines() if line.startswith("gpu_nodes: ")]
    found = []
    for entry in re.split(r"\[WARNING\]:|ERROR!", stderr):
        match = re.search(r"with auto\s+plugin:\s+(gpu_nodes:.*)", entry, re.S)
        if match:
            found.append(match.group(1).strip())
    return found


def unwrap(value):
    """ansible-inventory 2.19 marks plugin strings as {"__ansible_unsafe": ...} in its JSON; compare plain values."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return dict((k, unwrap(v)) for k, v in value.items())
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def groups_of(inventory):
    """{group: sorted hosts} for every non-empty group except the implicit ones."""
    return dict((name, sorted(data["hosts"])) for name, data in inventory.items()
                if name not in ("_meta", "all", "ungrouped") and data.get("hosts"))


def _moto_scope(fixture_name, config):
    """One seeded moto per module, except under ansible-test: it runs each test in a forked process that ends
    with os._exit, so a module-scoped server would never be stopped; per test, teardown runs in the fork."""
    return "function" if "ansible_forked" in os.environ.get("PYTEST_PLUGINS", "") else "module"


@pytest.fixture(scope=_moto_scope)
def moto():
    server = MotoServer().start()
    try:
        launched = ec2_fleet.launch(server.endpoint_url, FLEET)
        yield server, launched
    finally:
        server.stop()


class Runner:
    """Writes an inventory file and runs ``ansible-inventory --list`` on it with a clean environment."""

    def __init__(self, tmp_path, endpoint_url):
        self.tmp_path = tmp_path
        self.env = dict(
            PATH=os.environ.get("PATH", "/usr/bin:/bin"),
            HOME=str(tmp_path),
            ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT,
            ANSIBLE_INVENTORY_UNPARSED_FAILED="true",
            ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
            ANSIBLE_NOCOLOR="1",
            AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_ENDPOINT_URL=endpoint_url,
            AWS_DEFAULT_REGION=E1,
        )
        if os.environ.get("PYTHONPATH"):
            self.env["PYTHONPATH"] = os.environ["PYTHONPATH"]

    def run(self, config, name="test.gpu_nodes.yml", env=None, args=(), expect_ok=True, flush_cache=None):
        """``flush_cache``: the cache directory to flush first (--flush-cache on 2.19+, its files removed on 2.18)."""
        if flush_cache is not None:
            if CORE >= (2, 19):
                args = list(args) + ["--flush-cache"]
            else:
                shutil.rmtree(str(flush_cache))
        path = self.tmp_path / name
        path.write_text(config)
        run_env = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                run_env.pop(key, None)
            else:
                run_env[key] = value
        proc = subprocess.run(ANSIBLE_INVENTORY + ["-i", str(path), "--list"] + list(args), env=run_env,
                              capture_output=True, text=True, timeout=300, check=False)
        if expect_ok:
            assert proc.returncode == 0, proc.stderr
            return unwrap(json.loads(proc.stdout))
        assert proc.returncode != 0, proc.stdout
        return proc


@pytest.fixture
def runner(tmp_path, moto):
    return Runner(tmp_path, moto[0].endpoint_url)


def test_prod_cluster_default_options(runner, moto):
    launched = moto[1]
    inventory = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: prod\n")
    hosts = {
        "ip-172-31-0-10.ec2.internal": expected_vars("karp-p5", launched, k8s_node_name="ip-172-31-0-10.ec2.internal"),
        "ip-172-31-16-11.ec2.internal": expected_vars("karp-p5e-fresh", launched),
        "ip-172-31-0-12.ec2.internal": expected_vars("karp-p4d", launched),
        "ip-172-31-32-13.ec2.internal": expected_vars("karp-p4de", launched),
        "ip-172-31-16-14.ec2.internal": expected_vars("mng-p5", launched),
        "ip-172-31-32-15.ec2.internal": expected_vars("mng-p4d-no-k8s-tag", launched),
        "ip-172-31-0-16.ec2.internal": expected_vars("self-p5", launched),
    }
    assert inventory["_meta"]["hostvars"] == hosts
    # spot checks of the hand-written table against the raw facts it encodes
    assert hosts["ip-172-31-16-14.ec2.internal"]["node_group"] == "h100-small"
    assert hosts["ip-172-31-16-14.ec2.internal"]["gpu_count"] == 1
    assert hosts["ip-172-31-32-13.ec2.internal"]["gpu_model"] == "a100-80gb"
    all_hosts = sorted(hosts)
    assert groups_of(inventory) == {
        "gpu_nodes": all_hosts,
        "mig_capable": all_hosts,
        "gpu_h100_80gb": ["ip-172-31-0-10.ec2.internal", "ip-172-31-0-16.ec2.internal", "ip-172-31-16-14.ec2.internal"],
        "gpu_h200_141gb": ["ip-172-31-16-11.ec2.internal"],
        "gpu_a100_40gb": ["ip-172-31-0-12.ec2.internal", "ip-172-31-32-15.ec2.internal"],
        "gpu_a100_80gb": ["ip-172-31-32-13.ec2.internal"],
        "nodepool_gpu_h100": ["ip-172-31-0-10.ec2.internal"],
        "nodepool_gpu_h200": ["ip-172-31-16-11.ec2.internal"],
        "nodepool_gpu_a100": ["ip-172-31-0-12.ec2.internal", "ip-172-31-32-13.ec2.internal"],
        "nodegroup_h100_small": ["ip-172-31-16-14.ec2.internal"],
        "nodegroup_a100_ng": ["ip-172-31-32-15.ec2.internal"],
        "az_us_east_1a": ["ip-172-31-0-10.ec2.internal", "ip-172-31-0-12.ec2.internal", "ip-172-31-0-16.ec2.internal"],
        "az_us_east_1b": ["ip-172-31-16-11.ec2.internal", "ip-172-31-16-14.ec2.internal"],
        "az_us_east_1c": ["ip-172-31-32-13.ec2.internal", "ip-172-31-32-15.ec2.internal"],
    }


def test_non_mig_stopped_and_two_regions(runner, moto):
    launched = moto[1]
    inventory = runner.run(
        "plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1, us-west-2]\ncluster_name: prod\n"
        "include_non_mig: true\ninstance_states: [running, stopped]\nhostnames: [instance-id]\n"
        "ansible_host: private-dns-name\n")
    names = ["karp-p5", "karp-p5e-fresh", "karp-p4d", "karp-p4de", "mng-p5", "mng-p4d-no-k8s-tag", "self-p5",
             "karp-g5", "mng-g6", "karp-p5-stopped", "west-karp-p5"]
    expected = {}
    for name in names:
        node_name = "ip-172-31-0-10.ec2.internal" if name == "karp-p5" else None
        expected[launched[name]["instance_id"]] = expected_vars(name, launched, k8s_node_name=node_name,
                                                                ansible_host=dns(NODES[name]))
    assert inventory["_meta"]["hostvars"] == expected
    groups = groups_of(inventory)
    ids = dict((name, launched[name]["instance_id"]) for name in names)
    assert groups["gpu_nodes"] == sorted(ids.values())
    assert groups["mig_capable"] == sorted(v for k, v in ids.items() if k not in ("karp-g5", "mng-g6"))
    assert groups["gpu_a10g_24gb"] == [ids["karp-g5"]]
    assert groups["gpu_l4_24gb"] == [ids["mng-g6"]]
    assert groups["nodepool_gpu_small"] == [ids["karp-g5"]]
    assert groups["nodegroup_l4_ng"] == [ids["mng-g6"]]
    assert groups["az_us_west_2a"] == [ids["west-karp-p5"]]
    assert groups["nodepool_gpu_h100"] == sorted([ids["karp-p5"], ids["karp-p5-stopped"], ids["west-karp-p5"]])
    assert "ip-172-31-0-19.ec2.internal" not in json.dumps(inventory)  # the CPU node never shows up


def test_without_cluster_name_every_mig_gpu_node(runner, moto):
    inventory = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\n")
    assert sorted(inventory["_meta"]["hostvars"]) == sorted(dns(NODES[n]) for n in (
        "karp-p5", "karp-p5e-fresh", "karp-p4d", "karp-p4de", "mng-p5", "mng-p4d-no-k8s-tag", "self-p5",
        "dev-karp-p5", "dev-mng-p4d", "lone-p5"))


def test_dev_cluster_does_not_see_prod(runner, moto):
    inventory = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: dev\n")
    assert groups_of(inventory) == {
        "gpu_nodes": ["ip-172-31-0-30.ec2.internal", "ip-172-31-16-31.ec2.internal"],
        "mig_capable": ["ip-172-31-0-30.ec2.internal", "ip-172-31-16-31.ec2.internal"],
        "gpu_h100_80gb": ["ip-172-31-0-30.ec2.internal"],
        "gpu_a100_40gb": ["ip-172-31-16-31.ec2.internal"],
        "nodepool_gpu_h100": ["ip-172-31-0-30.ec2.internal"],
        "nodegroup_a100_ng": ["ip-172-31-16-31.ec2.internal"],
        "az_us_east_1a": ["ip-172-31-0-30.ec2.internal"],
        "az_us_east_1b": ["ip-172-31-16-31.ec2.internal"],
    }


def test_nodepools_filters_hostnames_and_constructed(runner, moto):
    launched = moto[1]
    inventory = runner.run(
        "plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: prod\n"
        "nodepools: [gpu-a100]\nfilters:\n  availability-zone: us-east-1a\n"
        "hostnames: ['tag:Name', instance-id]\nansible_host: instance-id\n"
        "strict: true\n"
        "compose:\n  slices_max: gpu_count * 7\n"
        "groups:\n  eight_gpus: gpu_count == 8\n"
        "keyed_groups:\n  - key: ec2nodeclass\n    prefix: nodeclass\n")
    host = "ip-172-31-0-12.ec2.internal"  # the Name tag Karpenter wrote after registration
    assert list(inventory["_meta"]["hostvars"]) == [host]
    assert inventory["_meta"]["hostvars"][host] == expected_vars(
        "karp-p4d", launched, k8s_node_name=host, ansible_host=launched["karp-p4d"]["instance_id"],
        slices_max=56 if NATIVE_COMPOSE else "56")
    groups = groups_of(inventory)
    assert groups["eight_gpus"] == [host]
    assert groups["nodeclass_a100"] == [host]


def test_user_instance_type_filter_replaces_preselection(runner, moto):
    inventory = runner.run(
        "plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: prod\ninclude_non_mig: true\n"
        "filters:\n  instance-type: [m5.large, g5.xlarge]\n")
    # the CPU node matches the filter but has no GPU: never a host
    assert list(inventory["_meta"]["hostvars"]) == ["ip-172-31-0-17.ec2.internal"]


def test_api_calls_and_endpoint_option(runner, moto):
    """One DescribeInstances page per region, one DescribeInstanceTypes for the distinct types; endpoint_url option."""
    with FaultProxy(moto[0].endpoint_url) as proxy:
        inventory = runner.run(
            "plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: prod\ninclude_non_mig: true\n"
            "endpoint_url: \"{{ lookup('env', 'TEST_EC2_ENDPOINT') }}\"\n",
            env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "TEST_EC2_ENDPOINT": proxy.endpoint_url})
        assert len(inventory["_meta"]["hostvars"]) == 9
        assert proxy.actions == ["DescribeInstances", "DescribeInstanceTypes"]


def test_throttling_and_5xx_are_retried(runner, moto):
    with FaultProxy(moto[0].endpoint_url) as proxy:
        proxy.fail("DescribeInstances", 503, "RequestLimitExceeded", times=2)
        proxy.fail("DescribeInstanceTypes", 500, "InternalError", times=1)
        inventory = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: prod\n",
                               env={"AWS_ENDPOINT_URL": proxy.endpoint_url})
        assert len(inventory["_meta"]["hostvars"]) == 7
        assert proxy.actions == ["DescribeInstances"] * 3 + ["DescribeInstanceTypes"] * 2


def test_throttling_beyond_retries_is_one_clear_line(runner, moto):
    with FaultProxy(moto[0].endpoint_url) as proxy:
        proxy.fail("DescribeInstances", 503, "RequestLimitExceeded", times=3)
        proc = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: prod\nretries: 2\n",
                          env={"AWS_ENDPOINT_URL": proxy.endpoint_url}, expect_ok=False)
        assert proxy.count("DescribeInstances") == 3
    assert_one_line_error(proc, "gpu_nodes: ec2:DescribeInstances in region us-east-1 at %s still throttled after retries "
                                "(RequestLimitExceeded): injected by the test" % proxy.endpoint_url)


def assert_one_line_error(proc, message):
    assert "Traceback" not in proc.stderr
    lines = plugin_errors(proc.stderr)
    assert lines, proc.stderr
    if CORE >= (2, 19):
        assert lines[0] == message, proc.stderr
    else:  # the same words, wrapped by 2.18's warning display
        assert squeezed(lines[0]) == squeezed(message), proc.stderr


def test_cache_serves_second_run_with_endpoint_down(runner, moto, tmp_path):
    config = ("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: prod\nretries: 0\n"
              "cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\n" % (tmp_path / "cache"))
    with FaultProxy(moto[0].endpoint_url) as proxy:
        first = runner.run(config, env={"AWS_ENDPOINT_URL": proxy.endpoint_url})
        assert proxy.actions == ["DescribeInstances", "DescribeInstanceTypes"]
    dead = "http://127.0.0.1:%d" % free_port()
    second = runner.run(config, env={"AWS_ENDPOINT_URL": dead})
    assert second == first and len(second["_meta"]["hostvars"]) == 7
    cache_files = list((tmp_path / "cache").iterdir())
    assert cache_files and "testing" not in "".join(p.read_text() for p in cache_files)  # no credentials cached
    proc = runner.run(config, env={"AWS_ENDPOINT_URL": dead}, flush_cache=tmp_path / "cache", expect_ok=False)
    assert_one_line_error(proc, 'gpu_nodes: cannot reach the EC2 endpoint for ec2:DescribeInstances in region us-east-1 at %s: '
                                'Could not connect to the endpoint URL: "%s/"' % (dead, dead))


def test_changed_query_options_bypass_the_cache(runner, moto, tmp_path):
    cache = "cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\n" % (tmp_path / "cache")
    with FaultProxy(moto[0].endpoint_url) as proxy:
        env = {"AWS_ENDPOINT_URL": proxy.endpoint_url}
        prod = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: prod\n" + cache, env=env)
        assert proxy.actions == ["DescribeInstances", "DescribeInstanceTypes"]
        # same file, other cluster: instances are queried again, the p5/p4d GPU facts come from the cache
        dev = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: dev\n" + cache, env=env)
        assert proxy.actions == ["DescribeInstances", "DescribeInstanceTypes", "DescribeInstances"]
        # flushing the cache (--flush-cache; on 2.18 removing its files) asks for everything again
        runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: dev\n" + cache, env=env,
                   flush_cache=tmp_path / "cache")
        assert proxy.actions[3:] == ["DescribeInstances", "DescribeInstanceTypes"]
    assert len(prod["_meta"]["hostvars"]) == 7 and len(dev["_meta"]["hostvars"]) == 2


def test_missing_credentials(runner):
    proc = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\n",
                      env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, expect_ok=False)
    assert_one_line_error(proc, "gpu_nodes: no AWS credentials found for ec2:DescribeInstances: set profile or access_key/secret_key "
                                "in the inventory file, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use an instance role")


def test_unknown_region_on_aws(runner):
    proc = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-nowhere-9]\n", env={"AWS_ENDPOINT_URL": None},
                      expect_ok=False)
    assert squeezed("gpu_nodes: unknown AWS region 'us-nowhere-9' (known to botocore: ") in squeezed(proc.stderr)
    assert "Traceback" not in proc.stderr


def test_unknown_profile(runner):
    proc = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\nprofile: nope\n",
                      env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, expect_ok=False)
    assert_one_line_error(proc, "gpu_nodes: AWS profile 'nope' not found in the AWS config/credentials files")


@pytest.mark.parametrize("config, message", [
    ("hostnames: [public-ipv9]", "gpu_nodes: unknown hostnames entry 'public-ipv9'; use private-dns-name, instance-id, "
                                 "private-ip-address, dns-name, ip-address or tag:<key>"),
    ("filters:\n  instance-state-name: stopped", "gpu_nodes: do not put instance-state-name into filters; use instance_states"),
    ("filters:\n  tag:team: {a: b}", "gpu_nodes: filter 'tag:team' needs a string or a list of strings, got {'a': 'b'}"),
    ("instance_states: []", "gpu_nodes: instance_states must not be empty"),
    ("retries: -1", "gpu_nodes: retries must be 0 or more, got -1"),
])
def test_bad_options_fail_before_any_call(runner, moto, config, message):
    with FaultProxy(moto[0].endpoint_url) as proxy:
        proc = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\n%s\n" % config,
                          env={"AWS_ENDPOINT_URL": proxy.endpoint_url}, expect_ok=False)
        assert proxy.actions == []
    assert_one_line_error(proc, message)


def test_access_denied_is_one_clear_line(tmp_path, monkeypatch):
    """moto with IAM enforcement on: a user allowed only DescribeInstanceTypes."""
    import boto3

    # the server process reads this at start; the first 3 actions (IAM setup) run unauthenticated
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "3")
    server = MotoServer().start()
    monkeypatch.delenv("INITIAL_NO_AUTH_ACTION_COUNT")
    try:
        iam = boto3.client("iam", region_name=E1, endpoint_url=server.endpoint_url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        iam.create_user(UserName="inventory")
        key = iam.create_access_key(UserName="inventory")["AccessKey"]
        iam.put_user_policy(UserName="inventory", PolicyName="types-only", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["ec2:DescribeInstanceTypes"], "Resource": "*"}]}))
        run = Runner(tmp_path, server.endpoint_url)
        proc = run.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\n",
                       env={"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]},
                       expect_ok=False)
    finally:
        server.stop()
    assert_one_line_error(proc, "gpu_nodes: access denied to ec2:DescribeInstances in region us-east-1 at %s (AccessDenied): "
                                "User: arn:aws:iam::123456789012:user/inventory is not authorized to perform: "
                                "ec2:DescribeInstances; the IAM policy must allow ec2:DescribeInstances and "
                                "ec2:DescribeInstanceTypes" % server.endpoint_url)
    assert key["SecretAccessKey"] not in proc.stderr


def test_user_tag_key_filter_is_not_doubled_and_cluster_still_checked(runner, moto):
    """filters.tag-key replaces the plugin's own tag-key filter; cluster membership is still checked per instance."""
    inventory = runner.run("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: prod\n"
                           "filters:\n  tag-key: Name\n")
    # prod MIG nodes that have a Name tag; dev-mng-p4d and lone-p5 have one too but are not in prod
    assert sorted(inventory["_meta"]["hostvars"]) == [
        "ip-172-31-0-10.ec2.internal", "ip-172-31-0-12.ec2.internal", "ip-172-31-0-16.ec2.internal",
        "ip-172-31-16-14.ec2.internal", "ip-172-31-32-15.ec2.internal"]


def test_build_filters_cheap_first():
    from ansible_collections.gpu_slicing.eks.plugins.inventory.gpu_nodes import build_filters

    filters = build_filters(["running"], False, "prod", ["gpu-h100"], {"tag:team": "ml", "vpc-id": ["vpc-1"]})
    assert [f["Name"] for f in filters] == ["instance-state-name", "instance-type", "vpc-id", "tag-key",
                                            "tag:karpenter.sh/nodepool", "tag:team"]
    types = filters[1]["Values"]
    assert "p5.48xlarge" in types and "p5.*" in types and "p4de.24xlarge" in types
    assert not any(t.startswith(("g5", "g6", "m5")) for t in types)
    assert filters[3]["Values"] == ["kubernetes.io/cluster/prod", "eks:cluster-name"]
    assert filters[5]["Values"] == ["ml"]
    # include_non_mig: no type pre-selection; a user instance-type filter replaces it
    assert [f["Name"] for f in build_filters(["running"], True, None, [], {})] == ["instance-state-name"]
    assert build_filters(["stopped"], False, None, [], {"instance-type": "g5.xlarge"}) == [
        {"Name": "instance-state-name", "Values": ["stopped"]}, {"Name": "instance-type", "Values": ["g5.xlarge"]}]


def test_gpu_facts_from_type():
    from ansible_collections.gpu_slicing.eks.plugins.inventory.gpu_nodes import gpu_facts_from_type

    h100 = {"InstanceType": "p5.48xlarge", "GpuInfo": {"Gpus": [
        {"Name": "H100", "Manufacturer": "NVIDIA", "Count": 8, "MemoryInfo": {"SizeInMiB": 81920}}]}}
    assert gpu_facts_from_type(h100) == {"gpu_name": "H100", "gpu_count": 8, "gpu_memory_mib": 81920}
    amd = {"InstanceType": "g4ad.xlarge", "GpuInfo": {"Gpus": [
        {"Name": "Radeon Pro V520", "Manufacturer": "AMD", "Count": 1, "MemoryInfo": {"SizeInMiB": 8192}}]}}
    assert gpu_facts_from_type(amd) is None
    assert gpu_facts_from_type({"InstanceType": "m5.large"}) is None
    # described without GpuInfo but known to the catalog (GB200: 4 GPUs per instance)
    assert gpu_facts_from_type({"InstanceType": "p6e-gb200.36xlarge"}) == {
        "gpu_name": "GB200", "gpu_count": 4, "gpu_memory_mib": 189471}


def test_clashing_host_names_fall_back_to_instance_id(runner, moto):
    launched = moto[1]
    config = runner.tmp_path / "clash.gpu_nodes.yml"
    config.write_text("plugin: gpu_slicing.eks.gpu_nodes\nregions: [us-east-1]\ncluster_name: prod\nnodepools: [gpu-a100]\n"
                      "hostnames: ['tag:karpenter.sh/nodepool']\n")
    # run directly: the warning on stderr is part of the expectation
    proc = subprocess.run(ANSIBLE_INVENTORY + ["-i", str(config), "--list"], env=runner.env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    # instances are named in instance id order: the first keeps the tag value, the second gets its id
    second = max(launched["karp-p4d"]["instance_id"], launched["karp-p4de"]["instance_id"])
    assert sorted(unwrap(json.loads(proc.stdout))["_meta"]["hostvars"]) == sorted(["gpu-a100", second])
    assert squeezed("would both be named 'gpu-a100'; using the instance id for the second") in squeezed(proc.stderr)


def test_instance_types_are_asked_in_batches_of_100(moto):
    """_gpu_facts over HTTP with a real boto3 client: 150 distinct types -> 2 calls (100 + 50), then none."""
    from ansible_collections.gpu_slicing.eks.plugins.inventory.gpu_nodes import InventoryModule

    ec2 = ec2_fleet.ec2_client(moto[0].endpoint_url, E1)
    known = sorted(t["InstanceType"] for t in ec2.describe_instance_types()["InstanceTypes"])  # moto: all in one page
    names = sorted(set(known[:148] + ["p5.48xlarge", "g5.xlarge"]))
    assert len(names) == 150 and "p5.48xlarge" in names
    plugin = InventoryModule()
    with FaultProxy(moto[0].endpoint_url) as proxy:
        client = ec2_fleet.ec2_client(proxy.endpoint_url, E1)
        facts = plugin._gpu_facts(client, E1, names * 2, retries=0, known={})
        assert proxy.actions == ["DescribeInstanceTypes", "DescribeInstanceTypes"]
        assert sorted(facts) == names
        assert facts["p5.48xlarge"] == {"gpu_name": "H100", "gpu_count": 8, "gpu_memory_mib": 81920}
        assert facts["g5.xlarge"]["gpu_name"] == "A10G"
        # the same process asks again for nothing
        assert plugin._gpu_facts(client, E1, names, retries=0, known={}) == facts
        assert proxy.count("DescribeInstanceTypes") == 2
