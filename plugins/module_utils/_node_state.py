# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One read of everything the node-side roles check, for the converged fast path (gpu_node_state module).

Runs on the managed node: Python >= 3.9, stdlib + the collection's module_utils only, never ``ansible.*``.
Read-only. Nothing here raises for what it finds on the node: a read that fails is reported in the result
(``gpu_error``, ``mig.error``, ``files[].error``, ``services_error``) so that the roles fall back to their full
path, whose tasks give the established error messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import hashlib
import os
import pwd
import stat
import xml.etree.ElementTree as ET

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import apply, configs, render

FILE_STATES = ("file", "directory")
# systemd's sd_booted(): the test systemctl itself uses to tell whether systemd manages the machine
SYSTEMD_RUNTIME_DIR = "/run/systemd/system"
ENABLED_STATES = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")


class StateReader(smi.NvidiaSmi):
    """An NvidiaSmi that also keeps the driver version from the ``-q -x`` it reads anyway (no extra call)."""

    driver_version = ""

    def query_xml(self):
        _rc, out, _err = self.run(smi.argv_query_xml(self.path))
        self.driver_version = driver_version(out)
        return smi.parse_query_xml(out)


def driver_version(xml_text):
    """``<driver_version>`` of ``nvidia-smi -q -x`` output, or "" (output that is not nvidia-smi's XML included)."""
    try:
        root = ET.fromstring((xml_text or "").strip())
    except ET.ParseError:
        return ""
    found = root.find("driver_version")
    return (found.text or "").strip() if found is not None else ""


def gpu_facts(gpus):
    """The ``gpus`` list as nvidia_mig_info returns it with ``profiles=false``."""
    out = []
    for gpu in gpus:
        item = gpu.to_dict(with_profiles=False)
        item["mig_capable"] = gpu.mig_capable
        out.append(item)
    return out


def mig_plan(runner, mig):
    """nvidia_mig in check mode for the ``mig`` options; returns (summary dict, model.Gpu list or None)."""
    request = apply.ApplyRequest(
        gpus=mig.get("gpus"), mig_mode=mig.get("mig_mode"), layout=mig.get("layout"), config=mig.get("config"),
        config_file=mig.get("config_file"), force=bool(mig.get("force")), allow_gpu_reset=bool(mig.get("allow_gpu_reset")),
        persist=bool(mig.get("persist")), persist_path=mig.get("persist_path"), check_mode=True)
    try:
        result = apply.reconcile(runner, request)
    except apply.ApplyError as exc:
        gpus = exc.result.gpus if exc.result is not None and exc.result.gpus else None
        return dict(converged=False, changed=None, actions=[], error=exc.msg), gpus
    summary = dict(converged=not result.changed, changed=result.changed, actions=[list(a) for a in result.actions],
                   reboot_required=result.reboot_required, persist_path=result.persist_path,
                   skipped_gpus=list(result.skipped_gpus), warnings=list(result.warnings))
    return summary, result.gpus


def read_gpus(runner, mig=None):
    """GPU part: (facts dict, mig summary or None). One ``-q -x`` (+ ``-lgi``, ``-L`` when MIG devices exist)."""
    facts = dict(driver_version="", gpus=[], layout_diagram="", reboot_required=False, gpu_error=None)
    summary, gpus = None, None
    try:
        if mig is not None:
            summary, gpus = mig_plan(runner, mig)
        if gpus is None:
            gpus = runner.read_state()
    except (smi.NvidiaSmiError, configs.MigConfigError, ValueError) as exc:
        facts["gpu_error"] = str(exc)
        gpus = []
    facts.update(driver_version=runner.driver_version, gpus=gpu_facts(gpus),
                 layout_diagram=render.host_diagram(gpus) if gpus else "",
                 reboot_required=any(g.mig_change_pending for g in gpus))
    return facts, summary


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def file_state(spec):
    """What ``spec`` (path, state, sha256, mode, owner, group; all but path optional) finds on the node.

    ``matches`` is true only when the path exists with every attribute the spec names; nothing is followed
    (a symlink is a ``link``, not what it points to), as the file and copy modules would replace it.
    """
    path = spec["path"]
    out = dict(path=path, exists=False, type=None, mode=None, owner=None, group=None, sha256=None, matches=False)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return out
    except OSError as exc:
        out["error"] = str(exc)
        return out
    out["exists"] = True
    out["type"] = "directory" if stat.S_ISDIR(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else (
        "link" if stat.S_ISLNK(info.st_mode) else "other")
    out["mode"] = "%04o" % stat.S_IMODE(info.st_mode)
    out["owner"] = _name(pwd.getpwuid, info.st_uid)
    out["group"] = _name(grp.getgrgid, info.st_gid)
    if spec.get("sha256") and out["type"] == "file":
        try:
            out["sha256"] = sha256_of(path)
        except (IOError, OSError) as exc:
            out["error"] = str(exc)
            return out
    wanted_mode = spec.get("mode")
    out["matches"] = (
        out["type"] == (spec.get("state") or out["type"])
        and (not spec.get("sha256") or out["sha256"] == spec["sha256"].lower())
        and (not wanted_mode or out["mode"] == "%04o" % int(str(wanted_mode), 8))
        and (not spec.get("owner") or out["owner"] == str(spec["owner"]))
        and (not spec.get("group") or out["group"] == str(spec["group"])))
    return out


def service_manager(runtime_dir=SYSTEMD_RUNTIME_DIR):
    return "systemd" if os.path.isdir(runtime_dir) else "other"


def parse_systemctl_show(text, names):
    """``systemctl show --property=Id,LoadState,UnitFileState,ActiveState UNIT...`` -> {unit: state}, in order:
    systemctl prints one block per unit, separated by an empty line."""
    blocks = (text or "").strip().split("\n\n")
    out = {}
    for name, block in zip(names, blocks):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        unit_file = props.get("UnitFileState", "")
        out[name] = dict(load_state=props.get("LoadState", ""), unit_file_state=unit_file,
                         active_state=props.get("ActiveState", ""), enabled=unit_file in ENABLED_STATES,
                         active=props.get("ActiveState") == "active")
    return out


def read_services(run_command, systemctl, names):
    """(states, error) of systemd units ``names`` in one ``systemctl show`` call."""
    if not names:
        return {}, None
    if not systemctl:
        return {}, "systemctl not found"
    argv = [systemctl, "show", "--property=Id,LoadState,UnitFileState,ActiveState", "--"] + list(names)
    rc, out, err = run_command(argv, environ_update={"LC_ALL": "C"})
    if rc != 0:
        return {}, "%s failed (rc %s): %s" % (" ".join(argv), rc, (err or out).strip()[:300])
    states = parse_systemctl_show(out, names)
    if len(states) != len(names):
        return states, "systemctl show printed %d unit blocks for %d units" % (len(states), len(names))
    return states, None
