"""Jinja filters that turn inspector values into text a person reads (times, sizes, payloads).

Filters return plain strings; Jinja's autoescaping then escapes whatever came from Redis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from flask import Flask

from runqy.broker import WorkerRecord

BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def when(unix: int | float | None) -> str:
    """Unix seconds as `2026-11-28 12:00:00 UTC`; unset (None or 0) as an em dash."""
    if not unix:
        return "—"
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def age(unix: int | float | None, now: float | None = None) -> str:
    """How long ago `unix` was: `4.0 s ago`; in the future: `in 3 min`."""
    if not unix:
        return "—"
    delta = (now if now is not None else time.time()) - unix
    return f"{duration(delta)} ago" if delta >= 0 else f"in {duration(-delta)}"


def filesize(size: int | None) -> str:
    if size is None:
        return "unknown"
    value = float(size)
    for unit in BYTE_UNITS:
        if value < 1024 or unit == BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable: the loop returns on its last unit")


def number(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


def percent(part: int, whole: int) -> str:
    return "—" if not whole else f"{100 * part / whole:.1f}%"


def pretty(data: bytes | str | None) -> str:
    """Payload or result bytes for display: indented JSON when it parses, else the text."""
    if data is None:
        return ""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return text


def preview(data: bytes | str | None, limit: int = 120) -> str:
    """One line of a payload for tables."""
    text = " ".join(pretty(data).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def worker_condition(worker: WorkerRecord) -> str:
    """`healthy`, `degraded` (beating, but its processes are not healthy) or `stale` (no beat
    for 30 s): what an operator needs to know about a worker listening to a queue."""
    if worker.stale:
        return "stale"
    return "healthy" if worker.healthy else "degraded"


def listening(workers: Sequence[WorkerRecord], queue: str) -> list[tuple[WorkerRecord, str]]:
    """The runqy workers whose heartbeat lists `queue`, each with its condition."""
    return [(w, worker_condition(w)) for w in workers if queue in w.queues]


FILTERS = {"when": when, "age": age, "duration": duration, "filesize": filesize,
           "number": number, "pretty": pretty, "preview": preview}


def register_filters(app: Flask) -> None:
    for name, function in FILTERS.items():
        app.add_template_filter(function, name)
    app.add_template_global(percent, "percent")
    app.add_template_global(listening, "listening")
