# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: gpu_nodes
short_description: GPU nodes of EKS clusters, discovered from EC2 tags
version_added: 0.1.0
description:
  - Builds an inventory of the EC2 instances that carry NVIDIA GPUs in one or more Amazon EKS clusters, whether
    they were launched by Karpenter, by a managed node group or by a self-managed node group.
  - Each host gets GPU facts (GPU name, count, memory, the GPU catalog model and whether it supports
    Multi-Instance GPU) from C(DescribeInstanceTypes), asked only for the distinct instance types found, at most
    100 per call, and cached.
  - By default only MIG-capable GPU nodes are returned; set O(include_non_mig=true) to also get GPUs without MIG
    (A10G, L4, T4, ...). Instances without GPUs are never returned.
  - The configuration file name must end with C(gpu_nodes.yml) or C(gpu_nodes.yaml).
  - Needs only the IAM actions C(ec2:DescribeInstances) and C(ec2:DescribeInstanceTypes).
notes:
  - All EC2 tags of a host are in the host variable C(ec2_tags) (a dictionary), for O(compose), O(groups) and
    O(keyed_groups). It is not called C(tags) because that name is reserved for the play keyword and ansible-core
    warns about it on every run; amazon.aws 11.2 renamed its host variable to C(ec2_tags) for the same reason.
author:
  - gpu_slicing.eks contributors (@gpu-slicing)
requirements:
  - boto3
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - gpu_slicing.eks.aws
options:
  plugin:
    description: Marks this file as a configuration for this plugin.
    required: true
    type: str
    choices: [gpu_slicing.eks.gpu_nodes]
  regions:
    description:
      - AWS regions to search.
      - When empty, the region of the session is used (E(AWS_REGION), E(AWS_DEFAULT_REGION) or the profile).
    type: list
    elements: str
    default: []
  cluster_name:
    description:
      - Only instances of this EKS cluster.
      - "An instance belongs to the cluster when it has the tag C(kubernetes.io/cluster/<cluster_name>) (set by
        Karpenter, self-managed and managed node groups), or C(eks:cluster-name=<cluster_name>) (managed node
        groups), or C(eks:eks-cluster-name=<cluster_name>) (Karpenter)."
      - When unset, GPU instances of every cluster (and outside any cluster) are returned.
    type: str
  nodepools:
    description:
      - Only instances launched by these Karpenter NodePools (tag C(karpenter.sh/nodepool)).
      - Managed and self-managed node group instances have no NodePool and are then left out.
    type: list
    elements: str
    default: []
  filters:
    description:
      - Extra C(DescribeInstances) filters, ANDed with the ones this plugin builds. Keys are EC2 filter names,
        values a string or a list of strings (U(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html)).
      - Use O(instance_states) instead of C(instance-state-name).
      - An C(instance-type) filter replaces the plugin's own instance type pre-selection.
    type: dict
    default: {}
  include_non_mig:
    description:
      - Also return instances whose GPUs do not support MIG.
      - When false, the plugin asks EC2 only for the instance types of the MIG-capable families in the GPU catalog
        (for example C(p4d.*), C(p5.*), C(p5e.*)), which keeps the call fast.
    type: bool
    default: false
  instance_states:
    description: Instance states to return.
    type: list
    elements: str
    choices: [pending, running, shutting-down, terminated, stopping, stopped]
    default: [running]
  hostnames:
    description:
      - Inventory host name sources in order of preference; the first one the instance has is used.
      - V(private-dns-name) is the Kubernetes node name on EKS, V(instance-id) suits the SSM connection plugin,
        V(private-ip-address) is the node's VPC address. V(dns-name) and V(ip-address) are the public ones.
      - C(tag:<key>) uses the value of a tag, for example C(tag:Name).
      - When two instances would get the same name, the second is named by its instance id, with a warning.
    type: list
    elements: str
    default: [private-dns-name, instance-id]
  ansible_host:
    description:
      - Which address to put into C(ansible_host). V(none) leaves C(ansible_host) unset.
      - When the instance lacks the chosen address (for example no public IP), C(ansible_host) is not set.
      - O(compose) can still override it.
    type: str
    choices: [private-ip-address, private-dns-name, instance-id, ip-address, dns-name, none]
    default: private-ip-address
  retries:
    description:
      - How many times to retry a throttled or failed call (throttling, HTTP 5xx, connection errors) with
        exponential backoff and full jitter before giving up.
    type: int
    default: 5
