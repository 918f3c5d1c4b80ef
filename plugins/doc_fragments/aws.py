# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # AWS connection options for controller-side plugins (inventory): same names, aliases and
    # environment variables as amazon.aws, so existing inventory files and CI secrets keep working.
    DOCUMENTATION = r"""
options:
  profile:
    description:
      - A named AWS profile from the AWS config and credentials files.
      - Mutually exclusive with O(access_key), O(secret_key) and O(session_token).
    type: str
    aliases: [aws_profile]
    env:
      - name: AWS_PROFILE
  access_key:
    description:
      - AWS access key ID.
      - When neither this nor O(profile) is set, boto3 looks for credentials itself (environment,
        shared files, container or instance role).
    type: str
    aliases: [aws_access_key_id, aws_access_key]
    env:
      - name: AWS_ACCESS_KEY_ID
      - name: AWS_ACCESS_KEY
  secret_key:
    description:
      - AWS secret access key. Never shown in messages or written to the inventory cache.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
    env:
      - name: AWS_SECRET_ACCESS_KEY
      - name: AWS_SECRET_KEY
  session_token:
    description:
      - AWS STS session token for temporary credentials. Never shown in messages or written to the cache.
    type: str
    aliases: [aws_session_token]
    env:
      - name: AWS_SESSION_TOKEN
  endpoint_url:
    description:
      - URL of an EC2-compatible endpoint to use instead of the AWS default (for example a VPC endpoint or a
        local test server).
      - When unset, boto3 itself honours E(AWS_ENDPOINT_URL_EC2) and E(AWS_ENDPOINT_URL).
    type: str
    aliases: [aws_endpoint_url]
    env:
      - name: AWS_URL
notes:
  - Credentials and the region are read on the controller, where the inventory runs.
"""
