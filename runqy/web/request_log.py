"""Request IDs and the access-log line, for Flask's hooks and the lean path alike."""

from __future__ import annotations

import logging
import os
import time

access_log = logging.getLogger("runqy.web.access")

REQUEST_ID_OK = frozenset(chr(c) for c in range(0x20, 0x7F))  # printable ASCII, space included


def new_request_id() -> str:
    """32 random hex digits (uuid4's length without building a UUID object)."""
    return os.urandom(16).hex()


def request_id_from(given: str) -> str:
    """The client's X-Request-ID when it is 1-64 printable ASCII characters, else a new one."""
    ok = 1 <= len(given) <= 64 and REQUEST_ID_OK.issuperset(given)
    return given if ok else new_request_id()


def log_access(method: str, path: str, status: int, started: float, request_id: str) -> None:
    """The access-log line of one answered request (at INFO)."""
    if access_log.isEnabledFor(logging.INFO):
        # Path only: query strings may carry user data; keys are never in either.
        access_log.info("%s %s %s %.1fms [%s]", method, path, status,
                        (time.perf_counter() - started) * 1000, request_id)
