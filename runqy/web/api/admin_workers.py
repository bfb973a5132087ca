"""Admin worker routes: `/api/workers`, one worker, and its log lines (section 7.3)."""

from __future__ import annotations

import re
from typing import Any

from runqy.broker import WorkerRecord
from runqy.broker.errors import WorkerNotFoundError
from runqy.core.values import format_time, is_int
from runqy.web.api import api_bp
from runqy.web.api.common import admin_route
from runqy.web.errors import ApiError
from runqy.web.inputs import query_int
from runqy.web.state import runqy_state

_GO_MAP_ENTRY = re.compile(r"([^\s:\[\]]+):(\d+)")


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def worker_object(record: WorkerRecord) -> dict[str, Any]:
    """A broker WorkerRecord as the JSON object of section 7.3.

    Fields of the heartbeat that do not parse are null, and `error` names them; `error` is
    absent from a worker whose heartbeat parsed cleanly (as in `/api/queues` entries).
    """
    fields = record.fields
    priorities = {name: int(prio)
                  for name, prio in _GO_MAP_ENTRY.findall(fields.get("queues", ""))}
    names = record.queues or sorted(priorities, key=lambda n: (-priorities[n], n))
    entry: dict[str, Any] = {
        "worker_id": record.worker_id,
        "hostname": fields.get("hostname") or None,
        "pid": _int_or_none(fields.get("pid")),
        "version": fields.get("version") or None,
        "status": record.status,
        "healthy": record.healthy,
        "stale": record.stale,
        "started_at": format_time(record.started_at),
        "last_beat": format_time(record.last_beat),
        "concurrency": record.concurrency,
        "queues": [{"name": name, "priority": priorities.get(name)} for name in names],
        "recovery": record.recovery,
        "metrics": record.metrics,
        "active_tasks": list(record.active_tasks),
    }
    if record.error:
        entry.update(dict.fromkeys(record.invalid_fields))
        entry["error"] = record.error
    return entry


def _worker_not_found(worker_id: str) -> ApiError:
    return ApiError(404, "worker_not_found", f"worker {worker_id} not found")


@api_bp.get("/api/workers")
@admin_route
def list_workers() -> Any:
    """Every runqy worker with its heartbeat."""
    workers = sorted(runqy_state().inspector.runqy_workers(), key=lambda w: w.worker_id)
    return {"workers": [worker_object(w) for w in workers], "count": len(workers)}


@api_bp.get("/api/workers/<worker_id>")
@admin_route
def get_worker(worker_id: str) -> Any:
    """One worker's heartbeat."""
    try:
        return worker_object(runqy_state().inspector.runqy_worker(worker_id))
    except WorkerNotFoundError:
        raise _worker_not_found(worker_id) from None


@api_bp.get("/api/workers/<worker_id>/logs")
@admin_route
def worker_logs(worker_id: str) -> Any:
    """A worker's recent log lines."""
    limit = query_int("n", 200, 1, 500)
    since = query_int("since", -1, -1, 2**62)
    inspector = runqy_state().inspector
    lines = inspector.worker_logs(worker_id, limit=limit)
    if not lines:
        try:
            inspector.runqy_worker(worker_id)
        except WorkerNotFoundError:
            raise _worker_not_found(worker_id) from None
    if since >= 0:
        # A line without an integer seq (a foreign or broken writer) cannot be "after" since.
        lines = [line for line in lines if is_int(line.get("seq")) and line["seq"] > since]
    return {"worker_id": worker_id, "lines": lines, "count": len(lines)}
