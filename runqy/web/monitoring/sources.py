"""Where dashboard views get what they show: the app's Settings, core runtime and Inspector.

The server keeps one `RunqyState` per app (:mod:`runqy.web.state`), the dashboard its own
`DashboardState` in `app.extensions["monitoring"]`; this module is the only place views
reach into either. Operations go through :mod:`runqy.core`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from runqy.broker import Inspector
from runqy.config import Settings
from runqy.core.runtime import Runtime
from runqy.web.monitoring.history import HistoryCache
from runqy.web.state import runqy_state


@dataclass
class DashboardState:
    """The dashboard's own per-app objects, at `app.extensions["monitoring"]`."""

    history: HistoryCache = field(default_factory=HistoryCache)


def dashboard_state() -> DashboardState:
    return current_app.extensions["monitoring"]


def core() -> Runtime:
    return runqy_state().core


def settings() -> Settings:
    return runqy_state().settings


def inspector() -> Inspector:
    return runqy_state().inspector


def read_only() -> bool:
    return settings().read_only
