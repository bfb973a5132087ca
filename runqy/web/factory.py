"""Building the app: settings -> Flask app with database, Redis, keys and blueprints bound."""

from __future__ import annotations

import atexit
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask_migrate
from flask import Flask, Response, current_app, g, has_app_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from runqy.config import Settings, ensure_instance_dir, resolve_instance_secrets
from runqy.core.cipher import VaultCipher
from runqy.embedded_redis import EmbeddedRedis
from runqy.metrics import create_registry, init_request_metrics
from runqy.metrics.http_metrics import STARTED, UNSENT
from runqy.redis_connection import RedisClient, connect
from runqy.web.admin_sessions import SESSION_LIFETIME
from runqy.web.api import api_bp
from runqy.web.api.go_routes import go_bp
from runqy.web.errors import register_error_handlers
from runqy.web.extensions import csrf, db, login_manager, migrate
from runqy.web.keyring import KeyRing
from runqy.web.lean_routes import LeanRoutes
from runqy.web.monitoring import bp as monitoring_bp
from runqy.web.monitoring.presenters import register_filters
from runqy.web.monitoring.state import EXTENSION as DASHBOARD_EXTENSION
from runqy.web.monitoring.state import DashboardState
from runqy.web.ops import ops_bp
from runqy.web.queue_cache import QueueLookupCache
from runqy.web.request_log import log_access, new_request_id, request_id_from
from runqy.web.route_options import RunqyApp
from runqy.web.security_headers import init_security_headers
from runqy.web.sessions import DashboardSessionInterface, ScopedSessionInterface
from runqy.web.state import EXTENSION, RunqyState, runqy_state

log = logging.getLogger("runqy.web")

PACKAGE_DIR = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")
MONITORING_PREFIX = "/monitoring"


def resource_dir(name: str) -> Path:
    """`templates`/`static`: inside the installed package, else at the checkout's top level."""
    installed = PACKAGE_DIR / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name


def redis_client(url: str, threads: int) -> RedisClient:
    # 2 s per call: a dependency that does not answer gives 503, never a hung thread.
    return connect(url, socket_timeout=2, socket_connect_timeout=2,
                   max_connections=threads + 16, health_check_interval=30)


def _clear_queue_cache(_session: Any) -> None:
    # Any commit may have changed a queue configuration: drop this app's cached lookups so the
    # change is visible to the very next request (other processes see it within a second).
    if has_app_context() and "runqy" in current_app.extensions:
        runqy_state().queue_cache.invalidate()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _register_request_hooks(app: Flask, settings: Settings) -> None:
    origins = set(settings.cors_origins)

    @app.before_request
    def _request_id() -> Response | None:
        headers = request.headers
        g.request_id = request_id_from(headers.get("X-Request-ID", ""))
        g.request_started = time.perf_counter()
        if origins and request.method == "OPTIONS" and headers.get("Origin") in origins:
            return app.make_default_options_response()
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        req, ctx_g = request, g
        headers = response.headers
        request_id = ctx_g.get("request_id") or new_request_id()
        headers["X-Request-ID"] = request_id
        if not req.environ.get(UNSENT):
            log_access(req.method, req.path, response.status_code,
                       req.environ.get(STARTED) or ctx_g.get("request_started")
                       or time.perf_counter(), request_id)
        if response.mimetype == "application/json":
            headers["Cache-Control"] = "no-store"
        origin = req.headers.get("Origin") if origins else None
        if origin and origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = (
                "Authorization, X-API-Key, Content-Type, X-Request-ID")
            response.headers["Access-Control-Allow-Methods"] = (
                "GET, POST, PUT, PATCH, DELETE, OPTIONS")
        return response


