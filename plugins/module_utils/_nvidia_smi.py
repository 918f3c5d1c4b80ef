# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nvidia-smi edge: argv builders, a counting runner and parsers of real nvidia-smi text.

Stdlib only (runs on the managed node). Every command is an argv list run with ``LC_ALL=C``.

INTERFACE FOR THE SIMULATOR (tests/simulators/) -- the exact argv forms the modules run
(``nvidia-smi`` stands for the ``nvidia_smi_path`` option; ``<i>`` a GPU index, ``<g>`` GI ids):

Read-only (the only ones check mode runs):
  nvidia-smi -q -x                      state: GPUs in index order, uuid, name, PCI ids, architecture,
                                        MIG mode current/pending, <mig_devices> (index, GI id, CI id),
                                        <processes> (pid, gpu_instance_id, compute_instance_id, name)
  nvidia-smi mig -lgi                   GPU instances with profile id and placement (only run when a
                                        GPU has MIG mode currently enabled)
  nvidia-smi -L                         MIG device UUIDs (only run when a MIG device exists; also
                                        creates /dev/nvidia-caps after a change)
  nvidia-smi mig -lgip                  profiles (only when a GPU must change, or for nvidia_mig_info)
  nvidia-smi mig -lgipp                 placements (same condition)
Mutating (never in check mode):
  nvidia-smi mig -i <i> -dci -gi <g,g>  destroy the CIs of those GIs
  nvidia-smi mig -i <i> -dgi -gi <g,g>  destroy those GIs
  nvidia-smi -i <i,i,...> -mig 1|0      MIG mode for several GPUs in one call (comma list)
  nvidia-smi -r -i <i,i,...>            GPU reset (Ampere mode change, only with allow_gpu_reset)
  nvidia-smi mig -i <i,i,...> -cgi <id>:<start>,<id>:<start> -C
                                        create GIs at explicit placements + default CIs; one call for
                                        all GPUs that get the same tuples, else one per GPU
  nvidia-smi mig -i <i> -cci -gi <g,g>  default CI in GIs that have none
Call budget: converged <= 3 calls per host (-q -x, mig -lgi, -L). A change adds -lgip and -lgipp
(one each for the host), the mutating calls, and a verification read (-q -x, -L) afterwards.

Which process field identifies a MIG slice: ``--query-compute-apps`` has no GPU-instance or
compute-instance field (gpu_uuid is the parent GPU), so processes are read from ``-q -x``
``<process_info>`` whose ``gpu_instance_id``/``compute_instance_id`` say which slice is busy
(``N/A`` when MIG is off).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import signal
import subprocess
import xml.etree.ElementTree as ET

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig.model import (
    ComputeInstance,
    Gpu,
    GpuInstance,
    MigDevice,
    Process,
    Profile,
)

READ_ONLY_MIG_FLAGS = ("-lgi", "-lci", "-lgip", "-lgipp", "-lcip")
NO_MIG_MARKERS = ("No MIG-enabled devices found", "No MIG-supported devices found",
                  "No GPU instances found", "No compute instances found")
NA_VALUES = ("[N/A]", "N/A", "[Not Supported]", "Not Supported", "[Unknown Error]", "")


class NvidiaSmiError(Exception):
    def __init__(self, argv, rc, out, err, reason=None):
        self.argv = list(argv)
        self.rc = rc
        self.out = out or ""
        self.err = err or ""
        text = (self.err.strip() or self.out.strip() or "no output").splitlines()
        if reason:
            message = "%s %s" % (" ".join(self.argv), reason)
        else:
            message = "%s failed (rc=%s): %s" % (" ".join(self.argv), rc, " | ".join(text[-6:]))
        super(NvidiaSmiError, self).__init__(message)


class NvidiaSmiTimeout(NvidiaSmiError):
    """nvidia-smi ran longer than the per-call timeout; its whole process group was killed."""

    def __init__(self, argv, timeout, out="", err=""):
        self.timeout = timeout
        super(NvidiaSmiTimeout, self).__init__(
            argv, None, out, err, reason="timed out after %s s (process group killed)" % timeout)


# --------------------------------------------------------------------------------- argv builders

def _ids(values):
    return ",".join(str(v) for v in values)


def argv_query_xml(path="nvidia-smi"):
    return [path, "-q", "-x"]


def argv_list_gpus(path="nvidia-smi"):
    return [path, "-L"]


def argv_mig_list(flag, path="nvidia-smi"):
    if flag not in READ_ONLY_MIG_FLAGS:
        raise ValueError("not a read-only mig list flag: %r" % flag)
    return [path, "mig", flag]


