# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``mig_user_data``: EC2 user data that partitions a node's GPUs at boot (documentation in ``mig_user_data.yml``).

A thin wrapper over the pure engine ``module_utils/_mig/userdata.py``, the same rendering as
``karpenter_nodepool`` (``mig_user_data=true``) and the ``karpenter_gpu`` role, for Terraform/eksctl node groups.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.gpu_slicing.eks.plugins.filter.mig import _plain
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import userdata
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig._applier_digest import APPLIER_SHA256


def mig_user_data(instance_type, config=None, ami_family="AL2023", layout=None, config_label=None, applier_url=None,
                  applier_sha256=None, taints=None, user_data=None, sharing=None):
    """User data (str) for nodes of ``instance_type`` (a name or a list) that applies ``config`` or ``layout``."""
    try:
        return userdata.render(_plain(instance_type), ami_family=_plain(ami_family), config=_plain(config),
                               layout=_plain(layout), config_label=_plain(config_label),
                               applier_url=_plain(applier_url), applier_sha256=_plain(applier_sha256) or APPLIER_SHA256,
                               taints=_plain(taints) or (), user_data=_plain(user_data), sharing_spec=_plain(sharing))
    except userdata.UserDataError as exc:
        raise AnsibleFilterError("mig_user_data: %s" % to_native(exc))


class FilterModule(object):
    def filters(self):
        return {"mig_user_data": mig_user_data}
