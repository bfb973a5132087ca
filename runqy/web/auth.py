"""API-key authentication by role (admin, worker, client), compared in constant time.

Every configured key is hashed once; a presented key is hashed and compared with *every*
configured digest using ``hmac.compare_digest``, so timing does not reveal which role matched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request

from runqy.web.errors import ApiError

ADMIN, WORKER, CLIENT = "admin", "worker", "client"

F = TypeVar("F", bound=Callable[..., Any])


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True)
class KeyRing:
    """The configured keys as (role, digest) pairs; empty keys give the role no key."""

    entries: tuple[tuple[str, bytes], ...]

    @classmethod
    def build(cls, admin: str, worker: str | None, client: str | None) -> KeyRing:
        pairs = [(ADMIN, admin), (WORKER, worker), (CLIENT, client)]
        return cls(tuple((role, _digest(key)) for role, key in pairs if key))

    def roles_for(self, presented: str) -> set[str]:
        digest = _digest(presented)
        roles = set()
        for role, expected in self.entries:  # no early exit: constant work per request
            if hmac.compare_digest(digest, expected):
                roles.add(role)
        return roles


def presented_key() -> str | None:
    """Bearer key from Authorization, else X-API-Key. Never the query string."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    api_key = request.headers.get("X-API-Key", "").strip()
    return api_key or None


def require_role(*allowed: str) -> Callable[[F], F]:
    """Decorator: 401 without a known key, 403 when the key's roles miss `allowed`.

    The admin role is always allowed.
    """
    permitted = set(allowed) | {ADMIN}

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = presented_key()
            ring: KeyRing = current_app.extensions["runqy"].keyring
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
