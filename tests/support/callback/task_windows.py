# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: one JSON line per task start and end per host, for counting how many hosts were in
flight at once (tests/support/task_windows.py reads the file). Enable it with
ANSIBLE_CALLBACK_PLUGINS=<this dir>, ANSIBLE_CALLBACKS_ENABLED=task_windows and GPU_SLICING_TASK_WINDOWS=<file>."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import threading
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: task_windows
type: aggregate
short_description: Record when each task starts and ends on each host (tests only)
description:
  - Appends one JSON line per event to the file named by E(GPU_SLICING_TASK_WINDOWS).
requirements:
  - enabled in the callbacks setting
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_windows"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._path = os.environ.get("GPU_SLICING_TASK_WINDOWS")
        self._lock = threading.Lock()
        self._play = ""

    def _write(self, event, task, host, **extra):
        if not self._path:
            return
        record = dict(event=event, t=time.time(), pid=os.getpid(), play=self._play, task=task.get_name().strip(),
                      action=task.action, host=host, delegated=bool(task.delegate_to), **extra)
        with self._lock, open(self._path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name().strip()

    def v2_runner_on_start(self, host, task):
        self._write("start", task, host.get_name())

    def _end(self, result, status):
        self._write("end", result._task, result._host.get_name(), status=status)

    def v2_runner_on_ok(self, result):
        self._end(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._end(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._end(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._end(result, "unreachable")
