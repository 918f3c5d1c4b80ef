# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How many hosts ran a task at the same time, from the lines the ``task_windows`` test callback wrote.

Counts, not durations: a task that serializes its hosts (throttle, a lock, run_once + a loop over hosts)
has at most one host in flight however long it takes.

    env.update(task_windows.callback_env(path))      # for ansible-playbook
    windows = task_windows.load(path)                 # {(play, task): {host: [start, end]}}
    task_windows.max_in_flight(windows[key])          # most hosts between start and end at one moment
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

CALLBACK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback")


def callback_env(path):
    """Environment variables that make ansible-playbook record its task windows into ``path``."""
    return {"ANSIBLE_CALLBACK_PLUGINS": CALLBACK_DIR, "ANSIBLE_CALLBACKS_ENABLED": "task_windows",
            "GPU_SLICING_TASK_WINDOWS": path}


def load(path):
    """{(play, task name): {host: (start, end)}} of the tasks that ran (skipped hosts left out). A task that
    runs twice on a host in one play (an included file used twice) keeps every window: {host: [(s, e), ...]}."""
    starts, windows = {}, {}
    with open(path) as handle:
        for line in handle:
            record = json.loads(line)
            key = (record["play"], record["task"])
            if record["event"] == "start":
                starts[(key, record["host"])] = record["t"]
            elif (key, record["host"]) in starts:
                begun = starts.pop((key, record["host"]))
                if record.get("status") != "skipped":
                    windows.setdefault(key, {}).setdefault(record["host"], []).append((begun, record["t"]))
    return windows


def max_in_flight(host_windows):
    """Most hosts inside one of their windows at the same moment (a window's end is exclusive)."""
    events = []
    for windows in host_windows.values():
        for start, end in windows:
            events += [(start, 1), (end, -1)]
    best = current = 0
    for _moment, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at the same time
        current += step
        best = max(best, current)
    return best


def find(windows, task, play=None):
    """The {host: [windows]} of the task named ``task`` (in ``play`` when given); KeyError naming what ran."""
    hits = [value for (p, t), value in windows.items() if t == task and (play is None or p == play)]
    if len(hits) != 1:
        raise KeyError("%d tasks named %r%s; recorded: %s" % (len(hits), task, " in play %r" % play if play else "",
                                                              sorted(set(t for _p, t in windows))))
    return hits[0]
