"""Login throttling: failed attempts per client address in a sliding window."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    """At most `limit` failed logins per client address in a sliding `window` (seconds).

    In memory on purpose: one server process answers the dashboard, and a restart forgetting the
    failures is harmless next to a slow password hash that already caps guessing speed.
    """

    def __init__(self, limit: int = 5, window: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may try again; 0 when allowed now."""
        now = self.clock()
        with self._lock:
            failures = self._recent(client, now)
            if not failures:
                self._failures.pop(client, None)  # keep the table as small as the attackers
            if len(failures) < self.limit:
                return 0
            return max(1, int(failures[0] + self.window - now) + 1)

    def record_failure(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            self._recent(client, now).append(now)

    def reset(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
