"""Admin worker routes: `/api/workers`, one worker, and its log lines (section 7.3), as thin
views on :mod:`runqy.core.workers`."""

from __future__ import annotations

from typing import Any

from runqy.core import workers
from runqy.web.api import api_bp
from runqy.web.api.common import admin_route
from runqy.web.inputs import query_int
from runqy.web.state import core


@api_bp.get("/api/workers")
@admin_route
def list_workers() -> Any:
    """Every runqy worker with its heartbeat."""
    listed = workers.list_workers(core())
    return {"workers": listed, "count": len(listed)}


@api_bp.get("/api/workers/<worker_id>")
@admin_route
def get_worker(worker_id: str) -> Any:
    """One worker's heartbeat."""
    return workers.worker_info(core(), worker_id)


@api_bp.get("/api/workers/<worker_id>/logs")
@admin_route
def worker_logs(worker_id: str) -> Any:
    """A worker's recent log lines."""
    limit = query_int("n", 200, 1, workers.LOG_LIMIT)
    since = query_int("since", -1, -1, 2**62)
    lines = workers.worker_logs(core(), worker_id, limit=limit, since=since)
    return {"worker_id": worker_id, "lines": lines, "count": len(lines)}
