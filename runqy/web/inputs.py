"""Reading a request: the JSON body, query parameters, and user bytes shown back as JSON.

Malformed input raises the API's 400 errors; the value rules themselves (names, IDs, times,
bounds) are in :mod:`runqy.core.values`, shared with the dashboard and the CLI.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from flask import request

from runqy.web.errors import ApiError, invalid_request

# Surrogate escapes, 3-digit exponents and 309-digit runs: what may parse to a value that
# cannot be written back as UTF-8 JSON.
_SUSPECT_TEXT = re.compile(r"\\u[dD][89a-fA-F]|[eE][+-]?\d{3}|\d{309}")
# What an integer query parameter looks like (int() also takes "+5", " 5", "5_0" and non-ASCII
# digits, which the OpenAPI document's integers do not).
_INTEGER = re.compile(r"-?[0-9]{1,19}")




def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body(*, require_object: bool = True) -> Any:
    """The request body parsed as JSON whatever the Content-Type (400 invalid_json otherwise)."""
    return parse_json(request.get_data(cache=True), require_object=require_object)


def parse_json(raw: bytes, *, require_object: bool = True) -> Any:
    """A request body parsed as JSON (400 invalid_json otherwise); see `json_body`."""
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


def query_int(name: str, default: int, minimum: int, maximum: int, *,
              aliases: tuple[str, ...] = ()) -> int:
    """An integer query parameter in [minimum, maximum]; the first of `name` and `aliases`
    given wins, and every one given must be valid (a bad alias is never silently ignored)."""
    found: int | None = None
    for key in (name, *aliases):
        raw = request.args.get(key)
        if raw is None:
            continue
        if not _INTEGER.fullmatch(raw):
            raise invalid_request(f"query parameter '{key}' must be an integer")
        value = int(raw)
        if not minimum <= value <= maximum:
            raise invalid_request(f"query parameter '{key}' must be {minimum}-{maximum}")
        found = value if found is None else found
    return default if found is None else found


def query_bool(name: str) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    # An empty value (`?force=`) is neither: refused rather than guessed.
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
