"""Admin system and runtime-queue routes: `/api/system`, `/api/queues[...]` (section 7.1)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from runqy import __version__
from runqy.broker import keys
from runqy.broker.errors import (
    QueueAlreadyPausedError,
    QueueNotFoundError,
    QueueNotPausedError,
)
from runqy.config import mask_url_password
from runqy.web.api import api_bp
from runqy.web.api.common import admin_route, state
from runqy.web.errors import ApiError
from runqy.web.extensions import db
from runqy.web.inputs import format_time, normalize_queue, parent_of, query_bool, query_int
from runqy.web.models import QueueConfig

STATE_COUNTS = ("pending", "active", "scheduled", "retry", "archived", "completed")


def configured_queue_names() -> set[str]:
    names = set()
    for config in db.session.query(QueueConfig).filter_by(enabled=True):
        names.update(f"{config.name}.{s.name}" for s in config.sub_queues if s.enabled)
    return names


def resolve_admin_queue(raw: str) -> str:
    """Exact name when Redis knows it (Go producers' `default`), else the normalized name."""
    known = set(state().inspector.queue_names())
    if raw in known:
        return raw
    name = normalize_queue(raw)
    if name not in known and name not in configured_queue_names():
        raise ApiError(404, "queue_not_found", f"queue '{name}' is unknown")
    return name


def stats_object(name: str, stats: Any, configured: bool) -> dict[str, Any]:
    obj: dict[str, Any] = {"queue": name, "parent": parent_of(name), "configured": configured}
    if stats is None:
        obj.update({"paused": False, "size": 0, **dict.fromkeys(STATE_COUNTS, 0),
                    "latency_ms": 0, "memory_bytes": 0, "processed_today": 0,
                    "failed_today": 0, "succeeded_today": 0, "processed_total": 0,
                    "failed_total": 0})
    else:
        obj.update({
            "paused": bool(stats.paused), "size": stats.size,
            **{key: getattr(stats, key) for key in STATE_COUNTS},
            "latency_ms": int(round(stats.latency_seconds * 1000)),
            "memory_bytes": stats.memory_bytes,
            "processed_today": stats.processed, "failed_today": stats.failed,
            "succeeded_today": stats.processed - stats.failed,
            "processed_total": stats.processed_total, "failed_total": stats.failed_total,
        })
    obj["timestamp"] = format_time(time.time())
    return obj


def _queue_stats(name: str, configured: bool) -> dict[str, Any]:
    try:
        stats = state().inspector.queue_stats(name)
    except QueueNotFoundError:
        stats = None
    return stats_object(name, stats, configured)


@api_bp.get("/api/system")
@admin_route
def system() -> Any:
    """Server version, mode, Redis and database."""
    st = state()
    info = st.redis.info()
    settings = st.settings
    return {
        "version": __version__,
        "started_at": format_time(st.started_at),
        "read_only": settings.read_only,
        "ui": not settings.no_ui,
        "vaults_enabled": st.cipher is not None,
        "redis": {"url": mask_url_password(settings.redis_connection_url()),
                  "embedded": settings.redis_embedded,
                  "version": info.get("redis_version"),
                  "used_memory_bytes": info.get("used_memory"),
                  "connected_clients": info.get("connected_clients")},
        "database": {"type": settings.database_kind,
                     "location": settings.sqlite_file.as_posix()
                     if settings.database_kind == "sqlite"
                     else mask_url_password(settings.database_uri())},
    }


@api_bp.get("/api/queues")
@admin_route
def list_queues() -> Any:
    """Every runtime queue with its statistics."""
    configured = configured_queue_names()
    names = sorted(set(state().inspector.queue_names()) | configured)
    queues = []
    for name in names:
        try:
            queues.append(_queue_stats(name, name in configured))
        except Exception as exc:  # noqa: BLE001 - one unreadable queue must not fail the list
            entry = {"queue": name, "parent": parent_of(name), "configured": name in configured,
                     "paused": None, "size": None, **dict.fromkeys(STATE_COUNTS)}
            entry["error"] = str(exc)
            queues.append(entry)
    return {"queues": queues, "count": len(queues)}


@api_bp.get("/api/queues/<queue>")
@admin_route
def queue_detail(queue: str) -> Any:
    """One queue's statistics and daily history."""
    name = resolve_admin_queue(queue)
    days = query_int("days", 7, 1, 90)
    stats = _queue_stats(name, name in configured_queue_names())
    try:
        history = state().inspector.history(name, days)
    except QueueNotFoundError:
        history = []
    return {"queue": stats, "history": [
        {"date": day.date, "processed": day.processed, "failed": day.failed,
         "succeeded": day.processed - day.failed} for day in reversed(history)]}


def _set_paused(queue: str, paused: bool) -> Any:
    name = resolve_admin_queue(queue)
    broker = state().broker
    state().redis.sadd(keys.QUEUES, name)
    with contextlib.suppress(QueueAlreadyPausedError, QueueNotPausedError):  # idempotent
        broker.pause_queue(name) if paused else broker.unpause_queue(name)
    return {"queue": name, "paused": paused}


@api_bp.post("/api/queues/<queue>/pause")
@admin_route
def pause_queue(queue: str) -> Any:
    """Pause a queue (idempotent)."""
    return _set_paused(queue, True)


@api_bp.post("/api/queues/<queue>/unpause")
@admin_route
def unpause_queue(queue: str) -> Any:
    """Resume a paused queue (idempotent)."""
    return _set_paused(queue, False)


@api_bp.delete("/api/queues/<queue>")
@admin_route
def delete_queue(queue: str) -> Any:
    """Delete a queue's tasks and disable its configuration."""
    name = resolve_admin_queue(queue)
    force = query_bool("force")
    # A configured queue never enqueued to has nothing in Redis to remove.
    with contextlib.suppress(QueueNotFoundError):
        state().broker.delete_queue(name, force=force)
    config_disabled = False
    if "." in name:
        parent, sub = name.split(".", 1)
        config = db.session.query(QueueConfig).filter_by(name=parent).one_or_none()
        for row in config.sub_queues if config else []:
            if row.name == sub and row.enabled:
                row.enabled = False
                config_disabled = True
        db.session.commit()
    return {"queue": name, "deleted": True, "config_disabled": config_disabled}
