"""The lean path of the two hottest client routes, inside the same WSGI app and server.

`POST /queue/add` and `GET /queue/<id>` (without `?wait`) cost ~550 µs of server CPU per
request through Flask, ~60 % of it Flask's request/response machinery (request and app
contexts, URL matching, before/after hooks, the Response object and its header
bookkeeping) rather than the enqueue itself (bench/README.md, "Single enqueue over HTTP").
This WSGI middleware answers the ordinary successful case of those two routes directly:
same view code (`runqy.web.api.client.added` / `task_answer`), same key check (constant time,
the roles the Flask view declares), same JSON encoding as Flask's, the same headers
(X-Request-ID, Cache-Control, X-Content-Type-Options, HSTS over HTTPS), request metrics and
access-log line.

Anything else goes to Flask unchanged, so every other behaviour is Flask's by construction:
other routes and methods, any query string (`?wait=true`), a key that is missing, unknown or
lacks the role (401/403), a CORS request (an `Origin` when CORS origins are configured), a body
without a Content-Length or over the size limit, debug mode. A request that fails once
started (bad JSON, a rejected job, Redis down) is answered by Flask's own error handlers and
after-request hooks, with the body already read put back; nothing is re-run.

The request hooks it stands in for are listed in tests/server/test_lean_routes.py, which fails
when a hook is added or removed (this module must then follow). Only public Flask API is used
(`request_context`, `preprocess_request`,
`handle_user_exception`, `finalize_request`, `app.json`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

from flask import Flask

from runqy.core.values import TASK_ID_RE
from runqy.metrics.http_metrics import STARTED, RequestMetrics
from runqy.web.api.client import added, task_answer
from runqy.web.auth import has_role, key_of
from runqy.web.inputs import parse_json
from runqy.web.request_log import log_access, request_id_from
from runqy.web.security_headers import HSTS
from runqy.web.state import RunqyState

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class LeanRoutes:
    """WSGI middleware in front of the Flask app's own `wsgi_app` (see the module doc)."""

    def __init__(self, app: Flask, flask_wsgi: WSGIApp, state: RunqyState,
                 metrics: RequestMetrics, prefix: str) -> None:
        self.app = app
        self.flask_wsgi = flask_wsgi
        self.state = state
        self.metrics = metrics
        self.add_path = f"{prefix}/queue/add"
        self.task_path = f"{prefix}/queue/"
        self.add_roles = frozenset(app.view_functions["api.add_task"].required_roles)
        self.get_roles = frozenset(app.view_functions["api.get_task"].required_roles)
        self.cors = bool(state.settings.cors_origins)
        json_provider = app.json
        self._encode = json.JSONEncoder(
            default=json_provider.default, ensure_ascii=json_provider.ensure_ascii,  # type: ignore[attr-defined]
            sort_keys=json_provider.sort_keys, separators=(",", ":")).encode  # type: ignore[attr-defined]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            roles = None
        elif method == "POST" and path == self.add_path:
            roles = self.add_roles
        elif (method == "GET" and path.startswith(self.task_path)
              and TASK_ID_RE.fullmatch(path[len(self.task_path):])):
            roles = self.get_roles
        else:
            roles = None
        if roles is None:
            return self.flask_wsgi(environ, start_response)
        if ((self.cors and "HTTP_ORIGIN" in environ) or self.app.debug
                or not has_role(self.state.keyring, key_of(environ.get("HTTP_AUTHORIZATION", ""),
                                                            environ.get("HTTP_X_API_KEY", "")),
                                roles)):
            return self.flask_wsgi(environ, start_response)
        started = environ[STARTED] = perf_counter()
        if method == "POST":
            raw = self._body(environ)
            if raw is None:
                return self.flask_wsgi(environ, start_response)
            answer = self._run(lambda: added(self.state, parse_json(raw)))
        else:
            answer = self._run(lambda: task_answer(self.state, path[len(self.task_path):]))
        if isinstance(answer, BaseException):
            return self._flask_error(environ, start_response, answer)
        return self._respond(environ, start_response, method, path, answer, started)

    def _body(self, environ: dict[str, Any]) -> bytes | None:
        """The request body, put back for Flask; None when Flask must read it (no length,
        over the limit)."""
        length = environ.get("CONTENT_LENGTH", "")
        limit = self.app.config["MAX_CONTENT_LENGTH"]
        if not length.isdigit() or (limit is not None and int(length) > limit):
            return None
        raw = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(raw)
        return raw

    @staticmethod
    def _run(view: Callable[[], dict[str, Any]]) -> dict[str, Any] | Exception:
        """The view's answer or the exception it raised. No app context: the one database
        read (a queue lookup missing the cache) opens its own (runqy.web.queue_cache)."""
        try:
            return view()
        except Exception as exc:  # noqa: BLE001 - answered by Flask's handlers
            return exc

    def _respond(self, environ: dict[str, Any], start_response: Callable[..., Any],
                 method: str, path: str, answer: dict[str, Any], started: float
                 ) -> Iterable[bytes]:
        body = (self._encode(answer) + "\n").encode()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("X-Content-Type-Options", "nosniff"), ("X-Request-ID", request_id),
                   ("Cache-Control", "no-store")]
        if environ.get("wsgi.url_scheme") == "https":
            headers.append(("Strict-Transport-Security", HSTS))
        rule = self.add_path if method == "POST" else f"{self.task_path}<task_id>"
        self.metrics.observe(method, rule, 200, max(perf_counter() - started, 0.0))
        log_access(method, path, 200, started, request_id)
        start_response("200 OK", headers)
        return [body]

    def _flask_error(self, environ: dict[str, Any], start_response: Callable[..., Any],
                     exc: BaseException) -> Iterable[bytes]:
        """Flask's answer to `exc`: its error handlers and every after-request hook."""
        app = self.app
        with app.request_context(environ):
            answer = app.preprocess_request()
            if answer is None:
                answer = app.handle_user_exception(exc)  # type: ignore[arg-type]
            response = app.finalize_request(answer)
        return response(environ, start_response)
