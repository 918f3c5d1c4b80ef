# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_aws: backoff, retry classification and error lines (the over-the-wire behaviour is in
tests/unit/plugins/inventory/test_gpu_nodes.py, through a fault-injecting proxy in front of moto)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random

import pytest

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from ansible_collections.gpu_slicing.eks.plugins.plugin_utils import _aws


def client_error(code, status=400, message="boom"):
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "DescribeInstances")


def test_backoff_is_full_jitter_and_capped():
    delays = list(_aws.backoff_delays(8, base_delay=0.5, max_delay=5.0, rng=random.Random(3)))
    assert len(delays) == 8
    for attempt, delay in enumerate(delays):
        assert 0 <= delay <= min(5.0, 0.5 * 2 ** attempt)
    assert len(set(delays)) == 8  # jittered, not a fixed schedule


@pytest.mark.parametrize("exc, retryable", [
    (client_error("RequestLimitExceeded", 503), True),
    (client_error("Throttling"), True),
    (client_error("InternalError", 500), True),
    (client_error("SomethingNew", 502), True),
    (client_error("UnauthorizedOperation", 403), False),
    (client_error("InvalidParameterValue"), False),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), True),
    (NoCredentialsError(), False),
    (ValueError("x"), False),
])
def test_is_retryable(exc, retryable):
    assert _aws.is_retryable(exc) is retryable


def test_call_with_retry_retries_then_succeeds():
    failures = [client_error("RequestLimitExceeded", 503), client_error("InternalError", 500)]
    calls, sleeps = [], []

    def describe(**kwargs):
        calls.append(kwargs)
        if failures:
            raise failures.pop(0)
        return {"ok": True}

    assert _aws.call_with_retry(describe, retries=3, sleep=sleeps.append, rng=random.Random(1), Filters=[]) == {"ok": True}
    assert len(calls) == 3 and all(c == {"Filters": []} for c in calls)
    assert len(sleeps) == 2 and sleeps[0] <= 0.5 and sleeps[1] <= 1.0


def test_call_with_retry_gives_up_and_never_retries_access_errors():
    sleeps = []

    def throttled(**kwargs):
        raise client_error("RequestLimitExceeded", 503)

    with pytest.raises(ClientError):
        _aws.call_with_retry(throttled, retries=2, sleep=sleeps.append)
    assert len(sleeps) == 2

    def denied(**kwargs):
        raise client_error("UnauthorizedOperation", 403)

    sleeps = []
    with pytest.raises(ClientError):
        _aws.call_with_retry(denied, retries=5, sleep=sleeps.append)
    assert sleeps == []


def test_describe_error_lines():
    assert _aws.describe_error(client_error("UnauthorizedOperation", 403, "You are not\nauthorized."), "ec2:DescribeInstances",
                               "eu-west-1") == (
        "access denied to ec2:DescribeInstances in region eu-west-1 (UnauthorizedOperation): You are not authorized.; "
        "the IAM policy must allow ec2:DescribeInstances and ec2:DescribeInstanceTypes")
    assert _aws.describe_error(client_error("InvalidParameterValue", 400, "bad filter"), "ec2:DescribeInstances",
                               "us-east-1", "http://x") == (
        "ec2:DescribeInstances failed in region us-east-1 at http://x (InvalidParameterValue): bad filter")
    assert "\n" not in _aws.describe_error(NoCredentialsError(), "ec2:DescribeInstances", "us-east-1")


def test_session_rejects_profile_with_keys_and_half_keys():
    with pytest.raises(_aws.AwsError, match="either an AWS profile or access keys"):
        _aws.session(profile="p", access_key="a", secret_key="s")
    with pytest.raises(_aws.AwsError, match="access_key and secret_key must be given together"):
        _aws.session(access_key="a")
