# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mig_partition validates everything before the first cordon (issue 15 items 3 and 12).

The role runs in a real ansible-playbook on localhost: the nvidia-smi simulator plays one H100 with MIG enabled and
2x 3g.40gb (so all-1g.10gb needs a rollout), its Node is on the real kube-apiserver (tests/support/control_plane.py,
with the kubelet stand-in). A persist_path that cannot
be written used to be found only by the rollout's nvidia_mig, after the cordon and the drain: the node stayed
cordoned and marked failed. Now the role must fail with the node untouched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import subprocess
import sys

import pytest

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.tests.support import collections_root, control_plane  # noqa: E402

# the ansible_collections tree this test was imported from (build/collections, or ansible-test's tree)
COLLECTIONS_ROOT = collections_root()
COLLECTION = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "gpu_slicing", "eks")
SIM_CTL = os.path.join(COLLECTION, "tests", "simulators", "nvidia-smi-sim")
NODE = "ip-10-0-0-1.ec2.internal"


@pytest.fixture(scope="module")
def cluster():
    with control_plane.cluster() as running:
        yield running


@contextlib.contextmanager
def node_on(cluster, labels=None):
    """The Node ``NODE`` (with ``labels``) registered by a kubelet stand-in, for one test holding the shared cluster."""
    with control_plane.exclusive(cluster):
        cluster.api.request("DELETE", "/api/v1/nodes/%s" % NODE)
        try:
            with control_plane.KubeletStandIn(cluster.api, [{"metadata": {"name": NODE, "labels": dict(labels or {})}}]):
                yield cluster
        finally:
            cluster.api.request("DELETE", "/api/v1/nodes/%s" % NODE)


@pytest.fixture
def kube(cluster):
    with node_on(cluster) as running:
        yield running


@pytest.fixture
def gpu(tmp_path):
    state = str(tmp_path / "node.json")
    subprocess.run([SIM_CTL, "init", "--state", state, "--model", "h100-80gb", "--gpus", "1",
                    "--mig", "enabled", "--layout", "3g.40gb,3g.40gb"], check=True, capture_output=True)
    wrapper = str(tmp_path / "nvidia-smi")
    subprocess.run([SIM_CTL, "wrapper", "--state", state, "--out", wrapper], check=True, capture_output=True)
    return state, wrapper


def run_role(tmp_path, kube, nvidia_smi, **role_vars):
    variables = dict(mig_partition_node_name=NODE, mig_partition_kubeconfig=kube.kubeconfig,
                     mig_partition_config="all-1g.10gb", mig_partition_nvidia_smi_path=nvidia_smi,
                     mig_partition_become=False, mig_partition_wait_retries=1, mig_partition_wait_delay=0)
    variables.update(role_vars)
    playbook = tmp_path / "play.yml"
    playbook.write_text("- name: Partition\n  hosts: localhost\n  gather_facts: false\n  roles:\n"
                        "    - role: gpu_slicing.eks.mig_partition\n")
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR="1", HOME=str(tmp_path),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    return subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "@%s" % extra, str(playbook)],
                          env=env, capture_output=True, text=True, timeout=600, check=False)


def node(kube):
    return kubernetes.client.CoreV1Api(kube.api_client()).read_node(NODE)


def mutating_calls(state):
    out = subprocess.run([SIM_CTL, "calls", "--state", state, "--mutating", "--count"], check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip())


def assert_untouched(kube, state):
    current = node(kube)
    assert not current.spec.unschedulable, "the node was cordoned"
    assert "gpu-slicing.eks/mig-state" not in (current.metadata.labels or {})
    assert mutating_calls(state) == 0, "a GPU command ran"


def test_unwritable_persist_path_fails_before_the_cordon(tmp_path, kube, gpu):
    state, wrapper = gpu
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file\n")
    proc = run_role(tmp_path, kube, wrapper, mig_partition_persist_path=str(blocker / "mig-layout.yaml"))
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, out
    assert "persist_path %s/mig-layout.yaml cannot be created: %s is not a directory" % (blocker, blocker) in out, out
    assert "Cordon the node" not in out
    assert_untouched(kube, state)


@pytest.mark.parametrize("path", ["", "relative/mig.yaml", "/etc/gpu-slicing/"], ids=["empty", "relative", "directory"])
def test_persist_path_that_is_not_an_absolute_file_path_is_refused_first(tmp_path, kube, gpu, path):
    state, wrapper = gpu
    proc = run_role(tmp_path, kube, wrapper, mig_partition_persist_path=path)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, out
    assert "mig_partition_persist_path must be an absolute file path" in out, out
    assert_untouched(kube, state)


def test_layout_keyed_by_gpu_index_is_refused_with_the_way_to_do_it(tmp_path, kube, gpu):
    """mig_partition_layout used to be documented as a mapping GPU index -> list, which nvidia_mig rejects."""
    state, wrapper = gpu
    proc = run_role(tmp_path, kube, wrapper, mig_partition_config="",
                    mig_partition_layout={"0": ["3g.40gb", "3g.40gb"], "1": ["1g.10gb"]})
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, out
    assert "mig_partition_layout applies one layout to every GPU" in out and "mig_partition_config_file" in out, out
    assert_untouched(kube, state)
