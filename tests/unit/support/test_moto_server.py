# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MotoServer: a real moto process over HTTP, driven with the real boto3 client."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys
import textwrap
import time

import pytest

boto3 = pytest.importorskip("boto3")

from ansible_collections.gpu_slicing.eks.tests.support import child_env  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support.moto_server import MotoServer  # noqa: E402
from ansible_collections.gpu_slicing.eks.tests.support.ports import is_listening  # noqa: E402


def _ec2(server):
    env = server.env()
    return boto3.client("ec2", endpoint_url=server.endpoint_url, region_name=env["AWS_DEFAULT_REGION"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def _run_gpu_instance(ec2, name):
    image_id = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image_id, InstanceType="p5.48xlarge", MinCount=1, MaxCount=1,
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}])


def test_serves_ec2_over_http_and_reset_forgets_state():
    with MotoServer() as server:
        assert server.endpoint_url.startswith("http://127.0.0.1:")
        ec2 = _ec2(server)
        gpus = ec2.describe_instance_types(InstanceTypes=["p5.48xlarge"])["InstanceTypes"][0]["GpuInfo"]["Gpus"]
        assert (gpus[0]["Name"], gpus[0]["Count"]) == ("H100", 8)

        _run_gpu_instance(ec2, "gpu-1")
        names = [tag["Value"] for res in ec2.describe_instances()["Reservations"]
                 for inst in res["Instances"] for tag in inst["Tags"]]
        assert names == ["gpu-1"]

        assert server.reset() == {"status": "ok"}
        assert ec2.describe_instances()["Reservations"] == []
        port = server.port
    assert not is_listening("127.0.0.1", port), "moto still listens after the context exited"


def test_refuses_non_loopback_address():
    with pytest.raises(ValueError, match="127.0.0.0/8"):
        MotoServer(host="0.0.0.0")


def test_cli_serve_detaches_and_stop_ends_it(tmp_path):
    pidfile = tmp_path / "moto.pid"
    module = "ansible_collections.gpu_slicing.eks.tests.support.moto_server"
    served = subprocess.run([sys.executable, "-m", module, "serve", "--pidfile", str(pidfile)],
                            capture_output=True, text=True, timeout=60, check=True, env=child_env())
    endpoint = served.stdout.strip()
    port = int(endpoint.rsplit(":", 1)[1])
    pid = int(pidfile.read_text())
    try:
        assert is_listening("127.0.0.1", port)
        server = MotoServer(port=port)
        assert server.reset() == {"status": "ok"}
    finally:
        subprocess.run([sys.executable, "-m", module, "stop", "--pidfile", str(pidfile)], check=True, timeout=30, env=child_env())
    assert not pidfile.exists()
    assert not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z"
    assert not is_listening("127.0.0.1", port)


def test_server_dies_with_the_process_that_started_it():
    starter = textwrap.dedent("""
        import os, sys
        from ansible_collections.gpu_slicing.eks.tests.support.moto_server import MotoServer
        server = MotoServer().start()
        print(server.port, server.process.pid, flush=True)
        os._exit(0)  # like an ansible-test fork: no stop(), no atexit
    """)
    result = subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True, timeout=60, check=True,
                            env=child_env())
    port, pid = (int(value) for value in result.stdout.split())
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "moto outlived its starter"
    assert not is_listening("127.0.0.1", port)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
