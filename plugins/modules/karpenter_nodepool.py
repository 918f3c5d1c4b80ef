#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: karpenter_nodepool
short_description: Manage a Karpenter NodePool for MIG-sliced NVIDIA GPUs, with its EC2NodeClass and NodeOverlays
version_added: 0.1.0
description:
  - Creates, updates or deletes one Karpenter C(NodePool) (C(karpenter.sh/v1)) for NVIDIA GPU instances whose
    GPUs the GPU Operator's MIG manager partitions according to the node label C(nvidia.com/mig.config).
  - Optionally manages the C(EC2NodeClass) (C(karpenter.k8s.aws/v1)) the pool launches with, and one
    C(NodeOverlay) (C(karpenter.sh/v1alpha1)) per instance type that tells Karpenter's scheduling simulation how
    many MIG slices (C(nvidia.com/mig-*)) a node of that type offers. Without an overlay Karpenter never scales
    out for pods that request MIG slices.
  - Validates everything locally before the first API call, against the Karpenter v1.14.1 schema and CEL rules
    that matter (restricted label domains, requirement operators, minValues, budgets, nodeClassRef
    immutability, role or instance profile, AMI alias rules, restricted tags, overlay capacity). Every error
    names the field.
  - Writes with server-side apply under the field manager C(gpu-slicing-eks). Every object is first applied
    with C(dryRun=All), so the API server's admission judges all of them before the first write (one rejected
    object leaves everything as it was), and only objects whose answer differs from the live object are
    written. Check mode stops after that dry run.
author:
  - gpu_slicing.eks contributors (@gpu-slicing)
