"""What the worker publishes every beat: log lines, host metrics and the heartbeat fields.

`LogBuffer` collects task-process and worker log lines between flushes (wire-format.md 8.4,
worker-protocol.md 6.4); `HostMetrics` samples CPU and memory from /proc; `worker_fields`
builds the `asynq:workers:<id>` hash of wire-format.md 8.2.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_LOG_TEXT = 16 * 1024
MAX_PENDING_LINES = 5000
_CUT_MARK = " …[cut]"


class LogBuffer:
    """Thread-safe log lines waiting for the next heartbeat flush."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING_LINES)
        self._seq = 0

    def add(self, src: str, text: str, queue: str | None = None,
            task_id: str | None = None) -> None:
        if len(text) > MAX_LOG_TEXT:
            text = text[:MAX_LOG_TEXT] + _CUT_MARK
        with self._lock:
            self._seq += 1
            line: dict[str, Any] = {"ts": int(time.time() * 1000), "src": src, "text": text,
                                    "seq": self._seq}
            if queue:
                line["queue"] = queue
            if task_id:
                line["task_id"] = task_id
            self._lines.append(line)

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            lines = list(self._lines)
            self._lines.clear()
            return lines

    def put_back(self, lines: list[dict[str, Any]]) -> None:
        """Return lines whose flush failed, ahead of newer ones."""
        with self._lock:
            newer = list(self._lines)
            self._lines.clear()
            self._lines.extend(lines + newer)


class HostMetrics:
    """CPU percent between two samples and memory use, read from /proc (Linux)."""

    def __init__(self) -> None:
        self._last = self._cpu_times()

    @staticmethod
    def _cpu_times() -> tuple[int, int] | None:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except (OSError, IndexError):
            return None
        values = [int(v) for v in fields]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return idle, sum(values)

    @staticmethod
    def _memory() -> tuple[int, int]:
        info: dict[str, int] = {}
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                name, _, rest = line.partition(":")
                info[name] = int(rest.split()[0]) * 1024
        except (OSError, ValueError, IndexError):
            return 0, 0
        total = info.get("MemTotal", 0)
        return total - info.get("MemAvailable", total), total

    def sample(self) -> dict[str, Any]:
        now = self._cpu_times()
        cpu = 0.0
        if now and self._last and now[1] > self._last[1]:
            busy = (now[1] - self._last[1]) - (now[0] - self._last[0])
            cpu = round(100.0 * busy / (now[1] - self._last[1]), 1)
        self._last = now
        used, total = self._memory()
        return {"cpu_percent": cpu, "memory_used_bytes": used, "memory_total_bytes": total,
                "collected_at": int(time.time())}


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_map(priorities: Mapping[str, int]) -> str:
    """`map[a:1 b:2]`, keys sorted, as the original runqy dashboard parses it."""
    return "map[" + " ".join(f"{q}:{p}" for q, p in sorted(priorities.items())) + "]"


def worker_fields(
    *,
    worker_id: str,
    started_at: float,
    healthy: bool,
    status: str,
    queues_in_order: Iterable[str],
    priorities: Mapping[str, int],
    active_tasks: Iterable[str],
    concurrency: int,
    metrics: Mapping[str, Any],
    recovery: Mapping[str, Any],
) -> dict[str, str]:
    """Every field of wire-format.md 8.2, written whole at each beat."""
    return {
        "worker_id": worker_id,
        "started": rfc3339(started_at),
        "started_at": str(int(started_at)),
        "last_beat": str(int(time.time())),
        "healthy": "true" if healthy else "false",
        "queue": ",".join(queues_in_order),
        "active_task": ",".join(active_tasks),
        "concurrency": str(concurrency),
        "status": status,
        "metrics": json.dumps(metrics, separators=(",", ":")),
        "recovery": json.dumps(recovery, separators=(",", ":")),
        "queues": go_map(priorities),
    }
