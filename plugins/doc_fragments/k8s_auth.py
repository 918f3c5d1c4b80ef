# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes connection options, named as in kubernetes.core (a module_defaults block can be copied, it does not carry over)."""

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
      - A password in the URL (C(http://user:password@proxy:3128)) is hidden from logs and results.
    type: str
requirements:
  - kubernetes >= 24.2.0 (Python library, on the controller)
notes:
  - The option names follow M(kubernetes.core.k8s), so a C(module_defaults) block written for
    C(group/kubernetes.core.k8s) can be copied to C(group/gpu_slicing.eks.karpenter) unchanged. It does not apply to
    these modules by itself (an action group covers only the modules it lists); the C(K8S_AUTH_*) environment
    variables do apply to both.
  - When O(kubeconfig) is a dictionary, only its credentials (C(token), C(password), C(client-key-data) and the
    auth-provider secrets) are hidden from logs and results, not every string in it.
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
