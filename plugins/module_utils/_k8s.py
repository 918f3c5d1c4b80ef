# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes edge for controller-side modules: client, server-side apply, dry run, retries, waits.

Option names (kubeconfig, context, host, api_key, validate_certs, ca_cert, client_cert, client_key, proxy)
and their ``K8S_AUTH_*`` environment fallbacks follow kubernetes.core, so a ``module_defaults`` block written for
``group/kubernetes.core.k8s`` can be copied to ``group/gpu_slicing.eks.karpenter`` unchanged. It does not apply
by itself: an action group covers only the modules it lists. The environment variables do apply to both.
The code is our own: kubernetes.core's client module is private API.

Only cluster-scoped custom objects are needed (Karpenter's NodePool, EC2NodeClass, NodeOverlay), so this
talks to ``CustomObjectsApi`` directly: no discovery round trips.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import random
import time
from urllib.parse import urlsplit

from ansible_collections.gpu_slicing.eks.plugins.module_utils import _karpenter as karpenter

try:
    import kubernetes
    from kubernetes.client.rest import ApiException
    HAS_K8S = True
    K8S_IMPORT_ERROR = None
except ImportError as exc:  # handled by the module with missing_required_lib
    HAS_K8S = False
    K8S_IMPORT_ERROR = exc

    class ApiException(Exception):
        status = None

FIELD_MANAGER = "gpu-slicing-eks"
DRY_RUN_ALL = "All"
RETRY_STATUSES = (409, 429, 500, 502, 503, 504)
# Fields the server owns: they change on every write and are no part of what the user asked for.
SERVER_FIELDS = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")

AUTH_ARG_SPEC = dict(
    # Not no_log as a whole: a kubeconfig dictionary would turn every string in it (cluster names, "v1", ...) into a
    # hidden value and mask those in everything the module returns. secret_values() hides its secret fields instead.
    kubeconfig=dict(type="raw", no_log=False),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    client_cert=dict(type="path", aliases=["cert_file"]),
    client_key=dict(type="path", aliases=["key_file"], no_log=False),
    proxy=dict(type="str"),
)
# option -> environment variable (the names kubernetes.core reads).
AUTH_ENV = dict(
    kubeconfig="K8S_AUTH_KUBECONFIG", context="K8S_AUTH_CONTEXT", host="K8S_AUTH_HOST",
    api_key="K8S_AUTH_API_KEY", validate_certs="K8S_AUTH_VERIFY_SSL", ca_cert="K8S_AUTH_SSL_CA_CERT",
    client_cert="K8S_AUTH_CERT_FILE", client_key="K8S_AUTH_KEY_FILE", proxy="K8S_AUTH_PROXY",
)


# kubeconfig fields that carry credentials (users[].user and auth-provider/exec config), as kubectl redacts them.
KUBECONFIG_SECRET_KEYS = ("token", "password", "client-key-data", "id-token", "refresh-token", "access-token",
                          "client-secret", "secret")


def secret_values(params):
    """Strings to hide from logs and results: credentials inside a kubeconfig dictionary and a proxy URL's password.

    Add them to ``module.no_log_values`` right after AnsibleModule() (the invocation is formatted at exit).
    """
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key in KUBECONFIG_SECRET_KEYS and isinstance(item, str) and item:
                    found.add(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    if isinstance(params.get("kubeconfig"), dict):
        walk(params["kubeconfig"])
    proxy = auth_params(params).get("proxy")
    if proxy:
        try:
            password = urlsplit(proxy).password
        except ValueError:
            password = None
        if password:
            found.add(password)
    return found


class K8sError(Exception):
    """An API or configuration failure, with the HTTP status when there was one."""

    def __init__(self, message, status=None):
        super(K8sError, self).__init__(message)
        self.status = status


class Kind(object):
    """A cluster-scoped custom resource: group, version, plural, kind."""

    def __init__(self, api_version, plural, kind):
        self.group, self.version = api_version.split("/", 1)
        self.api_version, self.plural, self.kind = api_version, plural, kind


# the Karpenter kinds, from the one place their apiVersions are written (_karpenter.KINDS)
NODEPOOL, EC2NODECLASS, NODEOVERLAY = (Kind(api_version, plural, kind) for kind, api_version, plural in karpenter.KINDS)


def auth_params(params):
    """Return the auth options with ``K8S_AUTH_*`` environment fallbacks filled in."""
    auth = {}
    for option, env in AUTH_ENV.items():
        value = params.get(option)
        if value is None and os.environ.get(env) not in (None, ""):
            value = os.environ[env]
            if option == "validate_certs":
                value = value.lower() not in ("0", "false", "no", "off")
        auth[option] = value
    return auth


def build_configuration(params):
    """A ``kubernetes.client.Configuration`` from module options / environment (kubernetes.core's precedence)."""
    auth = auth_params(params)
    if auth.get("host"):
        auth["host"] = auth["host"].rstrip("/")
    configuration = kubernetes.client.Configuration()
    explicit = auth.get("host") and (auth.get("api_key") or (auth.get("client_cert") and auth.get("client_key")))
    try:
        if not explicit:
            kubeconfig = auth.get("kubeconfig")
            if isinstance(kubeconfig, dict):
                kubernetes.config.load_kube_config_from_dict(kubeconfig, context=auth.get("context"),
                                                             client_configuration=configuration)
            elif kubeconfig or auth.get("context") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
                kubernetes.config.load_kube_config(config_file=kubeconfig, context=auth.get("context"),
                                                   client_configuration=configuration)
            else:
                kubernetes.config.load_incluster_config(client_configuration=configuration)
    except (kubernetes.config.ConfigException, IOError, OSError) as exc:
        raise K8sError("could not load the Kubernetes configuration%s: %s" % (_kubeconfig_label(auth), exc))
    except Exception as exc:  # pylint: disable=broad-except
        # PyYAML errors (a kubeconfig that is not YAML) and type errors (YAML that is not a kubeconfig mapping)
        # come out of the client raw; say which file it was. The file's content is not quoted (it holds secrets).
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark is not None else ""
        raise K8sError("could not load the Kubernetes configuration%s: it is not a valid kubeconfig (%s%s)"
                       % (_kubeconfig_label(auth), type(exc).__name__, where))
    if auth.get("host"):
        configuration.host = auth["host"]
    if auth.get("api_key"):
        configuration.api_key = {"authorization": "Bearer %s" % auth["api_key"]}
    for option, attribute in (("validate_certs", "verify_ssl"), ("ca_cert", "ssl_ca_cert"),
                              ("client_cert", "cert_file"), ("client_key", "key_file"), ("proxy", "proxy")):
        if auth.get(option) is not None:
            setattr(configuration, attribute, auth[option])
    # Our own loop retries HTTP statuses; urllib3 retries only connection setup once.
    configuration.retries = 1
    return configuration


def _kubeconfig_label(auth):
    """' from <file>' for the kubeconfig the client reads (explicit, KUBECONFIG or ~/.kube/config)."""
    kubeconfig = auth.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        return " from the kubeconfig dictionary"
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
    return " from %s" % os.path.expanduser(path)


def strip_server_fields(obj):
    """Copy of ``obj`` without status and server-maintained metadata (for change detection and diffs)."""
    if obj is None:
        return None
    out = dict((k, v) for k, v in obj.items() if k != "status")
    metadata = dict(out.get("metadata") or {})
    for field in SERVER_FIELDS:
        metadata.pop(field, None)
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    out["metadata"] = metadata
    return out


class K8sClient(object):
    """Thin, retrying wrapper over ``CustomObjectsApi`` for cluster-scoped custom objects.

    ``dry_run`` adds ``dryRun=All`` to every write, so check mode stores nothing and still gets the
    server's answer (defaults, admission) back. ``requests`` counts HTTP requests (for bench/).
    """

    def __init__(self, configuration=None, api_client=None, dry_run=False, max_attempts=5, base_delay=0.2,
                 max_delay=5.0, sleep=time.sleep, request_timeout=(10, 60)):
        self.api_client = api_client or kubernetes.client.ApiClient(configuration)
        self.api = kubernetes.client.CustomObjectsApi(self.api_client)
        self.dry_run = dry_run
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.request_timeout = request_timeout
        self.requests = 0
        self.retries = 0

    def _call(self, what, func, *args, **kwargs):
        attempt = 0
        while True:
            attempt += 1
            self.requests += 1
            try:
                return func(*args, _request_timeout=self.request_timeout, **kwargs)
            except ApiException as exc:
                if exc.status not in RETRY_STATUSES or attempt >= self.max_attempts:
                    raise K8sError("%s failed: HTTP %s %s%s" % (what, exc.status, exc.reason, _api_message(exc)), exc.status)
                delay = self._delay(attempt, exc)
            except Exception as exc:  # urllib3 connection errors and the like: not retried, say what failed
                raise K8sError("%s failed: %s" % (what, exc))
            self.retries += 1
            self.sleep(delay)

    def _delay(self, attempt, exc):
        """Full-jitter exponential backoff, capped; a server's Retry-After (429) is honoured up to the cap."""
        delay = random.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))
        retry_after = (getattr(exc, "headers", None) or {}).get("Retry-After")
        if retry_after:
            try:
                delay = max(delay, min(float(retry_after), self.max_delay))
            except ValueError:
                pass
        return delay

    def get(self, kind, name):
        """The live object as a dict, or None when it does not exist."""
        try:
            return self._call("GET %s %s" % (kind.kind, name), self.api.get_cluster_custom_object,
                              kind.group, kind.version, kind.plural, name)
        except K8sError as exc:
            if exc.status == 404:
                return None
            raise

    def served(self, kind):
        """True when the API server serves ``kind`` (its CRD is installed): one discovery GET of its group version.

        Discovery is readable by every authenticated user (``system:discovery``), unlike the CRD objects.
        """
        try:
            data = self._call("GET /apis/%s/%s" % (kind.group, kind.version), self.api.get_api_resources,
                              kind.group, kind.version)
        except K8sError as exc:
            if exc.status == 404:
                return False
            raise
        return any(getattr(r, "name", None) == kind.plural for r in getattr(data, "resources", None) or [])

    def list(self, kind, label_selector=None):
        result = self._call("LIST %s" % kind.plural, self.api.list_cluster_custom_object,
                            kind.group, kind.version, kind.plural, label_selector=label_selector)
        return list(result.get("items") or [])

    def apply(self, kind, obj, dry_run=None):
        """Server-side apply ``obj`` with our field manager (force: these objects are ours).

        ``dry_run`` True/False overrides the client's setting for this call (a preflight of a real run).
        """
        name = obj["metadata"]["name"]
        # Raw body: an apply that creates answers 201, which the generated client maps to None for PATCH.
        kwargs = dict(field_manager=FIELD_MANAGER, force=True, _content_type="application/apply-patch+yaml", _preload_content=False)
        if self.dry_run if dry_run is None else dry_run:
            kwargs["dry_run"] = DRY_RUN_ALL
        response = self._call("APPLY %s %s" % (kind.kind, name), self.api.patch_cluster_custom_object,
                              kind.group, kind.version, kind.plural, name, obj, **kwargs)
        data = getattr(response, "data", None)
        if data is None:
            data = response.read()
        try:
            return json.loads(data)
        except ValueError:
            raise K8sError("APPLY %s %s: the API server answered something that is not JSON: %r" % (kind.kind, name, data[:200]))

    def delete(self, kind, name):
        """Delete; True if it existed."""
        kwargs = {}
        if self.dry_run:
            kwargs["dry_run"] = DRY_RUN_ALL
        try:
            self._call("DELETE %s %s" % (kind.kind, name), self.api.delete_cluster_custom_object,
                       kind.group, kind.version, kind.plural, name, **kwargs)
        except K8sError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def wait_for_condition(self, kind, name, condition="Ready", timeout=300, interval=2.0, clock=time.monotonic):
        """Poll until ``status.conditions[type=condition].status == "True"``; return the object.

        Raises K8sError on timeout with the last condition seen (reason and message help most here).
        """
        deadline = clock() + timeout
        last = None
        while True:
            obj = self.get(kind, name)
            conditions = ((obj or {}).get("status") or {}).get("conditions") or []
            last = next((c for c in conditions if c.get("type") == condition), None)
            if last and last.get("status") == "True":
                return obj
            if clock() >= deadline:
                seen = "no %s condition" % condition if not last else "%s=%s (%s: %s)" % (
                    condition, last.get("status"), last.get("reason"), last.get("message"))
                raise K8sError("timed out after %ss waiting for %s %s to be %s; last seen %s"
                               % (timeout, kind.kind, name, condition, seen))
            self.sleep(interval)


def _api_message(exc):
    body = getattr(exc, "body", None)
    if not body:
        return ""
    try:
        return ": %s" % json.loads(body).get("message", body)
    except (ValueError, AttributeError, TypeError):
        return ": %s" % (body if isinstance(body, str) else body.decode("utf-8", "replace"))
