"""The `monitoring` blueprint object and the rules every dashboard request passes through.

The access rules (login, CSRF, read-only) are in `auth`; here are the shared constants, the
`ui` context every template gets, and the translation of failures into HTML pages.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Blueprint, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError

from runqy.broker.errors import BrokerError
from runqy.core.errors import DomainError, domain_error_status
from runqy.web.errors import broker_error_status, dependency_failure
from runqy.web.extensions import db
from runqy.web.monitoring.forms import POLL_CHOICES, THEME_CHOICES
from runqy.web.state import runqy_state

bp = Blueprint("monitoring", __name__, url_prefix="/monitoring")

# Endpoints reachable without a session.
PUBLIC_ENDPOINTS = frozenset({"monitoring.setup", "monitoring.login"})
# Mutating endpoints that stay open in read-only mode: they change no queue, task or config.
READ_ONLY_ALLOWED = frozenset({"monitoring.setup", "monitoring.login", "monitoring.logout",
                               "monitoring.settings", "monitoring.sign_out_everywhere",
                               "monitoring.change_password"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

NAV = (
    ("monitoring.overview", "Overview"),
    ("monitoring.queues", "Queues"),
    ("monitoring.search_page", "Search"),
    ("monitoring.workers", "Workers"),
    ("monitoring.metrics", "Metrics"),
    ("monitoring.queue_configs", "Queue config"),
    ("monitoring.vaults", "Vaults"),
    ("monitoring.system", "System"),
    ("monitoring.settings", "Settings"),
)
POLL_INTERVALS = tuple(int(choice.value) for choice in POLL_CHOICES)
THEMES = tuple(choice.value for choice in THEME_CHOICES)
POLL_COOKIE = "runqy_poll"
THEME_COOKIE = "runqy_theme"


@dataclass(frozen=True)
class UiState:
    """What the layout needs on every page."""

    poll_interval: int
    theme: str
    read_only: bool
    nav: tuple[tuple[str, str], ...] = NAV


def poll_interval() -> int:
    raw = request.cookies.get(POLL_COOKIE, "5")
    return int(raw) if raw.isdigit() and int(raw) in POLL_INTERVALS else 5


def theme() -> str:
    chosen = request.cookies.get(THEME_COOKIE, "system")
    return chosen if chosen in THEMES else "system"


def message_page(title: str, message: str, status: int) -> tuple[str, int]:
    return render_template("monitoring/message.html", title=title, message=message), status


@bp.context_processor
def ui_context() -> dict[str, object]:
    return {"ui": UiState(poll_interval=poll_interval(), theme=theme(),
                          read_only=runqy_state().settings.read_only)}


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> tuple[str, int]:
    return message_page("Request refused", f"Security token problem: {exc.description}", 400)


@bp.errorhandler(redis.RedisError)
def redis_failed(exc: redis.RedisError) -> tuple[str, int]:
    current_app.logger.warning("dashboard: redis unavailable: %s", dependency_failure(exc))
    return message_page("Redis unavailable", "Redis did not answer; retrying on the next "
                        "refresh.", 503)


@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def database_failed(exc: Exception) -> tuple[str, int]:
    # A page, not the API's JSON: the login page itself reads the database.
    current_app.logger.warning("dashboard: database unavailable: %s", type(exc).__name__)
    db.session.rollback()
    return message_page("Database unavailable", "The database did not answer; try again in a "
                        "moment.", 503)


@bp.errorhandler(BrokerError)
def broker_failed(exc: BrokerError) -> tuple[str, int]:
    status, _code = broker_error_status(exc)
    if status == 404:
        return message_page("Not found", str(exc), 404)
    return message_page("Not possible", str(exc), status if status != 500 else 400)


@bp.errorhandler(DomainError)
def domain_failed(exc: DomainError) -> tuple[str, int]:
    status = domain_error_status(exc)
    title = "Not found" if status == 404 else "Not possible"
    return message_page(title, str(exc), status)
