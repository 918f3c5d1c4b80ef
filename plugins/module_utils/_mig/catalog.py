# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Static GPU catalog: EC2 instance type -> GPU model -> MIG profiles.

This is the ONE source of truth for facts we cannot ask a GPU for: which EC2 instance types carry
which GPU, and what MIG profiles that GPU offers. It is used where no GPU can be asked (Karpenter
capacity, the planner, the EC2 inventory, the nvidia-smi simulator). Code that runs on a node reads
profile ids, counts and placements from the GPU itself (``nvidia-smi mig -lgip/-lgipp``) and never
uses the ``typical_id`` values below.

It is Python data (not YAML) because module code runs on the managed node and Ansible ships only
``module_utils`` with it. Sources: the NVIDIA MIG user guide (supported profiles and placements per GPU),
NVIDIA mig-parted's built-in configs, real ``nvidia-smi mig -lgip/-lgipp`` captures (``tests/data/nvidia-smi``),
and EC2 ``DescribeInstanceTypes`` / Karpenter's instance-type labels for the instance types.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections

# One GPU-instance profile of a GPU model.
#  name           mig-parted / nvidia-smi name without the "MIG " prefix ("1g.10gb", "1g.10gb+me")
#  typical_id     the id nvidia-smi shows on this model (simulator only; real code asks the GPU)
#  max_count      "Instances Total" of `nvidia-smi mig -lgip`
#  memory_gib     the GiB column of -lgip, as printed ("9.75"); memory_mib = GiB * 1024
#  sm, ce, dec, enc, jpeg, ofa   engine counts (-lgip columns)
#  starts, size   possible placements on the memory-slot axis (`-lgipp`: {starts}:size)
#  compute_slices the "<G>g" of the name
ProfileSpec = collections.namedtuple(
    "ProfileSpec",
    "name typical_id max_count memory_gib sm ce dec enc jpeg ofa starts size compute_slices",
)

# One GPU model. ``memory_slots`` is the placement axis (8 on A100/H100/H200/B200, 4 on A30).
#  architecture   "ampere" needs a GPU reset (or reboot) for a MIG mode change and keeps the mode
#                 across reboots; "hopper"/"blackwell" switch at once and lose the mode on reboot.
GpuModel = collections.namedtuple(
    "GpuModel",
    "key product_name pci_device_ids architecture memory_mib ec2_memory_mib karpenter_gpu_name "
    "ec2_gpu_name mig_capable memory_slots profiles verified",
)

# An EC2 instance type with GPUs.
InstanceTypeSpec = collections.namedtuple(
    "InstanceTypeSpec", "name gpu_model gpu_count vcpu memory_mib price_usd_hour"
)

_ALL7 = (0, 1, 2, 3, 4, 5, 6)


def _p(name, typical_id, max_count, memory_gib, sm, ce, dec, enc, jpeg, ofa, starts, size):
    compute = int(name.split("g.", 1)[0].split(".")[-1])
    return ProfileSpec(name, typical_id, max_count, memory_gib, sm, ce, dec, enc, jpeg, ofa,
                       tuple(starts), size, compute)


def _eight_slot_profiles(mem, sm=(16, 16, 26, 32, 60, 64, 132), ce=(1, 1, 1, 2, 3, 4, 8), one_dec_jpeg=(1, 1)):
    """The standard 8-memory-slot profile set (A100, H100, H200, B200, B300, GB200).

    ``mem`` maps the seven profile roles to (name, GiB string). The placement table is identical on
    every 8-slot part (mig.md 4.2): 19/20 {0..6}:1, 15 {0,2,4,6}:2, 14 {0,2,4}:2, 9 {0,4}:4,
    5 {0}:4, 0 {0}:8. ``one_dec_jpeg``: DEC and JPEG of the plain 1g profile (0, 0 on A100).
    """
    one, one_me, one_double, two, three, four, seven = mem
    return (
        _p(one[0], 19, 7, one[1], sm[0], ce[0], one_dec_jpeg[0], 0, one_dec_jpeg[1], 0, _ALL7, 1),
        _p(one_me[0], 20, 1, one_me[1], sm[1], ce[1], 1, 0, 1, 1, _ALL7, 1),
        _p(one_double[0], 15, 4, one_double[1], sm[2], ce[2], 1, 0, 1, 0, (0, 2, 4, 6), 2),
        _p(two[0], 14, 3, two[1], sm[3], ce[3], 2, 0, 2, 0, (0, 2, 4), 2),
        _p(three[0], 9, 2, three[1], sm[4], ce[4], 3, 0, 3, 0, (0, 4), 4),
        _p(four[0], 5, 1, four[1], sm[5], ce[5], 4, 0, 4, 0, (0,), 4),
        _p(seven[0], 0, 1, seven[1], sm[6], ce[6], 7, 0, 7, 1, (0,), 8),
    )


