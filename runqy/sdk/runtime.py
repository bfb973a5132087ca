"""Task-side runtime: handler registration and the stdin/stdout line protocol loop.

The contract is worker-protocol.md 9.1.

Only the standard library is used here: the worker copies this package into task virtualenvs
that do not have runqy installed.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class RetryableError(Exception):
    """Raise in a handler to fail the attempt and let the worker retry the task."""


class PermanentError(Exception):
    """Raise in a handler to archive the task at once, without further retries."""


@dataclass(frozen=True)
class TaskContext:
    """What a handler may know about the task it is running (`current_task()`)."""

    task_id: str
    queue: str | None
    type: str | None
    retried: int
    max_retry: int
    deadline: float | None


class _Registry:
    handler: Callable[..., Any] | None = None
    loader: Callable[..., Any] | None = None
    # The request being handled; its TaskContext is built only when asked for.
    request: dict[str, Any] | None = None
    current: TaskContext | None = None


def _register(kind: str, fn: F | None) -> F | Callable[[F], F]:
    def decorate(func: F) -> F:
        if getattr(_Registry, kind) is not None:
            print(f"runqy: a second @{_DECORATOR_NAMES[kind]} replaces the first", file=sys.stderr)
        setattr(_Registry, kind, func)
        return func

    return decorate(fn) if fn is not None else decorate


_DECORATOR_NAMES = {"handler": "task", "loader": "load"}


def task(fn: F | None = None) -> Any:
    """Register the task handler; usable as `@task` or `@task()`."""
    return _register("handler", fn)


def load(fn: F | None = None) -> Any:
    """Register the loader, called once before the ready line; its result becomes `ctx`."""
    return _register("loader", fn)


def current_task() -> TaskContext | None:
    """The task being handled, or None outside a handler."""
    request = _Registry.request
    if request is not None and _Registry.current is None:
        deadline = request.get("deadline")
        _Registry.current = TaskContext(
            task_id=request["task_id"],
            queue=request.get("queue"),
            type=request.get("type"),
            retried=int(request.get("retried", request.get("retry_count", 0)) or 0),
            max_retry=int(request.get("max_retry", 0) or 0),
            deadline=float(deadline) if isinstance(deadline, int | float) else None,
        )
    return _Registry.current


_JSON = json.JSONDecoder()
_UTF8_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_ASCII_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; values holding lone surrogates (a Go payload's ``"\\udcff"``)
    cannot be UTF-8, so they keep JSON's ``\\u`` escapes instead of failing. Raises
    ValueError or TypeError for what JSON cannot hold (NaN, a set)."""
    try:
        return _UTF8_JSON.encode(value).encode()
    except UnicodeEncodeError:
        return _ASCII_JSON.encode(value).encode()


def describe_exception(exc: BaseException) -> str:
    """`"<Type>: <message>"`, or the type name alone when the message is empty."""
    message = str(exc)
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


