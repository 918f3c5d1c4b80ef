# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mig_partition pauses the GPU clients the drain leaves running (issue 15 item 10).

DCGM and its exporter are DaemonSets: the drain skips them, they keep the GPU open and the driver refuses the change
("In use by another client"). The role sets their node labels (nvidia.com/gpu.deploy.*) to paused-for-mig-change
around the change and back to true after it, also when it fails. The witness is the nvidia-smi the role runs: a
wrapper that records the Node's labels, read from the real kube-apiserver with kubectl, at every MIG create before
handing over to the simulator.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import sys

import pytest

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.gpu_slicing.eks.tests.unit.roles import test_mig_partition_preflight as preflight  # noqa: E402

NODE, node, run_role = preflight.NODE, preflight.node, preflight.run_role
gpu, cluster = preflight.gpu, preflight.cluster  # the preflight tests' pytest fixtures, shared by name

DCGM = "nvidia.com/gpu.deploy.dcgm-exporter"
GFD = "nvidia.com/gpu.deploy.gpu-feature-discovery"
WITNESS = """#!/bin/sh
case " $* " in
  *" -cgi "*) "{kubectl}" --kubeconfig "{kubeconfig}" get node "{node}" -o json | "{python}" -c 'import json, sys
node = json.load(sys.stdin)
open(sys.argv[1], "a").write(json.dumps(node["metadata"].get("labels", {{}})) + "\\n")' "{log}" ;;
esac
exec "{real}" "$@"
"""


@pytest.fixture
def kube(cluster):
    with preflight.node_on(cluster, {DCGM: "true", "nvidia.com/gpu.deploy.dcgm": "false", GFD: "true"}) as running:
        yield running


def test_gpu_clients_are_paused_during_the_change_and_resumed_after(tmp_path, kube, gpu):
    dummy, real = gpu
    log = tmp_path / "labels-at-create.jsonl"
    witness = tmp_path / "nvidia-smi-witness"
    witness.write_text(WITNESS.format(python=sys.executable, kubectl=kube.bin_dir / "kubectl", kubeconfig=kube.kubeconfig,
                                      node=NODE, log=log, real=real))
    witness.chmod(0o755)
    proc = run_role(tmp_path, kube, str(witness), mig_partition_pause_timeout=5)
    out = " ".join((proc.stdout + proc.stderr).split())
    # no device plugin DaemonSet runs here, so the rollout fails after the change; the labels must come back anyway
    assert "No device plugin pod" in out, out
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert seen, "no MIG create ran: %s" % out
    for labels in seen:
        assert labels[DCGM] == "paused-for-mig-change"
        assert labels["nvidia.com/gpu.deploy.dcgm"] == "false"  # was not true: left alone
        assert labels[GFD] == "true"  # not in mig_partition_pause_labels
    after = node(kube).metadata.labels
    assert after[DCGM] == "true" and after["nvidia.com/gpu.deploy.dcgm"] == "false" and after[GFD] == "true"
