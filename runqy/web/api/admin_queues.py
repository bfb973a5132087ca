"""Admin system and runtime-queue routes: `/api/system`, `/api/queues[...]` (section 7.1)."""

from __future__ import annotations

from typing import Any

from runqy.core import queues
from runqy.core.objects import deleted_queue_object, queue_detail_object, summary_object
from runqy.core.system import system_info
from runqy.core.values import format_time
from runqy.web.api import api_bp
from runqy.web.api.common import admin_route
from runqy.web.inputs import query_bool, query_int
from runqy.web.state import core, runqy_state


@api_bp.get("/api/system")
@admin_route
def system() -> Any:
    """Server version, mode, Redis and database."""
    st = runqy_state()
    settings = st.settings
    info = system_info(st.core, settings)
    return {
        "version": info.version,
        "started_at": format_time(st.started_at),
        "read_only": settings.read_only,
        "ui": not settings.no_ui,
        "vaults_enabled": st.cipher is not None,
        "redis": {"url": info.redis_url,
                  "embedded": settings.redis_embedded,
                  "version": info.redis.get("redis_version"),
                  "used_memory_bytes": info.redis.get("used_memory"),
                  "connected_clients": info.redis.get("connected_clients")},
        "database": {"type": info.database["kind"], "location": info.database["location"]},
    }


@api_bp.get("/api/queues")
@admin_route
def list_queues() -> Any:
    """Every runtime queue with its statistics."""
    listed = [summary_object(summary) for summary in queues.list_queues(core())]
    return {"queues": listed, "count": len(listed)}


@api_bp.get("/api/queues/<queue>")
@admin_route
def queue_detail(queue: str) -> Any:
    """One queue's statistics and daily history."""
    summary = queues.queue_summary(core(), queue)
    days = query_int("days", 7, 1, 90)
    return queue_detail_object(summary, queues.history(core(), summary.name, days))


@api_bp.post("/api/queues/<queue>/pause")
@admin_route
def pause_queue(queue: str) -> Any:
    """Pause a queue (idempotent)."""
    return {"queue": queues.set_paused(core(), queue, True), "paused": True}


@api_bp.post("/api/queues/<queue>/unpause")
@admin_route
def unpause_queue(queue: str) -> Any:
    """Resume a paused queue (idempotent)."""
    return {"queue": queues.set_paused(core(), queue, False), "paused": False}


@api_bp.delete("/api/queues/<queue>")
@admin_route
def delete_queue(queue: str) -> Any:
    """Delete a queue's tasks and disable its configuration."""
    deleted = queues.delete_queue(core(), queue, force=query_bool("force"))
    return deleted_queue_object(deleted)