def argv_set_mode(gpu_indexes, enabled, path="nvidia-smi"):
    return [path, "-i", _ids(gpu_indexes), "-mig", "1" if enabled else "0"]


def argv_reset(gpu_indexes, path="nvidia-smi"):
    return [path, "-r", "-i", _ids(gpu_indexes)]


def argv_destroy_ci(gpu_index, gi_ids=None, path="nvidia-smi"):
    argv = [path, "mig", "-i", str(gpu_index), "-dci"]
    if gi_ids:
        argv += ["-gi", _ids(gi_ids)]
    return argv


def argv_destroy_gi(gpu_index, gi_ids=None, path="nvidia-smi"):
    argv = [path, "mig", "-i", str(gpu_index), "-dgi"]
    if gi_ids:
        argv += ["-gi", _ids(gi_ids)]
    return argv


def argv_create_gi(gpu_index, placements, default_ci=True, path="nvidia-smi"):
    """``placements``: iterable of (profile_id, start) -> ``-cgi 9:4,14:0 -C``.

    ``gpu_index`` may be a list: ``-i`` takes a comma list and nvidia-smi creates the same tuples on each GPU.
    """
    tuples = ",".join("%d:%d" % (int(pid), int(start)) for pid, start in placements)
    gpus = _ids(gpu_index) if isinstance(gpu_index, (list, tuple)) else str(gpu_index)
    argv = [path, "mig", "-i", gpus, "-cgi", tuples]
    if default_ci:
        argv.append("-C")
    return argv


def argv_create_ci(gpu_index, gi_ids, path="nvidia-smi"):
    return [path, "mig", "-i", str(gpu_index), "-cci", "-gi", _ids(gi_ids)]


def is_mutating(argv):
    """True unless ``argv`` is one of the read-only forms (used to prove check mode is read-only)."""
    args = list(argv[1:])
    if args in (["-q", "-x"], ["-q"], ["-L"]):
        return False
    if args and args[0].startswith("--query-"):
        return False
    if len(args) == 2 and args[0] == "mig" and args[1] in READ_ONLY_MIG_FLAGS:
        return False
    return True


# --------------------------------------------------------------------------------- runner

class NvidiaSmi(object):
    """Runs nvidia-smi through ``run_command`` (AnsibleModule.run_command-compatible) and counts calls."""

    def __init__(self, run_command, path="nvidia-smi"):
        self._run_command = run_command
        self.path = path
        self.invocations = 0
        self.history = []  # argv lists in order

    def run(self, argv, check=True, ok_markers=()):
        self.invocations += 1
        self.history.append(list(argv))
        rc, out, err = self._run_command(list(argv), environ_update={"LC_ALL": "C"})
        text = (out or "") + (err or "")
        if rc != 0 and check and not any(m in text for m in ok_markers):
            raise NvidiaSmiError(argv, rc, out, err)
        return rc, out or "", err or ""

    # read helpers -------------------------------------------------------------
    def query_xml(self):
        _rc, out, _err = self.run(argv_query_xml(self.path))
        return parse_query_xml(out)

    def mig_list(self, flag):
        _rc, out, err = self.run(argv_mig_list(flag, self.path), ok_markers=NO_MIG_MARKERS)
        return out + err

    def read_profiles(self):
        """{gpu_index: [Profile]} from ``mig -lgip`` + ``mig -lgipp`` (two calls)."""
        profiles = parse_lgip(self.mig_list("-lgip"))
        placements = parse_lgipp(self.mig_list("-lgipp"))
        return merge_profiles(profiles, placements)

    def read_state(self, with_profiles=False):
        """Gpus with instances, CIs and MIG UUIDs: ``-q -x``, plus ``mig -lgi`` only when a GPU has MIG on and
        ``-L`` only when a MIG device exists (nothing to list otherwise)."""
        gpus = self.query_xml()
        lgi = self.mig_list("-lgi") if any(g.mig_enabled for g in gpus) else None
        listing = None
        if any(g.mig_devices for g in gpus):
            _rc, listing, _err = self.run(argv_list_gpus(self.path))
        assemble_state(gpus, lgi, listing)
        if with_profiles:
            self.attach_profiles(gpus)
        return gpus

    def attach_profiles(self, gpus):
        """Set ``gpu.profiles`` from ``-lgip``/``-lgipp``; no call when no GPU is MIG capable."""
        if not any(g.mig_capable for g in gpus):
            return
        profiles = self.read_profiles()
        for gpu in gpus:
            gpu.profiles = profiles.get(gpu.index, [])


