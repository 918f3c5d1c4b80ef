# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for GPU sharing (time-slicing, MPS) with the NVIDIA device plugin: the plugin's config map with several
named configs, the config a Node selects with its ``nvidia.com/device-plugin.config`` label, and what a Node
should advertise with it. Every count and every config file comes from the sharing engine
(``plugins/module_utils/_mig/sharing.py``); these filters only validate, select and lay out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing as engine

STRATEGIES = ("none", "single", "mixed")
CONFIG_KEYS = ("sharing", "mig_strategy")
# A config name is a ConfigMap key (the config-manager reads /available-configs/<name>) AND a label value
# (nvidia.com/device-plugin.config=<name>): the stricter of both, i.e. a Kubernetes label value.
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
RESOURCE_PREFIX = "nvidia.com/"


def _yaml_text(document):
    """One named config as the text of its ConfigMap key (plain YAML, keys in the engine's order)."""
    import yaml  # a controller-side filter: PyYAML ships with ansible-core

    plain = json.loads(json.dumps(document))  # the engine's OrderedDicts as plain dicts (same order)
    return yaml.safe_dump(plain, default_flow_style=False, sort_keys=False)


def _check_name(name, what):
    if not isinstance(name, str) or not _NAME.match(name):
        raise AnsibleFilterError(
            "%s %r is not a valid device plugin config name: it is both a ConfigMap key and the value of the node label "
            "%s, so 1-63 characters [A-Za-z0-9-_.], starting and ending with a letter or digit" % (what, name, engine.CONFIG_LABEL))


def device_plugin_configs(configs, default_config, mig_strategy="mixed"):
    """Validate ``configs`` ({name: {sharing: spec|None, mig_strategy: none|single|mixed}}) and return
    {name: {"sharing": engine Sharing or None, "mig_strategy": str}}. Raises AnsibleFilterError naming the config."""
    if not isinstance(configs, dict) or not configs:
        raise AnsibleFilterError("device plugin configs must be a non-empty mapping name -> {sharing, mig_strategy}, got %r"
                                 % (configs,))
    if mig_strategy not in STRATEGIES:
        raise AnsibleFilterError("the default MIG strategy must be one of %s, got %r" % (", ".join(STRATEGIES), mig_strategy))
    parsed = {}
    for name in sorted(configs, key=str):
        _check_name(name, "config")
        entry = configs[name]
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise AnsibleFilterError("device plugin config %s must be a mapping with sharing and/or mig_strategy, got %r" % (name, entry))
        unknown = sorted(set(entry) - set(CONFIG_KEYS), key=str)
        if unknown:
            raise AnsibleFilterError("device plugin config %s: unknown key(s) %s (allowed: %s)"
                                     % (name, ", ".join(map(str, unknown)), ", ".join(CONFIG_KEYS)))
        strategy = entry.get("mig_strategy") or mig_strategy
        if strategy not in STRATEGIES:
            raise AnsibleFilterError("device plugin config %s: mig_strategy must be one of %s, got %r"
                                     % (name, ", ".join(STRATEGIES), strategy))
        spec = entry.get("sharing")
        try:
            value = engine.parse(spec, where="device plugin config %s: sharing" % name) if spec else None
            # the engine refuses what the plugin refuses (MPS with mixed MIG, MIG resources without mixed, ...)
            engine.plugin_config(value, mig_strategy=strategy, where="device plugin config %s: sharing" % name)
        except engine.SharingError as exc:
            raise AnsibleFilterError(str(exc))
        if value is not None and value.resources is None and strategy == "mixed":
            # one config serves many nodes: which nvidia.com/mig-* resources they have is not known here
            raise AnsibleFilterError(
                "device plugin config %s: with the mixed MIG strategy list the resources to share in sharing.resources "
                "(nvidia.com/gpu and/or nvidia.com/mig-<profile>); the config file names each one" % name)
        parsed[name] = {"sharing": value, "mig_strategy": strategy}
    if default_config and default_config not in parsed:
        raise AnsibleFilterError("the default device plugin config %r is not one of the configs (%s)"
                                 % (default_config, ", ".join(sorted(parsed))))
    return parsed


def device_plugin_config_map(configs, default_config, mig_strategy="mixed"):
    """The ``data`` of the device plugin's ConfigMap: one key per named config, each the plugin's config file as the
    engine's ``plugin_config`` renders it."""
    parsed = device_plugin_configs(configs, default_config, mig_strategy)
    return dict((name, _yaml_text(engine.plugin_config(entry["sharing"], mig_strategy=entry["mig_strategy"])))
                for name, entry in sorted(parsed.items()))


def device_plugin_config_digest(config_map_data):
    """sha256 of the ConfigMap data (pod template annotation: a changed config restarts the plugin pods)."""
    return hashlib.sha256(json.dumps(config_map_data, sort_keys=True).encode("utf-8")).hexdigest()


def device_plugin_node_configs(hosts, configs, default_config):
    """The node labels to set: [{node, config}] for each host entry ({host, node, config}) whose config is set.
    A config name that is not one of ``configs`` is an error naming the host (before anything is written)."""
    result = []
    for entry in hosts or []:
        if not isinstance(entry, dict) or not entry.get("node"):
            raise AnsibleFilterError("each host entry needs 'node' (the Kubernetes node name), got %r" % (entry,))
        config = entry.get("config")
        if config in (None, ""):
            continue
        if config not in (configs or {}):
            raise AnsibleFilterError(
                "host %s: device_plugin_config %r is not one of the device plugin configs (%s)%s"
                % (entry.get("host", entry["node"]), config, ", ".join(sorted(configs or {})) or "none defined",
                   "" if configs else "; define device_plugin_configs first"))
        result.append({"node": entry["node"], "config": config})
    return result


