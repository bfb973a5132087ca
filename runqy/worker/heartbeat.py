"""What the worker publishes every beat: log lines, host metrics and the heartbeat fields.

`LogBuffer` collects task-process and worker log lines between flushes (wire-format.md 8.4,
worker-protocol.md 6.4); `HostMetrics` samples CPU and memory from /proc; `worker_fields`
builds the `asynq:workers:<id>` hash of wire-format.md 8.2.
"""

from __future__ import annotations

import json
import os
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
            task_id: str | None = None, *, task_only: bool = False) -> None:
        """One line; ``task_only`` lines (an attempt starting) go to the task's own log only,
        not to the worker's."""
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
            if task_only:
                line["task_only"] = True
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


class ProcessMetrics:
    """CPU and memory of the worker process and its descendants (the task processes and what
    they start), read from /proc (Linux): what this worker costs, not what the host is doing.

    ``cpu_percent`` is CPU time over wall time between two samples (100 = one core busy), summed
    over the processes; a process that appeared since the last sample counts from its start.
    ``memory_used_bytes`` is their resident memory, ``memory_total_bytes`` the host's total.
    """

    def __init__(self) -> None:
        self._last_ticks = {os.getpid(): _cpu_ticks(os.getpid()) or 0}
        self._last_at = time.monotonic()

    def sample(self) -> dict[str, Any]:
        pids = _with_descendants(os.getpid())
        ticks = {pid: t for pid in pids if (t := _cpu_ticks(pid)) is not None}
        now = time.monotonic()
        used = sum(max(0, t - self._last_ticks.get(pid, 0)) for pid, t in ticks.items())
        elapsed = now - self._last_at
        cpu = round(100.0 * used / _CLOCK_TICKS / elapsed, 1) if elapsed > 0 else 0.0
        self._last_ticks, self._last_at = ticks, now
        return {"cpu_percent": cpu, "memory_used_bytes": sum(_rss(pid) for pid in ticks),
                "memory_total_bytes": _host_memory(), "processes": len(ticks),
                "collected_at": int(time.time())}


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _with_descendants(root: int) -> list[int]:
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.append(pid)
        try:
            for thread in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (thread / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


def _cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process, in clock ticks (None once it is gone)."""
    try:
        # the command name may hold spaces and parentheses: fields follow the last ")"
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def _host_memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


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
