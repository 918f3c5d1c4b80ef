# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``mig_parted_config``: a validated mig-parted v1 document for the GPU Operator MIG manager, from named
layouts and built-in labels (through the public ``_mig.configs`` API)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import configs


def mig_parted_config(layouts, builtin=None):
    """Build a validated mig-parted v1 document (a dict) for the GPU Operator MIG manager.

    ``layouts`` maps a label to either a layout for every GPU (list of profile names or mapping
    name -> count) or a list of raw mig-parted entries (mappings with ``devices``). ``builtin`` names
    built-in labels to copy (``all-1g.10gb``, ``all-balanced`` ...). ``all-disabled`` and
    ``all-enabled`` are always present because the operator's default label is ``all-disabled``.
    """
    if not isinstance(layouts, dict):
        raise AnsibleFilterError("layouts must be a mapping label -> layout, got %s" % type(layouts).__name__)
    doc = {"version": "v1", "mig-configs": {}}
    try:
        for label in ["all-disabled", "all-enabled"] + list(builtin or []):
            doc["mig-configs"][label] = configs.builtin_document_entries(label)
        for label, layout in layouts.items():
            if isinstance(layout, list) and layout and all(isinstance(e, dict) for e in layout):
                doc["mig-configs"][str(label)] = layout
            else:
                devices = dict(configs.normalize_layout(layout, where="layouts[%s]" % label))
                doc["mig-configs"][str(label)] = [{"devices": "all", "mig-enabled": True, "mig-devices": devices}]
        configs.parse_config(doc)
    except configs.MigConfigError as exc:
        raise AnsibleFilterError("invalid MIG layout: %s" % exc)
    return doc


class FilterModule(object):
    def filters(self):
        return {"mig_parted_config": mig_parted_config}