def subprocess_run_command(timeout=None):
    """A ``run_command(argv, environ_update=None) -> (rc, out, err)`` on the stdlib ``subprocess``.

    Each call runs in its own session (process group); when it outlives ``timeout`` seconds the whole group is
    killed (SIGKILL: a hung nvidia-smi ignores nothing less reliably) and NvidiaSmiTimeout is raised. A missing
    executable raises NvidiaSmiError. Used by the module and by the boot applier (no Ansible there).
    """
    def run_command(argv, environ_update=None):
        env = dict(os.environ)
        env.update(environ_update or {})
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, start_new_session=True)
        except OSError as exc:
            raise NvidiaSmiError(argv, None, "", "", reason="cannot be run: %s" % exc)
        previous = _forward_termination()
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            raise NvidiaSmiTimeout(argv, timeout, _decode(out), _decode(err))
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        finally:
            _restore_termination(previous)
        return proc.returncode, _decode(out), _decode(err)
    return run_command


def _terminated(signum, _frame):
    raise SystemExit(128 + signum)


def _forward_termination():
    """While nvidia-smi runs, SIGTERM/SIGHUP to this process (a task timeout, a lost SSH session) become
    SystemExit, so the child's process group is killed on the way out instead of outliving us."""
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[signum] = signal.signal(signum, _terminated)
        except (ValueError, OSError):  # not the main thread
            pass
    return previous


def _restore_termination(previous):
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:  # already gone
        pass


def _decode(data):
    return (data or b"").decode("utf-8", "replace")


def resolve_path(path):
    """``path`` as given when it contains a slash, else looked up on PATH (and the usual sbin/bin dirs)."""
    if os.sep in path:
        return path
    search = os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
    found = shutil.which(path, path=os.pathsep.join(search))
    if found is None:
        raise NvidiaSmiError([path], None, "", "", reason="not found in PATH")
    return found


def runner_for_module(module, path, timeout=None):
    """An NvidiaSmi for an AnsibleModule; a bare name is looked up on PATH (fails the module when missing)."""
    if os.sep not in path:
        path = module.get_bin_path(path, required=True)
    return NvidiaSmi(subprocess_run_command(timeout), path)


def normalize_bus_id(value):
    """PCI bus id in nvidia-smi's 8-digit-domain form, lower case, so 0000:00:06.0 matches 00000000:00:06.0."""
    value = (value or "").strip().lower()
    if value.count(":") == 2:
        domain, rest = value.split(":", 1)
        value = domain[-4:].rjust(4, "0") + ":" + rest
    return value


def select_gpus(gpus, selectors):
    """The Gpus named by ``selectors`` (index, UUID or PCI bus id), in selector order, or all of them.

    Raises ValueError naming the selector and the GPUs present when one matches nothing.
    """
    if not selectors:
        return list(gpus)
    chosen = []
    for selector in selectors:
        text = str(selector).strip()
        match = None
        for gpu in gpus:
            if text == str(gpu.index) or text.lower() == (gpu.uuid or "").lower() or \
                    (gpu.pci_bus_id and normalize_bus_id(text) == normalize_bus_id(gpu.pci_bus_id)):
                match = gpu
                break
        if match is None:
            known = ", ".join("%s (%s, %s)" % (g.index, g.uuid, g.pci_bus_id) for g in gpus) or "none"
            raise ValueError("gpus: no GPU matches %r; GPUs on this node: %s" % (text, known))
        if match not in chosen:
            chosen.append(match)
    return chosen


# --------------------------------------------------------------------------------- helpers

def _na(value):
    value = (value or "").strip()
    return None if value in NA_VALUES else value


def _int_or_none(value):
    value = _na(value)
    if value is None:
        return None
    try:
        return int(value.split()[0])
    except (ValueError, IndexError):
        return None


def _no_mig(text):
    return any(m in (text or "") for m in NO_MIG_MARKERS)


def normalize_pci_device_id(value):
    """``233010DE`` / ``0x233010de`` -> ``0x233010DE``."""
    value = _na(value)
    if value is None:
        return None
    value = value.lower()
    if value.startswith("0x"):
        value = value[2:]
    return "0x" + value.upper()


# --------------------------------------------------------------------------------- CSV queries