extends_documentation_fragment:
  - gpu_slicing.eks.k8s_auth.modules
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Writes are sent with C(dryRun=All); the API server validates them and stores nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows labels, annotations and spec of each object before and after.
options:
  name:
    description:
      - Name of the NodePool. Also the prefix of the NodeOverlay names.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the objects; V(absent) deletes the NodePool and its NodeOverlays (and the
        EC2NodeClass when O(delete_node_class=true)).
    type: str
    choices: [present, absent]
    default: present
  instance_types:
    description:
      - EC2 instance types the pool may launch (requirement on C(node.kubernetes.io/instance-type)).
      - With O(mig_config) each type must be a MIG-capable type of the collection's GPU catalog; with O(sharing) or
        O(node_overlay) a GPU type of the catalog (O(sharing) alone also takes C(g4dn), C(g5), C(g6), C(g6e)).
      - Mutually exclusive with O(gpu_names). One of them is required with O(state=present).
    type: list
    elements: str
  gpu_names:
    description:
      - Karpenter GPU names (requirement on C(karpenter.k8s.aws/instance-gpu-name)). For MIG capacity and
        NodeOverlays they resolve to instance types through the GPU catalog (for example V(h100) to
        C(p5.4xlarge) and C(p5.48xlarge)).
    type: list
    elements: str
    choices: [a100, h100, h200, b200, b300, gb200]
  capacity_types:
    description:
      - Allowed capacity types (requirement on C(karpenter.sh/capacity-type)). V(reserved) needs
        C(capacityReservationSelectorTerms) on the EC2NodeClass.
    type: list
    elements: str
    choices: [spot, on-demand, reserved]
    default: [on-demand]
  requirements:
    description:
      - Additional scheduling requirements of the node template, appended after the generated ones.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description: Label key.
        type: str
        required: true
      operator:
        description: Requirement operator.
        type: str
        required: true
        choices: [In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte]
      values:
        description: Values; V(Gt), V(Lt), V(Gte) and V(Lte) take exactly one non-negative integer.
        type: list
        elements: str
      min_values:
        description: Minimum number of distinct values Karpenter must keep flexible (alpha, 1..50).
        type: int
  mig_config:
    description:
      - Name of the MIG configuration (as in the mig-parted ConfigMap of the GPU Operator, for example
        V(all-1g.10gb) or V(all-balanced)). Set as the template label C(nvidia.com/mig.config), which the MIG
        manager applies when a node joins.
      - Changing it changes the node template, so Karpenter replaces existing nodes through drift.
      - O(labels) or O(spec) setting C(nvidia.com/mig.config) to another value is refused (the nodes would be
        partitioned one way and advertised another), and so is a configuration with no entry for the GPU of an
        instance type of the pool (the error lists the built-in configurations that apply).
    type: str
  mig_layout:
    description:
      - "An explicit MIG layout of every GPU for the capacity calculation, instead of looking O(mig_config) up in
        the built-in mig-parted configurations. Either a mapping of profile name to count per GPU (C({1g.10gb: 2,
        2g.20gb: 1, 3g.40gb: 1})) or a list of profile names of one GPU."
      - Use it when O(mig_config) names a custom configuration of your mig-parted ConfigMap. O(mig_config) is still
        the label value. The layout is checked against the GPU of each instance type (profiles, counts, placement).
    type: raw
  mig_parted_config:
    description:
      - A parsed mig-parted v1 document (C(version), C(mig-configs)) that contains O(mig_config) as a label, for the
        capacity calculation when the label is not one of the built-in configurations (for example the output of
        M(gpu_slicing.eks.mig_plan)). Entries may give different GPUs different layouts.
      - Mutually exclusive with O(mig_layout); needs O(mig_config).
    type: dict
  sharing:
    description:
      - GPU sharing of the NVIDIA device plugin on the pool's nodes (time-slicing or MPS), for the NodeOverlay
        capacity and, on Bottlerocket with O(mig_user_data=true), the node's settings. The same dictionary as the
        C(device_plugin) role's C(device_plugin_configs.<name>.sharing) and the output of M(gpu_slicing.eks.mig_plan).
      - "The capacity is the node's GPU resources (whole GPUs, or the MIG resources of O(mig_config) under
        O(mig_strategy)) times O(sharing.replicas); with O(sharing.rename_by_default=true) they are advertised as
        C(<resource>.shared) instead (C(nvidia.com/gpu) 0), for example C(g5.12xlarge) (4 A10G) with 10 replicas
        gives C(nvidia.com/gpu.shared: 40)."
      - "Refused as the device plugin v0.20 refuses it (README 'Shared Access to GPUs', config validation): fewer
        than 2 replicas, resources other than C(nvidia.com/gpu) and the mixed strategy's C(nvidia.com/mig-<profile>),
        MPS on MIG devices or with O(mig_strategy=mixed), MPS on anything but C(nvidia.com/gpu), a listed resource
        that an instance type of the pool does not advertise."
      - "Isolation: MIG isolates memory and faults in hardware; time-slicing isolates nothing (every replica sees
        the whole GPU memory and shares its fault domain); MPS limits each client's memory and compute to
        1/replicas but the clients share one fault domain."
      - The nodes must run the device plugin with this sharing; select its named config with O(device_plugin_config).
    type: dict
    suboptions:
      mode:
        description: Sharing mode (C(sharing.timeSlicing) or C(sharing.mps) of the plugin config).
        type: str
        choices: [time-slicing, mps]
        required: true
      replicas:
        description: Shared accesses per device (2 or more).
        type: int
        required: true
      rename_by_default:
        description: Advertise C(<resource>.shared) instead of C(<resource>) (C(renameByDefault)).
        type: bool
        default: false
      fail_requests_greater_than_one:
        description: The plugin refuses a container that asks for more than one shared device (C(failRequestsGreaterThanOne)).
        type: bool
        default: false
      resources:
        description:
          - Resources to share (C(nvidia.com/gpu), C(nvidia.com/mig-<profile>)); default every GPU resource the node
            advertises.
        type: list
        elements: str
  device_plugin_config:
    description:
      - Name of the NVIDIA device plugin config the pool's nodes use, set as the template label
        C(nvidia.com/device-plugin.config) (the plugin and the GPU Operator pick that named config from the plugin's
        ConfigMap, for example the C(device_plugin) role's C(device_plugin_configs)).
      - O(labels) or O(spec) setting that label to another value is refused.
    type: str
  mig_strategy:
    description:
      - MIG strategy of the NVIDIA device plugin. V(mixed) advertises C(nvidia.com/mig-<profile>) resources,
        V(single) advertises each slice as C(nvidia.com/gpu) and cannot express a layout with different profiles
        (that is an error).
    type: str
    choices: [single, mixed]
    default: mixed
  taints:
    description:
      - Taints of the nodes. Defaults to C(nvidia.com/gpu:NoSchedule). Give V([]) for none.
    type: list
    elements: dict
    suboptions: &taint_fields  # the same fields in startup_taints
      key:
        description: Taint key.
        type: str
        required: true
      value:
        description: Taint value.
        type: str
      effect:
        description: Taint effect.
        type: str
        required: true
        choices: [NoSchedule, PreferNoSchedule, NoExecute]
  startup_taints:
    description:
      - Taints that another agent removes once the node is ready (Karpenter waits for their removal before it
        considers the node initialized).
    type: list
    elements: dict
    default: []
    suboptions: *taint_fields
  labels:
    description:
      - Additional node labels of the template. Labels of the C(karpenter.sh) and C(karpenter.k8s.aws) domains
        are restricted as by the CRD.
    type: dict
    default: {}
  limits:
    description:
      - "Resource limits of the pool, for example C({nvidia.com/gpu: 16, cpu: 1000})."
      - "Karpenter compares limits with the capacity of the instance types after the NodeOverlays, in which
        C(nvidia.com/gpu) is V(0) (mixed strategy: the limit would never bind) or the number of slices (single
        strategy: it would count slices). With O(node_overlay=true) a C(nvidia.com/gpu) limit therefore counts
        physical GPUs and is set as that many GPUs' worth of the resources the overlays give (C(nvidia.com/gpu: 16) on
        C(all-1g.10gb) becomes C(nvidia.com/mig-1g.10gb: 112)); the module warns with the translation. When the
        instance types of the pool offer different resources per GPU no exact translation exists and the module fails:
        limit C(nodes), C(cpu) or the MIG resources instead."
      - Karpenter enforces C(nodes) only against nodes that already exist, not inside one provisioning batch (a burst
        of pending pods can exceed it; the module warns); C(cpu) and the MIG resources bind inside a batch too.
    type: dict
  disruption:
    description:
      - Disruption settings of the pool.
    type: dict
    suboptions:
      consolidation_policy:
        description: Which nodes consolidation may remove.
        type: str
        choices: [WhenEmpty, WhenEmptyOrUnderutilized, Balanced]
      consolidate_after:
        description: How long a node must be consolidatable before it is removed (V(30s), V(5m), V(Never)).
        type: str
        default: 0s
      budgets:
        description: Disruption budgets.
        type: list
        elements: dict
        suboptions:
          nodes:
            description: Node count or percentage (V(1), V(10%)).
            type: str
            required: true
          schedule:
            description: Cron schedule when the budget starts; needs O(disruption.budgets[].duration).
            type: str
          duration:
            description: How long the budget is active after each schedule hit (V(8h), V(1h30m)).
            type: str
          reasons:
            description: Disruption reasons the budget applies to (all when unset).
            type: list
            elements: str
            choices: [Underutilized, Empty, Drifted]
  expire_after:
    description:
      - Lifetime of a node before Karpenter replaces it (V(720h), V(Never)).
    type: str
  termination_grace_period:
    description:
      - Longest time Karpenter waits for pods to leave a node being disrupted (V(24h)).
    type: str
  weight:
    description:
      - Priority of the pool among pools that fit a pod (1..100).
    type: int
  cluster_name:
    description:
      - EKS cluster name. Used for the default subnet and security group selectors of a managed EC2NodeClass
        (tag C(karpenter.sh/discovery=<cluster_name>)).
    type: str
  node_class:
    description:
      - The EC2NodeClass of the pool. A string references an existing EC2NodeClass by name.
      - "A dictionary with C(group) and C(kind) other than C(karpenter.k8s.aws)/C(EC2NodeClass) references a node class
        of another Karpenter provider by C(group), C(kind) and C(name), for example
        C({group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}); the module neither creates nor deletes it
        and the dictionary may hold no other keys."
      - A dictionary manages the EC2NodeClass with these keys (selector terms, block device mappings and
        metadata options use the CRD's camelCase field names inside).
      - C(name) (required), C(role) or C(instance_profile) (exactly one).
      - C(ami_alias) (default C(al2023@v20261101), a pinned release; C(@latest) makes every new AMI replace all
        nodes) or C(ami_selector_terms) (list) with C(ami_family).
      - C(subnet_selector_terms) and C(security_group_selector_terms) (lists; default to the discovery tag of
        O(cluster_name)).
      - C(block_device_mappings) (list), C(tags) (dict), C(user_data) (str), C(metadata_options) (dict).
      - C(spec) (dict) raw EC2NodeClass C(spec) fields deep-merged last, for example C(capacityReservationSelectorTerms)
        (needed with capacity type V(reserved)), C(kubelet) or C(networkInterfaces). Rules the module does not check
        itself are checked by the API server in the dry run that precedes every write.
      - Required with O(state=present).
    type: raw
  mig_user_data:
    description:
      - Render the C(userData) of the managed EC2NodeClass so that every new node partitions its GPUs into the
        layout of O(mig_config) (or O(mig_layout), O(mig_parted_config)) before kubelet starts, the same layout the
        NodeOverlays promise. Needs O(node_class) as a dictionary; its C(user_data) is kept and merged.
      - The AMI family comes from C(node_class.ami_family) or the prefix of C(node_class.ami_alias) (default AL2023).
      - V(AL2023) gives a MIME multi-part document whose shell part downloads the applier from O(mig_applier_url),
        checks it against O(mig_applier_sha256) and applies the layout with the planner of M(gpu_slicing.eks.nvidia_mig);
        the user's C(user_data) parts come first. If partitioning fails, the node registers with the taint
        C(gpu-slicing.eks/mig-apply-failed=true:NoSchedule) and the reason goes to the journal.
      - V(Bottlerocket) gives the TOML settings C(settings.kubelet-device-plugins.nvidia.device-partitioning-strategy)
        and C(settings.kubelet-device-plugins.nvidia.mig.profile), appended to C(user_data). Only uniform layouts
        (one profile per GPU model, as many as fit) of A100, H100 and H200 can be expressed; anything else fails.
      - With O(sharing), V(Bottlerocket) also gets C(settings.kubelet-device-plugins.nvidia.device-sharing-strategy)
        and C(time-slicing.replicas), C(time-slicing.rename-by-default), C(time-slicing.fail-requests-greater-than-one)
        (or C(mps.replicas), C(mps.rename-by-default), Bottlerocket 1.54+), every value written. It cannot express a
        resource list, sharing on MIG devices, or O(sharing.fail_requests_greater_than_one) with MPS (errors).
        V(AL2023) user data does not share; there the device plugin's named config does (O(device_plugin_config)),
        and O(sharing) without a MIG layout is an error.
      - See the filter P(gpu_slicing.eks.mig_user_data#filter) for the same rendering outside Karpenter.
    type: bool
    default: false
  mig_applier_url:
    description:
      - Where AL2023 nodes download the applier (C(roles/mig_partition/files/gpu-slicing-mig-apply.py) of this
        collection), an C(s3://bucket/key) URL (fetched with the node role by the AWS CLI) or an C(https://) URL.
        The applier is larger than EC2's 16 KB user-data limit, so it cannot be inlined.
      - Required with O(mig_user_data=true) and the AL2023 AMI family.
    type: str
  mig_applier_sha256:
    description:
      - SHA-256 the downloaded applier must have. Defaults to the applier shipped with this collection version.
    type: str
  delete_node_class:
    description:
      - With O(state=absent), also delete the EC2NodeClass named by O(node_class), if this module created it
        (it carries the label C(app.kubernetes.io/managed-by=gpu-slicing-eks)).
    type: bool
    default: false
  node_overlay:
    description:
      - Manage one NodeOverlay per instance type of the pool, named C(<name>-<instance type with dots as dashes>),
        whose C(capacity) holds the MIG resources of O(mig_config) (or O(mig_layout)) under O(mig_strategy), with
        O(sharing) applied (or, with O(sharing) alone, the shared whole GPUs).
        NodeOverlays of this pool that no longer match an instance type are deleted.
      - Needs the Karpenter feature gate C(NodeOverlay=true) (alpha since Karpenter 1.7); the module warns.
      - On a cluster without the NodeOverlay CRD (Karpenter 1.0-1.6) V(true) fails before any write, naming the
        Karpenter version and the feature gate; V(false) then works there (the module asks the API discovery once
        and does not touch NodeOverlays).
      - With O(gpu_names) the instance types come from the GPU catalog.
    type: bool
    default: false
  node_overlay_weight:
    description:
      - Weight of the NodeOverlays (1..10000), when other overlays match the same instance types.
    type: int
  spec:
    description:
      - Raw NodePool C(spec) fields, deep-merged last (dictionaries merge, lists replace). The result is validated
        like everything else.
    type: dict
  wait:
    description:
      - Wait until the NodePool reports the condition C(Ready=True), and until Karpenter has evaluated each NodeOverlay
        (condition C(ValidationSucceeded)); an overlay it rejected, for example with reason C(Conflict) because another
        overlay of the same weight sets the same resource, is reported in RV(overlay_conflicts) and as a warning.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true).
    type: int
    default: 300
notes:
  - NodeOverlay is an alpha API; capacity overlays only change Karpenter's scheduling simulation, never the node.
  - Changing the template (labels such as O(mig_config), requirements, taints, node class) makes Karpenter
    replace existing nodes through drift; O(weight), O(limits) and O(disruption) do not.
  - Deleting a NodePool (O(state=absent)) makes Karpenter drain and terminate all of its nodes.
seealso:
  - name: Karpenter NodePools
    description: The NodePool API.
    link: https://karpenter.sh/docs/concepts/nodepools/
  - name: Karpenter NodeOverlays
    description: The NodeOverlay API.
    link: https://karpenter.sh/docs/concepts/nodeoverlays/
"""

EXAMPLES = r"""
- name: H100 pool sliced into 1g.10gb, with overlays so Karpenter scales for MIG slices
  gpu_slicing.eks.karpenter_nodepool:
    name: gpu-mig-1g
    instance_types: [p5.48xlarge]
    capacity_types: [on-demand, reserved]
    mig_config: all-1g.10gb
    mig_strategy: mixed
    node_overlay: true
    limits:
      nvidia.com/gpu: 16
    disruption:
      consolidation_policy: WhenEmpty
      consolidate_after: 10m
      budgets:
        - nodes: "0"
          schedule: "0 9 * * mon-fri"
          duration: 8h
    node_class:
      name: gpu-al2023
      role: KarpenterNodeRole-my-cluster
      block_device_mappings:
        - deviceName: /dev/xvda
          rootVolume: true
          ebs: {volumeSize: 200Gi, volumeType: gp3, encrypted: true}
    cluster_name: my-cluster

- name: Any A100 or H100 instance, existing node class, check what would change
  gpu_slicing.eks.karpenter_nodepool:
    name: gpu-balanced
    gpu_names: [a100, h100]
    mig_config: all-balanced
    node_class: default
    kubeconfig: ~/.kube/config
    context: my-cluster
  check_mode: true
  diff: true

- name: A10G pool time-sliced 10 ways (no MIG); Karpenter buys one g5.12xlarge per 40 pods asking nvidia.com/gpu.shared
  gpu_slicing.eks.karpenter_nodepool:
    name: a10g-shared
    instance_types: [g5.12xlarge]
    sharing:
      mode: time-slicing
      replicas: 10
      rename_by_default: true
      fail_requests_greater_than_one: true
    device_plugin_config: a10g-ts-10   # a named config of the device plugin (device_plugin role) with the same sharing
    node_overlay: true
    limits:
      nvidia.com/gpu: 8                # physical GPUs: set as nvidia.com/gpu.shared 80 (what the overlays count)
    node_class: default

- name: Bottlerocket L4 pool, time-slicing set in the node's own settings (userData), no device plugin config needed
  gpu_slicing.eks.karpenter_nodepool:
    name: l4-shared
    instance_types: [g6.xlarge, g6.12xlarge]
    sharing: {mode: time-slicing, replicas: 4}
    node_overlay: true
    mig_user_data: true
    node_class:
      name: gpu-bottlerocket
      role: KarpenterNodeRole-my-cluster
      ami_alias: bottlerocket@latest
    cluster_name: my-cluster

- name: Remove the pool, its overlays and its node class
  gpu_slicing.eks.karpenter_nodepool:
    name: gpu-mig-1g
    state: absent
    node_class: {name: gpu-al2023}
    delete_node_class: true
"""

RETURN = r"""
nodepool:
  description: The NodePool as the API server returned it (empty after deletion).
  returned: always
  type: dict
  sample: {apiVersion: karpenter.sh/v1, kind: NodePool, metadata: {name: gpu-mig-1g}, spec: {}}
ec2nodeclass:
  description: The EC2NodeClass as returned by the API server, when O(node_class) is a dictionary.
  returned: when O(node_class) is a dictionary and O(state=present)
  type: dict
  sample: {apiVersion: karpenter.k8s.aws/v1, kind: EC2NodeClass, metadata: {name: gpu-al2023}, spec: {}}
nodeoverlays:
  description: The NodeOverlays as returned by the API server.
  returned: always
  type: list
  elements: dict
  sample: [{apiVersion: karpenter.sh/v1alpha1, kind: NodeOverlay, metadata: {name: gpu-mig-1g-p5-48xlarge}}]
written:
  description:
    - When the run failed after it had already written or deleted objects (for example the EC2NodeClass was applied and
      the NodePool write then failed), those objects as C(Kind/name); C(changed) is then true.
  returned: on failure
  type: list
  elements: str
  sample: [EC2NodeClass/gpu-al2023]
deleted:
  description: Objects deleted (or, in check mode, that would be deleted), as C(Kind/name).
  returned: always
  type: list
  elements: str
  sample: [NodeOverlay/gpu-mig-1g-p5-4xlarge]
mig_capacity:
  description:
    - Extended resources per instance type computed from O(mig_config), O(mig_parted_config) or O(mig_layout) under
      O(mig_strategy), with O(sharing) applied. The NodeOverlays carry the same numbers as quantity strings.
  returned: when O(mig_config), O(mig_layout) or O(sharing) is set and O(state=present)
  type: dict
  sample: {p5.48xlarge: {nvidia.com/mig-1g.10gb: 56, nvidia.com/gpu: 0}}
overlay_conflicts:
  description:
    - NodeOverlays of this pool that Karpenter rejected (condition C(ValidationSucceeded=False)), with its reason
      (C(Conflict) when another NodeOverlay of the same weight sets the same resource for the same instance type, the
      alphabetically later one wins) and message. Karpenter applies none of the rejected overlay's capacity.
    - Filled from the live objects; with O(wait=true) after Karpenter has evaluated the applied generation.
  returned: when O(state=present)
  type: list
  elements: dict
  sample: [{name: gpu-mig-1g-p5-48xlarge, reason: Conflict, message: conflict with another overlay}]
instance_types:
  description: The instance types the pool resolves to (from O(instance_types) or through the catalog from O(gpu_names)).
  returned: when O(state=present)
  type: list
  elements: str
  sample: [p5.4xlarge, p5.48xlarge]
"""

import copy
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _k8s as k8s
from ansible_collections.gpu_slicing.eks.plugins.module_utils import _karpenter as karpenter
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import userdata
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig._applier_digest import APPLIER_SHA256

TAINT_SPEC = dict(
    key=dict(type="str", required=True, no_log=False),
    value=dict(type="str"),
    effect=dict(type="str", required=True, choices=list(karpenter.TAINT_EFFECTS)),
)

# The dictionary form of node_class (type raw, so it is checked here).
NODE_CLASS_SPEC = dict(
    name=dict(type="str", required=True),
    group=dict(type="str"),
    kind=dict(type="str"),
    role=dict(type="str"),
    instance_profile=dict(type="str"),
    ami_alias=dict(type="str"),
    ami_family=dict(type="str", choices=list(karpenter.AMI_FAMILIES)),
    ami_selector_terms=dict(type="list", elements="dict"),
    subnet_selector_terms=dict(type="list", elements="dict"),
    security_group_selector_terms=dict(type="list", elements="dict"),
    block_device_mappings=dict(type="list", elements="dict"),
    tags=dict(type="dict"),
    user_data=dict(type="str"),
    metadata_options=dict(type="dict"),
    spec=dict(type="dict"),
)


def argument_spec():
    spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        instance_types=dict(type="list", elements="str"),
        gpu_names=dict(type="list", elements="str", choices=list(karpenter.GPU_NAMES)),
        capacity_types=dict(type="list", elements="str", choices=list(karpenter.CAPACITY_TYPES), default=["on-demand"]),
        requirements=dict(type="list", elements="dict", default=[], options=dict(
            key=dict(type="str", required=True, no_log=False),
            operator=dict(type="str", required=True, choices=list(karpenter.OPERATORS)),
            values=dict(type="list", elements="str"),
            min_values=dict(type="int"),
        )),
        mig_config=dict(type="str"),
        mig_layout=dict(type="raw"),
        mig_parted_config=dict(type="dict"),
        mig_strategy=dict(type="str", choices=["single", "mixed"], default="mixed"),
        sharing=dict(type="dict", options=dict(
            mode=dict(type="str", choices=list(sharing.MODES), required=True),
            replicas=dict(type="int", required=True),
            rename_by_default=dict(type="bool", default=False),
            fail_requests_greater_than_one=dict(type="bool", default=False),
            resources=dict(type="list", elements="str"),
        )),
        device_plugin_config=dict(type="str"),
        taints=dict(type="list", elements="dict", options=TAINT_SPEC),
        startup_taints=dict(type="list", elements="dict", options=TAINT_SPEC, default=[]),
        labels=dict(type="dict", default={}),
        limits=dict(type="dict"),
        disruption=dict(type="dict", options=dict(
            consolidation_policy=dict(type="str", choices=list(karpenter.CONSOLIDATION_POLICIES)),
            consolidate_after=dict(type="str", default="0s"),
            budgets=dict(type="list", elements="dict", options=dict(
                nodes=dict(type="str", required=True),
                schedule=dict(type="str"),
                duration=dict(type="str"),
                reasons=dict(type="list", elements="str", choices=list(karpenter.BUDGET_REASONS)),
            )),
        )),
        expire_after=dict(type="str"),
        termination_grace_period=dict(type="str"),
        weight=dict(type="int"),
        cluster_name=dict(type="str"),
        node_class=dict(type="raw"),
        delete_node_class=dict(type="bool", default=False),
        mig_user_data=dict(type="bool", default=False),
        mig_applier_url=dict(type="str"),
        mig_applier_sha256=dict(type="str"),
        node_overlay=dict(type="bool", default=False),
        node_overlay_weight=dict(type="int"),
        spec=dict(type="dict"),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
    )
    spec.update(copy.deepcopy(k8s.AUTH_ARG_SPEC))
    return spec


class ParameterError(ValueError):
    """Options that cannot work together, found before any API call."""


def normalize_node_class(value):
    """Return (nodeClassRef, dict-or-None) for the node_class option; the dict when the module manages an EC2NodeClass."""
    if isinstance(value, str) and value:
        return karpenter.node_class_reference(value), None
    if isinstance(value, dict):
        result = ArgumentSpecValidator(NODE_CLASS_SPEC).validate(value)
        if result.error_messages:
            raise ParameterError("node_class: %s" % "; ".join(result.error_messages))
        params = result.validated_parameters
        ref = karpenter.node_class_reference(params)
        if (ref["group"], ref["kind"]) != (karpenter.EC2NODECLASS_GROUP, karpenter.EC2NODECLASS_KIND):
            extra = sorted(k for k, v in params.items() if k not in ("name", "group", "kind") and v is not None)
            if extra:
                raise ParameterError("node_class: %s/%s is another provider's node class, which the module only references: "
                                     "remove %s" % (ref["group"], ref["kind"], ", ".join(extra)))
            return ref, None
        return ref, params
    raise ParameterError("node_class must be the name of an EC2NodeClass or a dictionary describing one, got %r" % (value,))


def pool_sharing(params):
    """The parsed ``sharing`` option (sharing.Sharing) or None; ParameterError with the engine's reason."""
    try:
        return sharing.parse(params.get("sharing"))
    except sharing.SharingError as exc:
        raise ParameterError(str(exc))


def compute_capacity(params, instance_types):
    """Extended resources per instance type for the MIG config/layout and the sharing, or {} when none is set.

    One engine for both: ``sharing.node_capacity`` (MIG resources from ``capacity.mig_resources``, then the device
    plugin's sharing), so the NodeOverlay advertises what the device plugin will.
    """
    shared = pool_sharing(params)
    mig = bool(params.get("mig_config")) or params.get("mig_layout") is not None
    if not mig and shared is None:
        if params.get("node_overlay"):
            raise ParameterError("node_overlay needs mig_config, mig_layout or sharing: the overlay capacity comes from "
                                 "the MIG layout or the GPU sharing")
        return {}
    if not instance_types:
        raise ParameterError("cannot compute MIG capacity without instance types")
    result = {}
    errors = []
    for instance_type in instance_types:
        try:
            if not mig:
                result[instance_type] = dict(sharing.node_capacity(instance_type, shared))
                continue
            if params.get("mig_layout") is not None:
                source = dict(layout=params["mig_layout"])
            else:
                if params.get("mig_parted_config") is not None:
                    source = dict(config=params["mig_parted_config"], config_label=params["mig_config"])
                else:
                    source = dict(config=params["mig_config"])
                # A config with no entry for this GPU would advertise whole GPUs: refuse, naming what fits.
                mismatch = capacity.config_mismatch(instance_type, **source)
                if mismatch:
                    errors.append("%s: %s" % (instance_type, mismatch))
                    continue
            result[instance_type] = dict(sharing.node_capacity(instance_type, shared, strategy=params["mig_strategy"], **source))
        except (ValueError, catalog.CatalogError) as exc:
            errors.append("%s: %s" % (instance_type, exc))
    if errors:
        raise ParameterError("%s capacity: %s" % ("MIG" if mig else "sharing", "; ".join(errors)))
    return result


def ami_family(node_class):
    """AL2023 or Bottlerocket from node_class ami_family / ami_alias (the alias prefix names the family)."""
    if node_class.get("ami_family"):
        return node_class["ami_family"]
    alias = (node_class.get("ami_alias") or karpenter.DEFAULT_AMI_ALIAS).split("@", 1)[0].lower()
    return {"al2023": "AL2023", "bottlerocket": "Bottlerocket"}.get(alias, alias)


def render_user_data(params, node_class, instance_types):
    """node_class with ``user_data`` rendered for the pool's MIG layout (mig_user_data=true), else unchanged."""
    if not params.get("mig_user_data"):
        return node_class
    if node_class is None:
        raise ParameterError("mig_user_data needs node_class as a dictionary (the EC2NodeClass this module manages)")
    if not params.get("mig_config") and params.get("mig_layout") is None and params.get("sharing") is None:
        raise ParameterError("mig_user_data needs mig_config, mig_layout or sharing: the user data applies that layout "
                             "(or, on Bottlerocket, that sharing)")
    if not params.get("mig_config") and params.get("mig_layout") is None:
        layout = {}
    elif params.get("mig_layout") is not None:
        layout = dict(layout=params["mig_layout"], label=params.get("mig_config"))
    elif params.get("mig_parted_config") is not None:
        layout = dict(config=params["mig_parted_config"], config_label=params["mig_config"], label=params["mig_config"])
    else:
        layout = dict(config=params["mig_config"])
    taints = karpenter.DEFAULT_TAINTS if params.get("taints") is None else params["taints"]
    try:
        rendered = userdata.render(
            instance_types, ami_family=ami_family(node_class), applier_url=params.get("mig_applier_url"),
            applier_sha256=params.get("mig_applier_sha256") or APPLIER_SHA256, user_data=node_class.get("user_data"),
            taints=[dict((k, v) for k, v in t.items() if v is not None) for t in taints],
            sharing_spec=params.get("sharing"), **layout)
    except userdata.UserDataError as exc:
        raise ParameterError("mig_user_data: %s" % exc)
    return dict(node_class, user_data=rendered)


def check_template_label(params, nodepool, label, option, why):
    """The NodePool's template label ``label`` must be the value of ``option``; a disagreement is refused, not overridden."""
    wanted = params.get(option)
    given = (params.get("labels") or {}).get(label)
    if given is not None and wanted is not None and given != wanted:
        raise ParameterError("labels sets %s=%r but %s is %r; the module sets that label from %s: drop it "
                             "from labels" % (label, given, option, wanted, option))
    final = (((nodepool.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    if wanted is not None and final.get(label) != wanted:
        raise ParameterError("spec sets template.metadata.labels[%r] to %r but %s is %r: %s; set %s instead"
                             % (label, final.get(label), option, wanted, why, option))


def check_mig_config_label(params, nodepool):
    """The MIG manager partitions the node by nvidia.com/mig.config while the NodeOverlays advertise mig_config's
    capacity; the device plugin shares by nvidia.com/device-plugin.config while they advertise the sharing."""
    check_template_label(params, nodepool, karpenter.MIG_CONFIG_LABEL, "mig_config",
                         "nodes would be partitioned one way while the NodeOverlays advertise the other")
    check_template_label(params, nodepool, sharing.CONFIG_LABEL, "device_plugin_config",
                         "the device plugin would use another config than the one the NodeOverlays advertise")


def desired_objects(params, check=True):
    """Build and validate every object; raise before any API call if anything is wrong.

    ``check=False`` skips the Kubernetes-level checks of the built objects (option errors still raise): the
    agreement test sends exactly these objects to a real API server to prove it rejects what we reject.
    """
    node_class_ref, node_class = normalize_node_class(params.get("node_class"))
    instance_types = karpenter.resolve_instance_types(params.get("instance_types"), params.get("gpu_names"))
    mig_capacity = compute_capacity(params, instance_types)
    node_class = render_user_data(params, node_class, instance_types)

    warnings = []
    bottlerocket_sharing = params.get("mig_user_data") and node_class is not None and ami_family(node_class) == "Bottlerocket"
    if params.get("sharing") is not None and not params.get("device_plugin_config") and not bottlerocket_sharing:
        warnings.append("sharing is set without device_plugin_config: the nodes advertise the shared capacity only if "
                        "the device plugin's default config has this sharing; set device_plugin_config to the name of "
                        "that config (label %s)" % sharing.CONFIG_LABEL)
    if params.get("node_overlay") and karpenter.GPU_RESOURCE in (params.get("limits") or {}):
        limits, message = karpenter.translate_gpu_limit(params["limits"], mig_capacity)
        params = dict(params, limits=limits)
        warnings.append(message)
    elif params.get("node_overlay") and karpenter.GPU_RESOURCE in ((params.get("spec") or {}).get("limits") or {}):
        warnings.append("spec.limits[%r] does not limit physical GPUs: Karpenter compares it with the NodeOverlay capacity, "
                        "in which it is %s per node; use the limits option (translated) or limit nodes, cpu or the MIG "
                        "resources" % (karpenter.GPU_RESOURCE, ", ".join(
                            "%s on %s" % (c.get(karpenter.GPU_RESOURCE, 0), t) for t, c in sorted(mig_capacity.items()))))

    violations = []
    objects = {"nodepool": karpenter.build_nodepool(params, node_class_ref), "ec2nodeclass": None, "nodeoverlays": [],
               "warnings": warnings}
    check_mig_config_label(params, objects["nodepool"])
    pool_spec = objects["nodepool"]["spec"]
    if "nodes" in (pool_spec.get("limits") or {}) and "replicas" not in pool_spec:
        warnings.append(karpenter.NODES_LIMIT_WARNING)
    if node_class is not None:
        try:
            objects["ec2nodeclass"] = karpenter.build_ec2nodeclass(node_class, params.get("cluster_name"))
        except karpenter.KarpenterValidationError as exc:
            violations.extend(exc.violations)
    if params.get("node_overlay"):
        objects["nodeoverlays"] = [karpenter.build_nodeoverlay(params["name"], t, mig_capacity[t], params.get("node_overlay_weight"))
                                   for t in instance_types]
    if not check and not violations:
        return objects, instance_types, mig_capacity
    checks = [(karpenter.validate_nodepool, objects["nodepool"], "NodePool")]
    if objects["ec2nodeclass"]:
        checks.append((karpenter.validate_ec2nodeclass, objects["ec2nodeclass"], "EC2NodeClass"))
    checks.extend((karpenter.validate_nodeoverlay, o, "NodeOverlay %s" % o["metadata"]["name"]) for o in objects["nodeoverlays"])
    for validate, obj, label in checks:
        try:
            validate(obj)
        except karpenter.KarpenterValidationError as exc:
            violations.extend(("%s %s" % (label, path), msg) for path, msg in exc.violations)
    if violations:
        raise karpenter.KarpenterValidationError(violations)
    return objects, instance_types, mig_capacity


def _diff_view(obj):
    if not obj:
        return {}
    stripped = k8s.strip_server_fields(obj)
    metadata = stripped.get("metadata") or {}
    view = {"metadata": dict((k, metadata[k]) for k in ("labels", "annotations") if k in metadata)}
    view["spec"] = stripped.get("spec")
    return view


# NodeOverlay (karpenter.sh/v1alpha1) arrived in Karpenter v1.7.0, alpha, behind a feature gate.
NODEOVERLAY_MISSING = ("this cluster does not serve NodeOverlay (karpenter.sh/v1alpha1 nodeoverlays): it needs Karpenter "
                       "v1.7.0 or later with its CRDs installed and the feature gate NodeOverlay=true (Helm "
                       "settings.featureGates.nodeOverlay; Karpenter 1.0-1.6 have no NodeOverlay)")


class Runner(object):
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.changed = False
        self.diffs = []
        self.deleted = []
        self.written = []  # Kind/name of every object this run wrote or deleted (for a failure half-way)
        self._overlays_served = None

    def overlays_served(self):
        """Whether the cluster has the NodeOverlay CRD (asked once per run)."""
        if self._overlays_served is None:
            self._overlays_served = self.client.served(k8s.NODEOVERLAY)
        return self._overlays_served

    def _record(self, kind, name, before, after):
        changed = k8s.strip_server_fields(before) != k8s.strip_server_fields(after)
        if changed:
            self.changed = True
            self.diffs.append({"before_header": "%s/%s" % (kind.kind, name), "after_header": "%s/%s" % (kind.kind, name),
                               "before": _diff_view(before), "after": _diff_view(after)})
        return changed

    def delete(self, kind, name, live=None):
        live = live if live is not None else self.client.get(kind, name)
        if live is None:
            return False
        if self.client.delete(kind, name):
            if not self.module.check_mode:
                self.written.append("%s/%s" % (kind.kind, name))
            self._record(kind, name, live, None)
            self.deleted.append("%s/%s" % (kind.kind, name))
            return True
        return False

    def present(self, desired):
        """``desired``: what desired_objects() returned (built and validated before the client existed)."""
        objects, instance_types, mig_capacity = desired
        nodepool = objects["nodepool"]
        if self.params.get("node_overlay") and not self.overlays_served():
            raise k8s.K8sError("node_overlay=true, but %s. Nothing was changed. Set node_overlay: false to manage the "
                               "NodePool without MIG capacity for Karpenter's scheduling." % NODEOVERLAY_MISSING)
        live_pool = self.client.get(k8s.NODEPOOL, self.params["name"])
        # Checks that need the live object (CEL transition rules), still before the first write.
        karpenter.validate_nodepool(nodepool, live=live_pool)
        for message in objects.get("warnings") or []:
            self.module.warn(message)
        if self.params.get("node_overlay"):
            self.module.warn("NodeOverlay is alpha: Karpenter must run with the feature gate NodeOverlay=true "
                             "(settings.featureGates.nodeOverlay), otherwise the MIG capacity is ignored.")
        live_labels = (((live_pool or {}).get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        if live_pool and live_labels.get(karpenter.MIG_CONFIG_LABEL) != self.params.get("mig_config"):
            self.module.warn("mig_config changes from %r to %r: the node template changes, so Karpenter replaces the "
                             "existing nodes of NodePool %s through drift." % (live_labels.get(karpenter.MIG_CONFIG_LABEL),
                                                                               self.params.get("mig_config"), self.params["name"]))

        result = {"instance_types": instance_types, "mig_capacity": mig_capacity}
        # One LIST gives the live state of all our overlays (no GET per overlay) and the stale ones to prune.
        own = dict((o["metadata"]["name"], o) for o in self._own_overlays())
        plan = []
        if objects["ec2nodeclass"]:
            plan.append((k8s.EC2NODECLASS, objects["ec2nodeclass"], self.client.get(k8s.EC2NODECLASS, objects["ec2nodeclass"]["metadata"]["name"])))
        plan.append((k8s.NODEPOOL, nodepool, live_pool))
        plan.extend((k8s.NODEOVERLAY, overlay, own.get(overlay["metadata"]["name"])) for overlay in objects["nodeoverlays"])

        # Preflight: the API server's admission (schema, CEL) judges every object with dryRun=All before the first
        # write, so one rejected object leaves all of them as they were; the answers also tell what would change.
        try:
            previews = [self.client.apply(kind, obj, dry_run=True) for kind, obj, dummy in plan]
        except k8s.K8sError as exc:
            raise k8s.K8sError("the API server rejected the objects in a dry run, nothing was changed: %s" % exc, exc.status)
        applied = []
        for (kind, obj, live), preview in zip(plan, previews):
            if self._record(kind, obj["metadata"]["name"], live, preview):
                if self.module.check_mode:
                    applied.append(preview)
                else:
                    applied.append(self.client.apply(kind, obj, dry_run=False))
                    self.written.append("%s/%s" % (kind.kind, obj["metadata"]["name"]))
            else:
                applied.append(live)  # unchanged: nothing is written
        if objects["ec2nodeclass"]:
            result["ec2nodeclass"] = applied.pop(0)
        result["nodepool"] = applied.pop(0)
        result["nodeoverlays"] = applied

        wanted = set(o["metadata"]["name"] for o in objects["nodeoverlays"])
        for name, stale in sorted(own.items()):
            if name not in wanted:
                self.delete(k8s.NODEOVERLAY, name, live=stale)

        if self.params["wait"] and not self.module.check_mode:
            result["nodepool"] = self.client.wait_for_condition(k8s.NODEPOOL, self.params["name"], "Ready",
                                                                timeout=self.params["wait_timeout"])
            if result["nodeoverlays"]:
                result["nodeoverlays"] = self._wait_for_overlay_verdicts(result["nodeoverlays"])
        result["overlay_conflicts"] = []
        for overlay in result["nodeoverlays"]:
            verdict = karpenter.overlay_verdict(overlay or {})
            if verdict and not verdict[0]:
                name = overlay["metadata"]["name"]
                result["overlay_conflicts"].append({"name": name, "reason": verdict[1], "message": verdict[2]})
                self.module.warn("Karpenter rejected NodeOverlay %s (%s: %s): none of its capacity is used, so pods that "
                                 "request it may stay Pending" % (name, verdict[1], verdict[2]))
        return result

    def _wait_for_overlay_verdicts(self, overlays, interval=1.0):
        """The overlays once Karpenter evaluated their generation (or as last seen, with a warning, at the timeout)."""
        deadline = time.monotonic() + self.params["wait_timeout"]
        current = list(overlays)
        while True:
            pending = [i for i, overlay in enumerate(current) if karpenter.overlay_verdict(overlay or {}) is None]
            if not pending:
                return current
            if time.monotonic() >= deadline:
                self.module.warn("Karpenter did not evaluate NodeOverlay %s within %ss: is it running with the feature gate "
                                 "NodeOverlay=true?" % (", ".join(current[i]["metadata"]["name"] for i in pending),
                                                        self.params["wait_timeout"]))
                return current
            time.sleep(interval)
            for i in pending:
                current[i] = self.client.get(k8s.NODEOVERLAY, current[i]["metadata"]["name"]) or current[i]

    def _own_overlays(self):
        """Our NodeOverlays; none on a cluster without the NodeOverlay CRD (Karpenter < 1.7)."""
        if not self.overlays_served():
            return []
        selector = "%s=%s" % (karpenter.OVERLAY_OWNER_LABEL, self.params["name"])
        return self.client.list(k8s.NODEOVERLAY, label_selector=selector)

    def absent(self):
        # Every read before the first delete: a failing LIST must not leave the NodePool deleted and its overlays behind.
        overlays = self._own_overlays()
        self.delete(k8s.NODEPOOL, self.params["name"])
        for overlay in overlays:
            self.delete(k8s.NODEOVERLAY, overlay["metadata"]["name"], live=overlay)
        if self.params["delete_node_class"]:
            ref, dummy = normalize_node_class(self.params.get("node_class"))
            name = ref["name"]
            if ref["kind"] != karpenter.EC2NODECLASS_KIND:
                self.module.warn("%s %s belongs to another provider; the module only deletes EC2NodeClasses it created."
                                 % (ref["kind"], name))
                return {"nodepool": {}, "nodeoverlays": []}
            live = self.client.get(k8s.EC2NODECLASS, name)
            owner = ((live or {}).get("metadata", {}).get("labels") or {}).get(karpenter.MANAGED_BY_LABEL)
            if live and owner != karpenter.MANAGED_BY_VALUE:
                self.module.warn("EC2NodeClass %s is not managed by this module (label %s=%s missing); not deleted."
                                 % (name, karpenter.MANAGED_BY_LABEL, karpenter.MANAGED_BY_VALUE))
            elif live:
                self.delete(k8s.EC2NODECLASS, name, live=live)
        return {"nodepool": {}, "nodeoverlays": []}


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("instance_types", "gpu_names"), ("mig_layout", "mig_parted_config")],
        required_if=[("state", "present", ("instance_types", "gpu_names"), True),
                     ("state", "present", ("node_class",)),
                     ("delete_node_class", True, ("node_class",))],
        required_by={"mig_parted_config": ("mig_config",)},
    )
    # Credentials inside a kubeconfig dictionary and a proxy URL's password never reach logs or results.
    module.no_log_values.update(k8s.secret_values(module.params))
    if not k8s.HAS_K8S:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(k8s.K8S_IMPORT_ERROR))

    runner = None
    try:
        # every local check before the client is even built
        desired = desired_objects(module.params) if module.params["state"] == "present" else None
        client = k8s.K8sClient(configuration=k8s.build_configuration(module.params), dry_run=module.check_mode)
        runner = Runner(module, client)
        if desired is not None:
            result = runner.present(desired)
        else:
            result = runner.absent()
    except (ParameterError, karpenter.KarpenterValidationError) as exc:
        module.fail_json(msg="invalid parameters, nothing was changed: %s" % exc)
    except k8s.K8sError as exc:
        written = runner.written if runner else []
        msg = str(exc)
        if written:
            msg += ". Already written before the failure: %s" % ", ".join(written)
        module.fail_json(msg=msg, status=exc.status, changed=bool(written), written=written, exception=traceback.format_exc())

    result["changed"] = runner.changed
    result["deleted"] = runner.deleted
    result.setdefault("nodeoverlays", [])
    if module._diff:
        result["diff"] = runner.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
