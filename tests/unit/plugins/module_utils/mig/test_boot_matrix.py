# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every (MIG instance type x built-in config for its GPU): the user data partitions a fresh node into the overlay.

For each pair, karpenter_nodepool renders the pool (desired_objects: the same code as a real run, without the API
server). The shell part of the EC2NodeClass userData runs as cloud-init would run it (an executable file, as root)
inside a network-namespace host: it downloads the applier over the host's veth from an HTTP server, checks the
pinned SHA-256, writes the layout and applies it to the simulated GPUs of that instance type (MIG disabled at the
start). Then the device-plugin stand-in enumerates the node like the real plugin at start, and its resources must
equal the NodeOverlay capacity the module rendered for the pool, resource by resource. A second run must change
nothing (no mutating nvidia-smi call, same files).

Cheap by construction: one namespace host per GPU model (one test each, so xdist spreads them); each pair gets a
fresh simulated node (new state file) and a fresh root directory for the files the user data writes (the
namespaces share the file system).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import email
import functools
import http.server
import os
import threading

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity, catalog, configs, userdata
from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool
from ansible_collections.gpu_slicing.eks.tests.simulators import nvidia_smi_sim as sim
from ansible_collections.gpu_slicing.eks.tests.support import fake_device_plugin, legs, netns

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
APPLIER_DIR = os.path.join(ROOT, "roles", "mig_partition", "files")
REASON = netns.netns_unavailable_reason()
if REASON is None and not legs.on_main_leg():
    REASON = legs.skip_reason()  # the engine and the shell part do not depend on ansible-core
pytestmark = pytest.mark.skipif(REASON is not None, reason=str(REASON))


def matrix():
    """(instance type, built-in label) for every label with an entry for the instance type's GPU."""
    pairs = []
    for instance_type in catalog.mig_capable_instance_types():
        model = catalog.model_for_instance_type(instance_type)
        count = catalog.instance_type(instance_type).gpu_count
        for label in configs.builtin_config_names():
            entries = configs.builtin_config(label)
            if not any(configs.device_spec(entries, i, pci, None) for i in range(count) for pci in model.pci_device_ids):
                continue
            try:
                capacity.node_gpus(instance_type, config=label)
            except capacity.CapacityError:
                continue  # a label whose unfiltered entry names another GPU's profiles: the module refuses it too
            pairs.append((instance_type, label))
    return pairs


PAIRS = matrix()


def test_matrix_covers_every_mig_instance_type():
    assert set(t for t, _l in PAIRS) == set(catalog.mig_capable_instance_types())
    assert len(PAIRS) >= 60


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@contextlib.contextmanager
def gpu_host(workdir):
    """One network-namespace host and an HTTP server on its veth that serves the applier.

    Created inside the test (ansible-test runs every test in its own fork, so wider fixture scopes would leak).
    """
    os.makedirs(workdir)
    fleet = netns.make_hosts(1, workdir=workdir)
    server = None
    try:
        host = fleet[0]
        server = http.server.ThreadingHTTPServer((host.host_address, 0), functools.partial(_Quiet, directory=APPLIER_DIR))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield host, "http://%s:%d/gpu-slicing-mig-apply.py" % (host.host_address, server.server_address[1])
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        fleet.destroy()


def render_pool(instance_type, label, url):
    args = dict(name="boot", instance_types=[instance_type], mig_config=label, mig_strategy="mixed", node_overlay=True,
                mig_user_data=True, mig_applier_url=url, cluster_name="matrix",
                node_class={"name": "gpu", "role": "KarpenterNodeRole-matrix"})
    validated = ArgumentSpecValidator(karpenter_nodepool.argument_spec()).validate(args)
    assert not validated.error_messages
    objects, _types, _capacity = karpenter_nodepool.desired_objects(validated.validated_parameters)
    (overlay,) = objects["nodeoverlays"]
    message = email.message_from_string(objects["ec2nodeclass"]["spec"]["userData"])
    scripts = [p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/x-shellscript"]
    assert len(scripts) == 1
    return scripts[0], dict((k, int(v)) for k, v in overlay["spec"]["capacity"].items())


def run_part(host, script_path, root, smi):
    """As cloud-init runs a part: an executable file, as root (here: inside the host's namespace)."""
    env = ["env", "GPU_SLICING_ROOT=%s" % root, "GPU_SLICING_NVIDIA_SMI=%s" % smi]
    return host.exec(env + [script_path], check=False)


def snapshot(root):
    out = {}
    for base, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(base, name), "rb") as handle:
                out[os.path.relpath(os.path.join(base, name), root)] = handle.read()
    return out


