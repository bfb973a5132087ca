"""Per-minute processed and failed counts without Prometheus (read-only).

The finish script (every done, completion, retry and archive) bumps one hash per queue and UTC
hour, ``keys.throughput``: field ``p<MM>`` for every finished attempt, ``f<MM>`` for a failed
one, kept 48 h. This module sums them over queues for any minute-aligned window in that time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runqy.broker import keys
from runqy.broker.inspector import Inspector

MINUTE, HOUR = 60, 3600


@dataclass(frozen=True)
class Bucket:
    """Attempts finished in [start, start + seconds): processed includes failed, as in asynq."""

    start: int
    processed: int
    failed: int


def per_minute(inspector: Inspector, queues: Sequence[str], start: int,
               end: int) -> list[Bucket]:
    """One bucket per minute from the minute holding ``start`` up to the one holding ``end``,
    summed over ``queues``: one HGETALL per queue and hour, in one pipeline."""
    first, last = start - start % MINUTE, end - end % MINUTE
    hours = range(first - first % HOUR, last + 1, HOUR)
    pipe = inspector.redis.pipeline(transaction=False)
    for q in queues:
        for hour in hours:
            pipe.hgetall(keys.throughput(q, hour))
    counts: dict[int, list[int]] = {m: [0, 0] for m in range(first, last + 1, MINUTE)}
    for index, fields in enumerate(pipe.execute()):
        hour = hours[index % len(hours)]
        for name, value in fields.items():
            minute = hour + int(name[1:]) * MINUTE
            if minute in counts:
                counts[minute][name[:1] == b"f"] += int(value)
    return [Bucket(m, p, f) for m, (p, f) in counts.items()]


def regroup(buckets: Sequence[Bucket], seconds: int) -> list[Bucket]:
    """Minute buckets summed into aligned buckets of ``seconds`` (an hour: 3600)."""
    out: dict[int, list[int]] = {}
    for b in buckets:
        total = out.setdefault(b.start - b.start % seconds, [0, 0])
        total[0] += b.processed
        total[1] += b.failed
    return [Bucket(start, p, f) for start, (p, f) in out.items()]
