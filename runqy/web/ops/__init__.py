"""Operations routes: `/health`, `/healthz`, `/metrics`, `/openapi.json`, `/docs` and `/`."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from flask import Blueprint, Response, current_app, redirect, request, url_for
from markupsafe import escape

from runqy import __version__
from runqy.core.system import readiness_checks
from runqy.core.values import format_time
from runqy.metrics import render
from runqy.web.auth import presented_key
from runqy.web.errors import ApiError, dependency_failure, unavailable_message
from runqy.web.extensions import db
from runqy.web.ops.openapi import openapi_document
from runqy.web.state import core, runqy_state

ops_bp = Blueprint("ops", __name__)
log = logging.getLogger("runqy.web")


@ops_bp.get("/health")
def health() -> Any:
    """Liveness: the process answers."""
    return {"status": "ok", "version": __version__, "timestamp": format_time(time.time())}


def _probe(name: str, check: Any) -> tuple[dict[str, Any], str | None]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported below
        # The driver's text names the server: it stays out of the body and the log.
        log.warning("healthz: %s unavailable: %s", name, dependency_failure(exc))
        return {"ok": False, "latency_ms": None}, unavailable_message(name, exc)
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}, None


@ops_bp.get("/healthz")
def healthz() -> Any:
    """Readiness: Redis and the database answer."""
    checks = readiness_checks(core())
    redis_status, redis_error = _probe("redis", checks["redis"])
    db_status, db_error = _probe("database", checks["database"])
    body: dict[str, Any] = {"status": "ok", "redis": redis_status, "database": db_status,
                            "timestamp": format_time(time.time())}
    if redis_error is None and db_error is None:
        return body
    db.session.rollback()
    body["status"] = "unavailable"
    body["errors"] = [err for err in (redis_error, db_error) if err]
    body["code"] = "redis_unavailable" if redis_error else "database_unavailable"
    return body, 503


@ops_bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics (Bearer token when RUNQY_METRICS_TOKEN is set)."""
    token = runqy_state().settings.metrics_token
    if token:
        given = presented_key() or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise ApiError(401, "unauthorized", "a valid metrics token is required "
                           "(Authorization: Bearer <RUNQY_METRICS_TOKEN>)")
    body, content_type = render(runqy_state().metrics_registry, request.headers.get("Accept"))
    return Response(body, content_type=content_type)


@ops_bp.get("/openapi.json")
def openapi() -> Any:
    """This OpenAPI document."""
    return openapi_document(current_app)


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>runqy API</title>
<link rel="stylesheet" href="{css}"><link rel="icon" href="{icon}"></head>
<body><div id="swagger-ui" data-spec="{spec}"></div><script src="{js}"></script>
<script src="{init}"></script></body></html>
"""


@ops_bp.get("/docs")
def docs() -> Response:
    """Swagger UI for this API."""
    def asset(name: str) -> str:
        return str(escape(url_for("static", filename=name)))

    vendor = "vendor/swagger-ui/"
    page = DOCS_PAGE.format(css=asset(vendor + "swagger-ui.css"),
                            js=asset(vendor + "swagger-ui-bundle.js"),
                            icon=asset(vendor + "favicon-32x32.png"), init=asset("js/docs.js"),
                            spec=escape(url_for("ops.openapi")))
    return Response(page, mimetype="text/html")


@ops_bp.get("/")
def index() -> Response:
    """Redirect to the dashboard, or to /docs with --no-ui."""
    if runqy_state().settings.no_ui:
        return redirect(url_for("ops.docs"), 302)
    return redirect(current_app.config["RUNQY_MONITORING_PREFIX"] + "/", 302)