CLUSTER_MODES = ("device_plugin", "gpu_operator", "none")


def sharing_configs_in_use(cluster_mode, device_plugin_configs=None, device_plugin_default_config="",
                           gpu_operator_device_plugin_configs=None, gpu_operator_device_plugin_default_config=""):
    """The named device plugin configs of the cluster mode in use, as {"configs": {...}, "default": name}: the
    gpu_operator role's (``gpu_operator_device_plugin_*``) with ``gpu_slicing_cluster_mode`` gpu_operator, else the
    device_plugin role's (``device_plugin_*``; also with mode none, where the plugin is not managed here but may run
    with those configs). The one place that picks them (verify, report)."""
    mode = cluster_mode or "device_plugin"
    if mode not in CLUSTER_MODES:
        raise AnsibleFilterError("gpu_slicing_cluster_mode must be one of %s, got %r" % (", ".join(CLUSTER_MODES), cluster_mode))
    if mode == "gpu_operator":
        configs, default = gpu_operator_device_plugin_configs, gpu_operator_device_plugin_default_config
    else:
        configs, default = device_plugin_configs, device_plugin_default_config
    if configs is not None and not isinstance(configs, dict):
        raise AnsibleFilterError("the device plugin configs of cluster mode %s must be a mapping, got %r" % (mode, configs))
    return {"configs": dict(configs or {}), "default": default or ""}


def _selected(labels, configs, default_config):
    name = (labels or {}).get(engine.CONFIG_LABEL) or default_config or None
    return name, (configs or {}).get(name) if name else None


def sharing_capacity(base, spec):
    """What a node advertises WITH sharing ``spec`` (the user-facing dict, or empty/None for no sharing) given what
    it advertises without it (``base``, {resource: count}): the engine's ``shared_capacity``."""
    if not spec:
        return dict(base or {})
    try:
        return dict(engine.shared_capacity(dict(base or {}), engine.parse(spec, where="sharing")))
    except engine.SharingError as exc:
        raise AnsibleFilterError(str(exc))


def device_plugin_node_sharing(labels, configs, default_config=""):
    """The sharing spec (dict, {} for none) of the config a Node with ``labels`` selects (label or default)."""
    _name, entry = _selected(labels, configs, default_config)
    return dict((entry or {}).get("sharing") or {})


def sharing_report(nodes, configs, default_config=""):
    """One entry per GPU Node whose selected config shares its GPUs, for the verify report:
    {name, instance_type, config, mode, replicas, rename, advertised, expected, drift}. ``expected`` is the engine's
    ``node_capacity`` for the Node's instance type (and MIG config label), ``advertised`` its allocatable
    nvidia.com/* resources. A Node whose label names an unknown config is reported with that error."""
    configs = configs or {}
    rows = []
    for node in nodes or []:
        meta = node.get("metadata") or {}
        labels = meta.get("labels") or {}
        name, entry = _selected(labels, configs, default_config)
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        advertised = dict((k, int(v)) for k, v in allocatable.items()
                          if k.startswith(RESOURCE_PREFIX) and str(v).isdigit() and int(v) > 0)
        labelled = engine.CONFIG_LABEL in labels
        if not labelled and not advertised:
            continue  # not a GPU node
        row = {"name": meta.get("name", "?"), "instance_type": labels.get(INSTANCE_TYPE_LABEL, "-"), "config": name or "-",
               "mode": "none", "replicas": 1, "rename": False, "advertised": advertised, "expected": {}, "drift": [], "error": ""}
        if name and entry is None:
            row["error"] = "the node selects device plugin config %r, which the config map does not have (%s)" % (
                name, ", ".join(sorted(configs)) or "no configs")
            rows.append(row)
            continue
        spec = (entry or {}).get("sharing") or {}
        if not spec:
            continue  # no sharing on this node: the MIG part of the report covers it
        strategy = (entry or {}).get("mig_strategy") or "none"
        try:
            value = engine.parse(spec, where="device plugin config %s: sharing" % name)
            row.update(mode=value.mode, replicas=value.replicas, rename=bool(value.rename_by_default))
            row["expected"] = engine.node_capacity(row["instance_type"], value, config=labels.get(MIG_CONFIG_LABEL),
                                                   strategy="mixed" if strategy == "none" else strategy)
        except (engine.SharingError, ValueError, KeyError) as exc:
            row["error"] = "cannot compute the expected capacity: %s" % exc
            rows.append(row)
            continue
        expected = dict((k, int(v)) for k, v in row["expected"].items())
        row["expected"] = dict((k, v) for k, v in expected.items() if v > 0)
        for resource in sorted(set(expected) | set(advertised)):
            want, have = expected.get(resource, 0), advertised.get(resource, 0)
            if want != have:
                row["drift"].append("%s: expected %d, allocatable %d" % (resource, want, have))
        rows.append(row)
    return rows


class FilterModule(object):
    def filters(self):
        return {
            "device_plugin_config_map": device_plugin_config_map,
            "device_plugin_config_digest": device_plugin_config_digest,
            "device_plugin_node_configs": device_plugin_node_configs,
            "device_plugin_node_sharing": device_plugin_node_sharing,
            "sharing_capacity": sharing_capacity,
            "sharing_configs_in_use": sharing_configs_in_use,
            "sharing_report": sharing_report,
        }
