"""The dashboard's own per-app objects, created in `create_app` when the dashboard is mounted.

Everything else a dashboard view needs comes from the app state (:func:`runqy.web.state.
runqy_state`) and the core operations (:func:`runqy.web.state.core`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from runqy.web.monitoring.history import HistoryCache

EXTENSION = "monitoring"


@dataclass
class DashboardState:
    """At `app.extensions["monitoring"]`."""

    history: HistoryCache = field(default_factory=HistoryCache)


def dashboard_state() -> DashboardState:
    return current_app.extensions[EXTENSION]
