"""API-key authentication of a request: the presented key and the role guard on views (the
keys themselves and their constant-time comparison are in :mod:`runqy.web.keyring`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import request

from runqy.web.errors import ApiError
from runqy.web.keyring import ADMIN, CLIENT, WORKER, KeyRing
from runqy.web.state import runqy_state

F = TypeVar("F", bound=Callable[..., Any])


def presented_key() -> str | None:
    """Bearer key from Authorization, else X-API-Key. Never the query string."""
    headers = request.headers
    return key_of(headers.get("Authorization", ""), headers.get("X-API-Key", ""))


def key_of(authorization: str, api_key: str) -> str | None:
    """The key of an `Authorization` and an `X-API-Key` header value ("" when absent)."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return api_key.strip() or None


def has_role(ring: KeyRing, key: str | None, permitted: set[str] | frozenset[str]) -> bool:
    """Whether `key` is known and holds one of the `permitted` roles."""
    return key is not None and not ring.roles_for(key).isdisjoint(permitted)


def require_role(*allowed: str) -> Callable[[F], F]:
    """Decorator: 401 without a known key, 403 when the key's roles miss `allowed`.

    The admin role is always allowed.
    """
    permitted = set(allowed) | {ADMIN}

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = presented_key()
            ring: KeyRing = runqy_state().keyring
            roles = ring.roles_for(key) if key else set()
            if not roles:
                raise ApiError(401, "unauthorized", "a valid API key is required "
                               "(Authorization: Bearer <key> or X-API-Key)")
            if not roles & permitted:
                raise ApiError(403, "forbidden", "this API key may not call this route")
            return view(*args, **kwargs)

        wrapper.required_roles = tuple(sorted(permitted))  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


__all__ = ["ADMIN", "CLIENT", "WORKER", "has_role", "key_of", "presented_key", "require_role"]
