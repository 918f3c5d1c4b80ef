# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boot applier is the nvidia_mig module's code: current, byte-identical, same entry point, same commands."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import zlib

import pytest

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import _applier_digest
from ansible_collections.gpu_slicing.eks.plugins.modules import nvidia_mig
from ansible_collections.gpu_slicing.eks.tests.unit.plugins.modules.nvidia_smi_harness import Node, run_module

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
APPLIER = os.path.join(ROOT, "roles", "mig_partition", "files", "gpu-slicing-mig-apply.py")
SYSTEM_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def builder():
    return _load("gpu_slicing_build_applier", os.path.join(ROOT, "hacking", "build_applier.py"))


@pytest.fixture(scope="module")
def bundle():
    return _load("gpu_slicing_applier_bundle", APPLIER)


def test_committed_applier_and_digest_are_current(builder):
    applier, digest = builder.build(ROOT)
    with open(APPLIER) as handle:
        assert handle.read() == applier, "stale applier: run `python hacking/build_applier.py` and commit"
    with open(os.path.join(ROOT, builder.DIGEST)) as handle:
        assert handle.read() == digest, "stale digest: run `python hacking/build_applier.py` and commit"
    assert _applier_digest.APPLIER_SHA256 == hashlib.sha256(applier.encode()).hexdigest()


def test_embedded_modules_are_the_module_utils_files_byte_for_byte(builder, bundle):
    collected = builder.collect(ROOT)
    assert sorted(bundle.MODULES) == sorted(collected)
    for _name, (rel, digest, chunks) in bundle.MODULES.items():
        data = zlib.decompress(base64.b64decode("".join(chunks)))
        with open(os.path.join(ROOT, rel), "rb") as handle:
            assert data == handle.read(), rel
        assert hashlib.sha256(data).hexdigest() == digest
    # the decision code is in: the entry point of nvidia_mig, the planner, the placement search, the persisted file
    for needed in ("_mig.apply", "_mig.planner", "_mig.placement", "_mig.persist", "_nvidia_smi", "_mig_applier"):
        assert builder.PACKAGE + "." + needed in bundle.MODULES
    assert builder.PACKAGE + "._mig.userdata" not in bundle.MODULES


def test_builder_fails_when_the_bundle_would_hash_itself(builder, tmp_path):
    root = tmp_path / "root"
    (root / "plugins" / "module_utils" / "_mig").mkdir(parents=True)
    (root / "plugins" / "module_utils" / "_mig" / "__init__.py").write_text("")
    (root / "plugins" / "module_utils" / "_mig" / "_applier_digest.py").write_text("X = 1\n")
    (root / "plugins" / "module_utils" / "_mig_applier.py").write_text(
        "from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import _applier_digest\n")
    with pytest.raises(builder.BuildError, match="must not be part of the applier"):
        builder.collect(str(root))


def _calls_to(path, dotted):
    with open(path) as handle:
        tree = ast.parse(handle.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            if "%s.%s" % (node.func.value.id, node.func.attr) == dotted:
                found.append(node.lineno)
    return found


def test_module_and_applier_call_the_same_entry_point():
    module_utils = os.path.join(ROOT, "plugins", "module_utils")
    assert _calls_to(os.path.join(ROOT, "plugins", "modules", "nvidia_mig.py"), "apply.reconcile")
    assert _calls_to(os.path.join(module_utils, "_mig_applier.py"), "apply.reconcile")
    # neither side plans on its own: only the shared engine imports the planner and the placement search
    for path in (os.path.join(ROOT, "plugins", "modules", "nvidia_mig.py"), os.path.join(module_utils, "_mig_applier.py")):
        with open(path) as handle:
            imports = [line for line in handle.read().splitlines() if line.startswith(("import ", "from "))]
        assert [line for line in imports if "planner" in line or "placement" in line] == [], path


def run_applier(node, *args, check=True):
    argv = [SYSTEM_PYTHON, "-S", "-E", APPLIER, "--nvidia-smi", node.smi, "--persist-path", node.persist_path] + list(args)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def normalized(node):
    """The node's mutating nvidia-smi argv lists with its own wrapper path removed."""
    return [list(argv[1:]) for argv in node.mutating()]


SCENARIOS = [
    ("from scratch, two layouts", dict(model="h100-80gb", gpus=2), None, dict(config="all-balanced"),
     ["--config", "all-balanced"]),
    ("kept instances, one moves", dict(model="h100-80gb", gpus=1, mig=True), ["3g.40gb", "1g.10gb"],
     dict(layout={"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 1}), ["--layout", "3g.40gb,2g.20gb,1g.10gb"]),
    ("ampere mode change with reset", dict(model="a100-40gb", gpus=2), None, dict(config="all-1g.5gb", allow_gpu_reset=True),
     ["--config", "all-1g.5gb", "--allow-gpu-reset"]),
]


@pytest.mark.parametrize("title, sim_args, existing, module_args, applier_args", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_applier_runs_exactly_the_commands_of_the_module(tmp_path, capsys, title, sim_args, existing, module_args,
                                                         applier_args):
    """Two identical simulated nodes: nvidia_mig on one, the applier (system python, -S -E: stdlib only) on the other."""
    by_module, by_applier = Node(tmp_path, "module", **sim_args), Node(tmp_path, "applier", **sim_args)
    for node in (by_module, by_applier):
        if existing:
            node.sim.apply_layout(existing)
        node.sim.clear_calls()
    result, failed = run_module(capsys, nvidia_mig.main, dict(module_args, nvidia_smi_path=by_module.smi,
                                                              persist_path=by_module.persist_path))
    assert not failed, result
    run_applier(by_applier, *applier_args)
    assert normalized(by_applier) == normalized(by_module) != []
    assert by_applier.sim.state()["gpus"] == by_module.sim.state()["gpus"]
    with open(by_module.persist_path) as mod, open(by_applier.persist_path) as app:
        assert app.read() == mod.read()
    by_applier.sim.clear_calls()
    again = run_applier(by_applier, *applier_args)
    assert "already as desired" in again.stdout and by_applier.mutating() == []


def test_busy_instance_is_refused_like_the_module(tmp_path, capsys):
    nodes = [Node(tmp_path, name, model="h100-80gb", gpus=1, mig=True) for name in ("module", "applier")]
    for node in nodes:
        node.sim.apply_layout(["3g.40gb", "3g.40gb"])
        busy_gi = node.sim.layout(0)[0][2]
        node.sim.add_process(0, 4242, name="trainer", gi=busy_gi, ci=0)
        node.sim.clear_calls()
    result, failed = run_module(capsys, nvidia_mig.main, dict(layout=["7g.80gb"], nvidia_smi_path=nodes[0].smi,
                                                              persist_path=nodes[0].persist_path))
    proc = run_applier(nodes[1], "--layout", "7g.80gb", check=False)
    assert failed and proc.returncode == 1
    assert "FAILED: %s" % result["msg"] in proc.stderr
    assert nodes[0].mutating() == nodes[1].mutating() == []


def test_applier_usage_errors_change_nothing(tmp_path):
    node = Node(tmp_path, "n", model="h100-80gb", gpus=1)
    proc = run_applier(node, "--layout", "1g.10gb:x", check=False)
    assert proc.returncode == 2 and "must be an integer" in proc.stderr
    proc = run_applier(node, "--config", "all-1g.10gbb", check=False)
    assert proc.returncode == 1 and "did you mean" in proc.stderr
    assert node.mutating() == []
