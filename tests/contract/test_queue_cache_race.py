"""The per-process queue lookup cache of /queue/add: a configuration change made in this process
applies to the very next request, even when another request was loading the old configuration
at that moment (it must not store its stale result back). Interleaved with events, no sleeps."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from runqy.core.enqueue import Enqueuer
from runqy.web.queue_cache import QUEUE_CACHE_SECONDS, QueueLookupCache
from tests.server.conftest import ADMIN

WAIT = 10  # seconds: a bound for events that normally fire at once


def add(http: Any, queue: str = "imgs.default") -> int:
    return http.post("/queue/add", headers=ADMIN, json={"queue": queue, "data": {}}).status_code


def test_disable_wins_over_a_load_in_flight(app, client, queue, monkeypatch):
    loaded, resume = threading.Event(), threading.Event()
    real_load = Enqueuer._load

    def paused_load(self: Enqueuer, name: str) -> Any:
        target = real_load(self, name)  # reads the still-enabled configuration
        if threading.current_thread().name == "slow-request":
            loaded.set()
            assert resume.wait(WAIT)
        return target

    monkeypatch.setattr(Enqueuer, "_load", paused_load)
    statuses: list[int] = []
    slow = threading.Thread(name="slow-request",
                            target=lambda: statuses.append(add(app.test_client())))
    slow.start()
    try:
        assert loaded.wait(WAIT)
        disabled = client.patch("/api/queue-configs/imgs", headers=ADMIN, json={"enabled": False})
        assert disabled.status_code == 200, disabled.json
    finally:
        resume.set()
        slow.join(WAIT)
    assert statuses == [200]  # it resolved the queue before the disable: accepted
    assert add(client) == 404  # the disable applies to the next request, not 1 s later


def test_enable_applies_to_the_next_request(client, queue):
    assert add(client) == 200  # cached as enabled
    client.patch("/api/queue-configs/imgs", headers=ADMIN, json={"enabled": False})
    assert add(client) == 404  # cached as missing
    client.patch("/api/queue-configs/imgs", headers=ADMIN, json={"enabled": True})
    assert add(client) == 200


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def test_entries_are_reused_within_the_ttl_and_reloaded_after(clock):
    """Another process's change is seen within QUEUE_CACHE_SECONDS (the --processes N bound)."""
    cache: QueueLookupCache[int] = QueueLookupCache(clock=clock)
    loads: list[str] = []

    def load(name: str) -> int:
        loads.append(name)
        return len(loads)

    assert cache.get("q", load) == 1
    clock.now += QUEUE_CACHE_SECONDS
    assert cache.get("q", load) == 1
    clock.now += 0.001
    assert cache.get("q", load) == 2
    assert QUEUE_CACHE_SECONDS <= 1.0


def test_a_load_started_before_invalidate_is_returned_but_not_stored(clock):
    cache: QueueLookupCache[str] = QueueLookupCache(clock=clock)
    results = iter(["old", "new"])

    def load_then_invalidate(_name: str) -> str:
        value = next(results)
        cache.invalidate()  # a commit lands while this load is running
        return value

    assert cache.get("q", load_then_invalidate) == "old"
    assert cache.get("q", lambda _name: next(results)) == "new"
