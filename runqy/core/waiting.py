"""Waiting for a task to finish (``GET /queue/<id>?wait=true``, http-api.md 5.4).

This is the one place the long-poll lives: a bounded number of waiters per process, each
polling the task until it reaches a final state or its time is up. A non-blocking
implementation replaces this module without touching the views.
"""

from __future__ import annotations

import threading
import time

from runqy.broker import TaskInfo
from runqy.core import tasks
from runqy.core.errors import Busy, TimedOut
from runqy.core.runtime import Runtime

FINAL_STATES = frozenset({"completed", "archived"})
POLL_SECONDS = 0.2


def wait_until_final(rt: Runtime, task_id: str, timeout: float,
                     waiters: threading.BoundedSemaphore) -> TaskInfo:
    """The task once it is completed or archived. Busy ``too_many_waiters`` when every waiter
    slot is taken, TimedOut ``wait_timeout`` after ``timeout`` seconds, NotFound when the task
    does not exist (or disappears)."""
    if not waiters.acquire(blocking=False):
        raise Busy("too many long-polls are open; retry shortly", code="too_many_waiters")
    try:
        deadline = time.monotonic() + timeout
        while True:
            info = tasks.find_task(rt, task_id)
            if info.state in FINAL_STATES:
                return info
            if time.monotonic() >= deadline:
                raise TimedOut(f"task {task_id} did not finish within {timeout:g} s",
                               code="wait_timeout")
            time.sleep(POLL_SECONDS)
    finally:
        waiters.release()
