#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mig_plan
short_description: Plan MIG layouts, the fewest GPUs and the cheapest EC2 instances for a demand of MIG slices
version_added: 0.1.0
author:
  - gpu_slicing.eks contributors (@gpu-slicing)
description:
  - >-
    Turns a demand of MIG slices (for example V({"1g.10gb": 20, "3g.40gb": 6}), or a list of workloads) into a plan
    for NVIDIA Multi-Instance GPU on EKS with Karpenter.
  - For each candidate GPU model it enumerates every maximal per-GPU layout that the model's placement rules allow
    (memory-slot starts and sizes, per-GPU maximum counts), then solves the covering problem exactly (fewest GPUs)
    by branch and bound over an LP lower bound; the result carries an optimality certificate.
  - It then picks the cheapest mix of instance types for those GPUs, groups identical nodes into node kinds, and
    returns a mig-parted C(v1) config that realises the plan (usable by M(gpu_slicing.eks.nvidia_mig) and by the GPU
    Operator's MIG manager) and one M(gpu_slicing.eks.karpenter_nodepool) settings entry per node kind.
  - "Objective and tie-breaks: fewest GPUs; then the lowest known hourly cost; then the fewest provisioned GPUs;
    then the fewest instances; then catalog order of the GPU models. With O(objective=cost) GPU models are ranked
    by cost first. Within a model, a cover with one or two distinct layouts is preferred when one exists with the
    same GPU count (fewer NodePools). Instance types without a price are used only when the GPU model has no priced
    candidate."
  - >-
    The module reads and changes nothing (no I/O); run it on the controller, for example with
    C(delegate_to: localhost).
options:
  demand:
    description:
      - >-
        The MIG slices to provide. Either a mapping of profile name to count (V({"1g.10gb": 20, "3g.40gb": 6})) or a
        list of workloads.
      - Names are mig-parted/nvidia-smi profile names (V(1g.10gb), V(1g.10gb+me)) or the device plugin's resource names
        (V(nvidia.com/mig-1g.10gb), V(nvidia.com/mig-1g.10gb.me)).
      - "A workload is a mapping with C(name), C(replicas) (default V(1)) and either C(profile) (+ C(count), default
        V(1)) or C(resources) (profile name to count, per replica)."
      - Counts must be whole numbers >= 0 and the demand must ask for at least one slice and, with O(headroom), at most
        100000 slices (about 14000 GPUs); split larger demands, for example per NodePool.
    type: raw
    required: true
  candidates:
    description:
      - The instance types or GPU models to consider, with optional hourly prices (USD).
      - >-
        A list of names (EC2 instance types such as V(p5.48xlarge), or GPU model keys of the collection's catalog such
        as V(h100-80gb), which stand for all catalog instance types with that GPU), a list of mappings
        V({name: p5.48xlarge, price: 40.5}), or a mapping name to price (V(null) = catalog price).
      - Default is every MIG-capable instance type of the catalog at its catalog (us-east-1 on-demand) price.
    type: raw
  strategy:
    description:
      - The device plugin's MIG strategy the plan is for.
      - V(mixed) allows different layouts per GPU and per node.
      - V(single) allows one profile type per node (the device plugin's rule), so each demanded profile gets its own
        uniform nodes; a workload that asks for two profile types at once is an error.
    type: str
    choices: [mixed, single]
    default: mixed
  headroom:
    description: Extra capacity in percent added to every profile's demand (rounded up), for example V(10).
    type: float
    default: 0
  objective:
    description: How GPU models are ranked against each other.
    type: str
    choices: [gpus, cost]
    default: gpus
  name:
    description:
      - Prefix of the node kinds; each node kind's name (V(<name>-1), V(<name>-2), ...) is its mig-parted config label
        and its NodePool name.
      - Lower-case letters, digits and V(-), at most 50 characters.
    type: str
    default: mig-plan
  pool_limits:
    description:
      - Give each node kind's NodePool settings (C(limits) in RV(nodepools[].settings)) limits of exactly its planned capacity,
        so that Karpenter buys the plan and no more.
      - "Why: Karpenter v1.14.1 schedules a batch of pending pods greedily, NodePool by NodePool in weight order, and fills
        the first pool that fits again and again; it does not count C(limits.nodes) down inside one batch. A plan with
        several node kinds is therefore bought as more (or other) nodes than planned unless each pool is capped. The
        limits that bind are those Karpenter compares with the NodeOverlay capacity: with O(strategy=mixed) the
        overlay's MIG resources, planned nodes times one node's capacity (C(nvidia.com/mig-3g.40gb: 16) for 2 nodes of
        8 x 3g.40gb); with O(strategy=single) C(nvidia.com/gpu) as the kind's physical GPUs, which
        M(gpu_slicing.eks.karpenter_nodepool) translates into the slices of those GPUs (with a warning saying so)."
      - "What you give up: the pools cannot grow beyond the plan. Pods beyond the planned capacity (a burst, demand
        that grew, headroom used up) stay Pending with Karpenter's C(FailedScheduling) event C(exceed limits) until you
        plan again. The limits also count nodes that already run in the pool. For bursts, keep V(true), give the plan
        a O(pool_weight) and add an uncapped pool of lower weight for the overflow (Karpenter tries pools by weight,
        then by name, later in the alphabet first), or set V(false)."
      - V(false) leaves the pools uncapped (no C(limits) key); a plan with one node kind is then still bought as planned
        for its demand, one with several node kinds usually is not.
    type: bool
    default: true
  pool_weight:
    description:
      - NodePool C(weight) (1..100) put into every node kind's settings (C(weight) in RV(nodepools[].settings)); unset gives
        no weight (Karpenter's lowest priority, 0).
      - With O(pool_limits=true) the order in which Karpenter tries the plan's own pools does not change what it buys
        (each pool is capped, and fewer nodes cannot hold the demand), so all node kinds get the same weight. It
        matters against the other pools of the cluster that offer the same MIG resources, for example an overflow pool.
    type: int
  time_slicing:
    description:
      - Also propose time-slicing whole GPUs of instance types without MIG (g4dn T4, g5 A10G, g6 L4, g6e L40S, p3
        V100), often cheaper, in RV(time_slicing). The MIG plan is returned as before; nothing is chosen for you.
      - Each demanded slice becomes one pod requesting one shared C(nvidia.com/gpu). Time-slicing enforces no memory
        limit, so the sizing assumes each workload uses at most the memory of the slice it replaces and puts
        C(GPU memory // largest slice memory) replicas on a GPU (a 24 GB A10G holds two C(1g.10gb) workloads); a GPU
        that cannot hold two is listed as not feasible.
      - "Isolation, in RV(isolation) and RV(time_slicing.isolation): MIG isolates memory, compute and faults in
        hardware; time-slicing isolates nothing (one workload that allocates too much memory or crashes the GPU hurts
        every workload on it); MPS (not proposed here) limits memory and compute per client but shares one fault
        domain."
    type: bool
    default: false
  time_slicing_candidates:
    description:
      - Instance types without MIG to consider with O(time_slicing=true); default every priced one of the catalog.
    type: list
    elements: str
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module never changes anything; check mode returns the same plan.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - The plan counts slices; it does not check that all slices of one pod land on one node. It warns for workloads
    that ask for several slices per pod, and more strongly when no planned node can hold one such pod at all.
  - Spare GPUs of a node (when the GPU count is not a multiple of the instance size) get a copy of that node's most
    common layout, so they add headroom.
  - A plan uses one GPU model; the other candidate models are listed in RV(alternatives) with their own best plan.
  - Prices come from the catalog (us-east-1 on-demand, see the catalog's sources); pass O(candidates) with prices for
    your region, savings plans or spot.
seealso:
  - module: gpu_slicing.eks.karpenter_nodepool
  - module: gpu_slicing.eks.nvidia_mig
  - plugin: gpu_slicing.eks.mig_plan
    plugin_type: filter
  - plugin: gpu_slicing.eks.mig_capacity
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Plan 20 small and 6 large slices on H100 or A100 80GB instances
  gpu_slicing.eks.mig_plan:
    demand:
      1g.10gb: 20
      3g.40gb: 6
    candidates: [p5.48xlarge, p5.4xlarge, p4de.24xlarge]
    headroom: 10
  delegate_to: localhost
  register: plan

- name: Create the NodePools (capped at the plan, pool_limits) and NodeOverlays of the plan
  gpu_slicing.eks.karpenter_nodepool:
    name: "{{ item.settings.name }}"
    instance_types: "{{ item.settings.instance_types }}"
    mig_config: "{{ item.settings.mig_config }}"
    mig_strategy: "{{ item.settings.mig_strategy }}"
    mig_layout: "{{ item.settings.mig_layout | default(omit) }}"
    mig_parted_config: "{{ item.settings.mig_parted_config | default(omit) }}"
    limits: "{{ item.settings.limits | default(omit) }}"
    weight: "{{ item.settings.weight | default(omit) }}"
    node_overlay: true
    node_class: default
  loop: "{{ plan.nodepools }}"

- name: Or the same pools through the karpenter_gpu role
  ansible.builtin.include_role:
    name: gpu_slicing.eks.karpenter_gpu
  vars:
    karpenter_gpu_node_class: default
    karpenter_gpu_pools: "{{ plan.nodepools | map(attribute='settings') | list }}"

- name: Per-workload demand with our own prices, single strategy
  gpu_slicing.eks.mig_plan:
    demand:
      - name: llm
        replicas: 4
        profile: 3g.40gb
      - name: embeddings
        replicas: 30
        profile: nvidia.com/mig-1g.10gb
    candidates:
      p5.48xlarge: 38.5
      p5.4xlarge: 4.9
    strategy: single
  delegate_to: localhost
  register: single_plan
"""

RETURN = r"""
gpu_model:
  description: The catalog key of the chosen GPU model.
  returned: success
  type: str
  sample: h100-80gb
gpu_product:
  description: The chosen GPU's product name.
  returned: success
  type: str
  sample: NVIDIA H100 80GB HBM3
strategy:
  description: The MIG strategy of the plan.
  returned: success
  type: str
  sample: mixed
objective:
  description: The objective used to rank GPU models.
  returned: success
  type: str
  sample: gpus
headroom_percent:
  description: The headroom applied.
  returned: success
  type: float
  sample: 10.0
demand:
  description: The demand resolved to profile names of the chosen GPU model.
  returned: success
  type: dict
  sample: {"1g.10gb": 20, "3g.40gb": 6}
demand_with_headroom:
  description: The demand the plan covers, after headroom.
  returned: success
  type: dict
  sample: {"1g.10gb": 22, "3g.40gb": 7}
gpus:
  description: The exact minimum number of GPUs whose layouts cover the demand.
  returned: success
  type: int
  sample: 6
provisioned_gpus:
  description: The GPUs of all planned instances.
  returned: success
  type: int
  sample: 8
spare_gpus:
  description: RV(provisioned_gpus) minus RV(gpus).
  returned: success
  type: int
  sample: 2
gpu_layouts:
  description: The distinct per-GPU layouts of the minimum cover.
  returned: success
  type: list
  elements: dict
  contains:
    layout:
      description: Profile name to count on one GPU.
      type: dict
      returned: success
      sample: {"1g.10gb": 4, "3g.40gb": 1}
    placement:
      description: A valid placement of the layout as [profile, start memory slot] pairs.
      type: list
      elements: list
      returned: success
      sample: [["1g.10gb", 0], ["1g.10gb", 1], ["1g.10gb", 2], ["1g.10gb", 3], ["3g.40gb", 4]]
    gpus:
      description: How many GPUs of the minimum cover use this layout.
      type: int
      returned: success
      sample: 6
    description:
      description: The layout in words.
      type: str
      returned: success
      sample: 4x 1g.10gb + 1x 3g.40gb
instances:
  description: Instance type to count.
  returned: success
  type: dict
  sample: {"p4de.24xlarge": 1}
hourly_cost:
  description: The on-demand hourly cost of the instances in USD, null when a used instance type has no price.
  returned: success
  type: float
  sample: 27.44705
nodes:
  description: The node kinds (identical nodes grouped).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Node kind name, also its mig-parted config label and NodePool name.
      type: str
      returned: success
      sample: mig-plan-1
    instance_type:
      description: EC2 instance type of these nodes.
      type: str
      returned: success
      sample: p4de.24xlarge
    count:
      description: How many nodes of this kind the plan needs.
      type: int
      returned: success
      sample: 1
    mig_config:
      description: The mig-parted config label of these nodes (the C(nvidia.com/mig.config) node label).
      type: str
      returned: success
      sample: mig-plan-1
    gpu_layouts:
      description: Layout of every GPU of the node, by GPU index.
      type: list
      elements: dict
      returned: success
      sample: [{"1g.10gb": 4, "3g.40gb": 1}]
    uniform:
      description: Whether every GPU of the node has the same layout.
      type: bool
      returned: success
      sample: true
    capacity:
      description: Extended resources one node advertises under O(strategy) (the NodeOverlay capacity).
      type: dict
      returned: success
      sample: {"nvidia.com/mig-1g.10gb": 32, "nvidia.com/mig-3g.40gb": 8, "nvidia.com/gpu": 0}
utilisation:
  description: How much of the provisioned capacity the demand uses.
  returned: success
  type: dict
  contains:
    compute_slices_demanded:
      description: Compute slices (the C(<G>) of C(<G>g.<M>gb)) of the demand before headroom.
      type: int
      returned: success
      sample: 38
    compute_slices_provisioned:
      description: Compute slices of all provisioned GPUs (7 per GPU on 8-slot models).
      type: int
      returned: success
      sample: 56
    percent:
      description: Demanded over provisioned compute slices, in percent.
      type: float
      returned: success
      sample: 67.9
    by_profile:
      description: Per profile, the demand, the demand with headroom and the planned capacity (spare GPUs included).
      type: dict
      returned: success
      sample: {"1g.10gb": {"demand": 20, "with_headroom": 20, "capacity": 32}}
mig_config:
  description:
    - A mig-parted C(v1) document with one label per node kind; entries carry a C(device-filter) with the GPU model's
      PCI device ids so that a label applied to another GPU model changes nothing.
    - Null when the plan has no instances (a GPU model without EC2 instance types).
  returned: success
  type: dict
  sample: {"version": "v1", "mig-configs": {"mig-plan-1": [{"device-filter": ["0x20B210DE"], "devices": "all",
           "mig-enabled": true, "mig-devices": {"1g.10gb": 4, "3g.40gb": 1}}]}}
nodepools:
  description: One entry per node kind for M(gpu_slicing.eks.karpenter_nodepool).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: NodePool name.
      type: str
      returned: success
      sample: mig-plan-1
    nodes:
      description: Nodes of this kind the plan needs.
      type: int
      returned: success
      sample: 1
    capacity:
      description: The NodeOverlay capacity of one node.
      type: dict
      returned: success
      sample: {"nvidia.com/mig-1g.10gb": 32, "nvidia.com/mig-3g.40gb": 8, "nvidia.com/gpu": 0}
    settings:
      description:
        - Options for M(gpu_slicing.eks.karpenter_nodepool), also one entry of the C(karpenter_gpu) role's
          C(karpenter_gpu_pools) as it is (C(name), C(instance_types), C(mig_config), C(mig_strategy), C(node_overlay),
          C(mig_layout) for uniform nodes or C(mig_parted_config) otherwise, C(limits) with O(pool_limits=true) and
          C(weight) with O(pool_weight)). Add C(node_class) (and the connection options) and pass it on.
        - C(limits) caps the pool at exactly this node kind's planned capacity (see O(pool_limits)); with
          O(strategy=mixed) the overlay's MIG resources (nodes times RV(nodepools[].capacity)), with O(strategy=single)
          C(nvidia.com/gpu) as physical GPUs (nodes times the instance type's GPUs).
      type: dict
      returned: success
      sample: {"name": "mig-plan-1", "instance_types": ["p4de.24xlarge"], "mig_config": "mig-plan-1",
               "mig_strategy": "mixed", "node_overlay": true, "mig_layout": {"1g.10gb": 4, "3g.40gb": 1},
               "limits": {"nvidia.com/mig-1g.10gb": 32, "nvidia.com/mig-3g.40gb": 8}}
optimality:
  description: Why RV(gpus) is the minimum.
  returned: success
  type: dict
  contains:
    lower_bound:
      description: The lower bound on GPUs at the root of the search.
      type: int
      returned: success
      sample: 6
    proof:
      description:
        - V(lower-bound) when RV(gpus) equals the lower bound given by RV(optimality.certificate);
          V(exhaustive-search) when every smaller GPU count was searched and failed;
          V(single-strategy) when every profile has its own GPUs (ceil of demand over the per-GPU maximum).
      type: str
      returned: success
      sample: lower-bound
    certificate:
      description:
        - Weights per profile (fractions as strings) such that no valid GPU layout has a weighted sum above 1; the
          weighted demand, rounded up, is then a lower bound on the GPUs anyone can use.
      type: dict
      returned: success
      sample: {"1g.10gb": "1/7", "3g.40gb": "3/7"}
    layouts_considered:
      description: Maximal per-GPU layouts the search chose from.
      type: int
      returned: success
      sample: 3
    nodes_explored:
      description: Branch and bound nodes visited.
      type: int
      returned: success
      sample: 0
isolation:
  description: What the MIG plan isolates (one line).
  returned: success
  type: str
  sample: "MIG: memory, compute and faults isolated in hardware (each slice has its own memory and fault domain)"
time_slicing:
  description:
    - The time-slicing alternative on GPUs without MIG, with O(time_slicing=true).
  returned: when O(time_slicing=true)
  type: dict
  contains:
    slices:
      description: Shared GPUs needed (one per demanded slice, headroom included).
      type: int
      returned: success
      sample: 22
    largest_slice_gb:
      description: Memory of the largest demanded slice (GB), the per-workload memory the sizing assumes.
      type: int
      returned: success
      sample: 10
    assumption:
      description: The sizing assumption in words.
      type: str
      returned: success
    isolation:
      description: What time-slicing isolates (nothing), in words.
      type: str
      returned: success
    cheaper_than_mig:
      description: Whether the cheapest feasible option costs less per hour than the MIG plan (null when a cost is unknown).
      type: bool
      returned: success
      sample: true
    options:
      description:
        - One entry per candidate, cheapest feasible first, with C(instance_type), C(gpu_model), C(feasible) and either
          C(reason) or C(replicas_per_gpu), C(nodes), C(hourly_cost), C(sharing) (the M(gpu_slicing.eks.karpenter_nodepool)
          O(gpu_slicing.eks.karpenter_nodepool#module:sharing) dict), C(capacity) (one node's advertised resources) and
          C(settings) (karpenter_nodepool options).
      type: list
      elements: dict
      returned: success
      sample: [{"instance_type": "g6e.xlarge", "gpu_model": "l40s-48gb", "feasible": true, "replicas_per_gpu": 4,
                "nodes": 6, "hourly_cost": 11.166, "capacity": {"nvidia.com/gpu": 4}}]
alternatives:
  description: Every candidate GPU model, with its best plan or why it cannot serve the demand.
  returned: success
  type: list
  elements: dict
  sample: [{"gpu_model": "h100-80gb", "feasible": true, "gpus": 6, "provisioned_gpus": 6, "instances": {"p5.4xlarge": 6},
            "hourly_cost": 41.28},
           {"gpu_model": "a100-40gb", "feasible": false, "reason": "NVIDIA A100-SXM4-40GB has no MIG profile '3g.40gb'"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sizing
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sizing_sharing


def main():
    module = AnsibleModule(
        argument_spec=dict(
            demand=dict(type="raw", required=True),
            candidates=dict(type="raw"),
            strategy=dict(type="str", choices=list(sizing.STRATEGIES), default="mixed"),
            headroom=dict(type="float", default=0),
            objective=dict(type="str", choices=list(sizing.OBJECTIVES), default="gpus"),
            name=dict(type="str", default=sizing.DEFAULT_NAME),
            time_slicing=dict(type="bool", default=False),
            time_slicing_candidates=dict(type="list", elements="str"),
            pool_limits=dict(type="bool", default=True),
            pool_weight=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = sizing.size_fleet(params["demand"], candidates=params["candidates"], strategy=params["strategy"],
                                   headroom=params["headroom"], objective=params["objective"], name=params["name"],
                                   pool_limits=params["pool_limits"], pool_weight=params["pool_weight"])
        result["isolation"] = sharing.isolation("mig")
        if params["time_slicing"]:
            shared = sizing_sharing.time_slicing_options(params["demand"], headroom=params["headroom"],
                                                         candidates=params["time_slicing_candidates"],
                                                         name=params["name"] + "-ts")
            result.setdefault("warnings", []).extend(shared.pop("warnings"))
            feasible = [o for o in shared["options"] if o["feasible"]]
            shared["cheaper_than_mig"] = (None if not feasible or result.get("hourly_cost") is None
                                          else feasible[0]["hourly_cost"] < result["hourly_cost"])
            result["time_slicing"] = shared
        elif params["time_slicing_candidates"]:
            raise sizing.SizingError("time_slicing_candidates needs time_slicing=true")
    except sizing.SizingError as exc:
        module.fail_json(msg=str(exc))
    except (MemoryError, RecursionError) as exc:  # bounded by sizing_demand.MAX_SLICES; never a bare "Module failed"
        module.fail_json(msg="mig_plan ran out of %s planning this demand; split it into smaller parts"
                         % ("memory" if isinstance(exc, MemoryError) else "stack"))
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
