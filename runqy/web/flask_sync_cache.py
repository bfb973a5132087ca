"""A Flask speed-up that leans on how Flask dispatches: `ensure_sync` answered once per function.

Flask asks `inspect` whether every hook and view is a coroutine function on every call (seven
times per API request, ~25 µs, measured in bench/README.md); none of runqy's are, and the
answer never changes for a function. This relies on Flask routing every view and hook call
through `app.ensure_sync` (Flask 3.0 and 3.1; pinned in pyproject.toml), which
tests/server/test_library_internals.py checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask


class RunqyFlask(Flask):
    """Flask with `ensure_sync` answered once per function."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_functions: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        sync = self._sync_functions.get(func)
        if sync is None:
            sync = self._sync_functions[func] = super().ensure_sync(func)
        return sync
