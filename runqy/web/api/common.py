"""Helpers every API view uses: the admin guard and the task object (5.1)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import request

from runqy.core.values import format_time
from runqy.web.auth import ADMIN, require_role
from runqy.web.errors import ApiError
from runqy.web.inputs import decode_user_bytes
from runqy.web.state import runqy_state

F = TypeVar("F", bound=Callable[..., Any])


def admin_route(view: F) -> F:
    """Admin role; changes (non-GET) refused with 403 read_only in read-only mode."""

    @require_role(ADMIN)
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if runqy_state().settings.read_only and request.method not in ("GET", "HEAD"):
            raise ApiError(403, "read_only", "the server is in read-only mode")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def task_object(info: Any) -> dict[str, Any]:
    """The task object of http-api.md 5.1 from a broker TaskInfo."""
    obj: dict[str, Any] = {"id": info.id, "queue": info.queue, "type": info.type,
                           "state": info.state}
    obj.update(decode_user_bytes(info.payload, "payload"))
    obj.update({
        "max_retry": info.max_retry,
        "retried": info.retried,
        "last_err": info.error_msg or None,
        "last_failed_at": format_time(info.last_failed_at),
        "next_process_at": format_time(info.next_process_at),
        "completed_at": format_time(info.completed_at),
        "timeout": info.timeout,
        "deadline": format_time(info.deadline),
        "retention": info.retention,
    })
    if info.result is None:
        obj["result"] = None
    else:
        obj.update(decode_user_bytes(info.result, "result"))
    obj["is_orphaned"] = bool(info.is_orphaned)
    if info.group:
        obj["group"] = info.group
    return obj