_A100_SM = (14, 14, 14, 28, 42, 56, 98)
_A100_CE = (1, 1, 1, 2, 3, 4, 7)

GPU_MODELS = collections.OrderedDict(
    (m.key, m)
    for m in (
        GpuModel(
            "a100-40gb", "NVIDIA A100-SXM4-40GB",
            ("0x20B010DE", "0x20B110DE", "0x20F110DE", "0x20F610DE"), "ampere", 40960, 40960,
            "a100", "A100", True, 8,
            _eight_slot_profiles(
                (("1g.5gb", "4.75"), ("1g.5gb+me", "4.75"), ("1g.10gb", "9.75"), ("2g.10gb", "9.75"),
                 ("3g.20gb", "19.62"), ("4g.20gb", "19.62"), ("7g.40gb", "39.38")),
                sm=_A100_SM, ce=_A100_CE, one_dec_jpeg=(0, 0)),
            "MIG user guide lgip table (names, ids, counts, SMs); GiB as printed by driver 580 and 1g.5gb DEC 0 /"
            " JPEG 0 from real A100-40GB output (issue 14 fact 7; the R5xx guide table prints 9.62/19.50/39.25)"),
        GpuModel(
            "a100-80gb", "NVIDIA A100-SXM4-80GB",
            ("0x20B210DE", "0x20B510DE", "0x20F310DE", "0x20F510DE"), "ampere", 81920, 81920,
            "a100", "A100", True, 8,
            _eight_slot_profiles(
                (("1g.10gb", "9.50"), ("1g.10gb+me", "9.50"), ("1g.20gb", "19.50"), ("2g.20gb", "19.50"),
                 ("3g.40gb", "39.25"), ("4g.40gb", "39.25"), ("7g.80gb", "78.75")),
                sm=_A100_SM, ce=_A100_CE, one_dec_jpeg=(0, 0)),
            "MIG user guide names; GiB from a public capture, 7g.80gb 78.75 GiB as printed by driver 550 (issue 14"
            " fact 7); 1g DEC/JPEG 0 assumed like the A100-40GB (same GA100 engines)"),
        GpuModel(
            "a30-24gb", "NVIDIA A30", ("0x20B710DE",), "ampere", 24576, 24576, "a30", "A30", True, 4,
            (
                _p("1g.6gb", 14, 4, "5.81", 14, 1, 1, 0, 1, 0, (0, 1, 2, 3), 1),
                _p("1g.6gb+me", 21, 1, "5.81", 14, 1, 1, 0, 1, 1, (0, 1, 2, 3), 1),
                _p("2g.12gb", 5, 2, "11.69", 28, 2, 2, 0, 2, 0, (0, 2), 2),
                _p("4g.24gb", 0, 1, "23.50", 56, 4, 4, 0, 4, 1, (0,), 4),
            ),
            "public capture (Summer-Lo); counts MIG user guide"),
        GpuModel(
            "h100-80gb", "NVIDIA H100 80GB HBM3",
            ("0x233010DE", "0x232210DE", "0x232410DE"), "hopper", 81559, 81920,
            "h100", "H100", True, 8,
            _eight_slot_profiles(
                (("1g.10gb", "9.75"), ("1g.10gb+me", "9.75"), ("1g.20gb", "19.62"), ("2g.20gb", "19.62"),
                 ("3g.40gb", "39.50"), ("4g.40gb", "39.50"), ("7g.80gb", "79.25"))),
            "real capture, driver 580.159.04 (tests/data/nvidia-smi)"),
        GpuModel(
            # not on EC2; known so that a node with one is recognised (product name and PCI id: issue 14 fact 7)
            "h100-pcie-80gb", "NVIDIA H100 PCIe", ("0x233110DE",), "hopper", 81559, 81920,
            "h100-pcie", "H100 PCIe", True, 8,
            _eight_slot_profiles(
                (("1g.10gb", "9.75"), ("1g.10gb+me", "9.75"), ("1g.20gb", "19.62"), ("2g.20gb", "19.62"),
                 ("3g.40gb", "39.50"), ("4g.40gb", "39.50"), ("7g.80gb", "79.25"))),
            "product name and PCI device id 0x2331 from a real H100 PCIe (issue 14 fact 7); profiles, GiB and SMs"
            " assumed equal to the H100 SXM5 capture (not captured on this part)"),
        GpuModel(
            "h100-nvl-94gb", "NVIDIA H100 NVL", ("0x232110DE", "0x233A10DE"), "hopper", 95830, 95830,
            "h100", "H100", True, 8,
            _eight_slot_profiles(
                (("1g.12gb", "10.75"), ("1g.12gb+me", "10.75"), ("1g.24gb", "21.62"), ("2g.24gb", "21.62"),
                 ("3g.47gb", "46.38"), ("4g.47gb", "46.38"), ("7g.94gb", "93.12"))),
            "public Azure NC40ads_H100_v5 capture"),
        GpuModel(
            "h200-141gb", "NVIDIA H200", ("0x233510DE", "0x233B10DE"), "hopper", 143771, 144384,
            "h200", "H200", True, 8,
            _eight_slot_profiles(
                (("1g.18gb", "16.00"), ("1g.18gb+me", "16.00"), ("1g.35gb", "32.50"), ("2g.35gb", "32.50"),
                 ("3g.71gb", "69.75"), ("4g.71gb", "69.75"), ("7g.141gb", "140.00"))),
            "own H200 capture (mig.md 4.3)"),
        GpuModel(
            "b200-180gb", "NVIDIA B200", ("0x290110DE",), "blackwell", 183359, 183359,
            "b200", "B200", True, 8,
            _eight_slot_profiles(
                (("1g.23gb", "22.50"), ("1g.23gb+me", "22.50"), ("1g.45gb", "44.50"), ("2g.45gb", "44.50"),
                 ("3g.90gb", "89.50"), ("4g.90gb", "89.50"), ("7g.180gb", "178.00")),
                sm=(18, 18, 18, 36, 54, 72, 148), ce=(2, 2, 2, 3, 6, 8, 16)),
            "MIG user guide table 9 (names, counts, CE); ids, GiB and SMs assumed"),
        GpuModel(
            "b300-288gb", "NVIDIA B300", ("0x318210DE",), "blackwell", 275040, 275040,
            "b300", "B300", True, 8,
            _eight_slot_profiles(
                (("1g.34gb", "33.50"), ("1g.34gb+me", "33.50"), ("1g.67gb", "66.50"), ("2g.67gb", "66.50"),
                 ("3g.135gb", "134.50"), ("4g.135gb", "134.50"), ("7g.269gb", "268.50")),
                sm=(18, 18, 18, 36, 54, 72, 148), ce=(2, 2, 2, 3, 6, 8, 16)),
            "mig-parted default config (names, counts); ids, GiB and SMs assumed"),
        GpuModel(
            "gb200-186gb", "NVIDIA GB200", ("0x294110DE",), "blackwell", 189471, 189471,
            "gb200", "GB200", True, 8,
            _eight_slot_profiles(
                (("1g.23gb", "22.50"), ("1g.23gb+me", "22.50"), ("1g.47gb", "46.50"), ("2g.47gb", "46.50"),
                 ("3g.93gb", "92.50"), ("4g.93gb", "92.50"), ("7g.186gb", "185.00")),
                sm=(18, 18, 18, 36, 54, 72, 148), ce=(2, 2, 2, 3, 6, 8, 16)),
            "mig-parted default config (names, counts); ids, GiB and SMs assumed"),
        # GPUs on EC2 without MIG: known so that we can say so instead of guessing.
        GpuModel("a10g-24gb", "NVIDIA A10G", ("0x223710DE",), "ampere", 23028, 22888, "a10g", "A10G",
                 False, 0, (), "EC2 GpuInfo"),
        GpuModel("t4-16gb", "Tesla T4", ("0x1EB810DE",), "turing", 15360, 16384, "t4", "T4",
                 False, 0, (), "EC2 GpuInfo"),
        GpuModel("l4-24gb", "NVIDIA L4", ("0x27B810DE",), "ada", 23034, 22888, "l4", "L4",
                 False, 0, (), "EC2 GpuInfo"),
        GpuModel("l40s-48gb", "NVIDIA L40S", ("0x26B910DE",), "ada", 46068, 45776, "l40s", "L40S",
                 False, 0, (), "EC2 GpuInfo"),
        GpuModel("v100-16gb", "Tesla V100-SXM2-16GB", ("0x1DB110DE",), "volta", 16384, 16384, "v100",
                 "V100", False, 0, (), "EC2 GpuInfo"),
        GpuModel("v100-32gb", "Tesla V100-SXM2-32GB", ("0x1DB510DE",), "volta", 32768, 32768, "v100",
                 "V100", False, 0, (), "EC2 GpuInfo"),
    )
)

