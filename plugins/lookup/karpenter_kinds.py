# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: karpenter_kinds
short_description: The Karpenter kinds and apiVersions this collection manages
version_added: 0.1.0
author:
  - gpu_slicing.eks contributors (@gpu-slicing)
description:
  - Returns one entry per Karpenter kind the collection writes (C(NodePool), C(EC2NodeClass), C(NodeOverlay)) with
    its C(api_version), C(kind) and C(plural), from the same constants C(gpu_slicing.eks.karpenter_nodepool) uses, so
    playbooks never spell an apiVersion themselves.
  - Takes no terms; with terms, only the named kinds are returned, in the order given.
options:
  _terms:
    description: Kinds to return (for example V(NodePool)); all when none are given.
    type: list
    elements: str
    required: false
"""

EXAMPLES = r"""
- name: Read every Karpenter object the collection manages
  kubernetes.core.k8s_info:
    api_version: "{{ item.api_version }}"
    kind: "{{ item.kind }}"
  loop: "{{ query('gpu_slicing.eks.karpenter_kinds') }}"

- name: Only the NodePools
  ansible.builtin.debug:
    msg: "{{ lookup('gpu_slicing.eks.karpenter_kinds', 'NodePool') }}"
"""

RETURN = r"""
_list:
  description: One mapping per kind.
  type: list
  elements: dict
  contains:
    api_version:
      description: Group and version, for example C(karpenter.sh/v1).
      type: str
    kind:
      description: The kind, for example C(NodePool).
      type: str
    plural:
      description: The resource name in URLs, for example C(nodepools).
      type: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _karpenter as karpenter


def kinds(names=None):
    """[{api_version, kind, plural}] for ``names`` (all kinds when empty)."""
    table = dict((kind, {"api_version": api_version, "kind": kind, "plural": plural})
                 for kind, api_version, plural in karpenter.KINDS)
    if not names:
        return [table[kind] for kind, _api_version, _plural in karpenter.KINDS]
    unknown = [name for name in names if name not in table]
    if unknown:
        raise AnsibleLookupError("karpenter_kinds: unknown kind(s) %s; known: %s" % (", ".join(map(str, unknown)), ", ".join(table)))
    return [table[name] for name in names]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return kinds([str(term) for term in terms or []])
