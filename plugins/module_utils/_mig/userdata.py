# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 user data that partitions a new node's GPUs before kubelet starts (pure: no I/O, stdlib only).

Used by ``karpenter_nodepool`` (the EC2NodeClass ``userData``), the ``karpenter_gpu`` role and the
``mig_user_data`` filter. The MIG layout comes from the same engine as the NodeOverlay capacity
(``capacity.node_gpus``), so a node partitioned by this user data advertises exactly that capacity.

AL2023 (``nodeadm``): a MIME multi-part document. Its shell part (run by cloud-init's final stage)
downloads the applier (``gpu-slicing-mig-apply``, built from this collection's ``module_utils``; it is
larger than EC2's 16 KB user-data limit, so it is fetched from ``applier_url`` and checked against a
pinned SHA-256), writes the layout as a mig-parted v1 file and applies it with the same planner as the
``nvidia_mig`` module. ``nodeadm-run.service`` (which starts kubelet) is ordered
``After=cloud-final.service`` in the EKS AMI, so this finishes before kubelet starts. If anything
fails, the script writes a ``NodeConfig`` drop-in to ``/etc/eks/nodeadm.d/`` that registers the node
with the taint ``gpu-slicing.eks/mig-apply-failed=true:NoSchedule`` and logs the reason to the journal
(tag ``gpu-slicing-mig``): the node never silently offers whole GPUs where slices were promised. It
also installs the boot unit that re-applies the persisted layout after a reboot.

Bottlerocket: TOML settings ``settings.kubelet-device-plugins.nvidia.device-partitioning-strategy`` and
``...nvidia.mig.profile`` (one profile per GPU model, created as many times as fit). Only uniform
layouts of GPU models Bottlerocket's ``nvidia-migmanager`` knows can be expressed; anything else is an
error that names the reason, never an approximation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import email
import json
import re

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import catalog
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import configs
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import sharing

AMI_FAMILIES = ("AL2023", "Bottlerocket")
EC2_USER_DATA_LIMIT = 16384          # bytes before base64 (EC2 "Work with instance user data")
KARPENTER_RESERVE = 3072             # room for the NodeConfig part Karpenter merges in (cluster CA, flags)
APPLIER_PATH = "/usr/local/sbin/gpu-slicing-mig-apply"
BOOT_CONFIG_PATH = "/etc/gpu-slicing/boot-config.yaml"
PERSIST_PATH = "/etc/gpu-slicing/mig-layout.yaml"
NODEADM_DROPIN = "/etc/eks/nodeadm.d/90-gpu-slicing-mig-failed.yaml"
BOOT_UNIT_PATH = "/etc/systemd/system/gpu-slicing-mig.service"
FAILED_TAINT = collections.OrderedDict([("key", "gpu-slicing.eks/mig-apply-failed"), ("value", "true"),
                                        ("effect", "NoSchedule")])
# Karpenter registers AL2023 nodes with this taint and removes it itself; kept in our flag so that a kubelet
# that lets the flag replace the configured taints still registers the node the way Karpenter expects.
KARPENTER_UNREGISTERED_TAINT = collections.OrderedDict([("key", "karpenter.sh/unregistered"), ("effect", "NoExecute")])
BOUNDARY = "//gpu-slicing-eks//"
JOURNAL_TAG = "gpu-slicing-mig"
BOOT_LABEL = "gpu-slicing-boot"

# Bottlerocket's nvidia-migmanager keys GPU models as "<name>.<memory>" (bottlerocket.dev kubelet-device-plugins
# settings; bottlerocket-core-kit sources/nvidia-migmanager README lists A30, A100, H100 and H200).
BOTTLEROCKET_MIG_MODELS = collections.OrderedDict([
    ("a100-40gb", "a100.40gb"), ("a100-80gb", "a100.80gb"), ("h100-80gb", "h100.80gb"), ("h200-141gb", "h200.141gb"),
])

_URL_RE = re.compile(r"^(https://|http://|s3://)[^\s'\"\\`$]+$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class UserDataError(ValueError):
    """Inputs that cannot be rendered; the message says which and why."""


# ------------------------------------------------------------------------------------------ the layout

def _instance_types(instance_types):
    if isinstance(instance_types, str):
        instance_types = [instance_types]
    if not isinstance(instance_types, (list, tuple)) or not instance_types:
        raise UserDataError("instance_types must be an EC2 instance type or a non-empty list of them")
    out = []
    for name in instance_types:
        if not isinstance(name, str) or not name:
            raise UserDataError("instance type must be a non-empty string, got %r" % (name,))
        if name not in out:
            out.append(name)
    return out


def node_layouts(instance_types, config=None, layout=None, config_label=None):
    """{instance type: (GpuModel, [per-GPU OrderedDict layout or None])}, the same numbers as the NodeOverlay."""
    out = collections.OrderedDict()
    errors = []
    for name in _instance_types(instance_types):
        try:
            out[name] = capacity.node_gpus(name, config=config, layout=layout, config_label=config_label)
        except (capacity.CapacityError, catalog.CatalogError) as exc:
            errors.append("%s: %s" % (name, exc))
    if errors:
        raise UserDataError("; ".join(errors))
    return out


def boot_document(instance_types, config=None, layout=None, config_label=None, label=BOOT_LABEL):
    """mig-parted v1 document (one label) that puts every GPU of these instance types in the capacity's layout.

    One entry per (GPU model, distinct layout), filtered by every PCI device id of the model, so one file serves
    a pool of several instance types. GPUs the config leaves alone get ``mig-enabled: false`` explicitly: the
    overlay counts them as whole GPUs, so the node must not keep a stale MIG mode.
    """
    per_model = collections.OrderedDict()
    for _name, (model, gpus) in node_layouts(instance_types, config, layout, config_label).items():
        known = per_model.get(model.key)
        if known is None or len(gpus) > len(known[1]):
            per_model[model.key] = (model, gpus)
    entries = []
    for model, gpus in per_model.values():
        groups = collections.OrderedDict()
        for index, gpu in enumerate(gpus):
            key = json.dumps(list(gpu.items()) if gpu is not None else None)
            groups.setdefault(key, (gpu, []))[1].append(index)
        for gpu, indexes in groups.values():
            entry = collections.OrderedDict()
            entry["device-filter"] = list(model.pci_device_ids)
            entry["devices"] = "all" if len(groups) == 1 else indexes
            entry["mig-enabled"] = gpu is not None
            if gpu is not None:
                entry["mig-devices"] = collections.OrderedDict(gpu)
            entries.append(entry)
    doc = collections.OrderedDict([("version", "v1"), ("mig-configs", collections.OrderedDict([(label, entries)]))])
    configs.parse_config(doc)  # the applier reads it back with the same parser
    return doc


# ------------------------------------------------------------------------------------------ AL2023

def _check_applier(applier_url, applier_sha256):
    if not applier_url:
        raise UserDataError(
            "applier_url is required for AL2023: the applier (roles/mig_partition/files/gpu-slicing-mig-apply) does "
            "not fit in EC2's 16 KB user data, so the node downloads it; upload that file to S3 (s3://bucket/key, "
            "fetched with the node role and the AWS CLI) or an HTTPS server and give its URL")
    if not isinstance(applier_url, str) or not _URL_RE.match(applier_url):
        raise UserDataError("applier_url must be an s3:// or https:// URL without spaces, quotes or shell "
                            "characters, got %r" % (applier_url,))
    if not isinstance(applier_sha256, str) or not _SHA256_RE.match(applier_sha256):
        raise UserDataError("applier_sha256 must be 64 lower-case hex digits, got %r" % (applier_sha256,))


def _taint_text(taint):
    text = taint["key"]
    if taint.get("value"):
        text += "=" + taint["value"]
    return text + ":" + taint["effect"]


def failure_taints(taints=()):
    """The taints of a node whose partitioning failed: ours first, then the pool's and Karpenter's registration taint."""
    out = [FAILED_TAINT]
    for taint in list(taints or ()) + [KARPENTER_UNREGISTERED_TAINT]:
        if not isinstance(taint, dict) or not taint.get("key") or not taint.get("effect"):
            raise UserDataError("taints must be dictionaries with key and effect, got %r" % (taint,))
        if all(_taint_text(taint) != _taint_text(t) for t in out):
            out.append(taint)
    return out


def failure_nodeconfig(taints=()):
    """The NodeConfig drop-in written on failure (nodeadm reads /etc/eks/nodeadm.d/ as well as the user data)."""
    flag = "--register-with-taints=" + ",".join(_taint_text(t) for t in failure_taints(taints))
    return ("---\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    flags:\n"
            "      - %s\n" % json.dumps(flag))


def boot_unit(applier_path=APPLIER_PATH, persist_path=PERSIST_PATH):
    """systemd unit that re-applies the persisted layout on every later boot (instances never survive a reboot)."""
    return (
        "# Installed by gpu_slicing.eks user data: re-applies the persisted MIG layout before kubelet starts.\n"
        "[Unit]\n"
        "Description=Re-apply the MIG layout saved by gpu_slicing.eks\n"
        "After=nvidia-persistenced.service nvidia-fabricmanager.service\n"
        "Before=kubelet.service nodeadm-run.service\n"
        "ConditionPathExists=%(persist)s\n\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        "ExecStart=/usr/bin/python3 %(applier)s --config-file %(persist)s --config %(label)s --no-persist "
        "--allow-gpu-reset\n"
        "TimeoutStartSec=480\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    ) % {"persist": persist_path, "applier": applier_path, "label": configs.PERSIST_LABEL}


_SCRIPT = r"""#!/bin/bash
# gpu_slicing.eks: partition the GPUs before kubelet starts. cloud-init runs this in its final stage;
# the EKS AL2023 AMI orders nodeadm-run.service (which starts kubelet) After=cloud-final.service.
set -u -o pipefail
root="${GPU_SLICING_ROOT:-}"   # tests only: a directory prefix for every path written below
nvidia_smi="${GPU_SLICING_NVIDIA_SMI:-/usr/bin/nvidia-smi}"
python="${GPU_SLICING_PYTHON:-/usr/bin/python3}"
applier="${root}@APPLIER@"
config="${root}@CONFIG@"
persist="${root}@PERSIST@"
dropin="${root}@DROPIN@"
unit="${root}@UNIT@"

say() { echo "@TAG@: $2" >&2; logger -t @TAG@ -p "user.$1" -- "$2" 2>/dev/null || true; }
fail() {
  say err "MIG partitioning FAILED: $1. The node registers with the taint @TAINT@ instead of advertising the \
wrong GPU resources; see journalctl -t @TAG@ and /var/log/cloud-init-output.log"
  mkdir -p "$(dirname "${dropin}")" && cat > "${dropin}" <<'GPU_SLICING_NODECONFIG'
@NODECONFIG@GPU_SLICING_NODECONFIG
  exit 1
}

mkdir -p "$(dirname "${applier}")" "$(dirname "${config}")" || fail "cannot create directories"
url='@URL@'
case "${url}" in
  s3://*) aws s3 cp --only-show-errors "${url}" "${applier}.download" || fail "aws s3 cp ${url} failed" ;;
  *) curl -fsS --retry 5 --retry-connrefused --retry-delay 2 -o "${applier}.download" "${url}" || fail "download of ${url} failed" ;;
esac
echo "@SHA256@  ${applier}.download" | sha256sum -c --status - || fail "${url} does not have the pinned SHA-256 @SHA256@"
chmod 0755 "${applier}.download" && mv -f "${applier}.download" "${applier}" || fail "cannot install ${applier}"

cat > "${config}" <<'GPU_SLICING_LAYOUT'
@LAYOUT@GPU_SLICING_LAYOUT

say info "applying MIG config @LABEL@ (@SUMMARY@)"
"${python}" "${applier}" --config-file "${config}" --config '@LABEL@' --nvidia-smi "${nvidia_smi}" \
  --persist-path "${persist}" --allow-gpu-reset || fail "the applier exited with status $?"

if [ -z "${root}" ] && command -v systemctl >/dev/null; then
  cat > "${unit}" <<'GPU_SLICING_UNIT'
@BOOTUNIT@GPU_SLICING_UNIT
  systemctl daemon-reload && systemctl enable @UNITNAME@ || say warning "could not enable @UNITNAME@"
fi
rm -f "${dropin}"
say info "MIG config @LABEL@ applied"
"""


def _summary(layouts):
    parts = []
    for name, (_model, gpus) in layouts.items():
        counts = collections.Counter()
        for gpu in gpus:
            for profile, count in (gpu or {}).items():
                counts[profile] += count
        whole = sum(1 for gpu in gpus if gpu is None)
        text = ", ".join("%dx %s" % (counts[p], p) for p in sorted(counts))
        if whole:
            text = (text + ", " if text else "") + "%d whole GPUs" % whole
        parts.append("%s: %s" % (name, text or "MIG enabled, no instances"))
    return "; ".join(parts)


def al2023_script(instance_types, applier_url, applier_sha256, config=None, layout=None, config_label=None,
                  taints=(), label=None):
    """The shell part: install the applier and the layout, apply, taint on failure (see the module docstring)."""
    _check_applier(applier_url, applier_sha256)
    label = label or (config if isinstance(config, str) else None) or BOOT_LABEL
    if not re.match(r"^[A-Za-z0-9][-A-Za-z0-9_.+]*$", label):
        raise UserDataError("config label %r may only contain letters, digits and - _ . +" % label)
    layouts = node_layouts(instance_types, config, layout, config_label)
    document = boot_document(instance_types, config, layout, config_label, label=label)
    values = {
        "@APPLIER@": APPLIER_PATH, "@CONFIG@": BOOT_CONFIG_PATH, "@PERSIST@": PERSIST_PATH, "@DROPIN@": NODEADM_DROPIN,
        "@UNIT@": BOOT_UNIT_PATH, "@UNITNAME@": BOOT_UNIT_PATH.rsplit("/", 1)[1], "@TAG@": JOURNAL_TAG,
        "@TAINT@": _taint_text(FAILED_TAINT), "@NODECONFIG@": failure_nodeconfig(taints), "@URL@": applier_url,
        "@SHA256@": applier_sha256, "@LAYOUT@": configs.dump_config(document), "@LABEL@": label,
        "@SUMMARY@": _summary(layouts).replace("'", ""), "@BOOTUNIT@": boot_unit(),
    }
    return re.sub("|".join(re.escape(k) for k in values), lambda m: values[m.group(0)], _SCRIPT)


_CONTENT_TYPES = (
    ("#!", "text/x-shellscript"),
    ("#cloud-config", "text/cloud-config"),
    ("#include", "text/x-include-url"),
    ("#cloud-boothook", "text/cloud-boothook"),
)


def user_parts(user_data):
    """[(content type, body)] of user-provided AL2023 user data: MIME multi-part, a NodeConfig or a script."""
    if user_data is None or not str(user_data).strip():
        return []
    text = str(user_data)
    head = text.lstrip()[:4096].lower()
    if head.startswith("mime-version:") or head.startswith("content-type: multipart/"):
        message = email.message_from_string(text)
        if not message.is_multipart():
            raise UserDataError("user_data declares MIME but is not multipart/mixed")
        parts = []
        for part in message.walk():
            if part.is_multipart():
                continue
            body = part.get_payload(decode=True)
            if body is None:
                continue
            try:
                parts.append((part.get_content_type(), body.decode("utf-8")))
            except UnicodeDecodeError:
                raise UserDataError("user_data part %d (%s) is not UTF-8 text (compressed parts cannot be merged); give it "
                                    "uncompressed" % (len(parts) + 1, part.get_content_type()))
        return parts
    if "apiversion: node.eks.aws/" in head.replace('"', ""):
        return [("application/node.eks.aws", text)]
    for prefix, ctype in _CONTENT_TYPES:
        if text.lstrip().startswith(prefix):
            return [(ctype, text)]
    raise UserDataError("user_data for AL2023 must be MIME multi-part, a NodeConfig (apiVersion: node.eks.aws/...), a "
                        "shell script (#!) or cloud-config; its first line is %r" % text.lstrip().split("\n", 1)[0][:80])


def mime_document(parts):
    """A multipart/mixed document with a fixed boundary (renders are idempotent); parts are (content type, body)."""
    lines = ["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="%s"' % BOUNDARY, ""]
    for ctype, body in parts:
        if BOUNDARY in body:
            raise UserDataError("a user data part contains the MIME boundary %r" % BOUNDARY)
        lines += ["--" + BOUNDARY, 'Content-Type: %s; charset="us-ascii"' % ctype if ctype.startswith("text/")
                  else "Content-Type: %s" % ctype, "", body.rstrip("\n")]
    lines += ["--%s--" % BOUNDARY, ""]
    return "\n".join(lines)


def render_al2023(instance_types, applier_url, applier_sha256, config=None, layout=None, config_label=None,
                  taints=(), user_data=None, label=None):
    """MIME user data: the user's parts first (in order), then ours, within EC2's limit minus Karpenter's part."""
    script = al2023_script(instance_types, applier_url, applier_sha256, config, layout, config_label, taints, label)
    parts = user_parts(user_data)
    if any(JOURNAL_TAG + ": partition the GPUs" in body for _c, body in parts):
        raise UserDataError("user_data already contains a gpu_slicing.eks MIG part; give only your own parts")
    text = mime_document(parts + [("text/x-shellscript", script)])
    check_size(text)
    return text


def check_size(text):
    size = len(text.encode("utf-8"))
    if size > EC2_USER_DATA_LIMIT - KARPENTER_RESERVE:
        raise UserDataError("the user data is %d bytes; EC2 allows %d before base64 and Karpenter adds its own NodeConfig "
                            "part (about %d bytes), so keep yours under %d" % (size, EC2_USER_DATA_LIMIT,
                                                                               KARPENTER_RESERVE,
                                                                               EC2_USER_DATA_LIMIT - KARPENTER_RESERVE))


# ------------------------------------------------------------------------------------------ Bottlerocket

def bottlerocket_settings(instance_types, config=None, layout=None, config_label=None):
    """(strategy, {bottlerocket model key: profile}) or UserDataError naming why Bottlerocket cannot express it."""
    profiles = collections.OrderedDict()
    strategies = set()
    for name, (model, gpus) in node_layouts(instance_types, config, layout, config_label).items():
        if all(gpu is None for gpu in gpus):
            strategies.add("none")
            continue
        if any(gpu is None for gpu in gpus) or len(set(json.dumps(list(g.items())) for g in gpus)) != 1:
            raise UserDataError(
                "Bottlerocket cannot express the layout of %s: its nvidia-migmanager applies one setting to every GPU "
                "of a model, but this layout differs between GPUs (%s)" % (name, _summary({name: (model, gpus)})))
        gpu = gpus[0]
        if len(gpu) != 1:
            raise UserDataError(
                "Bottlerocket cannot express the layout of %s: settings.kubelet-device-plugins.nvidia.mig.profile takes "
                "ONE profile per GPU model, this layout has %d (%s); use an all-<profile> config or the AL2023 AMI family"
                % (name, len(gpu), ", ".join("%dx %s" % (c, p) for p, c in gpu.items())))
        (profile, count), = gpu.items()
        spec = [p for p in model.profiles if p.name == profile][0]
        if count != spec.max_count:
            raise UserDataError(
                "Bottlerocket cannot express the layout of %s: nvidia-migmanager creates as many %s instances as fit "
                "(%d), this layout asks for %d" % (name, profile, spec.max_count, count))
        if "+" in profile:
            raise UserDataError("Bottlerocket cannot express the layout of %s: profile %s has attributes (+...), which "
                                "its mig.profile setting does not document" % (name, profile))
        key = BOTTLEROCKET_MIG_MODELS.get(model.key)
        if key is None:
            raise UserDataError(
                "Bottlerocket cannot partition %s (%s): its nvidia-migmanager supports only %s; use the AL2023 AMI family"
                % (name, model.product_name, ", ".join(BOTTLEROCKET_MIG_MODELS.values())))
        if profiles.get(key, profile) != profile:
            raise UserDataError("Bottlerocket cannot give %s GPUs two different profiles (%s and %s) in one node class"
                                % (key, profiles[key], profile))
        profiles[key] = profile
        strategies.add("mig")
    if len(strategies) > 1:
        raise UserDataError("Bottlerocket cannot mix instance types with MIG and without MIG in one node class: "
                            "device-partitioning-strategy is one value per node class")
    return strategies.pop(), profiles


def bottlerocket_sharing(sharing_spec, mig):
    """TOML lines of Bottlerocket's device-sharing settings, or UserDataError naming what it cannot express.

    Settings (bottlerocket.dev, "kubelet-device-plugins" settings, 1.26.x-1.54.x): ``device-sharing-strategy``
    (``time-slicing`` | ``mps``), ``time-slicing.replicas``, ``time-slicing.rename-by-default``,
    ``time-slicing.fail-requests-greater-than-one``; ``mps.replicas``, ``mps.rename-by-default`` (1.54.x). One value
    for every GPU of the node: no resource list. Every boolean is written so that Bottlerocket's defaults never decide.
    """
    shared = sharing.parse(sharing_spec)
    if shared.resources is not None and shared.resources != (sharing.GPU_RESOURCE,):
        raise UserDataError("Bottlerocket cannot express sharing.resources %s: its settings replicate %s of every GPU, "
                            "with no resource list" % (", ".join(shared.resources), sharing.GPU_RESOURCE))
    if mig:
        raise UserDataError("Bottlerocket cannot express sharing on MIG devices: its documented time-slicing settings "
                            "replicate whole GPUs only (and the device plugin refuses MPS on MIG); use the AL2023 AMI "
                            "family with the device_plugin role's configs, or whole GPUs")
    if shared.mode == "mps":
        if shared.fail_requests_greater_than_one:
            raise UserDataError("Bottlerocket cannot express fail_requests_greater_than_one with MPS: it has only "
                                "mps.replicas and mps.rename-by-default")
        return ["", "[settings.kubelet-device-plugins.nvidia.mps]", "replicas = %d" % shared.replicas,
                "rename-by-default = %s" % str(shared.rename_by_default).lower()]
    return ["", "[settings.kubelet-device-plugins.nvidia.time-slicing]", "replicas = %d" % shared.replicas,
            "rename-by-default = %s" % str(shared.rename_by_default).lower(),
            "fail-requests-greater-than-one = %s" % str(shared.fail_requests_greater_than_one).lower()]


def render_bottlerocket(instance_types, config=None, layout=None, config_label=None, user_data=None, sharing_spec=None):
    """Bottlerocket TOML: the user's settings, then the device-plugin partitioning and sharing tables."""
    try:
        shared = sharing.parse(sharing_spec)
    except sharing.SharingError as exc:
        raise UserDataError(str(exc))
    if shared is not None and config is None and layout is None:
        for name in _instance_types(instance_types):
            try:
                sharing.node_capacity(name, shared)
            except sharing.SharingError as exc:
                raise UserDataError("%s: %s" % (name, exc))
        strategy, profiles = None, {}
    else:
        strategy, profiles = bottlerocket_settings(instance_types, config, layout, config_label)
    user = str(user_data or "")
    if re.search(r"kubelet-device-plugins", user):
        raise UserDataError("user_data already sets settings.kubelet-device-plugins; remove those settings (they are "
                            "rendered from the MIG config and the sharing) or write the user data yourself")
    lines = ["[settings.kubelet-device-plugins.nvidia]"]
    if strategy is not None:
        lines.append('device-partitioning-strategy = "%s"' % strategy)
    if shared is not None:
        lines.append('device-sharing-strategy = "%s"' % shared.mode)
    if profiles:
        lines += ["", "[settings.kubelet-device-plugins.nvidia.mig.profile]"]
        lines += ['"%s" = "%s"' % (key, profile) for key, profile in profiles.items()]
    if shared is not None:
        lines += bottlerocket_sharing(shared, strategy == "mig")
    ours = "\n".join(lines) + "\n"
    text = (user.rstrip("\n") + "\n\n" + ours) if user.strip() else ours
    check_size(text)
    return text


def render(instance_types, ami_family="AL2023", config=None, layout=None, config_label=None, applier_url=None,
           applier_sha256=None, taints=(), user_data=None, label=None, sharing_spec=None):
    """User data for ``ami_family`` (AL2023 or Bottlerocket) that partitions every GPU like the overlay promises.

    ``label`` names the config in the AL2023 layout file (default: ``config`` when it is a label).
    ``sharing_spec`` (the ``sharing`` dict): Bottlerocket renders its device-sharing settings; on AL2023 the device
    plugin's config map does the sharing (node label ``nvidia.com/device-plugin.config``), so the user data only
    partitions, and sharing without a MIG layout is an error (there is nothing for the user data to do).
    """
    if ami_family == "AL2023":
        if sharing_spec is not None and config is None and layout is None:
            raise UserDataError("AL2023 user data does not configure the device plugin: sharing on AL2023 comes from the "
                                "device plugin's named config (label %s, device_plugin role); drop the user data or use "
                                "Bottlerocket" % sharing.CONFIG_LABEL)
        return render_al2023(instance_types, applier_url, applier_sha256, config=config, layout=layout,
                             config_label=config_label, taints=taints, user_data=user_data, label=label)
    if ami_family == "Bottlerocket":
        return render_bottlerocket(instance_types, config=config, layout=layout, config_label=config_label,
                                   user_data=user_data, sharing_spec=sharing_spec)
    raise UserDataError("ami_family must be one of %s, got %r (AL2 has no AMIs after Kubernetes 1.32; Custom AMIs "
                        "must run the applier themselves)" % (", ".join(AMI_FAMILIES), ami_family))
