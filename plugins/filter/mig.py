# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MIG filters: ``mig_capacity`` (extended resources of one node) and ``mig_plan`` (the planner).

Both are thin wrappers over the pure engine in ``module_utils/_mig`` (``capacity`` and ``sizing``);
documentation lives beside this file in ``mig_capacity.yml`` and ``mig_plan.yml``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sizing


def _plain(value):
    """Turn Ansible's lazy/tagged containers into plain dicts/lists/strings for the engine."""
    if isinstance(value, dict):
        return dict((_plain(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def mig_capacity(instance_type, config=None, layout=None, strategy="mixed", config_label=None):
    """Extended resources (name -> int) that one node of ``instance_type`` advertises."""
    if not isinstance(instance_type, str):
        raise AnsibleFilterError("mig_capacity: the input must be an EC2 instance type name such as "
                                 "'p5.48xlarge', got %s" % type(instance_type).__name__)
    try:
        if config is not None and layout is None:
            mismatch = capacity.config_mismatch(str(instance_type), _plain(config), config_label=_plain(config_label))
            if mismatch:
                Display().warning("mig_capacity: %s" % mismatch)
        return capacity.mig_resources(str(instance_type), config=_plain(config), layout=_plain(layout),
                                      strategy=_plain(strategy), config_label=_plain(config_label))
    except capacity.CapacityError as exc:
        raise AnsibleFilterError("mig_capacity: %s" % to_native(exc))


def mig_plan(demand, candidates=None, strategy="mixed", headroom=0, objective="gpus", name=sizing.DEFAULT_NAME,
             pool_limits=True, pool_weight=None):
    """The fleet-sizing result (same keys as the mig_plan module returns, plus ``warnings``)."""
    try:
        return sizing.size_fleet(_plain(demand), candidates=_plain(candidates), strategy=_plain(strategy),
                                 headroom=_plain(headroom), objective=_plain(objective), name=_plain(name),
                                 pool_limits=_plain(pool_limits), pool_weight=_plain(pool_weight))
    except sizing.SizingError as exc:
        raise AnsibleFilterError("mig_plan: %s" % to_native(exc))


class FilterModule(object):
    def filters(self):
        return {
            "mig_capacity": mig_capacity,
            "mig_plan": mig_plan,
        }
