# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-alone nvidia-smi simulator (standard library only).

One JSON state file = one simulated node. ``tests/simulators/nvidia-smi`` runs :func:`smi_main` with
the state named by ``NVIDIA_SMI_SIM_STATE``; ``tests/simulators/nvidia-smi-sim`` (``ctl_main``) creates
states, adds simulated processes, injects faults and shows the invocation log. Pytest uses the same
operations through :class:`SimNode`.

Facts about GPU models (names, PCI ids, memory, MIG profiles, ids, counts, placements) come from the
collection's GPU catalog, and overlap checks from the engine's placement module; both are loaded by
file path so the simulator also runs on hosts without Ansible. Output formats follow the real
captures in ``tests/data/nvidia-smi`` (``templates/`` holds the captured text with placeholders).

Behaviour modelled on the real driver; the README lists every MIG-enabled format with its source. In short:
- the driver's choices are not predictable, so the simulator makes them unpredictable too, from a seed kept
  in the state (``seed``, default the ``uuid_seed``): a GPU-instance id is a random free id (issue 14 fact 2:
  one A100 gave a 2g.20gb at start 0 GI 3, the next GPU GI 5; an H100 PCIe had GI 7 at 4:1 and GI 11 at 0:1),
  and ``-cgi`` without a start takes a random free start (fact 3: the lowest on an empty A30, starts
  6,4,5,0,1,2,3 for seven 1g.10gb on an H100). Callers must read ids and starts back.
- compute instances may start at any free compute slice of their GI (fact 4: ``1c.3g.40gb`` then
  ``2c.3g.40gb`` in one 3g GI on a real A100).
