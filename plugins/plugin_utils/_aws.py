# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edge to AWS: a boto3 session from amazon.aws-style options, jittered-backoff retries, paginators
that retry per page, and one-line error messages.

Small on purpose: the gpu_nodes inventory needs two read-only EC2 calls, and importing the whole of
amazon.aws' plugin_utils would cost start-up time on every ``ansible-inventory`` run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time

try:
    import boto3
    import botocore
    import botocore.config
    import botocore.exceptions
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised by sanity "import" test
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc

# Error codes worth another try: throttling (AWS uses several names) and server-side hiccups.
THROTTLING_CODES = frozenset((
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "RequestLimitExceeded", "RequestThrottled", "TooManyRequestsException", "SlowDown",
    "PriorRequestNotComplete", "EC2ThrottledException", "BandwidthLimitExceeded",
))
TRANSIENT_CODES = frozenset((
    "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable", "RequestTimeout",
    "RequestTimeoutException",
))
ACCESS_DENIED_CODES = frozenset((
    "UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "AuthFailure",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
    "ExpiredToken", "ExpiredTokenException", "RequestExpired", "OptInRequired",
))

DEFAULT_RETRIES = 5
DEFAULT_BASE_DELAY = 0.5
DEFAULT_MAX_DELAY = 20.0


class AwsError(Exception):
    """A failed AWS call, already phrased as one line for the user."""


def _error_code(exc):
    if isinstance(exc, botocore.exceptions.ClientError):
        return exc.response.get("Error", {}).get("Code", "")
    return ""


def _http_status(exc):
    if isinstance(exc, botocore.exceptions.ClientError):
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0
    return 0


def is_retryable(exc):
    """True for throttling, 5xx and connection-level errors; never for access or input errors."""
    if not HAS_BOTO3:
        return False
    if isinstance(exc, botocore.exceptions.ClientError):
        code = _error_code(exc)
        if code in THROTTLING_CODES or code in TRANSIENT_CODES:
            return True
        return _http_status(exc) >= 500 and code not in ACCESS_DENIED_CODES
    return isinstance(exc, (
        botocore.exceptions.EndpointConnectionError,
        botocore.exceptions.ConnectionClosedError,
        botocore.exceptions.ReadTimeoutError,
        botocore.exceptions.ConnectTimeoutError,
    ))


def backoff_delays(retries, base_delay=DEFAULT_BASE_DELAY, max_delay=DEFAULT_MAX_DELAY, rng=None):
    """Yield ``retries`` sleep times with "full jitter": uniform(0, min(max, base * 2**n)).

    Full jitter spreads many clients hitting the same throttled API (AWS architecture blog,
    "Exponential Backoff And Jitter").
    """
    rng = rng or random
    for attempt in range(retries):
        yield rng.uniform(0, min(max_delay, base_delay * (2 ** attempt)))


def call_with_retry(func, retries=DEFAULT_RETRIES, base_delay=DEFAULT_BASE_DELAY, max_delay=DEFAULT_MAX_DELAY,
                    sleep=time.sleep, rng=None, on_retry=None, **kwargs):
    """Call ``func(**kwargs)``; retry retryable errors with jittered backoff, re-raise the last one."""
    delays = backoff_delays(retries, base_delay, max_delay, rng)
    while True:
        try:
            return func(**kwargs)
        except Exception as exc:  # pylint: disable=broad-except
            if not is_retryable(exc):
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            sleep(delay)


def paginate(client, operation, result_key, page_size=None, retries=DEFAULT_RETRIES, on_retry=None, **params):
    """Yield the items under ``result_key`` of every page of ``operation``.

    Follows ``NextToken`` by hand instead of using a botocore paginator so that a throttled page is
    retried on its own instead of restarting the whole listing (ansible/ansible#38978).
    """
    method = getattr(client, operation)
    request = dict(params)
    if page_size:
        request["MaxResults"] = page_size
    while True:
        page = call_with_retry(method, retries=retries, on_retry=on_retry, **request)
        yield from page.get(result_key, [])
        token = page.get("NextToken")
        if not token:
            return
        request["NextToken"] = token


def session(profile=None, access_key=None, secret_key=None, session_token=None):
    """Return a boto3 Session following amazon.aws conventions (profile XOR explicit keys)."""
    if profile and (access_key or secret_key or session_token):
        raise AwsError("pass either an AWS profile or access keys, not both (profile %r)" % profile)
    if bool(access_key) != bool(secret_key):
        raise AwsError("access_key and secret_key must be given together")
    try:
        if profile:
            return boto3.session.Session(profile_name=profile)
        return boto3.session.Session(aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
                                     aws_session_token=session_token or None)
    except botocore.exceptions.ProfileNotFound:
        raise AwsError("AWS profile %r not found in the AWS config/credentials files" % profile)


def known_regions(boto_session, service="ec2"):
    """All regions botocore knows for ``service`` across the partitions (aws, aws-cn, aws-us-gov, ...)."""
    regions = set()
    for partition in boto_session.get_available_partitions():
        regions.update(boto_session.get_available_regions(service, partition_name=partition))
    return regions


def client(boto_session, service, region, endpoint_url=None, connect_timeout=10, read_timeout=60):
    """A client whose own retries are off: ``call_with_retry`` is the single retry layer."""
    config = botocore.config.Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
        user_agent_extra="gpu_slicing.eks",
    )
    return boto_session.client(service, region_name=region, endpoint_url=endpoint_url or None, config=config)


def describe_error(exc, action, region, endpoint=None):
    """Turn a botocore/boto3 exception into one line that says what to do."""
    where = "region %s" % region
    if endpoint:
        where += " at %s" % endpoint
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return ("no AWS credentials found for %s: set profile or access_key/secret_key in the inventory file, "
                "AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use an instance role" % action)
    if isinstance(exc, botocore.exceptions.PartialCredentialsError):
        return "incomplete AWS credentials for %s: %s" % (action, exc)
    if isinstance(exc, botocore.exceptions.ClientError):
        code = _error_code(exc) or "HTTP %s" % _http_status(exc)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        message = " ".join(message.split())
        if code in ACCESS_DENIED_CODES:
            return ("access denied to %s in %s (%s): %s; the IAM policy must allow ec2:DescribeInstances "
                    "and ec2:DescribeInstanceTypes" % (action, where, code, message))
        if code in THROTTLING_CODES:
            return "%s in %s still throttled after retries (%s): %s" % (action, where, code, message)
        return "%s failed in %s (%s): %s" % (action, where, code, message)
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)):
        return "cannot reach the EC2 endpoint for %s in %s: %s" % (action, where, exc)
    if isinstance(exc, botocore.exceptions.ReadTimeoutError):
        return "%s timed out in %s: %s" % (action, where, exc)
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return "no AWS region for %s: set regions in the inventory file, AWS_REGION or AWS_DEFAULT_REGION" % action
    return "%s failed in %s: %s" % (action, where, " ".join(str(exc).split()))
