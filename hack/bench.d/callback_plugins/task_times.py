# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writes every task's wall time per host as JSON lines (hack/bench-lab)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: task_times
type: aggregate
short_description: Wall time of every task on every host, as JSON lines
description:
  - Appends one JSON object per task result to the file named by C(TASK_TIMES_FILE).
requirements:
  - enabled in callbacks_enabled
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._start = {}
        self._out = os.environ.get("TASK_TIMES_FILE", "task_times.jsonl")

    def v2_runner_on_start(self, host, task):
        self._start[(host.get_name(), task._uuid)] = time.monotonic()

    def _done(self, result, status):
        key = (result._host.get_name(), result._task._uuid)
        began = self._start.pop(key, None)
        if began is None:
            return
        with open(self._out, "a") as f:
            f.write(json.dumps({"host": key[0], "task": result._task.get_name(), "action": result._task.action,
                                "status": status, "seconds": round(time.monotonic() - began, 3)}) + "\n")

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")
