# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""User data rendering (pure) and its use by karpenter_nodepool and the mig_user_data filter."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import email
import http.server
import os
import subprocess
import threading

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig import capacity, configs, userdata
from ansible_collections.gpu_slicing.eks.plugins.module_utils._mig._applier_digest import APPLIER_SHA256
from ansible_collections.gpu_slicing.eks.plugins.modules import karpenter_nodepool

URL = "s3://my-bucket/gpu-slicing/gpu-slicing-mig-apply.py"
SHA = "0" * 64
H100_ONLY = {"version": "v1", "mig-configs": {"h100-only": [
    {"devices": "all", "device-filter": "0x233010DE", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}]}}


def parts(text):
    message = email.message_from_string(text)
    assert message.get_content_type() == "multipart/mixed"
    return [(p.get_content_type(), p.get_payload(decode=True).decode()) for p in message.walk() if not p.is_multipart()]


def layout_document(script):
    body = script.split("<<'GPU_SLICING_LAYOUT'\n", 1)[1].split("GPU_SLICING_LAYOUT\n", 1)[0]
    data, _loader = configs.load_config_text(body)
    return data


def test_al2023_layout_is_the_overlay_layout_for_every_builtin_pair():
    """The layout file in the user data gives, per GPU, exactly what capacity.node_gpus counts."""
    checked = 0
    for instance_type in capacity.catalog.mig_capable_instance_types():
        model = capacity.catalog.model_for_instance_type(instance_type)
        for label in configs.builtin_config_names():
            try:
                _model, expected = capacity.node_gpus(instance_type, config=label)
            except capacity.CapacityError:
                continue
            text = userdata.render(instance_type, config=label, applier_url=URL, applier_sha256=SHA)
            (_ctype, script), = parts(text)
            entries = configs.select_entries(layout_document(script), label)
            for index, want in enumerate(expected):
                spec = configs.device_spec(entries, index, model.pci_device_ids[-1])
                assert spec is not None
                assert spec.mig_enabled == (want is not None), (instance_type, label, index)
                assert dict(spec.mig_devices) == dict(want or {}), (instance_type, label, index)
            checked += 1
    assert checked > 50


def test_al2023_document_shape_and_user_parts_first():
    user = ("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n--XX\n"
            "Content-Type: application/node.eks.aws\n\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n"
            "spec:\n  kubelet:\n    config:\n      maxPods: 110\n--XX\nContent-Type: text/x-shellscript\n\n"
            "#!/bin/bash\necho mine\n--XX--\n")
    text = userdata.render(["p5.48xlarge", "p4d.24xlarge"], config="all-balanced", applier_url=URL,
                           applier_sha256=SHA, user_data=user, taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])
    got = parts(text)
    assert [c for c, _b in got] == ["application/node.eks.aws", "text/x-shellscript", "text/x-shellscript"]
    assert "maxPods: 110" in got[0][1] and got[1][1] == "#!/bin/bash\necho mine"
    script = got[2][1]
    assert script.startswith("#!/bin/bash\n")
    assert "'%s'" % URL in script and SHA in script
    assert ("--register-with-taints=gpu-slicing.eks/mig-apply-failed=true:NoSchedule,nvidia.com/gpu:NoSchedule,"
            "karpenter.sh/unregistered:NoExecute") in script
    doc = layout_document(script)
    assert list(doc["mig-configs"]) == ["all-balanced"]
    assert len(doc["mig-configs"]["all-balanced"]) == 2  # one entry per GPU model of the pool
    # deterministic: the same inputs give the same bytes (no drift from a random MIME boundary)
    assert text == userdata.render(["p5.48xlarge", "p4d.24xlarge"], config="all-balanced", applier_url=URL,
                                   applier_sha256=SHA, user_data=user,
                                   taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])
    assert len(text.encode()) < userdata.EC2_USER_DATA_LIMIT - userdata.KARPENTER_RESERVE


