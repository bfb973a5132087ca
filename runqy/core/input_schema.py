"""Checking a task payload against a queue's `input_schema` (http-api.md 5.2, step 2), and a
configuration's field defaults against their field's type (7.4)."""

from __future__ import annotations

from typing import Any

from runqy.core.values import is_int


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if is_int(value):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _coerce(value: Any, allowed: list[str]) -> tuple[bool, Any]:
    """Whether `value` matches one of the types; whole floats become ints for `int`."""
    kind = _json_type(value)
    if kind in allowed:
        return True, value
    if kind == "int" and "float" in allowed:
        return True, value
    if kind == "float" and "int" in allowed and value.is_integer():
        return True, int(value)
    return False, value


def check_field_value(name: str, types: list[str], value: Any) -> tuple[Any, str | None]:
    """(the value, coerced as in a payload; the problem naming field `name`, or None)."""
    ok, coerced = _coerce(value, types)
    if ok:
        return coerced, None
    return value, f"field '{name}' has type {_json_type(value)}, expected {' or '.join(types)}"


def apply_input_schema(schema: list[dict[str, Any]], data: Any) -> tuple[Any, list[str]]:
    """Returns (payload with defaults filled in, one message per failed field)."""
    if not isinstance(data, dict):
        return data, [f"the payload must be an object, not {_json_type(data)}"]
    result = dict(data)
    errors: list[str] = []
    for field in schema:
        name, types = field["name"], field["type"]
        if name not in result:
            if field.get("required", True):
                errors.append(f"field '{name}' is required")
            elif "default" in field:
                result[name] = field["default"]
            continue
        result[name], problem = check_field_value(name, types, result[name])
        if problem:
            errors.append(problem)
    return result, errors
