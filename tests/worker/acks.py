"""Holding a worker's outcomes unwritten: Redis refuses writes for a while (``CLIENT PAUSE
WRITE``), so the worker's batched acknowledgements wait in Redis, postponed, while reads go on."""

from __future__ import annotations

from pathlib import Path

import redis

from tests.support.polling import poll_until


def touch_payload(path: Path, seconds: float = 0.3) -> dict:
    """A behave-app task that sleeps, then creates ``path`` right before it answers."""
    return {"op": "touch", "seconds": seconds, "path": str(path)}


def pause_writes(client: redis.Redis, seconds: float) -> None:
    client.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "WRITE")


def await_outcomes_held(client: redis.Redis, answered: list[Path]) -> None:
    """Until every task has answered and a script call (the round of outcomes: nothing else of
    the worker calls one right after a task answers) waits in Redis, postponed by the pause."""
    poll_until(lambda: all(p.exists() for p in answered), timeout=20,
               what="every task answered")
    poll_until(lambda: any("b" in c["flags"] and c["cmd"] == "evalsha"
                           for c in client.client_list()), timeout=10,
               what="the round of outcomes postponed in Redis")