@pytest.mark.parametrize("user, ctype", [
    ("#!/bin/bash\necho hi\n", "text/x-shellscript"),
    ("apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec: {}\n", "application/node.eks.aws"),
    ("#cloud-config\npackages: [jq]\n", "text/cloud-config"),
])
def test_single_user_parts_are_wrapped(user, ctype):
    got = parts(userdata.render("p5.4xlarge", config="all-1g.10gb", applier_url=URL, applier_sha256=SHA, user_data=user))
    assert got[0] == (ctype, user.rstrip("\n"))
    assert len(got) == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(applier_url=None), "applier_url is required"),
    (dict(applier_url="https://x/a b"), "without spaces"),
    (dict(applier_url="https://x/a;$(reboot)"), "without spaces"),
    (dict(applier_url="ftp://x/a"), "s3:// or https://"),
    (dict(applier_sha256="abc"), "64 lower-case hex"),
    (dict(user_data="just text"), "must be MIME multi-part"),
    (dict(user_data="MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: application/gzip\n"
                    "Content-Transfer-Encoding: base64\n\nH4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA==\n--B--\n"), "not UTF-8 text"),
    (dict(config="all-1g.5gb"), "has no MIG profile '1g.5gb'; valid: 1g.10gb"),
    (dict(ami_family="AL2"), "ami_family must be one of"),
    (dict(config=None, layout={"1g.10gb": 8}), "does not fit"),
    (dict(instance_types=["g5.xlarge"]), "do not support MIG"),
])
def test_bad_input_is_a_clear_error(kwargs, message):
    args = dict(instance_types=["p5.48xlarge"], config="all-1g.10gb", applier_url=URL, applier_sha256=SHA)
    args.update(kwargs)
    with pytest.raises(userdata.UserDataError, match=message.replace("$", r"\$").replace("(", r"\(")):
        userdata.render(**args)


def test_size_limit_is_enforced():
    big = "#!/bin/bash\n" + "# padding\n" * 1500
    with pytest.raises(userdata.UserDataError, match="EC2 allows 16384"):
        userdata.render("p5.48xlarge", config="all-1g.10gb", applier_url=URL, applier_sha256=SHA, user_data=big)


@pytest.mark.parametrize("instance_types, config, expected", [
    (["p5.48xlarge"], "all-1g.10gb", '"h100.80gb" = "1g.10gb"'),
    (["p4d.24xlarge"], "all-2g.10gb", '"a100.40gb" = "2g.10gb"'),
    (["p5en.48xlarge", "p4de.24xlarge"], "all-3g.40gb", '"a100.80gb" = "3g.40gb"'),
])
def test_bottlerocket_uniform_layouts(instance_types, config, expected):
    if config == "all-3g.40gb":
        with pytest.raises(userdata.UserDataError, match="p5en.48xlarge"):
            userdata.render(instance_types, ami_family="Bottlerocket", config=config)  # H200 has no 3g.40gb
        instance_types = ["p4de.24xlarge"]
    text = userdata.render(instance_types, ami_family="Bottlerocket", config=config,
                           user_data="[settings.kubernetes]\nmax-pods = 110\n")
    assert text.startswith("[settings.kubernetes]\nmax-pods = 110\n\n[settings.kubelet-device-plugins.nvidia]\n")
    assert 'device-partitioning-strategy = "mig"' in text
    assert "[settings.kubelet-device-plugins.nvidia.mig.profile]\n" + expected + "\n" in text


@pytest.mark.parametrize("instance_types, kwargs, reason", [
    (["p5.48xlarge"], dict(config="all-balanced"), "ONE profile per GPU model"),
    (["p5.48xlarge"], dict(layout={"1g.10gb": 3}), r"as fit \(7\), this layout asks for 3"),
    (["p5.48xlarge"], dict(config="all-1g.10gb.me"), "attributes"),
    (["p6-b200.48xlarge"], dict(config="all-1g.23gb"), "supports only a100.40gb"),
    (["p5.48xlarge"], dict(config="all-enabled"), "ONE profile per GPU model, this layout has 0"),
    (["p5.48xlarge", "p4d.24xlarge"], dict(config=H100_ONLY), "MIG and without MIG"),
    (["p5.48xlarge"], dict(config="all-1g.10gb", user_data="[settings.kubelet-device-plugins.nvidia]\nx = 1\n"),
     "already sets"),
])
def test_bottlerocket_refuses_what_it_cannot_express(instance_types, kwargs, reason):
    with pytest.raises(userdata.UserDataError, match=reason):
        userdata.render(instance_types, ami_family="Bottlerocket", **kwargs)


