"""The one-time token that first-time setup asks for, so that creating the admin account is
not open to whoever reaches /monitoring/setup first.

The token lives in `<instance>/setup-token` (mode 0600; `runqy serve` prints it in its banner
while no admin exists) and is deleted once the admin exists. A server that only listens on
loopback and is not behind a proxy skips it: whoever reaches it already has the machine.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import secrets
from pathlib import Path

from flask import Request

from runqy.config import Settings, read_or_create_secret

TOKEN_FILE = "setup-token"  # noqa: S105 - a file name, not a secret
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def token_path(settings: Settings) -> Path:
    return settings.instance_dir / TOKEN_FILE


def ensure_setup_token(settings: Settings) -> str:
    """The pending setup token, created (mode 0600) if there is none yet."""
    return read_or_create_secret(token_path(settings), lambda: secrets.token_urlsafe(24))[0]


def setup_token_required(settings: Settings, request: Request) -> bool:
    """False only for a loopback-bound server that no proxy forwards to."""
    if settings.trusted_proxies or any(name in request.headers for name in FORWARDING_HEADERS):
        return True
    if settings.host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        return True  # a host name: it may resolve to anything


def setup_token_matches(settings: Settings, given: str | None) -> bool:
    expected = ensure_setup_token(settings)
    return hmac.compare_digest(expected.encode(), (given or "").strip().encode())


def discard_setup_token(settings: Settings) -> None:
    with contextlib.suppress(FileNotFoundError):
        token_path(settings).unlink()
