# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The persisted MIG layout: a mig-parted v1 file that the boot service re-applies (stdlib only).

MIG instances vanish on every reboot (and on Hopper and later so does the MIG mode), so ``apply`` writes the
desired state of the GPUs it manages to one file with the single label ``gpu-slicing`` and one entry per GPU
(``device-filter``, ``devices``, ``mig-enabled``, ``mig-devices``). The same file is read back by
``nvidia-mig-parted apply -f FILE -c gpu-slicing`` and by ``apply`` with ``config=gpu-slicing``.

The file is the only file I/O of the engine; every function here takes the path and does its own I/O so the
rest of ``_mig`` stays pure. Writes are atomic (temporary file in the same directory, then ``atomic_move``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import configs

PERSIST_LABEL = configs.PERSIST_LABEL
DEFAULT_PATH = "/etc/gpu-slicing/mig-layout.yaml"
# The file this module writes is a few KiB; NVIDIA's default-mig-parted-config with every label is ~30 KiB. No MIG
# config file (config_file, or the persisted file) is read past this bound.
MAX_FILE_BYTES = 1024 * 1024


class PersistEntry(object):
    """What one GPU should look like after a reboot: ``layout`` is an ordered {profile name: count}."""

    __slots__ = ("index", "pci_device_id", "mig_enabled", "layout")

    def __init__(self, index, pci_device_id, mig_enabled, layout):
        self.index = index
        self.pci_device_id = pci_device_id
        self.mig_enabled = bool(mig_enabled)
        self.layout = layout

    def as_tuple(self):
        return (self.index, self.pci_device_id, self.mig_enabled, self.layout)


def existing_entries(path):
    """The ``gpu-slicing`` entries of an existing file; [] when it is missing, unreadable or larger than
    MAX_FILE_BYTES (it is ours: a damaged file is replaced)."""
    if not path or not os.path.exists(path):
        return []
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            return []
        data, _loader = configs.load_config_text(raw.decode("utf-8"))
        return configs.select_entries(data, PERSIST_LABEL)
    except (IOError, OSError, ValueError):  # MigConfigError, and UnicodeDecodeError for a damaged file
        return []


def document(entries, path=None):
    """The persisted document: ``entries`` (PersistEntry per managed GPU) plus the entries of GPUs this run did
    not manage, kept from the existing file at ``path`` (a run limited with ``gpus`` must not make the boot
    service forget the other GPUs)."""
    per_gpu = {}
    for entry in existing_entries(path):
        if isinstance(entry["devices"], list) and len(entry["devices"]) == 1:
            device_id = entry["device_filter"][0][0] if entry["device_filter"] else None
            index = entry["devices"][0]
            per_gpu[index] = PersistEntry(index, device_id, entry["mig_enabled"], entry["mig_devices"])
    for entry in entries:
        per_gpu[entry.index] = entry
    return configs.build_document([per_gpu[i].as_tuple() for i in sorted(per_gpu)], PERSIST_LABEL)


def render(entries, path=None):
    """Text of ``document(entries, path)``."""
    return configs.dump_config(document(entries, path))


def needed(path, text):
    """True unless ``path`` already holds exactly ``text`` (reads at most one byte more than ``text``)."""
    wanted = text.encode("utf-8")
    try:
        with open(path, "rb") as handle:
            return handle.read(len(wanted) + 1) != wanted
    except (IOError, OSError):
        return True


# First line of every file ``render`` writes (configs.dump_config): the mark that a file is ours to replace.
MARKER = b"# Written by gpu_slicing.eks"


def written_by_us(path):
    """True when the existing file at ``path`` starts with MARKER (read as bytes: a damaged file of ours still is)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(MARKER)) == MARKER
    except (IOError, OSError):
        return False


def path_problem(path):
    """Why ``path`` cannot be written (its directory created if missing), or None."""
    if not path or not os.path.isabs(path):
        return "must be an absolute file path"
    if os.path.isdir(path):
        return "is a directory"
    if os.path.lexists(path) and not written_by_us(path):
        return ("exists and was not written by gpu_slicing.eks (its first line is not %r); it is left alone: move it "
                "away or choose another persist_path" % MARKER.decode("ascii"))
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return "cannot be created: %s is not a directory" % parent
    if not os.access(parent, os.W_OK | os.X_OK):
        # the file is replaced atomically through a temporary file in its directory
        return "cannot be written: no write access to %s" % parent
    return None


def write(path, text, atomic_move=None):
    """Write ``text`` to ``path`` atomically (mode 0644); ``atomic_move(tmp, path)`` defaults to ``os.replace``."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".mig-layout.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        (atomic_move or os.replace)(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