"""

EXAMPLES = r"""
# inventory/prod.gpu_nodes.yml: MIG-capable GPU nodes of one cluster
plugin: gpu_slicing.eks.gpu_nodes
regions: [us-east-1]
cluster_name: prod

---
# Every GPU node of two Karpenter NodePools, SSM-friendly host names, cached for an hour
plugin: gpu_slicing.eks.gpu_nodes
regions: [us-east-1, us-west-2]
cluster_name: prod
nodepools: [gpu-h100, gpu-a100]
include_non_mig: true
hostnames: [instance-id]
ansible_host: instance-id
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible/gpu_nodes
cache_timeout: 3600
keyed_groups:
  - key: ec2_tags['karpenter.sh/capacity-type'] | default('unknown')
    prefix: capacity
groups:
  big_gpu: gpu_count >= 8
compose:
  ansible_connection: "'community.aws.aws_ssm'"
"""

import json
import os
import re

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog

CACHE_FORMAT = 1
DESCRIBE_INSTANCES_PAGE = 1000  # the EC2 maximum: fewest round trips
INSTANCE_TYPES_PER_CALL = 100  # the EC2 maximum for DescribeInstanceTypes(InstanceTypes=...)
HOSTNAME_SOURCES = ("private-dns-name", "instance-id", "private-ip-address", "dns-name", "ip-address")
SOURCE_FIELDS = {
    "private-dns-name": "private_dns_name", "instance-id": "instance_id", "private-ip-address": "private_ip_address",
    "dns-name": "public_dns_name", "ip-address": "public_ip_address",
}
INSTANCE_STATES = ("pending", "running", "shutting-down", "terminated", "stopping", "stopped")
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")

# GPU facts per (endpoint, region, instance type), shared by every config file parsed in this process.
_GPU_FACTS = {}


def aws_edge():
    """The boto3 edge, imported on first use: importing boto3 is a good part of a cache hit's cost, and a cache
    hit never talks to AWS."""
    from ansible_collections.gpu_slicing.eks.plugins.plugin_utils import _aws

    return _aws


def safe_group_name(name):
    """Group names Ansible accepts without warnings: letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def mig_instance_type_values():
    """Values for the server-side ``instance-type`` filter when only MIG-capable GPUs are wanted.

    Exact catalog names plus family wildcards (``p5.*``) so that new sizes of a known family are found on
    EC2; the catalog decides afterwards, from GpuInfo, whether a host really is MIG-capable.
    """
    names = catalog.mig_capable_instance_types()
    families = sorted(set(name.split(".", 1)[0] + ".*" for name in names))
    return list(names) + families


def cluster_of(tags, cluster_name):
    """True when the tags put the instance into EKS cluster ``cluster_name`` (Karpenter, managed or self-managed)."""
    return ("kubernetes.io/cluster/" + cluster_name in tags
            or tags.get("eks:eks-cluster-name") == cluster_name
            or tags.get("eks:cluster-name") == cluster_name)


def build_filters(instance_states, include_non_mig, cluster_name, nodepools, extra_filters):
    """The DescribeInstances filter list, cheap attribute filters first.

    EC2 ANDs filters; moto evaluates them in the order given and a tag filter costs a scan of every tag it
    stores, so attribute filters (state, type) go first to discard most instances before any tag filter.
    """
    extra = {}
    for name, value in (extra_filters or {}).items():
        if name == "instance-state-name":
            raise AnsibleError("gpu_nodes: do not put instance-state-name into filters; use instance_states")
        values = value if isinstance(value, (list, tuple)) else [value]
        if not values or any(v is None or isinstance(v, (dict, list)) for v in values):
            raise AnsibleError("gpu_nodes: filter %r needs a string or a list of strings, got %r" % (name, value))
        extra[str(name)] = [to_native(v) for v in values]

    filters = [{"Name": "instance-state-name", "Values": list(instance_states)}]
    if not include_non_mig and "instance-type" not in extra:
        filters.append({"Name": "instance-type", "Values": mig_instance_type_values()})
    tag_filters = []
    for name, values in extra.items():
        target = tag_filters if name.startswith("tag") else filters
        target.append({"Name": name, "Values": values})
    # A filter name the user already set is not sent twice (EC2 does not AND repeated names); the
    # controller checks cluster and NodePool membership of every instance anyway.
    if cluster_name and "tag-key" not in extra:
        # One query for all three tag schemes; eks:cluster-name values are checked client-side.
        filters.append({"Name": "tag-key", "Values": ["kubernetes.io/cluster/" + cluster_name, "eks:cluster-name"]})
    if nodepools and "tag:karpenter.sh/nodepool" not in extra:
        filters.append({"Name": "tag:karpenter.sh/nodepool", "Values": list(nodepools)})
    return filters + tag_filters


