"""Schemathesis hooks for the all-checks run (tests/contract/test_schemathesis.py): they drop
generated bodies breaking the rules the OpenAPI document states in words only, because JSON
Schema cannot say them: distinct sub-queue names, and a deadline in the future."""

from __future__ import annotations

import json
import time
from typing import Any

import schemathesis

from runqy.core.errors import InvalidInput
from runqy.core.values import as_time


def _distinct_sub_queue_names(body: dict[str, Any]) -> bool:
    subs = body.get("sub_queues")
    if not isinstance(subs, list):
        return True
    names = [json.dumps(s.get("name"), sort_keys=True) for s in subs if isinstance(s, dict)]
    return len(names) == len(set(names))


def _deadline_ahead(body: dict[str, Any]) -> bool:
    if "deadline" not in body:
        return True
    try:
        return as_time(body["deadline"], "deadline") > time.time() + 60
    except InvalidInput:
        return True  # a malformed deadline: a negative case, which must be refused anyway


@schemathesis.hook
def filter_body(context: Any, body: Any) -> bool:
    return not isinstance(body, dict) or (_distinct_sub_queue_names(body)
                                           and _deadline_ahead(body))
