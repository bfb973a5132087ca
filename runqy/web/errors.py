"""The one error envelope (`{"errors": [...], "code": ...}`) and its translation table.

Views raise :class:`ApiError` (or let a broker exception through); the handlers registered by
:func:`register_error_handlers` turn everything into the envelope, so status codes are decided
here and nowhere else.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from runqy.broker import errors as broker_errors
from runqy.core import errors as domain
from runqy.core.errors import domain_error_status

log = logging.getLogger("runqy.web")


class ApiError(Exception):
    """An expected failure with its HTTP status, stable code and messages for a person."""

    def __init__(self, status: int, code: str, *messages: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(messages[0] if messages else code)
        self.status = status
        self.code = code
        self.messages = list(messages) or [code.replace("_", " ")]
        self.headers = headers or {}


def error_response(status: int, code: str, *messages: str,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"errors": list(messages) or [code.replace("_", " ")], "code": code})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def invalid_request(*messages: str) -> ApiError:
    return ApiError(400, "invalid_request", *messages)


def os_reason(exc: BaseException) -> str | None:
    """The operating system's reason behind a Redis or database failure ("Connection refused"),
    found in the exception's chain; the exception's own text is never shown or logged, since
    redis-py and the database drivers put the server's host and port in it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    return None


def dependency_failure(exc: BaseException) -> str:
    """A failure for the server log: `ConnectionError (Connection refused)`."""
    reason = os_reason(exc)
    return f"{type(exc).__name__} ({reason})" if reason else type(exc).__name__


def unavailable_message(name: str, exc: BaseException) -> str:
    """A failure for a client: `redis: connection refused`, else `redis: not available`."""
    return f"{name}: {(os_reason(exc) or 'not available').lower()}"


def broker_error_status(exc: Exception) -> tuple[int, str]:
    """(status, code) of a broker exception, through the core's one table."""
    error = domain.translated(exc)
    return (500, "internal_error") if error is None else (domain_error_status(error), error.code)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               400: "invalid_request", 401: "unauthorized", 403: "forbidden"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, *exc.messages, headers=exc.headers)

    @app.errorhandler(domain.DomainError)
    def _domain_error(exc: domain.DomainError) -> Response:
        headers = ({"Retry-After": str(exc.retry_after)} if isinstance(exc, domain.Busy)
                   else None)
        return error_response(domain_error_status(exc), exc.code, *exc.messages,
                              headers=headers)

    @app.errorhandler(broker_errors.BrokerError)
    def _broker_error(exc: broker_errors.BrokerError) -> Response:
        status, code = broker_error_status(exc)
        if status == 500:
            return _internal(exc)
        if isinstance(exc, broker_errors.TaskOutcomeUnknownError):
            # Its text ends with the driver's, which names the Redis server.
            log.warning("redis connection lost in %s %s", request.method, request.path)
            return error_response(status, code, f"redis: connection lost before it answered; "
                                  f"task {exc.task_id!r} in queue {exc.queue!r} may or may not "
                                  "have been written (look it up before retrying)")
        return error_response(status, code, str(exc))

    @app.errorhandler(redis.RedisError)
    def _redis_error(exc: redis.RedisError) -> Response:
        log.warning("redis unavailable in %s %s: %s", request.method, request.path,
                    dependency_failure(exc))
        return error_response(503, "redis_unavailable", unavailable_message("redis", exc))

    @app.errorhandler(OperationalError)
    @app.errorhandler(SAInterfaceError)
    def _db_error(exc: Exception) -> Response:
        log.warning("database unavailable: %s", type(exc).__name__)
        return error_response(503, "database_unavailable", "database: not available")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if request.path.startswith(app.config.get("RUNQY_MONITORING_PREFIX", "/monitoring")):
            return exc.get_response()
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "invalid_request" if status < 500 else "internal_error")
        message = exc.description or code
        if status == 404:
            message = f"no route {request.path}"
        elif status == 405:
            message = f"method {request.method} not allowed on {request.path}"
        elif status == 413:
            message = "request body is too large"
        response = error_response(status, code, message)
        if status == 405 and exc.get_headers():
            for name, value in exc.get_headers():
                if name.lower() == "allow":
                    response.headers["Allow"] = value
        return response

    @app.errorhandler(Exception)
    def _internal(exc: Exception) -> Response:
        request_id = getattr(g, "request_id", "-")
        log.exception("internal error in %s %s [request %s]", request.method, request.path,
                      request_id)
        return error_response(500, "internal_error", f"internal error (request {request_id})")
