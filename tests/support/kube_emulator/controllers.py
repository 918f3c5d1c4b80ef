# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Opt-in stand-in controllers (``serve --simulate-controllers``, ``KubeEmulator(simulate_controllers=True)``).

Nothing runs containers or launches EC2 instances here; these only write the *status* a healthy cluster
would show soon after a change, so that waits (``kubernetes.core.k8s wait: true``, ``wait_condition``,
``kubectl wait``) can finish in tests, molecule and the demo:

- Deployment / ReplicaSet / StatefulSet: every replica ready and up to date (``observedGeneration`` set);
- DaemonSet: scheduled and ready on every Node matching ``spec.template.spec.nodeSelector``
  (tolerations and affinity are not evaluated), recomputed when Nodes change;
- Job: complete (``succeeded = completions``);
- Pod bound to a node (``spec.nodeName``): Running with every container ready; unbound pods stay Pending;
- EC2NodeClass: ``Ready=True``; NodeOverlay: ``ValidationSucceeded=True``;
- NodePool: ``Ready=True`` when its EC2NodeClass exists and is Ready, else ``Ready=False`` (``NodeClassNotReady``).

Off by default: without it the emulator behaves like an API server with no controllers at all.
"""

import datetime

WORKLOADS = {("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("batch", "Job"), ("", "Pod"),
             ("karpenter.k8s.aws", "EC2NodeClass"), ("karpenter.sh", "NodePool"), ("karpenter.sh", "NodeOverlay")}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind, status, reason, message, old_status):
    """A condition that keeps its lastTransitionTime while its status does not change."""
    previous = next((c for c in (old_status or {}).get("conditions") or [] if c.get("type") == kind), None)
    since = previous["lastTransitionTime"] if previous and previous.get("status") == status and previous.get("lastTransitionTime") else _now()
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": since}


def _node_matches(node, selector):
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(key) == value for key, value in (selector or {}).items())


def desired_status(kind, group, obj, lookup):
    """The status a healthy controller would write for ``obj``; ``lookup(group, kind, name)`` reads other objects."""
    spec = obj.get("spec") or {}
    old = obj.get("status") or {}
    generation = obj["metadata"].get("generation", 1)
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        replicas = spec.get("replicas", 1)
        status = {"observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                  "updatedReplicas": replicas}
        if kind == "StatefulSet":
            status.update(currentReplicas=replicas, currentRevision="%s-1" % obj["metadata"]["name"], updateRevision="%s-1" % obj["metadata"]["name"])
        if kind == "Deployment":
            status["conditions"] = [_condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", old)]
        return status
    if kind == "DaemonSet":
        selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")
        count = sum(1 for node in lookup("", "Node", None) if _node_matches(node, selector))
        return {"observedGeneration": generation, "desiredNumberScheduled": count, "currentNumberScheduled": count, "numberReady": count,
                "numberAvailable": count, "updatedNumberScheduled": count, "numberMisscheduled": 0}
    if kind == "Job":
        completions = spec.get("completions", 1)
        return dict(old, succeeded=completions, active=0, startTime=old.get("startTime") or _now(),
                    completionTime=old.get("completionTime") or _now(),
                    conditions=[_condition("Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods", old)])
    if kind == "Pod":
        if not spec.get("nodeName"):
            return None
        containers = [{"name": c.get("name"), "image": c.get("image"), "imageID": "%s@sha256:%s" % (c.get("image"), "0" * 64),
                       "containerID": "containerd://%s" % c.get("name"), "ready": True, "started": True, "restartCount": 0,
                       "state": {"running": {"startedAt": obj["metadata"].get("creationTimestamp")}}} for c in spec.get("containers") or []]
        return dict(old, phase="Running", containerStatuses=containers,
                    conditions=[_condition("Ready", "True", "", "", old), _condition("PodScheduled", "True", "", "", old)])
    if kind == "EC2NodeClass":
        return dict(old, instanceProfile=old.get("instanceProfile") or spec.get("instanceProfile") or "%s_emulated" % obj["metadata"]["name"],
                    conditions=[_condition("Ready", "True", "Ready", "", old)])
    if kind == "NodeOverlay":
        return dict(old, conditions=[_condition("ValidationSucceeded", "True", "ValidationSucceeded", "", old)])
    if kind == "NodePool":
        ref = ((spec.get("template") or {}).get("spec") or {}).get("nodeClassRef") or {}
        node_class = lookup(ref.get("group"), ref.get("kind"), ref.get("name"))
        ready = bool(node_class) and any(c.get("type") == "Ready" and c.get("status") == "True"
                                         for c in (node_class[0].get("status") or {}).get("conditions") or [])
        condition = (_condition("Ready", "True", "Ready", "", old) if ready else
                     _condition("Ready", "False", "NodeClassNotReady", "NodeClass %s is not ready or does not exist" % ref.get("name"), old))
        status = dict(old, conditions=[condition], nodes=old.get("nodes", 0))
        if node_class:
            status["nodeClassObservedGeneration"] = node_class[0]["metadata"].get("generation", 1)
        return status
    return None