def test_bottlerocket_all_disabled_turns_partitioning_off():
    text = userdata.render("p5.48xlarge", ami_family="Bottlerocket", config="all-disabled")
    assert text == '[settings.kubelet-device-plugins.nvidia]\ndevice-partitioning-strategy = "none"\n'


BOTTLEROCKET_CLASS = {"name": "g", "role": "R", "ami_family": "Bottlerocket", "ami_selector_terms": [{"id": "ami-1"}]}


def nodepool_params(**extra):
    args = dict(name="mig", instance_types=["p5.48xlarge"], mig_config="all-1g.10gb", node_overlay=True,
                mig_user_data=True, mig_applier_url=URL, cluster_name="c",
                node_class={"name": "gpu", "role": "KarpenterNodeRole-c"})
    args.update(extra)
    result = ArgumentSpecValidator(karpenter_nodepool.argument_spec()).validate(args)
    assert not result.error_messages
    return result.validated_parameters


def test_karpenter_nodepool_renders_the_node_class_user_data():
    user = "#!/bin/bash\necho mine\n"
    objects, _types, mig_capacity = karpenter_nodepool.desired_objects(
        nodepool_params(node_class={"name": "gpu", "role": "R", "user_data": user}))
    text = objects["ec2nodeclass"]["spec"]["userData"]
    assert text == userdata.render(["p5.48xlarge"], config="all-1g.10gb", applier_url=URL,
                                   applier_sha256=APPLIER_SHA256, user_data=user,
                                   taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])
    assert mig_capacity["p5.48xlarge"] == {"nvidia.com/mig-1g.10gb": 56, "nvidia.com/gpu": 0}
    bottlerocket = karpenter_nodepool.desired_objects(nodepool_params(
        node_class={"name": "gpu", "role": "R", "ami_alias": "bottlerocket@v1.54.0"}))[0]["ec2nodeclass"]
    assert '"h100.80gb" = "1g.10gb"' in bottlerocket["spec"]["userData"]


@pytest.mark.parametrize("extra, message", [
    (dict(node_class="existing"), "needs node_class as a dictionary"),
    (dict(mig_applier_url=None), "applier_url is required"),
    (dict(mig_config="all-balanced", node_class=BOTTLEROCKET_CLASS), "ONE profile"),
])
def test_karpenter_nodepool_user_data_errors_come_before_any_api_call(extra, message):
    with pytest.raises(karpenter_nodepool.ParameterError, match=message):
        karpenter_nodepool.desired_objects(nodepool_params(**extra))


@pytest.fixture
def http_404():
    """A local HTTP server that answers 404 to everything (curl -f fails at once, without retries)."""
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.RequestHandlerClass.directory = "/nonexistent-gpu-slicing"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/none.py" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_failed_download_taints_the_node_and_says_why(tmp_path, http_404):
    """Run the shell part with a missing applier: exit 1, a NodeConfig drop-in with the taint, the reason."""
    text = userdata.render("p5.4xlarge", config="all-1g.10gb", applier_url=http_404, applier_sha256=SHA)
    script = tmp_path / "part.sh"
    script.write_text(parts(text)[0][1])
    env = dict(os.environ, GPU_SLICING_ROOT=str(tmp_path / "root"), GPU_SLICING_NVIDIA_SMI="/nonexistent")
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "MIG partitioning FAILED: download of %s failed" % http_404 in proc.stderr
    dropin = tmp_path / "root" / userdata.NODEADM_DROPIN.lstrip("/")
    assert dropin.read_text() == userdata.failure_nodeconfig()
    assert not (tmp_path / "root" / userdata.APPLIER_PATH.lstrip("/")).exists()
