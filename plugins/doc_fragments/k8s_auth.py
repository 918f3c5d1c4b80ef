# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes connection options, named as in kubernetes.core so module_defaults carry over."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # For modules: environment variables are read by the module code (modules have no env: source).
    MODULES = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig content as a dictionary.
      - If not set, the E(K8S_AUTH_KUBECONFIG) environment variable, then C(~/.kube/config), then the
        in-cluster service account are used.
    type: raw
  context:
    description:
      - Name of the kubeconfig context to use. Environment variable E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server, overriding the kubeconfig. Environment variable E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Environment variable E(K8S_AUTH_API_KEY).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Environment variable E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA certificate bundle of the API server. Environment variable E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate for TLS client authentication. Environment variable E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert). Environment variable E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API server. Environment variable E(K8S_AUTH_PROXY).
    type: str
requirements:
  - kubernetes >= 24.2.0 (Python library, on the controller)
notes:
  - The option names follow M(kubernetes.core.k8s), so C(module_defaults) set for the action group
    C(group/gpu_slicing.eks.karpenter) look the same as for C(group/kubernetes.core.k8s).
"""

    # For plugins that read options through the config system.
    PLUGINS = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file. If not set, C(~/.kube/config) is used.
    type: path
    env:
      - name: K8S_AUTH_KUBECONFIG
  context:
    description:
      - Name of the kubeconfig context to use.
    type: str
    env:
      - name: K8S_AUTH_CONTEXT
  host:
    description:
      - URL of the Kubernetes API server, overriding the kubeconfig.
    type: str
    env:
      - name: K8S_AUTH_HOST
  api_key:
    description:
      - Bearer token for the API server.
    type: str
    env:
      - name: K8S_AUTH_API_KEY
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
    type: bool
    env:
      - name: K8S_AUTH_VERIFY_SSL
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA certificate bundle of the API server.
    type: path
    env:
      - name: K8S_AUTH_SSL_CA_CERT
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate for TLS client authentication.
    type: path
    env:
      - name: K8S_AUTH_CERT_FILE
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert).
    type: path
    env:
      - name: K8S_AUTH_KEY_FILE
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API server.
    type: str
    env:
      - name: K8S_AUTH_PROXY
requirements:
  - kubernetes >= 24.2.0 (Python library, on the controller)
"""
