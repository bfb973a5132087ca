"""Throughput without Prometheus: tasks/s and error rate over the last hour and day, and the
last hour minute by minute, from the per-minute counters the worker writes (broker.throughput).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup

from runqy.broker import Inspector
from runqy.broker.throughput import Bucket, per_minute
from runqy.web.monitoring.charts import DayCount, history_chart

HOUR, DAY = 3600, 86400


@dataclass(frozen=True)
class Window:
    """Attempts finished in the last `seconds` (the current minute included)."""

    seconds: int
    total: Bucket

    @property
    def per_second(self) -> float:
        return self.total.processed / self.seconds

    @property
    def per_second_text(self) -> str:
        """Without an exponent: 0.002222 rather than 2.22e-03."""
        rate = self.per_second
        return f"{rate:.3g}" if rate >= 0.1 or rate == 0 else f"{rate:.6f}".rstrip("0")


@dataclass(frozen=True)
class LiveRates:
    hour: Window
    day: Window
    minutes: list[Bucket]  # the last 60 minutes, oldest first

    @classmethod
    def read(cls, inspector: Inspector, queues: Sequence[str],
             now: float | None = None) -> LiveRates:
        end = int(time.time() if now is None else now)
        minutes = per_minute(inspector, queues, end - DAY + 60, end)
        return cls(window(minutes[-60:], HOUR), window(minutes, DAY), minutes[-60:])

    def chart(self) -> Markup:
        return history_chart([DayCount(datetime.fromtimestamp(b.start, UTC).strftime("%H:%M"),
                                       b.processed, b.failed) for b in self.minutes],
                             unit="minute", labelled=lambda bar: bar.label.endswith("0"))


def window(buckets: Sequence[Bucket], seconds: int) -> Window:
    return Window(seconds, Bucket(buckets[0].start, sum(b.processed for b in buckets),
                                  sum(b.failed for b in buckets)))
