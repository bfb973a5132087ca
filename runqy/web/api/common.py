"""The admin guard every admin API view uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import request

from runqy.web.auth import ADMIN, require_role
from runqy.web.errors import ApiError
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

