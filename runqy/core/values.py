"""The value rules every front door shares: names, task IDs, times, bounded numbers.

Each check raises :class:`runqy.core.errors.InvalidInput` with the contract's code, so a
malformed request never reaches Redis or the database (http-api.md sections 1 and 3), whether
it came through the API, the dashboard or the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from runqy.core.errors import InvalidInput

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
# Surrogate escapes, 3-digit exponents and 309-digit runs: what may parse to a value that
# cannot be written back as UTF-8 JSON.
SUSPECT_JSON_TEXT = re.compile(r"\\u[dD][89a-fA-F]|[eE][+-]?\d{3}|\d{309}")


def reject_json_constant(name: str) -> Any:
    """json.loads' parse_constant: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def reject_unknown(body: Mapping[str, Any], allowed: Iterable[str], where: str = "") -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        prefix = f"{where}: " if where else ""
        raise InvalidInput(*(f"{prefix}unknown field '{key}'" for key in unknown))


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_seconds(value: Any, name: str, *, minimum: int = 0) -> int:
    """Whole seconds: ints, or floats with no fraction (30.0); bools and strings are refused."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_int(value):
        raise InvalidInput(f"'{name}' must be a whole number of seconds")
    if value < minimum:
        raise InvalidInput(f"'{name}' must be at least {minimum}")
    if value > MAX_SECONDS:
        raise InvalidInput(f"'{name}' must be at most {MAX_SECONDS}")
    return value


def as_int(value: Any, name: str, *, minimum: int | None = None,
           maximum: int | None = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_int(value):
        raise InvalidInput(f"'{name}' must be an integer")
    if minimum is not None and value < minimum:
        raise InvalidInput(f"'{name}' must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise InvalidInput(f"'{name}' must be at most {maximum}")
    return value


def as_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"'{name}' must be true or false")
    return value


def as_string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string")
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
    raise InvalidInput(f"'{name}' must be an RFC 3339 time with an offset or unix seconds")


def _not_after_max_time(unix: int, name: str) -> int:
    if unix > MAX_TIME:
        raise InvalidInput(f"'{name}' must not be after 9999-12-31T23:59:59Z")
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
    """`imgs` -> `imgs.default`; `parent.sub` kept; else InvalidInput `invalid_queue_name`."""
    if not isinstance(name, str):
        raise InvalidInput(f"'{field}' must be a string")
    parts = name.split(".")
    if len(parts) == 1:
        parts.append("default")
    full = ".".join(parts)
    if (len(parts) != 2 or len(full) > QUEUE_NAME_MAX
            or not all(NAME_PART_RE.fullmatch(part) for part in parts)):
        raise InvalidInput(f"invalid queue name {name!r}: use parent.sub with letters, digits, "
                           "'_' and '-'", code="invalid_queue_name")
    return full


def parent_of(queue: str) -> str:
    return queue.split(".", 1)[0]


def check_task_id(task_id: Any, field: str = "task_id") -> str:
    if not isinstance(task_id, str) or not TASK_ID_RE.fullmatch(task_id):
        raise InvalidInput(f"'{field}' must match {TASK_ID_RE.pattern}")
    return task_id
