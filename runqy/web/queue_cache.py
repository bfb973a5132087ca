"""The per-process cache of `/queue/add` queue lookups (one per app, in RunqyState).

Entries live one second, which bounds how long another server process (`--processes N`) keeps
serving a queue that was changed elsewhere. In this process every committed change invalidates
the cache at once, and a lookup that started loading before the change never stores its
(possibly stale) result: each invalidation bumps a generation, and a load only stores under the
generation it started in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

QUEUE_CACHE_SECONDS = 1.0


class QueueLookupCache(Generic[T]):
    """name -> loaded value, for `ttl` seconds or until `invalidate()`."""

    def __init__(self, ttl: float = QUEUE_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, T]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, name: str, load: Callable[[str], T]) -> T:
        """The cached value for `name`, or `load(name)` (stored unless invalidated meanwhile)."""
        with self._lock:
            generation = self._generation
            hit = self._entries.get(name)
        now = self._clock()
        if hit is not None and hit[0] >= now:
            return hit[1]
        value = load(name)
        with self._lock:
            if generation == self._generation:
                self._entries[name] = (now + self.ttl, value)
        return value

    def invalidate(self) -> None:
        """Forget every entry, including those whose loads are still running."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
