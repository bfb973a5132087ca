"""Waiting for a condition in tests: poll with a timeout instead of sleeping a fixed time."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(condition: Callable[[], T], *, timeout: float, what: str,
               interval: float = 0.1, detail: Callable[[], str] | None = None,
               alive: subprocess.Popen | None = None) -> T:
    """Call `condition` until it returns something truthy, and return that.

    AssertionError after `timeout` seconds naming `what` (plus `detail()`), or at once when the
    `alive` process has exited.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"process exited ({alive.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            extra = f"; {detail()}" if detail else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)
