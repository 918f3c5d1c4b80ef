# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Random create/destroy sequences: the simulator accepts exactly what fits, by an independent slot model."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.tests.simulators import nvidia_smi_sim as sim

MODEL = catalog.gpu_model("h100-80gb")
PROFILES = MODEL.profiles

# an operation: create (profile index, start index into that profile's starts) or destroy (the k-th instance)
OPS = st.lists(st.one_of(
    st.tuples(st.just("create"), st.integers(0, len(PROFILES) - 1), st.integers(0, 6)),
    st.tuples(st.just("destroy"), st.integers(0, 7), st.just(0)),
), min_size=1, max_size=14)


def _fits(instances, prof, start):
    used = set()
    for name, at in instances:
        size = next(p.size for p in PROFILES if p.name == name)
        used.update(range(at, at + size))
    same = sum(1 for name, _at in instances if name == prof.name)
    compute = sum(next(p.compute_slices for p in PROFILES if p.name == name) for name, _at in instances)
    return (same < prof.max_count and compute + prof.compute_slices <= 7
            and not used.intersection(range(start, start + prof.size)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_random_sequences_match_the_slot_model(ops):
    with tempfile.TemporaryDirectory() as tmp:
        _check_sequence(sim.SimNode.create(os.path.join(tmp, "n.json"), model="h100-80gb", gpus=1, mig=True), ops)


def _check_sequence(node, ops):
    model = []  # [(name, start)] by the test's own bookkeeping
    for kind, a, b in ops:
        if kind == "create":
            prof = PROFILES[a]
            start = prof.starts[b % len(prof.starts)]
            output, rc = node.run("mig", "-i", "0", "-cgi", "%d:%d" % (prof.typical_id, start), "-C")
            expected = _fits(model, prof, start)
            assert (rc == 0) == expected, (model, prof.name, start, output)
            if expected:
                model.append((prof.name, start))
            else:
                assert rc == 23 and output.endswith("Failed to create GPU instances: Insufficient Resources\n")
        elif model:
            name, start = model.pop(a % len(model))
            gi = next(g for n, s, g in node.layout() if (n, s) == (name, start))
            assert node.run("mig", "-i", "0", "-dci", "-gi", str(gi))[1] == 0
            assert node.run("mig", "-i", "0", "-dgi", "-gi", str(gi))[1] == 0
        assert sorted((n, s) for n, s, _g in node.layout()) == sorted(model)
    # the -lgip free counts agree with the model too
    output, rc = node.run("mig", "-lgip")
    assert rc == 0
    free = dict((line.split()[3], int(line.split()[5].split("/")[0])) for line in output.splitlines() if " MIG " in line)
    for prof in PROFILES:
        fits_somewhere = any(_fits(model, prof, s) for s in prof.starts)
        assert (free[prof.name] > 0) == fits_somewhere, (model, prof.name, free)