def parse_query_csv(text, fields=None):
    """Parse ``--query-gpu``/``--query-compute-apps`` CSV, with or without header and units.

    With a header the keys come from it (``memory.total [MiB]`` -> ``memory.total`` and the unit is
    stripped from values); without, pass ``fields``. ``[N/A]``/``[Not Supported]`` become None.
    """
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return []
    units = {}
    first = [c.strip() for c in lines[0].split(",")]
    has_units = any("[" in c and c.endswith("]") and " " in c for c in first)
    looks_like_header = fields is None or first == list(fields) or has_units
    if fields is not None and not looks_like_header:
        keys = list(fields)
        rows = lines
    else:
        keys = []
        for col in first:
            match = re.match(r"^(\S+)\s*\[(.+)\]$", col)
            if match:
                keys.append(match.group(1))
                units[match.group(1)] = match.group(2)
            else:
                keys.append(col)
        rows = lines[1:]
    out = []
    for line in rows:
        if line.startswith("No ") and "found" in line:
            continue
        values = [v.strip() for v in line.split(", ")]
        if len(values) != len(keys):
            values = [v.strip() for v in line.split(",")]
        if len(values) != len(keys):
            raise ValueError("CSV row has %d values for %d fields: %r" % (len(values), len(keys), line))
        row = {}
        for key, value in zip(keys, values):
            value = _na(value)
            unit = units.get(key)
            if value is not None and unit and value.endswith(" " + unit):
                value = value[:-len(unit) - 1]
            row[key] = value
        out.append(row)
    return out


# --------------------------------------------------------------------------------- -L

_L_GPU = re.compile(r"^GPU (\d+): (.+?) \(UUID: ([^)]+)\)\s*$")
_L_MIG = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: ([^)]+)\)\s*$")


def parse_list(text):
    """``nvidia-smi -L`` -> [{index, name, uuid, mig_devices: [{profile, device_index, uuid}]}]."""
    gpus = []
    for line in (text or "").splitlines():
        match = _L_GPU.match(line)
        if match:
            gpus.append({"index": int(match.group(1)), "name": match.group(2), "uuid": match.group(3),
                         "mig_devices": []})
            continue
        match = _L_MIG.match(line)
        if match and gpus:
            gpus[-1]["mig_devices"].append({"profile": match.group(1), "device_index": int(match.group(2)),
                                            "uuid": match.group(3)})
    return gpus


# --------------------------------------------------------------------------------- mig tables

def _table_rows(text):
    """Data cells of the boxed tables (rows that start with ``|`` and a GPU index)."""
    rows = []
    for line in (text or "").splitlines():
        line = line.rstrip()
        if not line.startswith("|") or not line.endswith("|"):
            continue
        cells = line.strip("|").split()
        if "MIG" in cells and cells[0].isdigit():
            rows.append(cells)
        elif cells and rows and len(cells) <= 3 and all(c.isdigit() or c in ("-", "N/A") for c in cells):
            rows[-1] = rows[-1] + ["|"] + cells  # second line of a two-line -lgip row (CE JPEG OFA)
    return rows


def parse_lgip(text):
    """``mig -lgip`` -> {gpu_index: [Profile]} (no placements)."""
    out = {}
    if _no_mig(text):
        return out
    for cells in _table_rows(text):
        # GPU  MIG  <name>  ID  free/total  GiB  P2P  SM  DEC  ENC | CE  JPEG  OFA
        if len(cells) < 10 or cells[1] != "MIG":
            continue
        free, total = cells[4].split("/")
        extra = cells[11:] if len(cells) > 11 and cells[10] == "|" else [None, None, None]
        gib = float(cells[5])
        prof = Profile(
            name=cells[2], id=int(cells[3]), max_count=int(total), free=int(free),
            # -lgip prints GiB with 2 decimals; profile sizes are multiples of 1/16 GiB (NVML agrees).
            memory_mib=int(round(gib * 16)) * 64,
            p2p=cells[6] == "Yes", sm=int(cells[7]), dec=int(cells[8]),
            enc=int(cells[9]), ce=_int_or_none(extra[0]), jpeg=_int_or_none(extra[1]), ofa=_int_or_none(extra[2]),
        )
        out.setdefault(int(cells[0]), []).append(prof)
    return out


_LGIPP = re.compile(r"^GPU\s+(\d+)\s+Profile ID\s+(\d+)\s+Placements?\s*:\s*\{([\d,\s]*)\}:(\d+)\s*$")


