# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slot diagrams: every slot drawn once, widths proportional to the placement size."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import render
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.model import Gpu, GpuInstance, Profile


def test_diagram_draws_instances_and_free_slots():
    line = render.diagram_line(0, "NVIDIA H100 80GB HBM3", 8, [("3g.40gb", 0, 4), ("2g.20gb", 4, 2), ("1g.10gb", 6, 1)],
                               "enabled")
    assert line == "GPU0 H100 [3g.40gb           ][2g.20gb ][1g ][-- ]"
    body = line.split(" ", 2)[2]
    assert len(body) == 8 * render.SLOT_WIDTH


def test_diagram_orders_by_start_and_marks_gaps():
    line = render.diagram_line(3, "NVIDIA A100-SXM4-40GB", 8, [("3g.20gb", 4, 4), ("1g.5gb", 1, 1)], "enabled")
    assert line == "GPU3 A100-SXM4-40GB [-- ][1g ][-- ][-- ][3g.20gb           ]"


def test_disabled_and_not_capable():
    assert render.diagram_line(1, "NVIDIA H200", 8, [], "disabled") == "GPU1 H200 MIG disabled"
    assert render.diagram_line(2, "NVIDIA A10G", 0, [], None) == "GPU2 A10G not MIG capable"


def test_gpu_diagram_uses_profile_slots():
    gpu = Gpu(0, name="NVIDIA A30", mig_current="Enabled", mig_pending="Enabled",
              profiles=[Profile("1g.6gb", 14, 4, starts=(0, 1, 2, 3), size=1), Profile("4g.24gb", 0, 1, starts=(0,), size=4)],
              instances=[GpuInstance("1g.6gb", 14, 2, 1, gi_id=5)])
    assert render.gpu_diagram(gpu) == "GPU0 A30 [-- ][-- ][1g ][-- ]"
    assert render.host_diagram([gpu, Gpu(1, name="NVIDIA A10G")]) == "GPU0 A30 [-- ][-- ][1g ][-- ]\nGPU1 A10G not MIG capable"
