# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Kubernetes API emulator for tests, molecule and the demo (no real kube-apiserver can run here).

It is kmock's ``KubernetesEmulator`` + ``Server`` (a real aiohttp HTTP server on a loopback port) with a
stricter handler for ``/api`` and ``/apis``, run as its own process with a kubeconfig:

    from ansible_collections.gpu_slicing.eks.tests.support.kube_emulator import KubeEmulator
    with KubeEmulator(nodes=[...]) as kube:
        api = kubernetes.client.CoreV1Api(kube.api_client())

    python -m ansible_collections.gpu_slicing.eks.tests.support.kube_emulator serve \\
        --host 127.0.0.1 --port 0 --kubeconfig /tmp/kubeconfig [--crd FILE ...] [--pidfile F] [--state-file F]
    python -m ansible_collections.gpu_slicing.eks.tests.support.kube_emulator seed-nodes --kubeconfig F --nodes nodes.json

What it does like a real API server:
- discovery (``/api``, ``/apis``, group/version resource lists with sub-resources), ``/version``;
  built-in types from kmock's bundled k3s discovery minus ``metrics.k8s.io`` (so ``kubectl get nodes``
  means core nodes), plus every served version of every installed CRD;
- create answers 201 and stamps ``uid``, ``creationTimestamp``, ``generation`` (1; +1 only when the
  spec - everything but metadata and, with a status sub-resource, status - changes) and a global,
  increasing ``resourceVersion`` that moves only on a real change; ``generateName``; 409 on duplicates;
  namespaced objects need an existing namespace (default, kube-system, kube-public, kube-node-lease exist);
- ``dryRun=All`` on create/update/patch/apply/delete/eviction computes and answers the object, stores nothing;
- PUT with ``metadata.resourceVersion`` preconditions (409 Conflict when stale);
- patches: JSON patch, JSON merge patch, strategic merge patch for built-in kinds (merge keys of the
  usual map-lists, ``$patch``/``$setElementOrder`` directives; 415 for custom resources, as the real
  server), server-side apply (JSON or YAML body, ``fieldManager`` required, upsert, ``force``,
  ``managedFields`` per manager, removal of fields a manager stopped applying, 409 on conflicts);
- lists with ``kind: <Kind>List``, ``apiVersion`` and ``metadata.resourceVersion``; ``labelSelector``
  (``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``) and ``fieldSelector`` (any dotted path,
  e.g. ``metadata.name``, ``spec.nodeName``, ``status.phase``) on lists, watches and deletecollection;
- ``status`` sub-resource for CRDs that declare it and for Node/Pod/Deployment/DaemonSet/Job...: writes to
  the main resource keep status, writes to ``/status`` change only status; Nodes keep status on create;
- ``pods/eviction`` (what ``kubectl drain`` and ``kubernetes.core.k8s_drain`` use) deletes the pod;
- finalizers (``deletionTimestamp`` until the last finalizer is removed), garbage collection of
  dependents through ``ownerReferences`` (unless ``propagationPolicy=Orphan``), namespace deletion
  removes its objects, CRD deletion removes its custom objects;
- CRD-driven admission for custom objects: pruning of unknown fields (``fieldValidation=Strict`` -> 400,
  default ``Warn`` -> ``Warning`` header), schema defaults, OpenAPI v3 schema validation and CEL
  ``x-kubernetes-validations`` (incl. ``oldSelf`` transition rules), answered as 422 ``Invalid`` with
  field causes; which rules are enforced or skipped is logged at start and served at
  ``GET /emulator/cel-rules``; installed CRDs get ``Established``/``NamesAccepted`` conditions;
- watches (``?watch=true``) with label/field selectors, ``resourceVersion`` (replay from a bounded log of
  the last 2000 events) and ``timeoutSeconds``;
- ``--state-file`` persists every object as JSON, so a long-running demo server survives restarts;
- ``Table`` output for ``kubectl get`` (CRD ``additionalPrinterColumns``; Node and Pod columns);
- ``/openapi/v3`` with every operation advertising ``fieldValidation`` (kubectl then validates on the server,
  no ``--validate=false`` needed) and the schemas of custom resources (``kubectl explain nodepool.spec``).

Differences from a real kube-apiserver (by design or not done):
- no authentication, authorization (RBAC), admission webhooks, quotas, PodDisruptionBudgets or
  ``limit``/``continue`` pagination (every list is complete); no protobuf; no ``/openapi/v2`` and no
  built-in schemas in ``/openapi/v3`` (``kubectl explain pod`` does not work);
- no controllers: nothing schedules pods, starts containers, rolls out Deployments, fills DaemonSet
  status or reacts to NodePools; deletion is immediate (no graceful pod termination);
- server-side apply is simplified (see ``patching``): lists are owned atomically unless they are
  map-lists, scalar-list items are not tracked, no apply on the ``scale`` sub-resource;
- built-in kinds are not schema-validated (only metadata: names, labels); no defaulting of built-ins;
- CRD conversion between versions is not done (objects are served with the requested apiVersion);
  CEL cost limits, ``messageExpression`` and CEL rules calling functions we do not provide (e.g.
  ``quantity``, ``url``, ``ip``) are not evaluated; of ``format`` only ``date-time``, ``int32`` and
  ``int64`` are checked;
- watches do not send bookmarks; ``resourceVersion`` older than the event log replays what is left.
"""

from .launcher import KubeEmulator, KubeEmulatorError, default_crds, fixture_scope, load_crds, write_kubeconfig  # noqa: F401

__all__ = ["KubeEmulator", "KubeEmulatorError", "default_crds", "fixture_scope", "load_crds", "write_kubeconfig"]