class _StderrStdout:
    """Stands in for `sys.stdout` once the protocol owns fd 1: writes go to stderr.

    It remembers whether the last write ended a line, so that `print("x", end="")` inside a
    handler can be terminated after the task and show up in the logs as its own line.
    """

    def __init__(self, target: IO[str]) -> None:
        self._target = target
        self.line_open = False

    def write(self, text: str) -> int:
        if text:
            self.line_open = not text.endswith("\n")
        return self._target.write(text)

    def flush(self) -> None:
        self._target.flush()

    def end_open_line(self) -> None:
        if self.line_open:
            self.write("\n")
            self.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _Protocol:
    """The private protocol channel (the real stdout) and the input lines."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self._out = os.fdopen(os.dup(1), "wb", buffering=0)
        # From here on fd 1 and sys.stdout are stderr, so print() and C libraries writing to
        # stdout can never corrupt a protocol line.
        os.dup2(2, 1)
        self.user_stdout = _StderrStdout(sys.stderr)
        sys.stdout = self.user_stdout
        self._in = sys.stdin.buffer

    def send(self, message: dict[str, Any]) -> None:
        self.send_line(encode_json(message))

    def send_line(self, line: bytes) -> None:
        self._out.write(line + b"\n")

    def lines(self):
        for raw in self._in:
            if raw.strip():
                yield raw

    def read_line(self) -> bytes | None:
        for raw in self.lines():
            return raw
        return None


class _Runner:
    """Runs the handler for one request line and builds the response (worker-protocol.md 6.3)."""

    def __init__(self, protocol: _Protocol) -> None:
        self.protocol = protocol
        self._loop: asyncio.AbstractEventLoop | None = None
        handler = _Registry.handler
        if handler is None:
            self._fail_startup("no task handler registered")
        self.handler = handler
        self.takes_ctx = self._takes_ctx(handler)
        try:
            self.ctx = self._call(_Registry.loader) if _Registry.loader else None
        except Exception as exc:  # any loader failure is a start-up failure
            traceback.print_exc()
            self._fail_startup(f"load failed: {describe_exception(exc)}")
        protocol.send({"status": "ready"})

    def _fail_startup(self, error: str) -> None:
        self.protocol.send({"status": "error", "error": error})
        sys.exit(1)

    def _takes_ctx(self, handler: Callable[..., Any]) -> bool:
        params = list(inspect.signature(handler).parameters.values())
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            return True
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if not positional:
            self._fail_startup("the task handler must accept a payload parameter")
        return len(positional) >= 2

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        value = fn(*args)
        if value is not None and inspect.isawaitable(value):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            value = self._loop.run_until_complete(value)
        return value

    def handle(self, raw: bytes) -> None:
        try:
            request = _JSON.decode(raw.decode())  # no encoding detection: the protocol is UTF-8
            if not isinstance(request, dict) or not isinstance(request.get("task_id"), str):
                raise ValueError("a request must be an object with a string task_id")
        except ValueError as exc:
            print(f"runqy: ignoring an unreadable request line: {exc}", file=sys.stderr)
            return
        self.protocol.send_line(self._respond(request))

    def _respond(self, request: dict[str, Any]) -> bytes:
        """The response line: a success is written as ``{"task_id":…,"result":…,"error":null,
        "retry":false}`` with the result encoded once, the framing the worker splices from."""
        task_id = request["task_id"]
        payload = request.get("payload")
        if request.get("payload_encoding") == "base64" and isinstance(payload, str):
            payload = base64.b64decode(payload)
        _Registry.request = request
        try:
            args = (payload, self.ctx) if self.takes_ctx else (payload,)
            result = self._call(self.handler, *args)
        except PermanentError as exc:
            traceback.print_exc()
            return _failure(task_id, describe_exception(exc), retry=False)
        except Exception as exc:  # the contract: every other Exception is retryable
            traceback.print_exc()
            return _failure(task_id, describe_exception(exc), retry=True)
        finally:
            _Registry.request = _Registry.current = None
            self.protocol.user_stdout.end_open_line()
        try:
            result_json = encode_json(result)
        except (TypeError, ValueError) as exc:
            error = f"result is not JSON-serialisable: {describe_exception(exc)}"
            return _failure(task_id, error, retry=False)
        return (b'{"task_id":' + encode_json(task_id) + b',"result":' + result_json
                + b',"error":null,"retry":false}')


def _failure(task_id: str, error: str, *, retry: bool) -> bytes:
    return encode_json({"task_id": task_id, "result": None, "error": error, "retry": retry})


def run() -> None:
    """Serve requests from stdin until EOF: the long_running loop."""
    protocol = _Protocol()
    runner = _Runner(protocol)
    for raw in protocol.lines():
        runner.handle(raw)


def run_once() -> None:
    """Serve a single request (one_shot mode); return without a response at EOF."""
    protocol = _Protocol()
    runner = _Runner(protocol)
    raw = protocol.read_line()
    if raw is not None:
        runner.handle(raw)