def _bind_dashboard(app: Flask) -> None:
    """The dashboard's extensions and per-app state (the blueprint itself is mounted by the
    caller)."""
    app.config.update(
        # Flask ships a 31-day default; the dashboard's promise is seven days.
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # CSRF is checked by the dashboard's guard for its own requests only: the JSON API
        # authenticates with keys, not cookies, and must not demand a token.
        WTF_CSRF_CHECK_DEFAULT=False,
        # A dashboard tab may stay open for the whole 7-day session.
        WTF_CSRF_TIME_LIMIT=None,
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    register_filters(app)
    app.extensions[DASHBOARD_EXTENSION] = DashboardState()


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app for `settings` (default: Settings.load()). Migrates the database."""
    settings = settings or Settings.load()
    ensure_instance_dir(settings.instance_dir)
    secrets = resolve_instance_secrets(settings)
    prefix = settings.url_prefix.rstrip("/")
    app = RunqyApp(
        "runqy",
        instance_path=str(settings.instance_dir),
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
        static_url_path=f"{prefix}/static",
    )
    uri = settings.database_uri()
    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    if uri.startswith("sqlite"):
        settings.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        engine_options["connect_args"] = {"timeout": 5}
    else:
        engine_options["connect_args"] = {"connect_timeout": 2}
    app.config.update(
        SECRET_KEY=secrets.secret_key,
        SQLALCHEMY_DATABASE_URI=uri,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options,
        MAX_CONTENT_LENGTH=settings.max_body_size,
        JSON_SORT_KEYS=False,
        RUNQY_SETTINGS=settings,
        RUNQY_MONITORING_PREFIX=f"{prefix}{MONITORING_PREFIX}",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    db.init_app(app)
    if not event.contains(Session, "after_commit", _clear_queue_cache):
        event.listen(Session, "after_commit", _clear_queue_cache)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    with app.app_context():
        if uri.startswith("sqlite"):
            event.listen(db.engine, "connect", _sqlite_pragmas)
        flask_migrate.upgrade(directory=MIGRATIONS_DIR)
    cipher_key = settings.vault_key_bytes()
    state = RunqyState(
        settings=settings,
        secrets=secrets,
        keyring=KeyRing.build(secrets.admin_key, settings.worker_api_key, settings.client_api_key),
        redis=redis_client(settings.redis_connection_url(), settings.threads),
        cipher=VaultCipher(cipher_key) if cipher_key else None,
        # The lean routes (runqy.web.lean_routes) run outside any app context: a queue lookup
        # that reaches the database opens one.
        queue_cache=QueueLookupCache(
            load_context=lambda: nullcontext() if has_app_context() else app.app_context()),
    )
    state.metrics_registry = create_registry(state.core)
    request_metrics = init_request_metrics(app, state.metrics_registry)
    app.extensions[EXTENSION] = state
    register_error_handlers(app)
    _register_request_hooks(app, settings)
    init_security_headers(app)
    # Only the dashboard's paths open a (cookie) session.
    app.session_interface = ScopedSessionInterface(DashboardSessionInterface(),
                                                   f"{prefix}{MONITORING_PREFIX}")
    app.register_blueprint(ops_bp, url_prefix=prefix or None)
    app.register_blueprint(api_bp, url_prefix=prefix or None)
    app.register_blueprint(go_bp, url_prefix=prefix or None)  # the Go CLI's aliases
    if not settings.no_ui:
        _bind_dashboard(app)
        app.register_blueprint(monitoring_bp, url_prefix=f"{prefix}{MONITORING_PREFIX}")
    app.wsgi_app = LeanRoutes(app, app.wsgi_app, state, request_metrics, prefix)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)  # type: ignore[method-assign]
    if settings.config_dir is not None:
        from runqy.core.queue_configs import apply_config_dir

        with app.app_context():
            apply_config_dir(state.core, settings.config_dir)
    return app


@dataclass
class Bootstrapped:
    """An app plus the embedded Redis it runs on (None when Redis is external)."""

    app: Flask
    settings: Settings
    embedded: EmbeddedRedis | None


def bootstrap(settings: Settings | None = None) -> Bootstrapped:
    """Start the embedded Redis when none is configured, then build the app on it."""
    settings = settings or Settings.load()
    embedded = None
    if settings.wants_embedded_redis:
        ensure_instance_dir(settings.instance_dir)
        embedded = EmbeddedRedis(settings.instance_dir, settings.embedded_redis_port,
                                 settings.redis_server_bin).start()
        settings = settings.replace(redis_url=embedded.url, redis_embedded=True)
    try:
        app = create_app(settings)
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    return Bootstrapped(app, settings, embedded)


def wsgi_app(settings: Settings | None = None) -> Flask:
    """An app for an external WSGI server; an embedded Redis it started stops at exit."""
    booted = bootstrap(settings)
    if booted.embedded is not None:
        atexit.register(booted.embedded.stop)
    return booted.app