- lists are processed left to right and stop at the first failure, without rollback.
- Ampere ``-mig`` resets the GPU implicitly and the mode is effective at once ("Enabled MIG Mode for GPU ..."
  on bare-metal A100s, fact 1); it stays pending when processes or other clients hold the GPU ("pending enable
  state ...:In use by another client", A30) or when the GPU cannot be reset (VMs: "...:Not Supported" and
  "Reboot the system ...", ``reset_supported=false``). Hopper and later switch at once or refuse ("Unable to
  disable MIG Mode ...: In use by another client" + "Terminating early due to previous errors.", fact 5).
- a GI with compute instances, a CI with a process, and a GPU with processes are "In use by another
  client" for destroy, mode change and reset.
- exit statuses follow the NVML return codes (2 invalid argument, 3 not supported, 6 not found,
  19 in use, 23 insufficient resources); an unknown error exits 255.
- driver-dependent wording: ``-lgi`` is 57 columns wide up to R550 and 59 on R580 (fact 5); R450/R460 print
  "Successfully created GPU instance on GPU  0 using profile ID  9" without the instance id (fact 6).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import copy
import fcntl
import hashlib
import importlib.util
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TEMPLATES = os.path.join(HERE, "templates")
STATE_ENV = "NVIDIA_SMI_SIM_STATE"
TIME_ENV = "NVIDIA_SMI_SIM_TIME"
STATE_VERSION = 1
DEFAULT_DRIVER = "580.159.04"
DEFAULT_CUDA = "13.0"
# The timestamp of the real capture; used when NVIDIA_SMI_SIM_TIME is unset so output is reproducible.
CAPTURE_EPOCH = 1795524396


def _load_by_path(name, relpath):
    module_name = "_nvidia_smi_sim_" + name
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(COLLECTION_ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


catalog = _load_by_path("catalog", "plugins/module_utils/_mig/catalog.py")
placement = _load_by_path("placement", "plugins/module_utils/_mig/placement.py")

ERROR_CODES = {
    "Invalid Argument": 2,
    "Not Supported": 3,
    "No Permission": 4,
    "Not Found": 6,
    "In use by another client": 19,
    "Insufficient Resources": 23,
    "Unknown Error": 255,
}

# Board facts nvidia-smi prints that are not MIG data (so not in the catalog): PCI subsystem id and
# power limit in watts. Values for the captured H100 are real; the others are typical for the part.
_BOARD = {
    "h100-80gb": ("0x16C110DE", 700),
    "h100-nvl-94gb": ("0x16B110DE", 400),
    "h200-141gb": ("0x18BE10DE", 700),
    "a100-40gb": ("0x134F10DE", 400),
    "a100-80gb": ("0x147F10DE", 400),
    "a30-24gb": ("0x153210DE", 165),
    "a10g-24gb": ("0x152F10DE", 300),
}
_DEFAULT_BOARD = ("0x000010DE", 300)

# The identity of the captured GPU (serial redacted to zeros in the capture).
CAPTURE_IDENTITY = {
    "uuid": "GPU-25bd35c4-38ce-a0ef-ebe7-b024f5545ed8",
    "bus_id": "00000000:00:06.0",
    "pdi": "0x9c9392a4247c3d7c",
    "serial": "0000000000000",
    "module_id": 2,
}

MUTATING_TOP = ("-mig", "--multi-instance-gpu", "-r", "--gpu-reset")
MUTATING_MIG = ("-cgi", "--create-gpu-instance", "-dgi", "--destroy-gpu-instance",
                "-cci", "--create-compute-instance", "-dci", "--destroy-compute-instance")


class SimError(Exception):
    """Bad simulator usage (not a simulated GPU error)."""


class _Exit(Exception):
    def __init__(self, rc, text=""):
        super(_Exit, self).__init__(rc, text)
        self.rc = rc
        self.text = text


# --------------------------------------------------------------------------------------------------
# state


def _hash_hex(*parts):
    return hashlib.sha256("/".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def _uuid_from(prefix, *parts):
    h = _hash_hex(*parts)
    return "%s-%s-%s-%s-%s-%s" % (prefix, h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def _default_bus_id(index):
    # p5.48xlarge-like spacing of the eight GPUs on the PCI bus
    return "00000000:%02X:00.0" % (0x53 + 0x11 * index)


def new_state(model="h100-80gb", gpus=1, mig=False, uuid_seed="sim", driver=DEFAULT_DRIVER,
              identity=None, models=None, seed=None, reset_supported=True, persistence=True):
    """Return a fresh state dict. ``models`` (list of keys) overrides ``model`` x ``gpus``.

    ``seed`` drives the driver's unpredictable choices (GI ids, starts without a placement); default
    ``uuid_seed``. ``reset_supported=False`` models a VM whose GPUs cannot be reset (Ampere mode changes stay
    pending until a reboot); ``persistence=False`` a node without persistence mode.
    """
    keys = list(models) if models else [model] * int(gpus)
    if not keys:
        raise SimError("a node needs at least one GPU")
    state = {"version": STATE_VERSION, "driver": driver, "cuda": DEFAULT_CUDA, "gpus": [],
             "faults": {}, "mig_uuid_counter": 0, "seed": str(uuid_seed if seed is None else seed), "draws": 0}
    for index, key in enumerate(keys):
        spec = catalog.gpu_model(key)
        gpu = {
            "index": index,
            "model": key,
            "uuid": _uuid_from("GPU", uuid_seed, key, index),
            "bus_id": _default_bus_id(index),
            "pdi": "0x" + _hash_hex("pdi", uuid_seed, key, index)[:16],
            "serial": str(int(_hash_hex("serial", uuid_seed, index)[:12], 16) % 10 ** 13).zfill(13),
            "module_id": index + 1,
            "mig_current": bool(mig) and spec.mig_capable,
            "mig_pending": bool(mig) and spec.mig_capable,
            "gpu_instances": [],
            "processes": [],
            "clients": [],
            "reset_supported": bool(reset_supported),
            "persistence": bool(persistence),
        }
        state["gpus"].append(gpu)
    if identity == "h100-capture":
        if keys[0] != "h100-80gb":
            raise SimError("identity h100-capture needs model h100-80gb")
        state["gpus"][0].update(CAPTURE_IDENTITY)
    elif identity:
        raise SimError("unknown identity %r (known: h100-capture)" % identity)
    return state


def _lock_path(path):
    return path + ".lock"


@contextlib.contextmanager
def locked(path):
    """Hold the node's lock (parallel invocations are serialised like calls into one driver)."""
    with open(_lock_path(path), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def read_state(path):
    try:
        with open(path, "r") as handle:
            state = json.load(handle)
    except (IOError, OSError) as exc:
        raise SimError("cannot read simulator state %s: %s" % (path, exc))
    except ValueError as exc:
        raise SimError("simulator state %s is not valid JSON: %s" % (path, exc))
    if state.get("version") != STATE_VERSION:
        raise SimError("simulator state %s has version %r, expected %d" % (path, state.get("version"), STATE_VERSION))
    return state


def write_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
    os.rename(tmp, path)


def calls_path(path):
    return path + ".calls.jsonl"


def _log_call(path, argv, mutating, changed, rc):
    record = {"argv": list(argv), "mutating": mutating, "changed": changed, "rc": rc, "time": time.time()}
    with open(calls_path(path), "a") as handle:
        handle.write(json.dumps(record) + "\n")


def read_calls(path):
    try:
        with open(calls_path(path), "r") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (IOError, OSError):
        return []


# --------------------------------------------------------------------------------------------------
# model helpers


def _model(gpu):
    return catalog.gpu_model(gpu["model"])


def _profiles(gpu):
    return _model(gpu).profiles


def _profile_by_name(gpu, name):
    for prof in _profiles(gpu):
        if prof.name == name:
            return prof
    raise SimError("GPU %d has no profile %s" % (gpu["index"], name))


def _resolve_profile(gpu, token):
    """A -cgi profile token: an id ("19") or a name ("1g.10gb", "MIG 1g.10gb"); None when invalid."""
    token = token.strip()
    if token.isdigit():
        for prof in _profiles(gpu):
            if prof.typical_id == int(token):
                return prof
        return None
    name = token[4:] if token.upper().startswith("MIG ") else token
    for prof in _profiles(gpu):
        if prof.name.lower() == name.lower():
            return prof
    return None


def _draw(state, choices):
    """One of ``choices``, chosen by the node's seeded random stream (the driver's unpredictable choice)."""
    choices = sorted(choices)
    state["draws"] = state.get("draws", 0) + 1
    return random.Random("%s/%d" % (state.get("seed", "sim"), state["draws"])).choice(choices)


def _new_gi_id(state, gpu):
    """A free GPU-instance id, not derived from the placement (issue 14 fact 2)."""
    used = set(gi["id"] for gi in gpu["gpu_instances"])
    return _draw(state, [i for i in range(2 * _model(gpu).memory_slots - 1) if i not in used])


def _driver_major(state):
    try:
        return int(str(state.get("driver", DEFAULT_DRIVER)).split(".", 1)[0])
    except ValueError:
        return 0


def _fixed(gpu):
    return [(gi["profile"], gi["start"]) for gi in gpu["gpu_instances"]]


def _occupied(gpu):
    return placement.occupied_mask(_fixed(gpu), _profiles(gpu))


def _compute_used(gpu):
    return sum(_profile_by_name(gpu, gi["profile"]).compute_slices for gi in gpu["gpu_instances"])


def _max_compute(gpu):
    return max(p.compute_slices for p in _profiles(gpu))


def _free_count(gpu, prof):
    """Free instances of ``prof`` for -lgip (what NVML's remaining capacity reports)."""
    if not gpu["mig_current"]:
        return prof.max_count
    existing = sum(1 for gi in gpu["gpu_instances"] if gi["profile"] == prof.name)
    mask = _occupied(gpu)
    free_starts = sum(1 for s in prof.starts if not mask & placement.slot_mask(s, prof.size))
    by_compute = (_max_compute(gpu) - _compute_used(gpu)) // prof.compute_slices
    return max(0, min(prof.max_count - existing, free_starts, by_compute))


def _ci_profile_id(gi_prof, compute):
    """CI profile id (NVML CI enum) of a CI with ``compute`` slices in a GI of profile ``gi_prof``."""
    if compute == gi_prof.compute_slices and gi_prof.compute_slices == 1 and gi_prof.size == 2:
        return 7  # 1g.20gb-style GIs use the 1_SLICE_REV1 CI profile (mig.md 4.3)
    return {1: 0, 2: 1, 3: 2, 4: 3, 6: 6, 7: 4, 8: 5}[compute]


def _ci_profiles(gi_prof):
    """[(ci profile id, name, compute slices, count)] a GI offers (-lcip)."""
    out = []
    g = gi_prof.compute_slices
    for c in (1, 2, 3, 4, 7):
        if c < g:
            out.append((_ci_profile_id(gi_prof, c), "%dc.%s" % (c, gi_prof.name), c, g // c))
    out.append((_ci_profile_id(gi_prof, g), gi_prof.name, g, 1))
    return out


def _mig_uuid(state, gpu):
    state["mig_uuid_counter"] = state.get("mig_uuid_counter", 0) + 1
    return _uuid_from("MIG", gpu["uuid"], state["mig_uuid_counter"])


def _busy_pids(gpu, gi=None, ci=None):
    pids = []
    for proc in gpu["processes"]:
        if gi is not None and proc.get("gi") != gi:
            continue
        if ci is not None and proc.get("ci") != ci:
            continue
        pids.append(proc["pid"])
    return pids


def _mig_devices(gpu):
    """(gi, ci) pairs in MIG device order (-L, -q): by GI id, then CI id."""
    out = []
    for gi in sorted(gpu["gpu_instances"], key=lambda g: g["id"]):
        for ci in sorted(gi["compute_instances"], key=lambda c: c["id"]):
            out.append((gi, ci))
    return out


def _memory_mib(prof):
    """MiB of a profile: -lgip prints GiB with two decimals; the real size is a multiple of 1/16 GiB."""
    return int(round(float(prof.memory_gib) * 16)) * 64


def _memory_used(gpu):
    return sum(int(p.get("memory_mib", 0)) for p in gpu["processes"])


def _mode_word(flag):
    return "Enabled" if flag else "Disabled"


def _epoch():
    raw = os.environ.get(TIME_ENV)
    if raw is None:
        return CAPTURE_EPOCH
    return time.time() if raw == "now" else int(raw)


def _timestamp():
    """The clock as -q and the table print it (UTC, so output does not depend on the host's zone)."""
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(_epoch()))


def _query_timestamp():
    """The clock as --query-gpu/--query-compute-apps print it."""
    return time.strftime("%Y/%m/%d %H:%M:%S.000", time.gmtime(_epoch()))


def _bus_parts(bus_id):
    domain, bus, devfn = bus_id.split(":")
    device = devfn.split(".")[0]
    return domain, bus, device


# --------------------------------------------------------------------------------------------------
# device selection (-i)


def _normalise_bus_id(text):
    """(domain, bus, device, function) of a PCI bus id; "0000:06:00.0" and "00000000:06:00.0" match."""
    try:
        parts = text.strip().split(":")
        if len(parts) == 2:
            parts = ["0"] + parts
        domain, bus, devfn = parts
        device, _sep, function = devfn.partition(".")
        return int(domain, 16), int(bus, 16), int(device, 16), int(function or "0", 16)
    except ValueError:
        return None


def _select(state, ids):
    """GPUs named by an -i value (index, UUID, PCI bus id; comma list). Raises _Exit when one is unknown."""
    gpus = state["gpus"]
    if ids is None:
        return list(gpus)
    chosen = []
    for token in ids.split(","):
        token = token.strip()
        match = None
        for gpu in gpus:
            if token.isdigit() and int(token) == gpu["index"]:
                match = gpu
            elif token.lower() == gpu["uuid"].lower():
                match = gpu
            elif ":" in token and _normalise_bus_id(token) == _normalise_bus_id(gpu["bus_id"]):
                match = gpu
        if match is None:
            raise _Exit(6, "No devices were found\n")
        if match not in chosen:
            chosen.append(match)
    return chosen


# --------------------------------------------------------------------------------------------------
# read-only renderers


def _read_template(name):
    with open(os.path.join(TEMPLATES, name), "r") as handle:
        return handle.read()


def _fill(template, values):
    out = template
    for key, value in values.items():
        out = out.replace("@%s@" % key, str(value))
    if "@" in out.replace("@@mig_devices@@", "").replace("@@processes@@", ""):
        raise SimError("unfilled template placeholder")
    return out


def _gpu_values(state, gpu, xml):
    spec = _model(gpu)
    domain, bus, device = _bus_parts(gpu["bus_id"])
    sub_system, power = _BOARD.get(gpu["model"], _DEFAULT_BOARD)
    used = _memory_used(gpu)
    reserved = 480
    device_id = spec.pci_device_ids[0]
    mig_word = _mode_word if spec.mig_capable else (lambda flag: "N/A")
    values = {
        "bus_id": gpu["bus_id"],
        "product_name": spec.product_name,
        "architecture": spec.architecture.capitalize(),
        "persistence_mode": "Enabled" if gpu.get("persistence", True) else "Disabled",
        "mig_current": mig_word(gpu["mig_current"]),
        "mig_pending": mig_word(gpu["mig_pending"]),
        "serial": gpu["serial"],
        "uuid": gpu["uuid"],
        "pdi": gpu["pdi"],
        "minor_number": gpu["index"],
        "board_id": "0x%x" % int(device, 16),
        "gpu_part_number": "%s-885-A1" % device_id[2:6].upper(),
        "module_id": gpu["module_id"],
        "driver_version": state["driver"],
        "memory_total": "%d MiB" % spec.memory_mib,
        "memory_reserved": "%d MiB" % reserved,
        "memory_used": "%d MiB" % used,
        "memory_free": "%d MiB" % (spec.memory_mib - reserved - used),
        "compute_mode": "Default",
        "power_limit": "%d.00 W" % power,
    }
    if xml:
        values.update({
            "pci_bus_hex": bus.upper(), "pci_device_hex": device.upper(), "pci_domain_hex": domain[-4:].upper(),
            "pci_device_id_hex": device_id[2:].upper(), "pci_sub_system_id_hex": sub_system[2:].upper(),
        })
    else:
        values.update({
            "pci_bus": "0x%s" % bus.upper(), "pci_device": "0x%s" % device.upper(),
            "pci_domain": "0x%s" % domain[-4:].upper(), "pci_device_id": device_id, "pci_sub_system_id": sub_system,
        })
    return values


def _q_label(indent, label, value=None):
    line = " " * indent + label
    if value is None:
        return line
    return line.ljust(55) + ": " + str(value)


def _q_mig_devices(gpu):
    if not (_model(gpu).mig_capable and gpu["mig_current"]):
        return []
    devices = _mig_devices(gpu)
    if not devices:
        return [_q_label(4, "MIG Devices", "None")]
    lines = [_q_label(4, "MIG Devices")]
    for index, (gi, ci) in enumerate(devices):
        prof = _profile_by_name(gpu, gi["profile"])
        mem = _memory_mib(prof)
        sm = prof.sm * ci["size"] // prof.compute_slices
        lines += [
            _q_label(8, "MIG Device"),
            _q_label(12, "Index", index),
            _q_label(12, "GPU Instance ID", gi["id"]),
            _q_label(12, "Compute Instance ID", ci["id"]),
            _q_label(12, "Device Attributes"),
            _q_label(16, "Shared"),
            _q_label(20, "Multiprocessor count", sm),
            _q_label(20, "Copy Engine count", prof.ce),
            _q_label(20, "Encoder count", prof.enc),
            _q_label(20, "Decoder count", prof.dec),
            _q_label(20, "OFA count", prof.ofa),
            _q_label(20, "JPG count", prof.jpeg),
            _q_label(12, "ECC Errors"),
            _q_label(16, "Volatile"),
            _q_label(20, "SRAM Uncorrectable", 0),
            _q_label(12, "FB Memory Usage"),
            _q_label(16, "Total", "%d MiB" % mem),
            _q_label(16, "Reserved", "0 MiB"),
            _q_label(16, "Used", "%d MiB" % _memory_used_ci(gpu, gi["id"], ci["id"])),
            _q_label(16, "Free", "%d MiB" % (mem - _memory_used_ci(gpu, gi["id"], ci["id"]))),
        ]
    return lines


def _memory_used_ci(gpu, gi_id, ci_id):
    return sum(int(p.get("memory_mib", 0)) for p in gpu["processes"] if p.get("gi") == gi_id and p.get("ci") == ci_id)


def _na(value):
    return "N/A" if value is None else value


def _q_processes(gpu):
    if not gpu["processes"]:
        return [_q_label(4, "Processes", "None")]
    lines = [_q_label(4, "Processes")]
    for proc in gpu["processes"]:
        lines += [
            _q_label(8, "GPU instance ID", _na(proc.get("gi"))),
            _q_label(8, "Compute instance ID", _na(proc.get("ci"))),
            _q_label(8, "Process ID", proc["pid"]),
            _q_label(8, "Type", "C"),
            _q_label(8, "Name", proc["name"]),
            _q_label(8, "Used GPU Memory", "%d MiB" % int(proc.get("memory_mib", 0))),
        ]
    return lines


def _x_mig_devices(gpu):
    t = "\t"
    if not (_model(gpu).mig_capable and gpu["mig_current"]) or not _mig_devices(gpu):
        return [t * 2 + "<mig_devices>", t * 3 + "None", t * 2 + "</mig_devices>"]
    lines = [t * 2 + "<mig_devices>"]
    for index, (gi, ci) in enumerate(_mig_devices(gpu)):
        prof = _profile_by_name(gpu, gi["profile"])
        mem = _memory_mib(prof)
        used = _memory_used_ci(gpu, gi["id"], ci["id"])
        sm = prof.sm * ci["size"] // prof.compute_slices
        lines += [
            t * 3 + "<mig_device>",
            t * 4 + "<index>%d</index>" % index,
            t * 4 + "<gpu_instance_id>%d</gpu_instance_id>" % gi["id"],
            t * 4 + "<compute_instance_id>%d</compute_instance_id>" % ci["id"],
            t * 4 + "<device_attributes>",
            t * 5 + "<shared>",
            t * 6 + "<multiprocessor_count>%d</multiprocessor_count>" % sm,
            t * 6 + "<copy_engine_count>%d</copy_engine_count>" % prof.ce,
            t * 6 + "<encoder_count>%d</encoder_count>" % prof.enc,
            t * 6 + "<decoder_count>%d</decoder_count>" % prof.dec,
            t * 6 + "<ofa_count>%d</ofa_count>" % prof.ofa,
            t * 6 + "<jpg_count>%d</jpg_count>" % prof.jpeg,
            t * 5 + "</shared>",
            t * 4 + "</device_attributes>",
            t * 4 + "<ecc_error_count>",
            t * 5 + "<volatile_count>",
            t * 6 + "<sram_uncorrectable>0</sram_uncorrectable>",
            t * 5 + "</volatile_count>",
            t * 4 + "</ecc_error_count>",
            t * 4 + "<fb_memory_usage>",
            t * 5 + "<total>%d MiB</total>" % mem,
            t * 5 + "<reserved>0 MiB</reserved>",
            t * 5 + "<used>%d MiB</used>" % used,
            t * 5 + "<free>%d MiB</free>" % (mem - used),
            t * 4 + "</fb_memory_usage>",
            t * 3 + "</mig_device>",
        ]
    lines.append(t * 2 + "</mig_devices>")
    return lines


def _x_processes(gpu):
    t = "\t"
    lines = [t * 2 + "<processes>"]
    for proc in gpu["processes"]:
        lines += [
            t * 3 + "<process_info>",
            t * 4 + "<gpu_instance_id>%s</gpu_instance_id>" % _na(proc.get("gi")),
            t * 4 + "<compute_instance_id>%s</compute_instance_id>" % _na(proc.get("ci")),
            t * 4 + "<pid>%d</pid>" % proc["pid"],
            t * 4 + "<type>C</type>",
            t * 4 + "<process_name>%s</process_name>" % _xml_escape(proc["name"]),
            t * 4 + "<used_memory>%d MiB</used_memory>" % int(proc.get("memory_mib", 0)),
            t * 3 + "</process_info>",
        ]
    lines.append(t * 2 + "</processes>")
    return lines


def _xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _replace_marker(text, marker, lines):
    token = "@@%s@@\n" % marker
    return text.replace(token, "".join(line + "\n" for line in lines))


def render_q(state, gpus, xml=False):
    prefix = "q_xml" if xml else "q"
    head = _fill(_read_template(prefix + "_head.tmpl"), {
        "timestamp": _timestamp(), "driver_version": state["driver"], "cuda_version": state["cuda"],
        "attached_gpus": len(state["gpus"]),
    })
    body = []
    gpu_template = _read_template(prefix + "_gpu.tmpl")
    for gpu in gpus:
        text = _fill(gpu_template, _gpu_values(state, gpu, xml))
        text = _replace_marker(text, "mig_devices", _x_mig_devices(gpu) if xml else _q_mig_devices(gpu))
        text = _replace_marker(text, "processes", _x_processes(gpu) if xml else _q_processes(gpu))
        body.append(text)
    return head + "".join(body) + _read_template(prefix + "_tail.tmpl")


def render_list(state, gpus):
    lines = []
    for gpu in gpus:
        lines.append("GPU %d: %s (UUID: %s)" % (gpu["index"], _model(gpu).product_name, gpu["uuid"]))
        if gpu["mig_current"]:
            for index, (_gi, ci) in enumerate(_mig_devices(gpu)):
                lines.append("  %-15s Device %2d: (UUID: %s)" % ("MIG " + ci["name"], index, ci["uuid"]))
    return "".join(line + "\n" for line in lines)


# --query-gpu fields: name -> (header unit, function(state, gpu) -> (value, unit or None))
def _q_fields():
    def mig(attr):
        def get(state, gpu):
            if not _model(gpu).mig_capable:
                return "[N/A]", None
            return _mode_word(gpu[attr]), None
        return get

    def mem(kind):
        def get(state, gpu):
            total = _model(gpu).memory_mib
            used = _memory_used(gpu)
            value = {"total": total, "used": used, "reserved": 480, "free": total - 480 - used}[kind]
            return str(value), "MiB"
        return get

    fields = {
        "timestamp": (None, lambda s, g: (_query_timestamp(), None)),
        "driver_version": (None, lambda s, g: (s["driver"], None)),
        "count": (None, lambda s, g: (str(len(s["gpus"])), None)),
        "name": (None, lambda s, g: (_model(g).product_name, None)),
        "serial": (None, lambda s, g: (g["serial"], None)),
        "uuid": (None, lambda s, g: (g["uuid"], None)),
        "pci.bus_id": (None, lambda s, g: (g["bus_id"], None)),
        "pci.domain": (None, lambda s, g: ("0x" + _bus_parts(g["bus_id"])[0][-4:].upper(), None)),
        "pci.bus": (None, lambda s, g: ("0x" + _bus_parts(g["bus_id"])[1].upper(), None)),
        "pci.device": (None, lambda s, g: ("0x" + _bus_parts(g["bus_id"])[2].upper(), None)),
        "pci.device_id": (None, lambda s, g: (_model(g).pci_device_ids[0], None)),
        "pci.sub_device_id": (None, lambda s, g: (_BOARD.get(g["model"], _DEFAULT_BOARD)[0], None)),
        "persistence_mode": (None, lambda s, g: ("Enabled" if g.get("persistence", True) else "Disabled", None)),
        "compute_mode": (None, lambda s, g: ("Default", None)),
        "pstate": (None, lambda s, g: ("P0", None)),
        "memory.total": ("MiB", mem("total")),
        "memory.reserved": ("MiB", mem("reserved")),
        "memory.used": ("MiB", mem("used")),
        "memory.free": ("MiB", mem("free")),
        "mig.mode.current": (None, mig("mig_current")),
        "mig.mode.pending": (None, mig("mig_pending")),
        "vbios_version": (None, lambda s, g: ("96.00.DA.00.0C", None)),
        "index": (None, lambda s, g: (str(g["index"]), None)),
    }
    aliases = {"gpu_name": "name", "gpu_serial": "serial", "gpu_uuid": "uuid", "gpu_bus_id": "pci.bus_id"}
    for alias, target in aliases.items():
        fields.setdefault(alias, fields[target])
    return fields


_APP_FIELDS = {
    "timestamp": None, "gpu_name": None, "gpu_bus_id": None, "gpu_serial": None, "gpu_uuid": None,
    "pid": None, "process_name": None, "name": None, "used_gpu_memory": "MiB", "used_memory": "MiB",
}


def _valid_query_fields():
    """Every field name the real --help-query-gpu lists (valid, even when the simulator cannot fill it)."""
    names = set()
    for line in _read_template("help_query.txt").split("\n"):
        if line.startswith('"') and line.endswith('"'):
            for part in line.split(" or "):
                names.add(part.strip().strip('"'))
    return names


def _parse_format(fmt):
    options = [f.strip() for f in (fmt or "").split(",") if f.strip()]
    if not options or options[0] != "csv" or any(o not in ("csv", "noheader", "nounits") for o in options):
        raise _Exit(2, '"%s" is not a valid format.\n' % (fmt or ""))
    return "noheader" in options, "nounits" in options


def render_query_gpu(state, gpus, field_list, fmt):
    noheader, nounits = _parse_format(fmt)
    known = _q_fields()
    names = [f.strip() for f in field_list.split(",")]
    valid = _valid_query_fields()
    for name in names:
        if name not in valid and name not in known:
            raise _Exit(2, 'Field "%s" is not a valid field to query.\n\n' % name)
        if name not in known:
            raise _Exit(2, 'Field "%s" is valid but not implemented by the nvidia-smi simulator.\n' % name)
    lines = []
    if not noheader:
        lines.append(", ".join(
            n + (" [%s]" % known[n][0] if known[n][0] and not nounits else "") for n in names))
    for gpu in gpus:
        cells = []
        for name in names:
            value, unit = known[name][1](state, gpu)
            cells.append(value if (unit is None or nounits) else "%s %s" % (value, unit))
        lines.append(", ".join(cells))
    return "".join(line + "\n" for line in lines)


def render_query_apps(state, gpus, field_list, fmt):
    noheader, nounits = _parse_format(fmt)
    names = [f.strip() for f in field_list.split(",")]
    for name in names:
        if name not in _APP_FIELDS:
            raise _Exit(2, 'Field "%s" is not a valid field to query.\n\n' % name)
    lines = []
    if not noheader:
        lines.append(", ".join(n + (" [%s]" % _APP_FIELDS[n] if _APP_FIELDS[n] and not nounits else "") for n in names))
    for gpu in gpus:
        for proc in gpu["processes"]:
            values = {
                "timestamp": _query_timestamp(),
                "gpu_name": _model(gpu).product_name, "gpu_bus_id": gpu["bus_id"], "gpu_serial": gpu["serial"],
                "gpu_uuid": gpu["uuid"], "pid": str(proc["pid"]), "process_name": proc["name"], "name": proc["name"],
            }
            mem = str(int(proc.get("memory_mib", 0)))
            values["used_gpu_memory"] = values["used_memory"] = mem if nounits else mem + " MiB"
            lines.append(", ".join(values[n] for n in names))
    return "".join(line + "\n" for line in lines)


_LGIP_HEAD = (
    "+-------------------------------------------------------------------------------+\n"
    "| GPU instance profiles:                                                        |\n"
    "| GPU   Name               ID    Instances   Memory     P2P    SM    DEC   ENC  |\n"
    "|                                Free/Total   GiB              CE    JPEG  OFA  |\n"
    "|===============================================================================|\n"
)
_LGIP_SEP = "+-------------------------------------------------------------------------------+\n"


def render_lgip(state, gpus):
    rows = []
    for gpu in gpus:
        for prof in _profiles(gpu):
            rows.append(
                "|%4d  %s%3d     %s%s%s%s%s%s|\n" % (
                    gpu["index"], ("MIG " + prof.name).ljust(19), prof.typical_id,
                    ("%d/%d" % (_free_count(gpu, prof), prof.max_count)).ljust(11), prof.memory_gib.ljust(11),
                    "No".ljust(7), str(prof.sm).ljust(7), str(prof.dec).ljust(6), str(prof.enc).ljust(4))
                + "|%s%3s     %s%s|\n" % (" " * 61, prof.ce, str(prof.jpeg).ljust(6), str(prof.ofa).ljust(4))
                + _LGIP_SEP)
    return _LGIP_HEAD + "".join(rows)


def render_lgipp(state, gpus):
    lines = []
    for gpu in gpus:
        for prof in _profiles(gpu):
            word = "Placements:" if len(prof.starts) > 1 else "Placement :"
            lines.append("GPU %2d Profile ID %2d %s {%s}:%d\n" % (
                gpu["index"], prof.typical_id, word, ",".join(str(s) for s in prof.starts), prof.size))
    return "".join(lines)


def _table(title_lines, sep_width, rows):
    for row in rows:
        for line in row.split("\n"):
            if len(line) != sep_width + 2:
                raise SimError("table row of %d characters, expected %d: %r" % (len(line), sep_width + 2, line))
    sep = "+" + "-" * sep_width + "+\n"
    head = sep + "".join("|" + line.ljust(sep_width) + "|\n" for line in title_lines)
    head += "|" + "=" * sep_width + "|\n"
    return head + "".join(row + "\n" + sep for row in rows)


def _by_profile_desc(gis):
    """Real ``-lgi``/``-lci`` order: profile id descending, then instance id (issue 14 fact 5)."""
    return sorted(gis, key=lambda g: (-g["profile_id"], g["id"]))


def render_lgi(state, gpus):
    # 57 columns up to R550, 59 on R580 (issue 14 fact 5); the extra width sits in the name column here
    extra = 2 if _driver_major(state) >= 560 else 0
    rows = []
    for gpu in gpus:
        for gi in _by_profile_desc(gpu["gpu_instances"]):
            rows.append("|%4d  %s%3d%9d%13s     |" % (
                gpu["index"], ("MIG " + gi["profile"]).ljust(19 + extra), gi["profile_id"], gi["id"],
                "%d:%d" % (gi["start"], gi["size"])))
    if not rows:
        # an empty list on a MIG-enabled GPU (issue 14 fact 5); exit status not captured: 0 assumed, like the
        # MIG-disabled "No MIG-enabled devices found." (own capture)
        return "No GPU instances found: Not Found\n", 0
    pad = " " * extra
    return _table([" GPU instances:", " GPU   Name           %s  Profile  Instance   Placement  " % pad,
                   "                        %s  ID       ID       Start:Size " % pad], 55 + extra, rows), 0


def _gi_filter(gpu, gi_ids):
    gis = _by_profile_desc(gpu["gpu_instances"])
    if gi_ids is None:
        return gis
    return [gi for gi in gis if gi["id"] in gi_ids]


def render_lci(state, gpus, gi_ids):
    rows = []
    for gpu in gpus:
        for gi in _gi_filter(gpu, gi_ids):
            for ci in _by_profile_desc(gi["compute_instances"]):
                rows.append("|%4d%7d       %s%3d%10d%13s     |" % (
                    gpu["index"], gi["id"], ("MIG " + ci["name"]).ljust(19), ci["profile_id"], ci["id"],
                    "%d:%d" % (ci["start"], ci["size"])))
    if not rows:
        return "No compute instances found.\n"
    return _table([" Compute instances:", " GPU     GPU       Name             Profile   Instance   Placement  ",
                   "       Instance                       ID        ID       Start:Size ",
                   "         ID                                                         "], 68, rows)


def render_lcip(state, gpus, gi_ids):
    rows = []
    for gpu in gpus:
        for gi in _gi_filter(gpu, gi_ids):
            gi_prof = _profile_by_name(gpu, gi["profile"])
            used = sum(ci["size"] for ci in gi["compute_instances"])
            for ci_id, name, compute, total in _ci_profiles(gi_prof):
                free = min(total, (gi_prof.compute_slices - used) // compute)
                default = "*" if compute == gi_prof.compute_slices else " "
                sm = gi_prof.sm * compute // gi_prof.compute_slices
                rows.append("|%4d%7d       %s%3d%s     %s%s%s%s%s|\n|%s%s%s%s|" % (
                    gpu["index"], gi["id"], ("MIG " + name).ljust(19), ci_id, default,
                    ("%d/%d" % (free, total)).ljust(11), str(sm).ljust(11), str(gi_prof.dec).ljust(6),
                    str(gi_prof.enc).ljust(6), str(gi_prof.ofa).ljust(6),
                    " " * 68, str(gi_prof.ce).ljust(6), str(gi_prof.jpeg).ljust(6), " " * 6))
    if not rows:
        return "No GPU instances found.\n"
    return _table([" Compute instance profiles:",
                   " GPU     GPU       Name             Profile  Instances   Exclusive       Shared       ",
                   "       Instance                       ID     Free/Total     SM       DEC   ENC   OFA  ",
                   "         ID                                                          CE    JPEG       "], 86, rows)


def render_smi(state, gpus):
    sep = "+-----------------------------------------+------------------------+----------------------+\n"
    out = [_timestamp() + "       \n",
           "+-----------------------------------------------------------------------------------------+\n",
           "| NVIDIA-SMI %-22s Driver Version: %-14s CUDA Version: %-9s|\n" % (state["driver"], state["driver"], state["cuda"]),
           sep,
           "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |\n",
           "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |\n",
           "|                                         |                        |               MIG M. |\n",
           "|=========================================+========================+======================|\n"]
    for gpu in gpus:
        spec = _model(gpu)
        power = _BOARD.get(gpu["model"], _DEFAULT_BOARD)[1]
        mig = ("Enabled" if gpu["mig_current"] else "Disabled") if spec.mig_capable else "N/A"
        persistence = "On" if gpu.get("persistence", True) else "Off"
        out.append("|%4d  %-29s %3s  |%19s %3s |%21s |\n" % (gpu["index"], spec.product_name[:29], persistence, gpu["bus_id"], "Off", "0"))
        out.append("| %3s %5s %5s %15s / %5s |%11s / %9s |%8s%13s |\n" % (
            "N/A", "37C", "P0", "72W", "%dW" % power, "%dMiB" % _memory_used(gpu), "%dMiB" % spec.memory_mib,
            "0%", "Default"))
        out.append("|%41s|%24s|%21s |\n" % ("", "", mig))
        out.append(sep)
    out.append("\n")
    mig_rows = []
    for gpu in gpus:
        if gpu["mig_current"]:
            for index, (gi, ci) in enumerate(_mig_devices(gpu)):
                prof = _profile_by_name(gpu, gi["profile"])
                mem = _memory_mib(prof)
                mig_rows.append("|%3d  %3d %3d %3d  |%21s / %8s  |%3d %6s |%3d %3d %4d %4d %4d |\n" % (
                    gpu["index"], gi["id"], ci["id"], index, "%dMiB" % _memory_used_ci(gpu, gi["id"], ci["id"]),
                    "%dMiB" % mem, prof.sm * ci["size"] // prof.compute_slices, "0", prof.ce, prof.enc, prof.dec,
                    prof.ofa, prof.jpeg))
                mig_rows.append("|                  |%33s |%10s |%22s |\n" % ("", "", ""))
                mig_rows.append("+------------------+----------------------------------+-----------+-----------------------+\n")
    if mig_rows:
        out += ["+-----------------------------------------------------------------------------------------+\n",
                "| MIG devices:                                                                            |\n",
                "+------------------+----------------------------------+-----------+-----------------------+\n",
                "| GPU  GI  CI  MIG |                     Memory-Usage |        Vol|        Shared         |\n",
                "|      ID  ID  Dev |                       BAR1-Usage | SM     Unc| CE ENC  DEC  OFA  JPG |\n",
                "|                  |                                  |        ECC|                       |\n",
                "|==================+==================================+===========+=======================|\n"]
        out += mig_rows
        out.append("\n")
    out += ["+-----------------------------------------------------------------------------------------+\n",
            "| Processes:                                                                              |\n",
            "|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |\n",
            "|        ID   ID                                                               Usage      |\n",
            "|=========================================================================================|\n"]
    procs = [(gpu, p) for gpu in gpus for p in gpu["processes"]]
    if not procs:
        out.append("|  No running processes found                                                             |\n")
    for gpu, proc in procs:
        out.append("|  %3d %4s %4s %16d %6s   %-35.35s %10s |\n" % (
            gpu["index"], _na(proc.get("gi")), _na(proc.get("ci")), proc["pid"], "C", proc["name"],
            "%dMiB" % int(proc.get("memory_mib", 0))))
    out.append("+-----------------------------------------------------------------------------------------+\n")
    return "".join(out)


# --------------------------------------------------------------------------------------------------
# mutating operations


def _fail(message):
    return ERROR_CODES.get(message, 255)


_PERSISTENCE_WARNING = ("Warning: persistence mode is disabled on device %s. See the Known Issues section of the "
                        "nvidia-smi(1) man page for more information. Run with [--help | -h] switch to get more "
                        "information on how to enable persistence mode.\n")


def _holders(gpu):
    """What keeps the driver from resetting a GPU: processes and other clients (DCGM, persistenced, ...)."""
    return list(gpu["processes"]) + list(gpu.get("clients", []))


def set_mig_mode(state, gpus, enable, explicit):
    out = []
    rc = 0
    changed = False
    word = "enable" if enable else "disable"
    for gpu in gpus:
        spec = _model(gpu)
        bus = gpu["bus_id"]
        if not spec.mig_capable:
            out.append("Unable to %s MIG Mode for GPU %s: Not Supported\n" % (word, bus))
            if explicit:
                rc = rc or 3
            else:
                out.append("Treating as warning and moving on.\n")
            continue
        if spec.architecture != "ampere" and not gpu.get("persistence", True):
            # Hopper (issue 14 fact 5): a persistence warning and an extra blank line
            out.append(_PERSISTENCE_WARNING % bus + "\n")
        if not enable and gpu["gpu_instances"]:
            out.append("Unable to disable MIG Mode for GPU %s: In use by another client\n" % bus)
            out.append("Terminating early due to previous errors.\n")
            return "".join(out), 19, changed
        if spec.architecture == "ampere":
            if gpu["mig_pending"] != enable:
                gpu["mig_pending"] = enable
                changed = True
            if gpu["mig_current"] != enable:
                state_word = "enable" if enable else "disable"
                if _holders(gpu):
                    # the implicit reset cannot run (A30 in issue 14 fact 1; gpu-operator#118)
                    out.append("Warning: MIG mode is in pending %s state for GPU %s:In use by another client\n"
                               "%s is currently being used by one or more other processes (e.g. CUDA application or a "
                               "monitoring application such as another instance of nvidia-smi). Please first kill all "
                               "processes using the device and retry the command or reboot the system to make MIG mode "
                               "effective.\n" % (state_word, bus, bus))
                    continue
                if not gpu.get("reset_supported", True):
                    # VMs without reset support (MIG user guide; mig-parted reboots when a GPU has no reset)
                    out.append("Warning: MIG mode is in pending %s state for GPU %s:Not Supported\n"
                               "Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU %s\n"
                               % (state_word, bus, bus))
                    continue
                # bare metal, idle: the driver resets the GPU and the mode is effective at once (fact 1)
                gpu["mig_current"] = enable
                gpu["gpu_instances"] = []
                changed = True
        else:
            if gpu["processes"] and gpu["mig_current"] != enable:
                out.append("Unable to %s MIG Mode for GPU %s: In use by another client\n" % (word, bus))
                out.append("Terminating early due to previous errors.\n")
                return "".join(out), 19, changed
            if gpu["mig_current"] != enable or gpu["mig_pending"] != enable:
                changed = True
            gpu["mig_current"] = gpu["mig_pending"] = enable
        out.append("%s MIG Mode for GPU %s\n" % ("Enabled" if enable else "Disabled", bus))
    out.append("All done.\n")
    return "".join(out), rc, changed


def gpu_reset(state, gpus):
    busy = [gpu for gpu in gpus if _holders(gpu)]
    if busy:
        # wording of gpu-operator#118 (a client holding the GPU blocks --gpu-reset); nothing is reset
        lines = ["GPU %s is currently in use by another process.\n" % gpu["bus_id"] for gpu in busy]
        lines.append("\n%d device%s currently being used by one or more other processes (e.g., Fabric Manager, CUDA "
                     "application, graphics application such as an X server, or a monitoring application such as "
                     "another instance of nvidia-smi). Please first kill all processes using %s device%s and all "
                     "compute applications running in the system.\n"
                     % (len(busy), " is" if len(busy) == 1 else "s are", "this" if len(busy) == 1 else "these",
                        "" if len(busy) == 1 else "s"))
        return "".join(lines), 19, False
    unsupported = [gpu for gpu in gpus if not gpu.get("reset_supported", True)]
    if unsupported:
        # no reset in this VM: NVML_ERROR_NOT_SUPPORTED (wording assumed, see the README)
        return "".join("Unable to reset GPU %s: Not Supported\n" % gpu["bus_id"] for gpu in unsupported), 3, False
    out = []
    for gpu in gpus:
        # a reset applies a pending MIG mode and, like any reset, wipes GPU and compute instances
        gpu["mig_current"] = gpu["mig_pending"]
        gpu["gpu_instances"] = []
        out.append("GPU %s was successfully reset.\n" % gpu["bus_id"])
    return "".join(out), 0, True


def _create_ci(state, gpu, gi, ci_prof_id, compute, name):
    used = set()
    for ci in gi["compute_instances"]:
        used.update(range(ci["start"], ci["start"] + ci["size"]))
    gi_slices = _profile_by_name(gpu, gi["profile"]).compute_slices
    start = None
    # any free run of compute slices: a real A100 put 2c.3g.40gb next to 1c.3g.40gb (issue 14 fact 4)
    for candidate in range(0, gi_slices - compute + 1):
        if not used.intersection(range(candidate, candidate + compute)):
            start = candidate
            break
    if start is None:
        return None
    ids = set(ci["id"] for ci in gi["compute_instances"])
    ci_id = next(i for i in range(0, 64) if i not in ids)
    ci = {"id": ci_id, "profile_id": ci_prof_id, "name": name, "start": start, "size": compute,
          "uuid": _mig_uuid(state, gpu)}
    gi["compute_instances"].append(ci)
    return ci


def _ci_message(state, gpu, gi, ci):
    if _driver_major(state) < 470:  # R450/R460 wording (issue 14 fact 6)
        return ("Successfully created compute instance on GPU %2d GPU instance ID %2d using profile ID %2d\n"
                % (gpu["index"], gi["id"], ci["profile_id"]))
    return ("Successfully created compute instance ID %2d on GPU %2d GPU instance ID %2d using profile MIG %s (ID %2d)\n"
            % (ci["id"], gpu["index"], gi["id"], ci["name"], ci["profile_id"]))


def _gi_message(state, gpu, gi):
    if _driver_major(state) < 470:  # R450/R460 wording (issue 14 fact 6)
        return "Successfully created GPU instance on GPU %2d using profile ID %2d\n" % (gpu["index"], gi["profile_id"])
    return ("Successfully created GPU instance ID %2d on GPU %2d using profile MIG %s (ID %2d)\n"
            % (gi["id"], gpu["index"], gi["profile"], gi["profile_id"]))


def _fault_create(state):
    faults = state.setdefault("faults", {})
    nth = faults.get("fail_create_nth")
    if not nth:
        return None
    faults["creates_seen"] = faults.get("creates_seen", 0) + 1
    if faults["creates_seen"] == nth:
        return faults.get("error") or "Unknown Error"
    return None


def create_gpu_instances(state, gpus, spec_list, with_ci):
    out = []
    changed = False
    for gpu in gpus:
        for token in spec_list.split(","):
            prof_token, _sep, start_token = token.partition(":")
            prof = _resolve_profile(gpu, prof_token) if _model(gpu).mig_capable else None
            error = None
            start = None
            if not _model(gpu).mig_capable or not gpu["mig_current"]:
                error = "Not Supported"
            elif prof is None or (start_token and not start_token.strip().isdigit()):
                error = "Invalid Argument"
            else:
                if start_token:
                    start = int(start_token)
                    if start not in prof.starts:
                        error = "Invalid Argument"
                if error is None:
                    error = _placement_error(gpu, prof, start)
                if error is None and start is None:
                    start = _driver_start(state, gpu, prof)
                if error is None:
                    error = _fault_create(state)
            if error is not None:
                out.append("Unable to create a GPU instance on GPU %2d using profile %s: %s\n"
                           % (gpu["index"], prof_token.strip(), error))
                out.append("Failed to create GPU instances: %s\n" % error)
                return "".join(out), _fail(error), changed
            gi = {"id": _new_gi_id(state, gpu), "profile": prof.name,
                  "profile_id": prof.typical_id, "start": start, "size": prof.size, "compute_instances": []}
            gpu["gpu_instances"].append(gi)
            changed = True
            out.append(_gi_message(state, gpu, gi))
            if with_ci:
                ci = _create_ci(state, gpu, gi, _ci_profile_id(prof, prof.compute_slices), prof.compute_slices, prof.name)
                out.append(_ci_message(state, gpu, gi, ci))
    return "".join(out), 0, changed


def _placement_error(gpu, prof, start):
    if sum(1 for gi in gpu["gpu_instances"] if gi["profile"] == prof.name) >= prof.max_count:
        return "Insufficient Resources"
    if _compute_used(gpu) + prof.compute_slices > _max_compute(gpu):
        return "Insufficient Resources"
    mask = _occupied(gpu)
    starts = [start] if start is not None else list(prof.starts)
    if all(mask & placement.slot_mask(s, prof.size) for s in starts):
        return "Insufficient Resources"
    return None


def _driver_start(state, gpu, prof):
    """The start the driver picks without a placement: unpredictable (issue 14 fact 3), seeded."""
    mask = _occupied(gpu)
    return _draw(state, [s for s in prof.starts if not mask & placement.slot_mask(s, prof.size)])


def _parse_ids(text, what):
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise _Exit(2, "Invalid %s: %s\n" % (what, text))


def destroy_gpu_instances(state, gpus, gi_ids):
    out = []
    rc = 0
    changed = False
    faults = state.get("faults", {})
    for gpu in gpus:
        if not _model(gpu).mig_capable or not gpu["mig_current"]:
            out.append("Failed to destroy GPU instances: Not Supported\n")
            return "".join(out), 3, changed
        targets = _gi_filter(gpu, gi_ids)
        if gi_ids is not None:
            for missing in sorted(set(gi_ids) - set(gi["id"] for gi in targets)):
                out.append("Unable to destroy GPU instance ID %2d from GPU %2d: Not Found\n" % (missing, gpu["index"]))
                rc = rc or 6
        elif not targets:
            out.append("No GPU instances found on GPU %2d\n" % gpu["index"])
            rc = rc or 6
        for gi in targets:
            error = None
            if faults.get("fail_destroy"):
                error = faults.get("error") or "Unknown Error"
            elif gi["compute_instances"]:
                error = "In use by another client"
            if error:
                out.append("Unable to destroy GPU instance ID %2d from GPU %2d: %s\n" % (gi["id"], gpu["index"], error))
                rc = rc or _fail(error)
                continue
            gpu["gpu_instances"].remove(gi)
            changed = True
            out.append("Successfully destroyed GPU instance ID %2d from GPU %2d\n" % (gi["id"], gpu["index"]))
    if rc:
        out.append("Failed to destroy GPU instances: %s\n" % _message_for(rc))
    return "".join(out), rc, changed


def _message_for(rc):
    for message, code in ERROR_CODES.items():
        if code == rc:
            return message
    return "Unknown Error"


def create_compute_instances(state, gpus, gi_ids, spec_list):
    out = []
    changed = False
    for gpu in gpus:
        if not _model(gpu).mig_capable or not gpu["mig_current"]:
            out.append("Failed to create compute instances: Not Supported\n")
            return "".join(out), 3, changed
        targets = _gi_filter(gpu, gi_ids)
        if not targets:
            out.append("Failed to create compute instances: Not Found\n")
            return "".join(out), 6, changed
        for gi in targets:
            gi_prof = _profile_by_name(gpu, gi["profile"])
            offered = _ci_profiles(gi_prof)
            tokens = spec_list.split(",") if spec_list else [None]
            for token in tokens:
                choice = None
                for ci_id, name, compute, _total in offered:
                    if token is None and compute == gi_prof.compute_slices:
                        choice = (ci_id, name, compute)
                    elif token is not None and (token.strip() == str(ci_id) or token.strip().lower() in (name.lower(), "mig " + name.lower())):
                        choice = (ci_id, name, compute)
                error = None
                ci = None
                if choice is None:
                    error = "Invalid Argument"
                else:
                    ci = _create_ci(state, gpu, gi, choice[0], choice[2], choice[1])
                    if ci is None:
                        error = "Insufficient Resources"
                if error:
                    out.append("Unable to create a compute instance on GPU %2d GPU instance ID %2d using profile %s: %s\n"
                               % (gpu["index"], gi["id"], token if token is not None else "default", error))
                    out.append("Failed to create compute instances: %s\n" % error)
                    return "".join(out), _fail(error), changed
                changed = True
                out.append(_ci_message(state, gpu, gi, ci))
    return "".join(out), 0, changed


def destroy_compute_instances(state, gpus, gi_ids, ci_ids):
    out = []
    rc = 0
    changed = False
    faults = state.get("faults", {})
    found = False
    for gpu in gpus:
        if not _model(gpu).mig_capable or not gpu["mig_current"]:
            out.append("Failed to destroy compute instances: Not Supported\n")
            return "".join(out), 3, changed
        for gi in _gi_filter(gpu, gi_ids):
            for ci in sorted(gi["compute_instances"], key=lambda c: c["id"]):
                if ci_ids is not None and ci["id"] not in ci_ids:
                    continue
                found = True
                error = None
                if faults.get("fail_destroy"):
                    error = faults.get("error") or "Unknown Error"
                elif _busy_pids(gpu, gi["id"], ci["id"]):
                    error = "In use by another client"
                if error:
                    out.append("Unable to destroy compute instance ID %2d from GPU %2d GPU instance ID %2d: %s\n"
                               % (ci["id"], gpu["index"], gi["id"], error))
                    rc = rc or _fail(error)
                    continue
                gi["compute_instances"].remove(ci)
                changed = True
                out.append("Successfully destroyed compute instance ID %2d from GPU %2d GPU instance ID %2d\n"
                           % (ci["id"], gpu["index"], gi["id"]))
    if not found and not rc:
        out.append("Failed to destroy compute instances: Not Found\n")
        return "".join(out), 6, changed
    if rc:
        out.append("Failed to destroy compute instances: %s\n" % _message_for(rc))
    return "".join(out), rc, changed


# --------------------------------------------------------------------------------------------------
# command line of the simulated nvidia-smi


def _unrecognised(option):
    return _Exit(2, 'Option "%s" is not recognized. Please run \'nvidia-smi -h\'.\n\n' % option)


def _take(argv, i, option):
    if i + 1 >= len(argv):
        raise _Exit(2, 'Option "%s" requires a value.\n' % option)
    return argv[i + 1]


def _split_long(token):
    if token.startswith("--") and "=" in token:
        return token.split("=", 1)
    return token, None


def is_mutating(argv):
    if argv and argv[0] == "mig":
        return any(_split_long(a)[0] in MUTATING_MIG for a in argv[1:])
    return any(_split_long(a)[0] in MUTATING_TOP for a in argv)


def _run_mig(state, argv):
    opts = {}
    actions = []
    i = 0
    flags_with_value = {"-i": "id", "--id": "id", "-gi": "gi", "--gpu-instance-id": "gi",
                        "-ci": "ci", "--compute-instance-id": "ci",
                        "-cgi": "cgi", "--create-gpu-instance": "cgi"}
    simple = {"-lgip": "lgip", "--list-gpu-instance-profiles": "lgip",
              "-lgipp": "lgipp", "--list-gpu-instance-possible-placements": "lgipp",
              "-lgi": "lgi", "--list-gpu-instances": "lgi", "-lci": "lci", "--list-compute-instances": "lci",
              "-lcip": "lcip", "--list-compute-instance-profiles": "lcip",
              "-dgi": "dgi", "--destroy-gpu-instance": "dgi", "-dci": "dci", "--destroy-compute-instance": "dci",
              "-C": "C", "--default-compute-instance": "C", "-h": "help", "--help": "help"}
    while i < len(argv):
        token, inline = _split_long(argv[i])
        if token in flags_with_value:
            value = inline if inline is not None else _take(argv, i, token)
            opts[flags_with_value[token]] = value
            if flags_with_value[token] == "cgi":
                actions.append("cgi")
            i += 1 if inline is not None else 2
        elif token in ("-cci", "--create-compute-instance"):
            actions.append("cci")
            if inline is not None:
                opts["cci"] = inline
                i += 1
            elif i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                opts["cci"] = argv[i + 1]
                i += 2
            else:
                i += 1
        elif token in simple:
            if simple[token] == "C":
                opts["C"] = True
            else:
                actions.append(simple[token])
            i += 1
        else:
            raise _unrecognised(argv[i])
    if "help" in actions or not actions:
        return _read_template("mig_help.txt"), 0, False
    if len(set(actions)) > 1:
        raise _Exit(2, "Invalid combination of input arguments. Please run 'nvidia-smi mig -h' for help.\n")
    action = actions[0]
    gpus = _select(state, opts.get("id"))
    gi_ids = _parse_ids(opts["gi"], "GPU instance ID") if "gi" in opts else None
    ci_ids = _parse_ids(opts["ci"], "compute instance ID") if "ci" in opts else None
    capable = [g for g in gpus if _model(g).mig_capable]
    if not capable:  # every `mig` action on GPUs without MIG (A10G, L4, T4...): nvidia-smi finds no device to act on
        return "No MIG-supported devices found.\n", 6, False
    if action in ("lgip", "lgipp"):
        return (render_lgip if action == "lgip" else render_lgipp)(state, capable), 0, False
    enabled = [g for g in capable if g["mig_current"]]
    if action in ("lgi", "lci", "lcip"):
        if not enabled:
            return "No MIG-enabled devices found.\n", 0, False
        if action == "lgi":
            text, rc = render_lgi(state, enabled)
            return text, rc, False
        return (render_lci if action == "lci" else render_lcip)(state, enabled, gi_ids), 0, False
    if opts.get("id") is None:
        gpus = enabled or gpus
    if action == "cgi":
        return create_gpu_instances(state, gpus, opts["cgi"], opts.get("C", False))
    if action == "dgi":
        return destroy_gpu_instances(state, gpus, gi_ids)
    if action == "cci":
        return create_compute_instances(state, gpus, gi_ids, opts.get("cci"))
    return destroy_compute_instances(state, gpus, gi_ids, ci_ids)


def _run_top(state, argv):
    opts = {}
    i = 0
    valued = {"-i": "id", "--id": "id", "-mig": "mig", "--multi-instance-gpu": "mig",
              "--query-gpu": "query_gpu", "--query-compute-apps": "query_apps", "--format": "format"}
    flags = {"-L": "L", "--list-gpus": "L", "-q": "q", "--query": "q", "-x": "x", "--xml-format": "x",
             "-r": "reset", "--gpu-reset": "reset", "--help-query-gpu": "help_query"}
    while i < len(argv):
        token, inline = _split_long(argv[i])
        if token in valued:
            opts[valued[token]] = inline if inline is not None else _take(argv, i, token)
            i += 1 if inline is not None else 2
        elif token in flags:
            opts[flags[token]] = True
            i += 1
        else:
            raise _unrecognised(argv[i])
    if opts.get("help_query"):
        return _read_template("help_query.txt"), 0, False
    gpus = _select(state, opts.get("id"))
    if "mig" in opts:
        if opts["mig"] not in ("0", "1", "ENABLED", "DISABLED"):
            raise _Exit(2, 'Invalid value "%s" for option -mig.\n' % opts["mig"])
        return set_mig_mode(state, gpus, opts["mig"] in ("1", "ENABLED"), opts.get("id") is not None)
    if opts.get("reset"):
        return gpu_reset(state, gpus)
    if "query_gpu" in opts:
        return render_query_gpu(state, gpus, opts["query_gpu"], opts.get("format")), 0, False
    if "query_apps" in opts:
        return render_query_apps(state, gpus, opts["query_apps"], opts.get("format")), 0, False
    if opts.get("L"):
        return render_list(state, gpus), 0, False
    if opts.get("q"):
        return render_q(state, gpus, xml=opts.get("x", False)), 0, False
    return render_smi(state, gpus), 0, False


def run(state, argv):
    """Run one nvidia-smi command line on ``state`` (mutated in place). Returns (output, rc, changed)."""
    try:
        if argv and argv[0] == "mig":
            return _run_mig(state, argv[1:])
        return _run_top(state, argv)
    except _Exit as exc:
        return exc.text, exc.rc, False
    finally:
        release = state.get("faults", {}).get("release_clients_after")
        if release and release in argv:
            # a monitoring client that lets go after this command (tests of a reset that then works)
            for gpu in state["gpus"]:
                gpu["clients"] = []
            del state["faults"]["release_clients_after"]


def smi_main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    path = os.environ.get(STATE_ENV)
    if not path:
        sys.stderr.write("nvidia-smi simulator: set %s to the state file of the simulated node\n" % STATE_ENV)
        return 9
    try:
        with locked(path):
            hang = read_state(path).get("faults", {}).get("hang")
        if hang and hang in argv:
            # a hung nvidia-smi (issue 14): never answers; outside the lock so the node stays usable
            _log_call(path, argv, is_mutating(argv), False, None)
            while True:
                time.sleep(3600)
        with locked(path):
            state = read_state(path)
            before = copy.deepcopy(state)
            output, rc, changed = run(state, argv)
            if state != before:
                write_state(path, state)
            _log_call(path, argv, is_mutating(argv), bool(changed), rc)
    except SimError as exc:
        sys.stderr.write("nvidia-smi simulator: %s\n" % exc)
        return 9
    sys.stdout.write(output)
    sys.stdout.flush()
    return rc


# --------------------------------------------------------------------------------------------------
# Python API (pytest) and the control CLI


class SimNode(object):
    """One simulated node: a state file plus helpers to drive and inspect it."""

    def __init__(self, path):
        self.path = os.path.abspath(path)

    @classmethod
    def create(cls, path, **kwargs):
        node = cls(path)
        layout = kwargs.pop("layout", None)
        state = new_state(**kwargs)
        if layout:
            _apply_layout(state, layout)  # before writing: a bad layout leaves an existing node untouched
        with locked(node.path):
            write_state(node.path, state)
            if os.path.exists(calls_path(node.path)):
                os.remove(calls_path(node.path))
        return node

    @property
    def executable(self):
        return os.path.join(HERE, "nvidia-smi")

    def env(self, base=None):
        env = dict(os.environ if base is None else base)
        env[STATE_ENV] = self.path
        return env

    def state(self):
        with locked(self.path):
            return read_state(self.path)

    def _update(self, func):
        with locked(self.path):
            state = read_state(self.path)
            result = func(state)
            write_state(self.path, state)
            return result

    def _gpu(self, state, index):
        for gpu in state["gpus"]:
            if gpu["index"] == int(index):
                return gpu
        raise SimError("no GPU %s on this node (GPUs: %s)" % (index, ", ".join(str(g["index"]) for g in state["gpus"])))

    def apply_layout(self, layout, gpus=None):
        """Set GPUs straight to a layout (test setup, not logged): MIG on, one GI + full CI per profile.

        ``layout`` is a list of profile names or of ``(name, start)``; names without a start are placed
        by the engine's exact solver around the ones with a start.
        """
        self._update(lambda state: _apply_layout(state, layout, gpus))

    def add_process(self, gpu, pid, name="python3", gi=None, ci=None, memory_mib=512, at=None):
        """A process on a GPU; in MIG mode in compute instance ``ci`` of GPU instance ``gi`` (or of the GPU instance
        at ``at`` = (profile, start), since GI ids are the driver's choice)."""
        if at is not None:
            gi = self.gi_id(gpu, at[0], int(at[1]))
            ci = 0 if ci is None else ci

        def change(state):
            target = self._gpu(state, gpu)
            if target["mig_current"]:
                if gi is None or ci is None:
                    raise SimError("GPU %s is in MIG mode: a process needs --gi and --ci" % gpu)
                match = [c for g in target["gpu_instances"] if g["id"] == int(gi)
                         for c in g["compute_instances"] if c["id"] == int(ci)]
                if not match:
                    raise SimError("GPU %s has no compute instance %s in GPU instance %s" % (gpu, ci, gi))
            elif gi is not None or ci is not None:
                raise SimError("GPU %s is not in MIG mode: a process cannot use --gi/--ci" % gpu)
            if any(p["pid"] == int(pid) for g in state["gpus"] for p in g["processes"]):
                raise SimError("pid %s already exists" % pid)
            target["processes"].append({"pid": int(pid), "name": name, "gi": None if gi is None else int(gi),
                                        "ci": None if ci is None else int(ci), "memory_mib": int(memory_mib)})
        self._update(change)

    def remove_process(self, pid):
        def change(state):
            for gpu in state["gpus"]:
                for proc in list(gpu["processes"]):
                    if proc["pid"] == int(pid):
                        gpu["processes"].remove(proc)
                        return
            raise SimError("no simulated process with pid %s" % pid)
        self._update(change)

    def set_faults(self, fail_create_nth=None, fail_destroy=False, error=None, clear=False, hang=None,
                   release_clients_after=None):
        """Inject faults: the Nth GI create fails, every destroy fails, with ``error``; ``hang``: every command
        whose argv contains that word (e.g. ``-cgi``) never returns; ``release_clients_after``: the GPU clients
        (``set_gpu(clients=...)``) let go after the next command with that word (e.g. ``-mig``)."""
        def change(state):
            if clear:
                state["faults"] = {}
                return
            faults = state.setdefault("faults", {})
            if hang:
                faults["hang"] = hang
            if release_clients_after:
                faults["release_clients_after"] = release_clients_after
            if fail_create_nth is not None:
                if int(fail_create_nth) < 1:
                    raise SimError("--fail-create-nth must be >= 1")
                faults["fail_create_nth"] = int(fail_create_nth)
                faults["creates_seen"] = 0
            if fail_destroy:
                faults["fail_destroy"] = True
            if error:
                if error not in ERROR_CODES:
                    raise SimError("unknown error %r; known: %s" % (error, ", ".join(ERROR_CODES)))
                faults["error"] = error
        self._update(change)

    def set_gpu(self, gpu, reset_supported=None, clients=None, persistence=None):
        """GPU environment: ``reset_supported`` (False: a VM without GPU reset), ``clients`` (names of non-CUDA
        clients holding the GPU, e.g. ``["nv-hostengine"]``: they block the implicit reset of an Ampere mode change
        and ``-r`` without showing as processes), ``persistence`` (persistence mode)."""
        def change(state):
            target = self._gpu(state, gpu)
            if reset_supported is not None:
                target["reset_supported"] = bool(reset_supported)
            if clients is not None:
                target["clients"] = list(clients)
            if persistence is not None:
                target["persistence"] = bool(persistence)
        self._update(change)

    def gi_id(self, gpu, profile, start):
        """The GPU-instance id the simulated driver gave the instance of ``profile`` at ``start``."""
        for name, at, gi in self.layout(gpu):
            if name == profile and at == start:
                return gi
        raise SimError("GPU %s has no %s at start %s" % (gpu, profile, start))

    def set_mode(self, gpu, current, pending=None):
        """Force a GPU's MIG mode (e.g. an Ampere part left pending by an earlier run)."""
        def change(state):
            target = self._gpu(state, gpu)
            target["mig_current"] = bool(current)
            target["mig_pending"] = bool(current if pending is None else pending)
        self._update(change)

    def reboot(self):
        """Simulate a node reboot: instances and processes vanish; Ampere keeps its (pending) MIG mode in
        the InfoROM, Hopper and later come back with MIG disabled (mig.md 7)."""
        def change(state):
            for gpu in state["gpus"]:
                gpu["gpu_instances"] = []
                gpu["processes"] = []
                gpu["clients"] = []
                if _model(gpu).architecture == "ampere":
                    gpu["mig_current"] = gpu["mig_pending"]
                else:
                    gpu["mig_current"] = gpu["mig_pending"] = False
        self._update(change)

    def calls(self):
        return read_calls(self.path)

    def mutating_calls(self):
        return [c for c in self.calls() if c["mutating"]]

    def clear_calls(self):
        with locked(self.path):
            if os.path.exists(calls_path(self.path)):
                os.remove(calls_path(self.path))

    def run(self, *argv):
        """Run the simulator in-process on this node (logged like a real invocation): (output, rc)."""
        with locked(self.path):
            state = read_state(self.path)
            output, rc, changed = run(state, list(argv))
            write_state(self.path, state)
            _log_call(self.path, argv, is_mutating(argv), bool(changed), rc)
        return output, rc

    def layout(self, gpu=0):
        """[(profile, start, gi id)] of a GPU, sorted by start."""
        target = self._gpu(self.state(), gpu)
        return sorted((gi["profile"], gi["start"], gi["id"]) for gi in target["gpu_instances"])

    def write_wrapper(self, out):
        """Write an executable nvidia-smi wrapper bound to this node's state (for nvidia_smi_path)."""
        out = os.path.abspath(out)
        with open(out, "w") as handle:
            handle.write("#!/bin/sh\n# nvidia-smi simulator bound to one simulated node\n"
                         "%s=%s\nexport %s\nexec %s \"$@\"\n"
                         % (STATE_ENV, _sh_quote(self.path), STATE_ENV, _sh_quote(self.executable)))
        os.chmod(out, 0o755)
        return out


def _apply_layout(state, layout, gpus=None):
    for gpu in state["gpus"]:
        if gpus is not None and gpu["index"] not in gpus:
            continue
        model = _model(gpu)
        if not model.mig_capable:
            if gpus is None:
                continue  # "every MIG GPU" of a mixed node
            raise SimError("GPU %d (%s) is not MIG capable" % (gpu["index"], model.product_name))
        fixed = [tuple(x) for x in layout if not isinstance(x, str)]
        wanted = [x for x in layout if isinstance(x, str)]
        placed = placement.find_layout(wanted, model.profiles, model.memory_slots, fixed) if wanted else []
        if placed is None:
            raise SimError("layout %r does not fit on %s" % (layout, model.product_name))
        gpu["mig_current"] = gpu["mig_pending"] = True
        gpu["gpu_instances"] = []
        gpu["processes"] = []
        for name, start in sorted(fixed + list(placed), key=lambda p: -_profile_by_name(gpu, p[0]).size):
            prof = _profile_by_name(gpu, name)
            err = _placement_error(gpu, prof, start)
            if err:
                raise SimError("layout %r: %s at %s: %s" % (layout, name, start, err))
            gi = {"id": _new_gi_id(state, gpu), "profile": name,
                  "profile_id": prof.typical_id, "start": start, "size": prof.size, "compute_instances": []}
            gpu["gpu_instances"].append(gi)
            _create_ci(state, gpu, gi, _ci_profile_id(prof, prof.compute_slices), prof.compute_slices, name)


def _sh_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def _ctl_parser():
    import argparse

    parser = argparse.ArgumentParser(prog="nvidia-smi-sim", description="Control the nvidia-smi simulator.")
    sub = parser.add_subparsers(dest="command")
    sub.required = True

    def with_state(name, help_text):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--state", required=True, help="state file of the simulated node")
        return p

    p = with_state("init", "create a simulated node")
    p.add_argument("--model", default="h100-80gb", choices=list(catalog.GPU_MODELS))
    p.add_argument("--models", help="comma list of models, one per GPU (overrides --model/--gpus)")
    p.add_argument("--gpus", type=int, default=1)
    p.add_argument("--mig", choices=("enabled", "disabled"), default="disabled")
    p.add_argument("--uuid-seed", default="sim")
    p.add_argument("--driver", default=DEFAULT_DRIVER)
    p.add_argument("--identity", help="h100-capture: GPU 0 gets the identity of the real capture")
    p.add_argument("--layout", help="comma list of profile names (or name:start) to pre-create on every MIG GPU")
    p.add_argument("--seed", help="seed of the driver's unpredictable choices (GI ids, starts); default --uuid-seed")
    p.add_argument("--no-reset", action="store_true", help="GPUs cannot be reset (a VM): Ampere mode changes stay pending")
    p.add_argument("--persistence", choices=("on", "off"), default="on")
    p = with_state("add-process", "simulate a process holding a GPU or a MIG slice")
    p.add_argument("--gpu", type=int, required=True)
    p.add_argument("--at", help="PROFILE:START of the GPU instance (instead of --gi; GI ids are the driver's choice)")
    p.add_argument("--gi", type=int)
    p.add_argument("--ci", type=int)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--name", default="python3")
    p.add_argument("--memory-mib", type=int, default=512)
    p = with_state("remove-process", "end a simulated process")
    p.add_argument("--pid", type=int, required=True)
    p = with_state("fault", "inject or clear faults")
    p.add_argument("--fail-create-nth", type=int, help="the Nth GPU-instance create from now on fails")
    p.add_argument("--fail-destroy", action="store_true", help="every destroy fails")
    p.add_argument("--error", help="error of the injected failures (default Unknown Error)")
    p.add_argument("--hang", help="every command with this argument (e.g. -cgi) hangs forever")
    p.add_argument("--clear", action="store_true")
    with_state("reboot", "simulate a node reboot (instances vanish; Hopper+ also loses MIG mode)")
    with_state("show", "print the state as JSON")
    p = with_state("calls", "print the invocation log (JSON lines)")
    p.add_argument("--mutating", action="store_true", help="only mutating invocations")
    p.add_argument("--count", action="store_true", help="print only the number of invocations")
    p = with_state("wrapper", "write an nvidia-smi wrapper bound to this node")
    p.add_argument("--out", required=True)
    return parser


def ctl_main(argv=None):
    args = _ctl_parser().parse_args(argv)
    node = SimNode(args.state)
    try:
        if args.command == "init":
            layout = None
            if args.layout:
                layout = []
                for item in args.layout.split(","):
                    name, _sep, start = item.partition(":")
                    layout.append((name, int(start)) if start else name)
            node = SimNode.create(args.state, model=args.model, gpus=args.gpus, mig=args.mig == "enabled",
                                  uuid_seed=args.uuid_seed, driver=args.driver, identity=args.identity,
                                  models=args.models.split(",") if args.models else None, layout=layout,
                                  seed=args.seed, reset_supported=not args.no_reset,
                                  persistence=args.persistence == "on")
            print(json.dumps({"state": node.path, "gpus": len(node.state()["gpus"])}))
        elif args.command == "add-process":
            at = None
            if args.at:
                profile_name, _sep, start = args.at.partition(":")
                at = (profile_name, int(start))
            node.add_process(args.gpu, args.pid, args.name, args.gi, args.ci, args.memory_mib, at=at)
        elif args.command == "remove-process":
            node.remove_process(args.pid)
        elif args.command == "fault":
            if not (args.clear or args.fail_destroy or args.fail_create_nth is not None or args.error or args.hang):
                raise SimError("fault needs --fail-create-nth, --fail-destroy, --error, --hang or --clear")
            node.set_faults(args.fail_create_nth, args.fail_destroy, args.error, args.clear, args.hang)
        elif args.command == "reboot":
            node.reboot()
        elif args.command == "show":
            print(json.dumps(node.state(), indent=1, sort_keys=True))
        elif args.command == "calls":
            calls = node.mutating_calls() if args.mutating else node.calls()
            if args.count:
                print(len(calls))
            else:
                for call in calls:
                    print(json.dumps(call))
        elif args.command == "wrapper":
            print(node.write_wrapper(args.out))
    except (SimError, catalog.CatalogError, placement.PlacementError) as exc:
        sys.stderr.write("nvidia-smi-sim: %s\n" % exc)
        return 2
    return 0


if __name__ == "__main__":
    # run by the nvidia-smi and nvidia-smi-sim wrappers: "smi ARGS..." or "ctl ARGS..."
    if len(sys.argv) < 2 or sys.argv[1] not in ("smi", "ctl"):
        sys.stderr.write("usage: nvidia_smi_sim.py smi|ctl ARGS...\n")
        sys.exit(2)
    sys.exit(smi_main(sys.argv[2:]) if sys.argv[1] == "smi" else ctl_main(sys.argv[2:]))
