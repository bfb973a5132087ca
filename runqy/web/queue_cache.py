"""The per-process cache of `/queue/add` queue lookups (one per app, in RunqyState).

Entries live one second, which bounds how long another server process (`--workers N`) keeps
serving a queue that was changed elsewhere. In this process every committed change invalidates
the cache at once, and a lookup that started loading before the change never stores its
(possibly stale) result: each invalidation bumps a generation, and a load only stores under the
generation it started in.

When the database cannot be reached, an expired entry is still used for up to
MAX_STALE_SECONDS after it was loaded: tasks live in Redis, so enqueueing to a queue this
process used recently goes on through a database outage (nobody can change a configuration
meanwhile either). Queues not looked up within that time answer 503 `database_unavailable`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

T = TypeVar("T")

QUEUE_CACHE_SECONDS = 1.0
MAX_STALE_SECONDS = 600.0
# What "the database cannot be reached" raises (the app answers these with 503).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


class _Entry(NamedTuple, Generic[T]):
    loaded_at: float
    value: T


class QueueLookupCache(Generic[T]):
    """name -> loaded value, for `ttl` seconds or until `invalidate()`; up to `max_stale`
    seconds while loading fails with DATABASE_UNAVAILABLE."""

    def __init__(self, ttl: float = QUEUE_CACHE_SECONDS, max_stale: float = MAX_STALE_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 load_context: Callable[[], AbstractContextManager[Any]] = nullcontext) -> None:
        """``load_context``: entered around each load (the server's: the app context a
        request served outside Flask lacks, where the database session lives)."""
        self.ttl = ttl
        self.load_context = load_context
        self.max_stale = max_stale
        self._clock = clock
        self._entries: dict[str, _Entry[T]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, name: str, load: Callable[[str], T]) -> T:
        """The cached value for `name`, or `load(name)` (stored unless invalidated meanwhile)."""
        with self._lock:
            generation = self._generation
            hit = self._entries.get(name)
        now = self._clock()
        if hit is not None and now - hit.loaded_at <= self.ttl:
            return hit.value
        try:
            with self.load_context():
                value = load(name)
        except DATABASE_UNAVAILABLE:
            if hit is not None and now - hit.loaded_at <= self.max_stale:
                return hit.value
            raise
        with self._lock:
            if generation == self._generation:
                self._entries[name] = _Entry(now, value)
        return value

    def invalidate(self) -> None:
        """Forget every entry, including those whose loads are still running."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
