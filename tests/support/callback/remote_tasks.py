# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback (test and bench support, not shipped as a plugin): counts the tasks each host executed on itself.

A task counts as remote for a host when it ran for that host (ok, changed, failed or unreachable; not skipped),
was not delegated, the host is not reached with the local connection, and its action is not one that ansible-core
runs on the controller only (set_fact, debug, assert, fail, ...). A loop counts once. Enable it with
``ANSIBLE_CALLBACK_PLUGINS=<this directory>`` and ``ANSIBLE_CALLBACKS_ENABLED=remote_tasks``; at the end of the
playbook it writes ``{"hosts": {host: {"remote": n, "delegated": n, "controller": n, "skipped": n, "changed": n,
"remote_tasks": [names]}}}`` as JSON to the file named by ``GPU_SLICING_TASK_COUNT_FILE``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: remote_tasks
type: aggregate
short_description: Count the tasks each host executed on itself (test and bench support)
description:
  - Writes per host the tasks that ran on the host itself (not skipped, not delegated, not controller-only actions)
    to the JSON file named by the environment variable C(GPU_SLICING_TASK_COUNT_FILE).
requirements:
  - enable in the callbacks_enabled setting
"""

# Actions ansible-core runs in the controller process without connecting to the host.
CONTROLLER_ACTIONS = frozenset(
    prefix + name
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for name in ("set_fact", "debug", "assert", "fail", "meta", "include_tasks", "import_tasks", "include_role",
                 "import_role", "include_vars", "add_host", "group_by", "set_stats", "pause", "validate_argument_spec"))
ENV = "GPU_SLICING_TASK_COUNT_FILE"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "remote_tasks"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.hosts = {}

    def _host(self, name):
        return self.hosts.setdefault(name, {"remote": 0, "delegated": 0, "controller": 0, "skipped": 0, "changed": 0,
                                            "remote_tasks": []})

    @staticmethod
    def kind(result):
        task = result._task  # pylint: disable=protected-access
        if task.action in CONTROLLER_ACTIONS:
            return "controller"
        if task.delegate_to or result._result.get("_ansible_delegated_vars"):  # pylint: disable=protected-access
            return "delegated"
        if task.connection == "local" or result._host.get_name() in ("localhost", "127.0.0.1"):  # pylint: disable=protected-access
            return "controller"
        return "remote"

    def _count(self, result):
        counts = self._host(result._host.get_name())  # pylint: disable=protected-access
        kind = self.kind(result)
        counts[kind] += 1
        counts["changed"] += 1 if result._result.get("changed") else 0  # pylint: disable=protected-access
        if kind == "remote":
            counts["remote_tasks"].append(result._task.get_name())  # pylint: disable=protected-access

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_runner_on_unreachable(self, result):
        self._count(result)

    def v2_runner_on_skipped(self, result):
        self._host(result._host.get_name())["skipped"] += 1  # pylint: disable=protected-access

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get(ENV)
        if path:
            with open(path, "w") as handle:
                json.dump({"hosts": self.hosts}, handle, indent=1, sort_keys=True)