def slim_instance(instance, region):
    """The fields the inventory uses, JSON-serialisable for the cache."""
    launch_time = instance.get("LaunchTime")
    return {
        "region": region,
        "instance_id": instance["InstanceId"],
        "instance_type": instance.get("InstanceType"),
        "availability_zone": instance.get("Placement", {}).get("AvailabilityZone"),
        "private_ip_address": instance.get("PrivateIpAddress") or None,
        "private_dns_name": instance.get("PrivateDnsName") or None,
        "public_ip_address": instance.get("PublicIpAddress") or None,
        "public_dns_name": instance.get("PublicDnsName") or None,
        "state": instance.get("State", {}).get("Name"),
        "tags": dict((t["Key"], t.get("Value", "")) for t in instance.get("Tags", [])),
        "launch_time": launch_time.isoformat() if hasattr(launch_time, "isoformat") else launch_time,
    }


def gpu_facts_from_type(info):
    """GPU facts of one DescribeInstanceTypes entry, or None when it has no NVIDIA GPU."""
    gpus = (info.get("GpuInfo") or {}).get("Gpus") or []
    if gpus and any(g.get("Manufacturer", "NVIDIA") != "NVIDIA" for g in gpus):
        return None  # AMD / Xilinx accelerators: nothing for MIG tooling to do
    if gpus:
        gpu = gpus[0]
        return {
            "gpu_name": gpu.get("Name"),
            "gpu_count": sum(int(g.get("Count", 0)) for g in gpus),
            "gpu_memory_mib": gpu.get("MemoryInfo", {}).get("SizeInMiB"),
        }
    # EC2 leaves GpuInfo out for a few new types; fall back to the catalog when it knows the type.
    spec = catalog.INSTANCE_TYPES.get(info.get("InstanceType"))
    if spec is None:
        return None
    model = catalog.GPU_MODELS[spec.gpu_model]
    return {"gpu_name": model.ec2_gpu_name, "gpu_count": spec.gpu_count, "gpu_memory_mib": model.ec2_memory_mib}


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "gpu_slicing.eks.gpu_nodes"

    def __init__(self):
        super(InventoryModule, self).__init__()
        self._boto_session = None
        self._api_calls = {}
        self._path = None

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("gpu_nodes.yml", "gpu_nodes.yaml"))

    # --- options -------------------------------------------------------------------------------------------

    def _templated(self, name):
        value = self.get_option(name)
        if isinstance(value, str) and self.templar.is_template(value):
            value = self.templar.template(value)
        elif isinstance(value, list):
            value = [self.templar.template(v) if isinstance(v, str) and self.templar.is_template(v) else v for v in value]
        return value

    def _validated_options(self):
        hostnames = self.get_option("hostnames") or []
        for source in hostnames:
            if source not in HOSTNAME_SOURCES and not (isinstance(source, str) and source.startswith("tag:") and len(source) > 4):
                raise AnsibleError("gpu_nodes: unknown hostnames entry %r; use %s or tag:<key>" % (source, ", ".join(HOSTNAME_SOURCES)))
        if not hostnames:
            raise AnsibleError("gpu_nodes: hostnames must name at least one source")
        states = self.get_option("instance_states") or []
        if not states:
            raise AnsibleError("gpu_nodes: instance_states must not be empty")
        retries = self.get_option("retries")
        if retries < 0:
            raise AnsibleError("gpu_nodes: retries must be 0 or more, got %d" % retries)
        filters = self.get_option("filters") or {}
        if not isinstance(filters, dict):
            raise AnsibleError("gpu_nodes: filters must be a dictionary of EC2 filter names to values")
        cluster_name = self._templated("cluster_name")
        if cluster_name is not None and not str(cluster_name).strip():
            raise AnsibleError("gpu_nodes: cluster_name is empty")
        return {
            "regions": [str(r).strip() for r in (self._templated("regions") or []) if str(r).strip()],
            "cluster_name": cluster_name,
            "nodepools": [str(n) for n in (self.get_option("nodepools") or [])],
            "filters": filters,
            "include_non_mig": self.get_option("include_non_mig"),
            "instance_states": states,
            "hostnames": hostnames,
            "ansible_host": self.get_option("ansible_host"),
            "retries": retries,
        }

    # --- AWS -----------------------------------------------------------------------------------------------

    def _session(self):
        if self._boto_session is None:
            aws = aws_edge()
            if not aws.HAS_BOTO3:
                raise AnsibleError("gpu_nodes: the boto3 Python library is required on the controller: %s" % aws.BOTO3_IMPORT_ERROR)
            try:
                self._boto_session = aws.session(
                    profile=self._templated("profile"), access_key=self._templated("access_key"),
                    secret_key=self._templated("secret_key"), session_token=self._templated("session_token"))
            except aws.AwsError as exc:
                raise AnsibleError("gpu_nodes: %s" % exc)
        return self._boto_session

    def _regions(self, wanted):
        if wanted:
            return wanted
        region = os.environ.get("AWS_REGION") or self._session().region_name
        if not region:
            raise AnsibleError("gpu_nodes: no AWS region: set regions in %s, AWS_REGION or AWS_DEFAULT_REGION" % self._path)
        return [region]

    def _client(self, region):
        aws = aws_edge()
        try:
            ec2 = aws.client(self._session(), "ec2", region, endpoint_url=self._templated("endpoint_url"))
        except ValueError as exc:  # botocore rejects malformed region names / endpoint URLs this way
            raise AnsibleError("gpu_nodes: cannot use region %r: %s" % (region, to_native(exc)))
        endpoint = ec2.meta.endpoint_url
        host = re.sub(r"^[a-z]+://", "", endpoint).split("/", 1)[0].split(":", 1)[0]
        if host.endswith(AWS_HOST_SUFFIXES):
            known = aws.known_regions(self._session())
            if region not in known:
                raise AnsibleError("gpu_nodes: unknown AWS region %r (known to botocore: %s)" % (region, ", ".join(sorted(known))))
        ec2.meta.events.register("after-call.ec2", self._count_call)
        return ec2

    def _count_call(self, model, **kwargs):
        self._api_calls[model.name] = self._api_calls.get(model.name, 0) + 1

    def _on_retry(self, exc, delay):
        self.display.vvv("gpu_nodes: retrying in %.2fs after: %s" % (delay, " ".join(to_native(exc).split())))

    def _fail(self, exc, action, region, ec2):
        raise AnsibleError("gpu_nodes: " + aws_edge().describe_error(exc, action, region, ec2.meta.endpoint_url))

    def _describe_instances(self, ec2, region, opts):
        filters = build_filters(opts["instance_states"], opts["include_non_mig"], opts["cluster_name"],
                                opts["nodepools"], opts["filters"])
        instances = []
        pages = aws_edge().paginate(ec2, "describe_instances", "Reservations", page_size=DESCRIBE_INSTANCES_PAGE,
                                    retries=opts["retries"], on_retry=self._on_retry, Filters=filters)
        try:
            for reservation in pages:
                for instance in reservation.get("Instances", []):
                    item = slim_instance(instance, region)
                    if opts["cluster_name"] and not cluster_of(item["tags"], opts["cluster_name"]):
                        continue
                    if opts["nodepools"] and item["tags"].get("karpenter.sh/nodepool") not in opts["nodepools"]:
                        continue
                    instances.append(item)
        except Exception as exc:  # pylint: disable=broad-except
            self._fail(exc, "ec2:DescribeInstances", region, ec2)
        return instances

    def _gpu_facts(self, ec2, region, instance_types, retries, known):
        """GPU facts for ``instance_types``; asks EC2 only for the ones not in ``known`` or the process cache."""
        process_cache = _GPU_FACTS.setdefault((ec2.meta.endpoint_url, region), {})
        facts = {}
        missing = []
        for name in sorted(set(instance_types)):
            if name in known:
                facts[name] = known[name]
            elif name in process_cache:
                facts[name] = process_cache[name]
            else:
                missing.append(name)
        try:
            for start in range(0, len(missing), INSTANCE_TYPES_PER_CALL):
                batch = missing[start:start + INSTANCE_TYPES_PER_CALL]
                found = set()
                pages = aws_edge().paginate(ec2, "describe_instance_types", "InstanceTypes", page_size=INSTANCE_TYPES_PER_CALL,
                                            retries=retries, on_retry=self._on_retry, InstanceTypes=batch)
                for info in pages:
                    facts[info["InstanceType"]] = process_cache[info["InstanceType"]] = gpu_facts_from_type(info)
                    found.add(info["InstanceType"])
                for name in batch:
                    if name not in found:  # EC2 did not describe it: not a GPU type we can tell anything about
                        facts[name] = process_cache[name] = gpu_facts_from_type({"InstanceType": name})
        except Exception as exc:  # pylint: disable=broad-except
            self._fail(exc, "ec2:DescribeInstanceTypes", region, ec2)
        return facts

    def _fetch(self, opts, known_types):
        """Query every region; return the cacheable result."""
        result = {"format": CACHE_FORMAT, "query": self._query_fingerprint(opts), "regions": {}}
        for region in self._regions(opts["regions"]):
            ec2 = self._client(region)
            instances = self._describe_instances(ec2, region, opts)
            types = self._gpu_facts(ec2, region, [i["instance_type"] for i in instances], opts["retries"],
                                    known_types.get(region, {}))
            result["regions"][region] = {"instances": instances, "instance_types": types}
        self.display.vvv("gpu_nodes: AWS calls: %s" % (json.dumps(self._api_calls, sort_keys=True) or "none"))
        return result

    @staticmethod
    def _query_fingerprint(opts):
        keys = ("regions", "cluster_name", "nodepools", "filters", "include_non_mig", "instance_states")
        return json.dumps(dict((k, opts[k]) for k in keys), sort_keys=True, default=str)

    # --- inventory -----------------------------------------------------------------------------------------

    @staticmethod
    def _address(item, source):
        """The instance attribute a hostnames / ansible_host source names, or a tag value."""
        if source.startswith("tag:"):
            return item["tags"].get(source[4:]) or None
        return item.get(SOURCE_FIELDS.get(source, ""))

    @staticmethod
    def host_vars(item, gpu):
        """The host variables of one GPU instance (``gpu`` = its GPU facts)."""
        tags = item["tags"]
        model = catalog.model_for_ec2_gpu(gpu["gpu_name"], gpu["gpu_memory_mib"])
        # Karpenter's tagging controller sets Name to the node name together with karpenter.sh/nodeclaim;
        # otherwise EKS names nodes by their private DNS name.
        if tags.get("karpenter.sh/nodeclaim") and tags.get("Name"):
            node_name = tags["Name"]
        else:
            node_name = item["private_dns_name"]
        return {
            "instance_id": item["instance_id"],
            "instance_type": item["instance_type"],
            "instance_state": item["state"],
            "availability_zone": item["availability_zone"],
            "private_ip_address": item["private_ip_address"],
            "private_dns_name": item["private_dns_name"],
            "k8s_node_name": node_name,
            "gpu_name": gpu["gpu_name"],
            "gpu_count": gpu["gpu_count"],
            "gpu_memory_mib": gpu["gpu_memory_mib"],
            "gpu_model": model.key if model else None,
            "mig_capable": bool(model and model.mig_capable),
            "karpenter_nodepool": tags.get("karpenter.sh/nodepool"),
            "ec2nodeclass": tags.get("karpenter.k8s.aws/ec2nodeclass"),
            "node_group": tags.get("eks:nodegroup-name"),
            "ec2_tags": tags,  # not "tags": that is a reserved play keyword
            "launch_time": item["launch_time"],
        }

    @staticmethod
    def default_groups(hostvars):
        """[(group, (host variable, raw value) or None)]: the raw value a derived group name was sanitised from."""
        groups = [("gpu_nodes", None)]
        if hostvars["mig_capable"]:
            groups.append(("mig_capable", None))
        for var, prefix in (("gpu_model", "gpu_"), ("karpenter_nodepool", "nodepool_"), ("node_group", "nodegroup_"),
                            ("availability_zone", "az_")):
            if hostvars[var]:
                groups.append((safe_group_name(prefix + hostvars[var]), (var, hostvars[var])))
        return groups

    def _group_clash(self, group, source, sources):
        """Warn once when two different values (NodePools mig-a and mig.a) sanitise to the same group name."""
        if source is None:
            return
        first = sources.setdefault(group, source)
        values = tuple(sorted((first[1], source[1])))  # the same message whatever order EC2 lists them in
        clash = (group,) + values
        if first != source and clash not in sources:
            sources[clash] = True
            self.display.warning("gpu_nodes: %s %r and %r both map to group %s; its hosts come from both. Target them by "
                                 "the host variable %s instead of the group." % ((source[0],) + values + (group, source[0])))

    def _populate(self, result, opts):
        strict = self.get_option("strict")
        compose = self.get_option("compose")
        groups = self.get_option("groups")
        keyed_groups = self.get_option("keyed_groups")
        taken = {}
        group_sources = {}
        self.inventory.add_group("gpu_nodes")
        items = []
        for region in sorted(result["regions"]):
            data = result["regions"][region]
            items.extend((item, data["instance_types"].get(item["instance_type"])) for item in data["instances"])
        for item, gpu in sorted(items, key=lambda pair: (pair[0]["region"], pair[0]["instance_id"])):
            if not gpu:
                continue  # no GPU at all (CPU node picked up by a user instance-type filter)
            hostvars = self.host_vars(item, gpu)
            if not opts["include_non_mig"] and not hostvars["mig_capable"]:
                continue
            name = next((n for n in (self._address(item, s) for s in opts["hostnames"]) if n), item["instance_id"])
            # Everything below comes from EC2, and anyone allowed to tag an instance writes it: mark it unsafe so
            # that no core (2.18 templates plain strings recursively) ever runs a tag value as a template, neither
            # in compose/groups/keyed_groups here nor in a play using inventory_hostname or k8s_node_name.
            name = wrap_var(name)
            if name in taken and taken[name] != item["instance_id"]:
                self.display.warning("gpu_nodes: %s and %s would both be named %r; using the instance id for the second"
                                     % (taken[name], item["instance_id"], name))
                name = item["instance_id"]
            taken[name] = item["instance_id"]
            for group, source in self.default_groups(hostvars):
                self._group_clash(group, source, group_sources)
                self.inventory.add_group(group)
                self.inventory.add_host(name, group=group)
            address = self._address(item, opts["ansible_host"])
            if address:
                hostvars["ansible_host"] = address
            hostvars = wrap_var(hostvars)
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            self._set_composite_vars(compose, hostvars, name, strict=strict)
            self._add_host_to_composed_groups(groups, hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(keyed_groups, hostvars, name, strict=strict)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path)
        self._path = path
        self._read_config_data(path)
        opts = self._validated_options()

        cache_key = self.get_cache_key(path)
        types_key = cache_key + "_instance_types"
        use_cache = self.get_option("cache")
        result = None
        known_types = {}
        if use_cache and cache:
            try:
                cached = self._cache[cache_key]
                if cached.get("format") == CACHE_FORMAT and cached.get("query") == self._query_fingerprint(opts):
                    result = cached
            except (KeyError, AttributeError):
                pass
            try:  # GPU facts per instance type never change: reuse them even when the query changed
                known_types = self._cache[types_key] or {}
            except KeyError:
                known_types = {}
        if result is None:
            result = self._fetch(opts, known_types)
            if use_cache:
                self._cache[cache_key] = result
                merged = dict((r, dict(known_types.get(r, {}))) for r in known_types)
                for region, data in result["regions"].items():
                    merged.setdefault(region, {}).update(data["instance_types"])
                self._cache[types_key] = merged
        self._populate(result, opts)