def check_pair(host, url, workdir, instance_type, label):
    """Boot one fresh simulated node of ``instance_type`` with the pool's user data, twice; return the overlay."""
    spec = catalog.instance_type(instance_type)
    script, overlay = render_pool(instance_type, label, url)
    os.makedirs(workdir)
    node = sim.SimNode.create(os.path.join(workdir, "state.json"), model=spec.gpu_model, gpus=spec.gpu_count)
    smi = node.write_wrapper(os.path.join(workdir, "nvidia-smi"))
    assert all(not gpu["mig_current"] for gpu in node.state()["gpus"])
    part = os.path.join(workdir, "part-001")
    with open(part, "w") as handle:
        handle.write(script)
    os.chmod(part, 0o700)
    root = os.path.join(workdir, "root")

    first = run_part(host, part, root, smi)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "gpu-slicing-mig: MIG config %s applied" % label in first.stderr
    assert not os.path.exists(os.path.join(root, userdata.NODEADM_DROPIN.lstrip("/")))

    advertised = fake_device_plugin.enumerate_resources(smi, "mixed")
    for resource in sorted(set(advertised) | set(overlay)):
        assert advertised.get(resource, 0) == overlay.get(resource, 0), (resource, advertised, overlay)

    files = snapshot(root)
    node.clear_calls()
    second = run_part(host, part, root, smi)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already as desired" in second.stdout
    assert node.mutating_calls() == []
    assert snapshot(root) == files
    return overlay


MODELS = sorted(set(catalog.instance_type(t).gpu_model for t, _l in PAIRS))


@pytest.mark.parametrize("model", MODELS)
def test_user_data_partitions_fresh_nodes_into_the_overlay_capacity(tmp_path, model):
    """All pairs of one GPU model on one namespace host (each pair: a fresh simulated node and root directory)."""
    pairs = [(t, label) for t, label in PAIRS if catalog.instance_type(t).gpu_model == model]
    failures = []
    with gpu_host(str(tmp_path / "netns")) as (host, url):
        for number, (instance_type, label) in enumerate(pairs):
            try:
                overlay = check_pair(host, url, str(tmp_path / ("pair%d" % number)), instance_type, label)
                assert overlay, (instance_type, label)
            except AssertionError as exc:
                failures.append("%s %s: %s" % (instance_type, label, exc))
    assert failures == [], "\n".join(failures)
    assert pairs


@pytest.mark.parametrize("case", ["checksum", "create fails"])
def test_failure_registers_the_node_tainted_and_says_why(tmp_path, case):
    with gpu_host(str(tmp_path / "netns")) as (host, url):
        check_failure(host, url, tmp_path, case)


def check_failure(host, url, tmp_path, case):
    sha = ("f" * 64) if case == "checksum" else None
    validated = ArgumentSpecValidator(karpenter_nodepool.argument_spec()).validate(dict(
        name="boot", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", node_overlay=True, mig_user_data=True,
        mig_applier_url=url, mig_applier_sha256=sha, cluster_name="matrix", node_class={"name": "gpu", "role": "R"}))
    objects = karpenter_nodepool.desired_objects(validated.validated_parameters)[0]
    message = email.message_from_string(objects["ec2nodeclass"]["spec"]["userData"])
    (script,) = [p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/x-shellscript"]
    node = sim.SimNode.create(str(tmp_path / "state.json"), model="h100-80gb", gpus=8)
    if case == "create fails":
        node.set_faults(fail_create_nth=1)
    smi = node.write_wrapper(str(tmp_path / "nvidia-smi"))
    part = tmp_path / "part-001"
    part.write_text(script)
    part.chmod(0o700)
    root = str(tmp_path / "root")

    result = run_part(host, str(part), root, smi)
    assert result.returncode == 1
    why = "does not have the pinned SHA-256" if case == "checksum" else "the applier exited with status 1"
    assert "gpu-slicing-mig: MIG partitioning FAILED: " in result.stderr and why in result.stderr, result.stderr
    with open(os.path.join(root, userdata.NODEADM_DROPIN.lstrip("/"))) as handle:
        assert "gpu-slicing.eks/mig-apply-failed=true:NoSchedule" in handle.read()
    installed = os.path.exists(os.path.join(root, userdata.APPLIER_PATH.lstrip("/")))
    assert installed == (case != "checksum")
    # whatever happened on the GPUs, the device plugin must not advertise the promised slices as if all went well
    advertised = fake_device_plugin.enumerate_resources(smi, "mixed")
    assert advertised.get("nvidia.com/mig-1g.10gb", 0) < 56
