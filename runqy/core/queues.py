"""Runtime queues: naming, listing with statistics, pause and resume, delete.

A queue exists when Redis knows it (``asynq:queues``) or an enabled configuration names it; a
configured queue nothing was enqueued to yet has empty statistics and can be paused (it is then
registered in Redis, as an enqueue would).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from runqy.broker import (
    DailyStats,
    QueueAlreadyPausedError,
    QueueNotFoundError,
    QueueNotPausedError,
    QueueStats,
)
from runqy.core.errors import NotFound
from runqy.core.models import QueueConfig
from runqy.core.runtime import Runtime
from runqy.core.values import normalize_queue


@dataclass(frozen=True)
class QueueSummary:
    """One runtime queue: its statistics (None before anything was enqueued) or why they could
    not be read."""

    name: str
    configured: bool
    stats: QueueStats | None = None
    error: str | None = None


def configured_queue_names(rt: Runtime) -> set[str]:
    """``parent.sub`` for every enabled sub-queue of every enabled configuration."""
    names = set()
    for config in rt.session.query(QueueConfig).filter_by(enabled=True):
        names.update(f"{config.name}.{s.name}" for s in config.sub_queues if s.enabled)
    return names


def priorities(rt: Runtime) -> dict[str, int]:
    """``parent.sub`` -> priority for every sub-queue of every enabled configuration."""
    return {sub.full_name: sub.priority
            for config in rt.session.query(QueueConfig).filter_by(enabled=True)
            for sub in config.sub_queues}


def resolve(rt: Runtime, raw: str) -> str:
    """The exact name when Redis knows it (Go producers' ``default``), else the normalized name;
    NotFound unless Redis or a configuration knows it."""
    known = set(rt.inspector.queue_names())
    if raw in known:
        return raw
    name = normalize_queue(raw)
    if name not in known and name not in configured_queue_names(rt):
        raise NotFound(f"queue '{name}' is unknown", code="queue_not_found")
    return name


def _summary(rt: Runtime, name: str, configured: bool) -> QueueSummary:
    try:
        return QueueSummary(name, configured, rt.inspector.queue_stats(name))
    except QueueNotFoundError:
        return QueueSummary(name, configured)


def list_queues(rt: Runtime) -> list[QueueSummary]:
    """Every queue Redis or a configuration knows, sorted; one unreadable queue is reported with
    its error instead of failing the list."""
    configured = configured_queue_names(rt)
    out = []
    for name in sorted(set(rt.inspector.queue_names()) | configured):
        try:
            out.append(_summary(rt, name, name in configured))
        except Exception as exc:  # noqa: BLE001 - a foreign key of the wrong type, say
            out.append(QueueSummary(name, name in configured, error=str(exc)))
    return out


def queue_summary(rt: Runtime, raw: str) -> QueueSummary:
    name = resolve(rt, raw)
    return _summary(rt, name, name in configured_queue_names(rt))


def history(rt: Runtime, name: str, days: int) -> list[DailyStats]:
    """Daily processed/failed counters, oldest first; empty for a queue not yet in Redis."""
    try:
        return rt.inspector.history(name, days)
    except QueueNotFoundError:
        return []


def set_paused(rt: Runtime, raw: str, paused: bool) -> str:
    """Pause or resume (idempotent); returns the queue's name."""
    name = resolve(rt, raw)
    rt.admin.register_queues([name])
    with contextlib.suppress(QueueAlreadyPausedError, QueueNotPausedError):
        rt.admin.pause_queue(name) if paused else rt.admin.unpause_queue(name)
    return name


@dataclass(frozen=True)
class Deleted:
    name: str
    config_disabled: bool


def delete_queue(rt: Runtime, raw: str, force: bool = False) -> Deleted:
    """Delete a queue's tasks (refused when not empty, or with ``force`` when tasks are active)
    and disable its sub-queue configuration, so it does not come back at the next start."""
    name = resolve(rt, raw)
    with contextlib.suppress(QueueNotFoundError):  # configured, never enqueued to
        rt.admin.delete_queue(name, force=force)
    disabled = False
    if "." in name:
        parent, sub = name.split(".", 1)
        config = rt.session.query(QueueConfig).filter_by(name=parent).one_or_none()
        for row in config.sub_queues if config else []:
            if row.name == sub and row.enabled:
                row.enabled = False
                disabled = True
        rt.session.commit()
    return Deleted(name, disabled)