def parse_lgipp(text):
    """``mig -lgipp`` -> {gpu_index: {profile_id: (starts, size)}}."""
    out = {}
    if _no_mig(text):
        return out
    for line in (text or "").splitlines():
        match = _LGIPP.match(line.strip())
        if match:
            starts = tuple(int(s) for s in match.group(3).replace(" ", "").split(",") if s)
            out.setdefault(int(match.group(1)), {})[int(match.group(2))] = (starts, int(match.group(4)))
    return out


def merge_profiles(profiles, placements):
    for gpu_index, profs in profiles.items():
        table = placements.get(gpu_index, {})
        for prof in profs:
            if prof.id in table:
                prof.starts, prof.size = table[prof.id]
    return profiles


def parse_lgi(text):
    """``mig -lgi`` -> {gpu_index: [GpuInstance]}."""
    out = {}
    if _no_mig(text):
        return out
    for cells in _table_rows(text):
        # GPU  MIG  <name>  profile-id  instance-id  start:size
        if len(cells) < 6 or cells[1] != "MIG" or ":" not in cells[5]:
            continue
        start, size = cells[5].split(":")
        out.setdefault(int(cells[0]), []).append(
            GpuInstance(cells[2], int(cells[3]), int(start), int(size), gi_id=int(cells[4])))
    return out


def parse_lci(text):
    """``mig -lci`` -> {gpu_index: {gi_id: [ComputeInstance]}} (placement optional: older drivers)."""
    out = {}
    if _no_mig(text):
        return out
    for cells in _table_rows(text):
        # GPU  GI-id  MIG  <name>  profile-id  instance-id  [start:size]
        if len(cells) < 6 or cells[2] != "MIG":
            continue
        start = size = None
        if len(cells) > 6 and ":" in cells[6]:
            start, size = (int(v) for v in cells[6].split(":"))
        ci = ComputeInstance(int(cells[5]), profile_name=cells[3], profile_id=int(cells[4]), start=start, size=size)
        out.setdefault(int(cells[0]), {}).setdefault(int(cells[1]), []).append(ci)
    return out


# --------------------------------------------------------------------------------- -q -x

def _text(node, path):
    found = node.find(path) if node is not None else None
    return found.text.strip() if found is not None and found.text is not None else None


def parse_query_xml(text):
    """``nvidia-smi -q -x`` -> [Gpu] in document (= index) order.

    Each Gpu gets ``mig_devices`` (list of dicts index/gi/ci) for joining with ``-L`` and ``-lgi``.
    """
    text = (text or "").strip()
    if not text:
        return []
    # The DOCTYPE refers to a DTD file we do not have; ElementTree ignores it.
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError("nvidia-smi -q -x printed output that is not XML (%s); it starts with %r: check the driver "
                         "and nvidia_smi_path" % (exc, text[:80]))
    if root.tag != "nvidia_smi_log":
        raise ValueError("nvidia-smi -q -x printed XML that is not nvidia-smi's (root element <%.40s>, expected "
                         "<nvidia_smi_log>): check nvidia_smi_path" % root.tag)
    gpus = []
    for pos, node in enumerate(root.findall("gpu")):
        current = _na(_text(node, "mig_mode/current_mig"))
        pending = _na(_text(node, "mig_mode/pending_mig"))
        memory = _text(node, "fb_memory_usage/total")
        gpu = Gpu(
            index=pos,
            uuid=_text(node, "uuid"),
            name=_text(node, "product_name"),
            pci_bus_id=_text(node, "pci/pci_bus_id") or node.get("id"),
            pci_device_id=normalize_pci_device_id(_text(node, "pci/pci_device_id")),
            pci_sub_system_id=normalize_pci_device_id(_text(node, "pci/pci_sub_system_id")),
            memory_mib=_int_or_none(memory),
            mig_current=current if current in ("Enabled", "Disabled") else None,
            mig_pending=pending if pending in ("Enabled", "Disabled") else None,
            architecture=_na(_text(node, "product_architecture")),
        )
        if gpu.architecture is None:
            # Drivers before R520 lack <product_architecture>; the PCI device id still tells Ampere from Hopper.
            model = catalog.model_for_pci_device_id(gpu.pci_device_id)
            gpu.architecture = model.architecture.capitalize() if model else None
        for dev in node.findall("mig_devices/mig_device"):
            gpu.mig_devices.append(MigDevice(
                _int_or_none(_text(dev, "index")),
                _int_or_none(_text(dev, "gpu_instance_id")),
                _int_or_none(_text(dev, "compute_instance_id")),
            ))
        for proc in node.findall("processes/process_info"):
            gpu.processes.append(Process(
                pid=_int_or_none(_text(proc, "pid")),
                gpu_index=pos,
                gi_id=_int_or_none(_text(proc, "gpu_instance_id")),
                ci_id=_int_or_none(_text(proc, "compute_instance_id")),
                name=_text(proc, "process_name"),
                used_memory=_text(proc, "used_memory"),
                type=_text(proc, "type"),
            ))
        gpus.append(gpu)
    return gpus


