"""Request input rules shared by every JSON route: body parsing, field types, names, times.

Each reader raises :class:`runqy.web.errors.ApiError` with the contract's code, so a malformed
request never reaches Redis or the database (http-api.md sections 1 and 3).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import request

from runqy.web.errors import ApiError, invalid_request

_NAME_PART = r"[A-Za-z0-9][A-Za-z0-9_-]*"
NAME_PART_RE = re.compile(rf"^{_NAME_PART}$")
QUEUE_NAME_MAX = 128
TASK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# 9999-12-31T23:59:59Z: the last second RFC 3339 output (and Python's datetime) can show.
MAX_TIME = 253_402_300_799
# 100 years: now + any duration stays below MAX_TIME, in int64 protobuf fields and in the
# range Redis accepts for EX, so an accepted value can never fail later as a 500.
MAX_SECONDS = 100 * 365 * 24 * 3600
MAX_RETRY = 2**31 - 1  # TaskMessage.retry is an int32
_MISSING = object()
# Surrogate escapes, 3-digit exponents and 309-digit runs: what may parse to a value that
# cannot be written back as UTF-8 JSON.
_SUSPECT_TEXT = re.compile(r"\\u[dD][89a-fA-F]|[eE][+-]?\d{3}|\d{309}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body(*, require_object: bool = True) -> Any:
    """The request body parsed as JSON whatever the Content-Type (400 invalid_json otherwise)."""
    raw = request.get_data(cache=True)
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
        if _SUSPECT_TEXT.search(text):
            # A lone surrogate escape parses into a str UTF-8 cannot encode, and a number past
            # the double range into infinity, stored and echoed as `Infinity` (not JSON). Only
            # bodies with such text pay for this check.
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON (UTF-8, no "
                       "lone surrogate escapes, numbers within double range)") from None
    if require_object and not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return value


def reject_unknown(body: Mapping[str, Any], allowed: Iterable[str], where: str = "") -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        prefix = f"{where}: " if where else ""
        raise invalid_request(*(f"{prefix}unknown field '{key}'" for key in unknown))


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_seconds(value: Any, name: str, *, minimum: int = 0) -> int:
    """Whole seconds: ints, or floats with no fraction (30.0); bools and strings are refused."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_int(value):
        raise invalid_request(f"'{name}' must be a whole number of seconds")
    if value < minimum:
        raise invalid_request(f"'{name}' must be at least {minimum}")
    if value > MAX_SECONDS:
        raise invalid_request(f"'{name}' must be at most {MAX_SECONDS}")
    return value


def as_int(value: Any, name: str, *, minimum: int | None = None,
           maximum: int | None = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_int(value):
        raise invalid_request(f"'{name}' must be an integer")
    if minimum is not None and value < minimum:
        raise invalid_request(f"'{name}' must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise invalid_request(f"'{name}' must be at most {maximum}")
    return value


def as_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_request(f"'{name}' must be true or false")
    return value


def as_string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise invalid_request(f"'{name}' must be a string")
    return value


def as_time(value: Any, name: str) -> int:
    """RFC 3339 with any offset, or unix seconds as a number -> unix seconds (up to MAX_TIME)."""
    if is_int(value) or (isinstance(value, float) and value.is_integer()):
        return _not_after_max_time(int(value), name)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None and "T" in text.upper():
            return _not_after_max_time(int(parsed.timestamp()), name)
    raise invalid_request(f"'{name}' must be an RFC 3339 time with an offset or unix seconds")


def _not_after_max_time(unix: int, name: str) -> int:
    if unix > MAX_TIME:
        raise invalid_request(f"'{name}' must not be after 9999-12-31T23:59:59Z")
    return unix


def format_time(unix: int | float | datetime | None) -> str | None:
    """RFC 3339 UTC with Z and whole seconds, or None when unset (0 counts as unset) or past
    year 9999 (foreign data: an int64 time that no RFC 3339 string can show)."""
    if unix is None:
        return None
    if isinstance(unix, datetime):
        moment = unix if unix.tzinfo else unix.replace(tzinfo=UTC)
    else:
        if not 0 < unix <= MAX_TIME:
            return None
        moment = datetime.fromtimestamp(int(unix), UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_queue(name: Any, field: str = "queue") -> str:
    """`imgs` -> `imgs.default`; `parent.sub` kept; anything else 400 invalid_queue_name."""
    if not isinstance(name, str):
        raise invalid_request(f"'{field}' must be a string")
    parts = name.split(".")
    if len(parts) == 1:
        parts.append("default")
    full = ".".join(parts)
    if (len(parts) != 2 or len(full) > QUEUE_NAME_MAX
            or not all(NAME_PART_RE.fullmatch(part) for part in parts)):
        raise ApiError(400, "invalid_queue_name", f"invalid queue name {name!r}: use parent.sub "
                       "with letters, digits, '_' and '-'")
    return full


def parent_of(queue: str) -> str:
    return queue.split(".", 1)[0]


def check_task_id(task_id: Any, field: str = "task_id") -> str:
    if not isinstance(task_id, str) or not TASK_ID_RE.fullmatch(task_id):
        raise invalid_request(f"'{field}' must match {TASK_ID_RE.pattern}")
    return task_id


def query_int(name: str, default: int, minimum: int, maximum: int, *,
              aliases: tuple[str, ...] = ()) -> int:
    raw = request.args.get(name)
    for alias in aliases:
        if raw is None:
            raw = request.args.get(alias)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_request(f"query parameter '{name}' must be an integer") from None
    if not minimum <= value <= maximum:
        raise invalid_request(f"query parameter '{name}' must be {minimum}-{maximum}")
    return value


def query_bool(name: str) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no", ""}:
        return False
    raise invalid_request(f"query parameter '{name}' must be true or false")


def decode_user_bytes(data: bytes | None, key: str) -> dict[str, Any]:
    """JSON value, else UTF-8 text, else base64 with `<key>_encoding` (http-api.md 5.1)."""
    if data is None:
        return {key: None}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {key: base64.b64encode(data).decode("ascii"), f"{key}_encoding": "base64"}
    try:
        value = json.loads(text, parse_constant=_reject_constant)
        if _SUSPECT_TEXT.search(text):
            json.dumps(value, allow_nan=False)  # 1e400 is infinity: not sendable as JSON
    except (ValueError, RecursionError):
        return {key: text}
    return {key: value}
