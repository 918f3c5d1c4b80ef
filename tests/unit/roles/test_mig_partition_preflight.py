# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mig_partition validates everything before the first cordon (issue 15 items 3, 12 and 17).

The role runs in a real ansible-playbook on localhost against a real kube-apiserver (+ scheduler and
controller-manager; see mig_partition_harness): the nvidia-smi simulator plays one H100 with MIG enabled and
2x 3g.40gb (so all-1g.10gb needs a rollout), a kubelet stand-in registers its Node. A persist_path that cannot be
written used to be found only by the rollout's nvidia_mig, after the cordon and the drain: the node stayed cordoned
and marked failed. Now the role must fail with the node untouched: not cordoned (spec.unschedulable as the API
server stores it), no mig-state label, no mutating nvidia-smi call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

pytest.importorskip("kubernetes")  # kubernetes.core's modules need it

from ansible_collections.gpu_slicing.eks.tests.support import control_plane  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.unit.roles import mig_partition_harness as harness  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support import legs  # noqa: E402

# CI time: these role runs against the real API server are proven on the main leg; on 2.21 the roles_cluster
# integration target runs the roles against a real API server too
pytestmark = pytest.mark.skipif(not legs.on_main_leg(), reason=legs.skip_reason())


@pytest.fixture(scope=harness.FIXTURE_SCOPE)
def kube():
    with control_plane.cluster() as cluster:
        yield cluster


@pytest.fixture
def gpu(tmp_path):
    return harness.make_gpu(tmp_path)


@pytest.fixture
def node(kube, gpu):
    with harness.gpu_node(kube, capacity={"nvidia.com/gpu": "1"}) as gpu_node:
        yield gpu_node


def assert_untouched(node, state):
    current = node.node()
    assert not current["spec"].get("unschedulable"), "the node was cordoned"
    assert "gpu-slicing.eks/mig-state" not in (current["metadata"].get("labels") or {})
    assert harness.mutating_calls(state) == 0, "a GPU command ran"


def test_unwritable_persist_path_fails_before_the_cordon(tmp_path, node, gpu):
    state, wrapper = gpu
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file\n")
    proc, out = harness.run_role(tmp_path, node, wrapper, mig_partition_persist_path=str(blocker / "mig-layout.yaml"))
    assert proc.returncode != 0, out
    assert "persist_path %s/mig-layout.yaml cannot be created: %s is not a directory" % (blocker, blocker) in out, out
    assert "Cordon the node" not in out
    assert_untouched(node, state)


@pytest.mark.parametrize("path", ["", "relative/mig.yaml", "/etc/gpu-slicing/"], ids=["empty", "relative", "directory"])
def test_persist_path_that_is_not_an_absolute_file_path_is_refused_first(tmp_path, node, gpu, path):
    state, wrapper = gpu
    proc, out = harness.run_role(tmp_path, node, wrapper, mig_partition_persist_path=path)
    assert proc.returncode != 0, out
    assert "mig_partition_persist_path must be an absolute file path" in out, out
    assert_untouched(node, state)


def test_layout_keyed_by_gpu_index_is_refused_with_the_way_to_do_it(tmp_path, node, gpu):
    """mig_partition_layout used to be documented as a mapping GPU index -> list, which nvidia_mig rejects."""
    state, wrapper = gpu
    proc, out = harness.run_role(tmp_path, node, wrapper, mig_partition_config="",
                                 mig_partition_layout={"0": ["3g.40gb", "3g.40gb"], "1": ["1g.10gb"]})
    assert proc.returncode != 0, out
    assert "mig_partition_layout applies one layout to every GPU" in out and "mig_partition_config_file" in out, out
    assert_untouched(node, state)
