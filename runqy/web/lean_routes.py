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

Under `runqy serve`, `POST /queue/add` and `GET /queue/<id>` usually do not reach this
middleware: the lean lane (runqy.web.waitress_lane) answers them off waitress's thread pool with
the same methods (`roles_for`, `admits`, `body_fits`, `add_job`/`add_many`, `task_answers`,
`response`), and sends what fails there back here with its exception (`FAILED`), for Flask's
handlers.

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

from runqy.broker import EnqueueRequest
from runqy.core.objects import added_object
from runqy.core.values import TASK_ID_RE
from runqy.metrics.http_metrics import STARTED, RequestMetrics
from runqy.web.api.client import added, task_answer, task_answers
from runqy.web.auth import has_role, key_of
from runqy.web.inputs import parse_json
from runqy.web.request_log import log_access, request_id_from
from runqy.web.security_headers import HSTS
from runqy.web.state import RunqyState

OK = "200 OK"
# WSGI environ key: the exception a lean request raised where its answer could not be written
# (the lean lane, runqy.web.waitress_lane); Flask's handlers answer it, nothing is re-run.
FAILED = "runqy.lean_failed"

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

    def roles_for(self, method: str, path: str, query: str) -> frozenset[str] | None:
        """The roles a request may hold for the lean path to answer it; None: not a lean
        route (another route or method, or any query string)."""
        if query:
            return None
        if method == "POST" and path == self.add_path:
            return self.add_roles
        if (method == "GET" and path.startswith(self.task_path)
                and TASK_ID_RE.fullmatch(path[len(self.task_path):])):
            return self.get_roles
        return None

    def admits(self, roles: frozenset[str], origin: bool, authorization: str,
               api_key: str) -> bool:
        """Whether the lean path may answer a request to a lean route with these headers (no
        CORS `Origin` when CORS is on, not debug mode, a key holding one of `roles`)."""
        return (not (self.cors and origin) and not self.app.debug
                and has_role(self.state.keyring, key_of(authorization, api_key), roles))

    def body_fits(self, length: str) -> bool:
        """Whether a POST body of this Content-Length value is read here (else by Flask)."""
        limit = self.app.config["MAX_CONTENT_LENGTH"]
        return length.isdigit() and (limit is None or int(length) <= limit)

    def add_job(self, raw: bytes, load: Callable[[str], Any] | None = None
                ) -> tuple[EnqueueRequest, Any]:
        """The checks of one `POST /queue/add` body (`Enqueuer.job`; `load` as there)."""
        return self.state.enqueuer.job(parse_json(raw), load)

    def add_many(self, jobs: list[tuple[EnqueueRequest, Any]]
                 ) -> list[dict[str, Any] | Exception]:
        """The answers of several checked adds, enqueued in one Redis round trip."""
        try:
            done = self.state.enqueuer.add_many(jobs)
        except Exception as exc:  # noqa: BLE001 - each request answers it (Flask's handlers)
            return [exc] * len(jobs)
        return [each if isinstance(each, Exception) else added_object(each) for each in done]

    def task_answers(self, task_ids: list[str]) -> list[dict[str, Any] | Exception]:
        """The answers of several `GET /queue/<id>`, their tasks read together."""
        return task_answers(self.state, task_ids)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        failed = environ.get(FAILED)
        if failed is not None:  # a request that failed on the lean lane (runqy.web.waitress_lane)
            return self._flask_error(environ, start_response, failed)
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        roles = self.roles_for(method, path, environ.get("QUERY_STRING", ""))
        if roles is None or not self.admits(roles, "HTTP_ORIGIN" in environ,
                                            environ.get("HTTP_AUTHORIZATION", ""),
                                            environ.get("HTTP_X_API_KEY", "")):
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
        headers, body = self.response(method, path, answer, started,
                                      environ.get("HTTP_X_REQUEST_ID", ""),
                                      environ.get("wsgi.url_scheme") == "https")
        start_response(OK, headers)
        return [body]

    def _body(self, environ: dict[str, Any]) -> bytes | None:
        """The request body, put back for Flask; None when Flask must read it (no length,
        over the limit)."""
        length = environ.get("CONTENT_LENGTH", "")
        if not self.body_fits(length):
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

    def response(self, method: str, path: str, answer: dict[str, Any], started: float,
                 given_request_id: str, https: bool) -> tuple[list[tuple[str, str]], bytes]:
        """The headers and body of a lean answer (status OK), counted in the request metrics
        and written to the access log as Flask's hooks would."""
        body = (self._encode(answer) + "\n").encode()
        request_id = request_id_from(given_request_id)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("X-Content-Type-Options", "nosniff"), ("X-Request-ID", request_id),
                   ("Cache-Control", "no-store")]
        if https:
            headers.append(("Strict-Transport-Security", HSTS))
        rule = self.add_path if method == "POST" else f"{self.task_path}<task_id>"
        self.metrics.observe(method, rule, 200, max(perf_counter() - started, 0.0))
        log_access(method, path, 200, started, request_id)
        return headers, body

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