# GPU count / vCPU / memory from the Karpenter AWS provider's instance-types reference (website/content/en/v1.14/
# reference/instance-types.md); on-demand Linux us-east-1 price (USD/hour) from its static fallback price table
# (pkg/providers/pricing/zz_generated.pricing_aws.go, generated 2026-07-06), as collected in the team's karpenter.md
# section 4 -- check live pricing. Also the GPUs without MIG (g4dn T4, g5 A10G, g6 L4, g6e L40S, p3 V100), which
# time-slicing (sharing.py) and mig_plan's time-slicing alternative use.
# p5e.48xlarge has no price: that table (also its 2026-01-19 generation) lists p5.48xlarge, p5.4xlarge and
# p5en.48xlarge, no p5e, and no citable on-demand price was found: AWS documents P5e with EC2 Capacity Blocks for ML
# (reserved ahead, priced per block; AWS PCS user guide "Using Amazon EC2 Capacity Blocks for ML with AWS PCS"), and
# price lists derived from the AWS Price List (instances.vantage.sh) show it with no on-demand price in any region. It
# stays None: mig_plan uses it only when the H200 has no priced type; the kwok instance types give it no offering.
INSTANCE_TYPES = collections.OrderedDict(
    (t.name, t)
    for t in (
        InstanceTypeSpec("p4d.24xlarge", "a100-40gb", 8, 96, 1179648, 21.957642),
        InstanceTypeSpec("p4de.24xlarge", "a100-80gb", 8, 96, 1179648, 27.447050),
        InstanceTypeSpec("p5.4xlarge", "h100-80gb", 1, 16, 262144, 6.880000),
        InstanceTypeSpec("p5.48xlarge", "h100-80gb", 8, 192, 2097152, 55.040000),
        InstanceTypeSpec("p5e.48xlarge", "h200-141gb", 8, 192, 2097152, None),
        InstanceTypeSpec("p5en.48xlarge", "h200-141gb", 8, 192, 2097152, 63.296000),
        InstanceTypeSpec("p6-b200.48xlarge", "b200-180gb", 8, 192, 2097152, 113.932800),
        InstanceTypeSpec("p6-b300.48xlarge", "b300-288gb", 8, 192, 4194304, 142.416000),
        InstanceTypeSpec("p6e-gb200.36xlarge", "gb200-186gb", 4, 144, 983040, None),
        InstanceTypeSpec("g4dn.xlarge", "t4-16gb", 1, 4, 16384, 0.526),
        InstanceTypeSpec("g4dn.12xlarge", "t4-16gb", 4, 48, 196608, 3.912),
        InstanceTypeSpec("g5.xlarge", "a10g-24gb", 1, 4, 16384, 1.006),
        InstanceTypeSpec("g5.12xlarge", "a10g-24gb", 4, 48, 196608, 5.672),
        InstanceTypeSpec("g5.48xlarge", "a10g-24gb", 8, 192, 786432, 16.288),
        InstanceTypeSpec("g6.xlarge", "l4-24gb", 1, 4, 16384, 0.8048),
        InstanceTypeSpec("g6.12xlarge", "l4-24gb", 4, 48, 196608, 4.6016),
        InstanceTypeSpec("g6e.xlarge", "l40s-48gb", 1, 4, 32768, 1.861),
        InstanceTypeSpec("g6e.48xlarge", "l40s-48gb", 8, 192, 1572864, 30.13118),
        InstanceTypeSpec("p3.2xlarge", "v100-16gb", 1, 8, 62464, 3.06),
        InstanceTypeSpec("p3.16xlarge", "v100-16gb", 8, 64, 499712, 24.48),
        InstanceTypeSpec("p3dn.24xlarge", "v100-32gb", 8, 96, 786432, 31.212),
    )
)