# --------------------------------------------------------------------------------- mutation output

_CREATED_GI = re.compile(r"Successfully created GPU instance ID\s+(\d+) on GPU\s+(\d+) using profile MIG (\S+) \(ID\s+(\d+)\)")
_CREATED_CI = re.compile(r"Successfully created compute instance ID\s+(\d+) on GPU\s+(\d+) GPU instance ID\s+(\d+)"
                         r" using profile MIG (\S+) \(ID\s+(\d+)\)")
_PENDING = re.compile(r"pending (enable|disable) state for GPU\s+([0-9A-Fa-f:.]+)")


def parse_created_gis(text):
    """[(gpu_index, gi_id, profile_name, profile_id)] from ``-cgi`` output (also a failed one)."""
    return [(int(m.group(2)), int(m.group(1)), m.group(3), int(m.group(4))) for m in _CREATED_GI.finditer(text or "")]


def parse_created_cis(text):
    """[(gpu_index, gi_id, ci_id, profile_name, profile_id)] from ``-cgi -C`` / ``-cci`` output."""
    return [(int(m.group(2)), int(m.group(3)), int(m.group(1)), m.group(4), int(m.group(5)))
            for m in _CREATED_CI.finditer(text or "")]


_MODE_SET = re.compile(r"^(Enabled|Disabled) MIG Mode for GPU\s+([0-9A-Fa-f:.]+?)\.?\s*$", re.M)


def parse_mode_set(text):
    """{bus_id: True|False} of GPUs whose MIG mode ``-mig`` reports as set ("Enabled MIG Mode for GPU ...").

    On Ampere this line means the driver's implicit reset ran and the mode is effective; a change left pending
    prints a "pending ... state" warning instead (issue 14 fact 1). Anything else is not a confirmation.
    """
    return dict((normalize_bus_id(m.group(2)), m.group(1) == "Enabled") for m in _MODE_SET.finditer(text or ""))


_BUS_ID = re.compile(r"\b([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\b")


def parse_bus_ids(text):
    """Normalised PCI bus ids named anywhere in ``text`` (e.g. the GPUs a refused ``-r`` says are in use)."""
    return set(normalize_bus_id(m.group(1)) for m in _BUS_ID.finditer(text or ""))


def parse_pending_mode(text):
    """PCI bus ids whose mode change stays pending (Ampere without reset): {bus_id: 'enable'|'disable'}."""
    return dict((m.group(2).rstrip(".:"), m.group(1)) for m in _PENDING.finditer(text or ""))


# --------------------------------------------------------------------------------- state assembly

def assemble_state(gpus, lgi_text=None, list_text=None, instances=None):
    """Attach ``-lgi`` instances, ``-q -x`` CIs and ``-L`` MIG UUIDs to the Gpus from ``parse_query_xml``.

    ``instances`` ({gpu_index: [GpuInstance]}) replaces ``-lgi`` when the caller already knows them.
    """
    if instances is None:
        instances = parse_lgi(lgi_text) if lgi_text else {}
    listing = {g["index"]: g for g in parse_list(list_text)} if list_text else {}
    for gpu in gpus:
        gpu.instances = instances.get(gpu.index, []) if gpu.mig_enabled else []
        uuids = dict((d["device_index"], d["uuid"]) for d in listing.get(gpu.index, {}).get("mig_devices", []))
        by_gi = dict((gi.gi_id, gi) for gi in gpu.instances)
        for dev in gpu.mig_devices:
            gi = by_gi.get(dev.gi_id)
            if gi is None:
                continue
            ci = ComputeInstance(dev.ci_id, profile_name=gi.profile_name, mig_uuid=uuids.get(dev.index),
                                 device_index=dev.index)
            gi.compute_instances.append(ci)
            if gi.mig_uuid is None:
                gi.mig_uuid = ci.mig_uuid
    return gpus


__all__ = [
    "NvidiaSmi", "NvidiaSmiError", "parse_query_csv", "parse_list", "parse_lgip",
    "parse_lgipp", "parse_lgi", "parse_lci", "parse_query_xml", "assemble_state", "runner_for_module",
    "normalize_bus_id", "select_gpus",
]
