"""Reading a request: the JSON body and query parameters.

Malformed input raises the API's 400 errors; the value rules themselves (names, IDs, times,
bounds) are in :mod:`runqy.core.values`, shared with the dashboard and the CLI.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from runqy.core.values import SUSPECT_JSON_TEXT, reject_json_constant
from runqy.web.errors import ApiError, invalid_request

# What an integer query parameter looks like (int() also takes "+5", " 5", "5_0" and non-ASCII
# digits, which the OpenAPI document's integers do not).
_INTEGER = re.compile(r"-?[0-9]{1,19}")


def json_body(*, require_object: bool = True) -> Any:
    """The request body parsed as JSON whatever the Content-Type (400 invalid_json otherwise)."""
    return parse_json(request.get_data(cache=True), require_object=require_object)


def parse_json(raw: bytes, *, require_object: bool = True) -> Any:
    """A request body parsed as JSON (400 invalid_json otherwise); see `json_body`."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=reject_json_constant)
        if SUSPECT_JSON_TEXT.search(text):
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