class CatalogError(KeyError):
    """An instance type or GPU model the catalog does not know."""

    def __str__(self):
        return str(self.args[0]) if self.args else "unknown catalog entry"


def gpu_model(key):
    """Return the GpuModel for a catalog key ("h100-80gb")."""
    try:
        return GPU_MODELS[key]
    except KeyError:
        raise CatalogError("unknown GPU model %r; known: %s" % (key, ", ".join(GPU_MODELS)))


def instance_type(name):
    """Return the InstanceTypeSpec for an EC2 instance type ("p5.48xlarge")."""
    try:
        return INSTANCE_TYPES[name]
    except KeyError:
        mig = [t for t in INSTANCE_TYPES if GPU_MODELS[INSTANCE_TYPES[t].gpu_model].mig_capable]
        raise CatalogError(
            "unknown GPU instance type %r; MIG-capable types known: %s" % (name, ", ".join(mig)))


def model_for_instance_type(name):
    """Return the GpuModel of the GPUs in an EC2 instance type."""
    return GPU_MODELS[instance_type(name).gpu_model]


def mig_capable_instance_types():
    return [t for t, spec in INSTANCE_TYPES.items() if GPU_MODELS[spec.gpu_model].mig_capable]


def model_for_pci_device_id(device_id):
    """Return the GpuModel for a PCI device id such as "0x233010DE" (any case), or None."""
    wanted = (device_id or "").upper().replace("0X", "0x")
    for model in GPU_MODELS.values():
        if wanted in model.pci_device_ids:
            return model
    return None


def model_for_ec2_gpu(name, memory_mib):
    """Return the GpuModel for EC2 ``GpuInfo`` (Name, MemoryInfo.SizeInMiB), or None if unknown.

    EC2 names are coarse ("A100" is both the 40 GB and 80 GB part), so memory disambiguates: the
    model whose EC2 memory is closest wins.
    """
    candidates = [m for m in GPU_MODELS.values() if m.ec2_gpu_name.lower() == (name or "").lower()]
    if not candidates:
        return None
    if memory_mib is None:
        return candidates[0]
    return min(candidates, key=lambda m: abs(m.ec2_memory_mib - int(memory_mib)))


def model_for_product_name(product_name):
    """Return the GpuModel whose nvidia-smi product name matches, or None."""
    for model in GPU_MODELS.values():
        if model.product_name == product_name:
            return model
    return None


def profile(model_key, name):
    """Return the ProfileSpec named ``name`` ("1g.10gb") of a model, or raise CatalogError."""
    model = gpu_model(model_key)
    for spec in model.profiles:
        if spec.name == name:
            return spec
    raise CatalogError("GPU model %s has no MIG profile %r; valid: %s"
                       % (model_key, name, ", ".join(p.name for p in model.profiles)))
