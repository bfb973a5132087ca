"""Where dashboard views get what they show: the app's Settings, Redis, Inspector and Broker.

The server core keeps one `RunqyState` per app in `app.extensions["runqy"]`, the dashboard its
own `DashboardState` in `app.extensions["monitoring"]`; this module is the only place views
reach into either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from flask import current_app

from runqy.broker import Broker, Inspector, TaskInfo, keys
from runqy.config import Settings
from runqy.core.runtime import Runtime
from runqy.core.vaults import VaultCipher
from runqy.web.monitoring.history import HistoryCache
from runqy.web.monitoring.throttle import LoginThrottle
from runqy.web.state import runqy_state


@dataclass
class DashboardState:
    """The dashboard's own per-app objects, at `app.extensions["monitoring"]`."""

    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    history: HistoryCache = field(default_factory=HistoryCache)


def dashboard_state() -> DashboardState:
    return current_app.extensions["monitoring"]


def core() -> Runtime:
    return runqy_state().core


def settings() -> Settings:
    return runqy_state().settings


def redis_client() -> redis.Redis:
    return runqy_state().redis


def inspector() -> Inspector:
    return runqy_state().inspector


def broker() -> Broker:
    return runqy_state().broker


def cipher() -> VaultCipher | None:
    return runqy_state().cipher


def read_only() -> bool:
    return settings().read_only


def group_sizes(queue: str, groups: list[str]) -> dict[str, int]:
    """Aggregating tasks per group of `queue` (the inspector lists groups, not their sizes)."""
    pipe = redis_client().pipeline(transaction=False)
    for group in groups:
        pipe.zcard(keys.group(queue, group))
    return dict(zip(groups, pipe.execute(), strict=True))


def task_since(queue: str, state: str, tasks: list[TaskInfo]) -> dict[str, int]:
    """Unix seconds since each listed task waits (pending: its ``pending_since``) or runs
    (active: the start time in its worker's asynq WorkerInfo, 8.1); tasks without one are left
    out. Only the listed page is read, so the cost does not grow with the queue."""
    if state == "pending":
        pipe = redis_client().pipeline(transaction=False)
        for task in tasks:
            pipe.hget(keys.task_key(queue, task.id), "pending_since")
        nanos = pipe.execute()
        return {t.id: int(raw) // 1_000_000_000 for t, raw in zip(tasks, nanos, strict=True)
                if raw and raw.isdigit()}
    if state == "active":
        wanted = {t.id for t in tasks}
        return {w.task_id: w.start_time.seconds for server in inspector().servers()
                for w in server.workers if w.task_id in wanted and w.start_time.seconds}
    return {}
