"""One supervised task process and the line protocol spoken with it (worker-protocol.md 5-6).

`TaskProcess` starts the child in its own process group, performs the readiness handshake,
sends one request at a time and classifies every stdout and stderr line. One reader thread per
process polls both pipes and always drains stderr before it handles stdout, so every stderr
line carries the task that was running when its bytes arrived (a task's stderr is in its pipe
before its response is in the stdout pipe). The reader never stops on a bad line: oversized
lines are discarded without buffering, failing only the task in flight (stdout) or cut (stderr).

The child dies with the worker: it asks the kernel for SIGKILL when the worker thread that
started it goes away (``PR_SET_PDEATHSIG``), whatever kills the worker, kill -9 included.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

LogSink = Callable[[str, str, "str | None"], None]
_READ_CHUNK = 1 << 16
_PR_SET_PDEATHSIG = 1
# Resolved once in the worker: the child must not load libraries between fork and exec.
_prctl = getattr(ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True), "prctl", None)


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A step for a new child: SIGKILL when the thread that started it exits (Linux).

    The check after prctl closes the race where the parent died before the request took
    effect. Used as a task process's pre-exec step, and by the worker processes of
    `runqy worker --processes N`.
    """

    def arm() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return arm


class StartupError(Exception):
    """The process did not become ready (5.1); always a failure for the circuit breaker."""


class Verdict(Enum):
    SUCCESS = "success"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Outcome:
    """What should happen to a task after an attempt (7.1)."""

    verdict: Verdict
    result: bytes | None = None
    error: str = ""


class ReplyKind(Enum):
    RESPONSE = "response"
    OVERSIZE = "oversize"
    EXITED = "exited"
    TIMEOUT = "timeout"
    ABORTED = "aborted"


@dataclass(frozen=True)
class Reply:
    """How one attempt on a process ended."""

    kind: ReplyKind
    outcome: Outcome | None = None
    exit_code: int | None = None
    reason: str = ""


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; values holding lone surrogates (a Go payload's ``"\\udcff"``)
    cannot be UTF-8, so they keep JSON's ``\\u`` escapes instead of failing."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def outcome_from_response(message: Mapping[str, Any]) -> Outcome:
    """Classify a response object by the first matching row of 6.3."""
    error = message.get("error")
    retry = message.get("retry", True)
    if not isinstance(message.get("task_id"), str):
        return Outcome(Verdict.PERMANENT, error="protocol error: 'task_id' must be a string")
    if error is not None and not isinstance(error, str):
        return Outcome(Verdict.PERMANENT, error="protocol error: 'error' must be a string or null")
    if "retry" in message and not isinstance(retry, bool):
        return Outcome(Verdict.PERMANENT, error="protocol error: 'retry' must be a boolean")
    if error is None:
        try:
            result = encode_json(message.get("result"))
        except ValueError as exc:
            return Outcome(Verdict.PERMANENT, error=f"result is not JSON-serialisable: {exc}")
        return Outcome(Verdict.SUCCESS, result=result)
    text = error or "task failed without an error message"
    return Outcome(Verdict.RETRY if retry else Verdict.PERMANENT, error=text)


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {-code}"
    return f"exit code {code}"


class TaskProcess:
    """A child started from `startup_cmd`, speaking the line protocol on stdin and stdout."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        max_line: int,
        on_log: LogSink,
        on_exit: Callable[[TaskProcess], None] | None = None,
        stop_grace: float = 10.0,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.max_line = max_line
        self.on_log = on_log
        self.on_exit = on_exit
        self.stop_grace = stop_grace
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._cond = threading.Condition()
        self._ready = False
        self._startup_error: str | None = None
        self._exit_code: int | None = None
        self._exited = False
        self._stopping = False
        self._task_id: str | None = None
        # Log lines are tagged with the latest task: stderr is read by its own thread and can
        # lag behind the response that ended the task.
        self._log_task_id: str | None = None
        self._reply: Reply | None = None
        self._reader: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def exited(self) -> bool:
        return self._exited

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    @property
    def ready(self) -> bool:
        return self._ready and not self._exited

    @property
    def stopping(self) -> bool:
        return self._stopping

    def start(self) -> None:
        try:
            self.popen = subprocess.Popen(  # noqa: PLW1509 - preexec_fn only calls prctl
                self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                start_new_session=True, preexec_fn=die_with_parent(os.getpid()),
            )
        except OSError as exc:
            raise StartupError(f"cannot start {self.argv[0]!r}: {exc.strerror or exc}") from exc
        self.started_at = time.monotonic()
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"proc-{self.pid}")
        self._reader.start()

    def wait_ready(self, timeout: float) -> None:
        """Block until the ready line; raise StartupError (and stop the process) otherwise."""
        limit = time.monotonic() + timeout
        with self._cond:
            while not self._ready and self._startup_error is None and not self._exited:
                left = limit - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if self._ready and not self._exited:
                return
            if self._startup_error is not None:
                error = f"startup failed: {self._startup_error}"
            elif self._exited:
                error = f"process exited during startup ({describe_exit(self._exit_code)})"
            else:
                error = f"startup timed out after {timeout:g} s"
        self.stop()
        raise StartupError(error)

    def stop(self) -> None:
        """Close stdin, SIGTERM the process group, SIGKILL after the grace period (5.4)."""
        with self._cond:
            self._stopping = True
        popen = self.popen
        if popen is None:
            return
        try:
            if popen.stdin:
                popen.stdin.close()
        except OSError:
            pass
        if popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                popen.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                popen.wait()
        self._signal_group(signal.SIGKILL)  # whatever the task started in its group
        if self._reader is not None:
            self._reader.join(2)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)  # type: ignore[union-attr]

    def close_stdin(self) -> None:
        try:
            if self.popen and self.popen.stdin:
                self.popen.stdin.close()
        except OSError:
            pass

    def wait_exit(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._exited, timeout)

    # -- tasks --------------------------------------------------------------------------------

    def run_task(
        self, task_id: str, line: bytes, time_limit: float, *, close_stdin: bool = False
    ) -> Reply:
        """Send one request line and wait for its reply, the exit, the time limit or an abort."""
        with self._cond:
            self._task_id = task_id
            self._log_task_id = task_id
            self._reply = None
        try:
            assert self.popen is not None and self.popen.stdin is not None
            view = memoryview(line)
            while view:
                view = view[self.popen.stdin.write(view):]
            if close_stdin:
                self.popen.stdin.close()
        except (OSError, ValueError):
            pass  # the process died; the reader reports the exit
        limit = time.monotonic() + time_limit
        with self._cond:
            while self._reply is None and not self._exited:
                left = limit - time.monotonic()
                if left <= 0:
                    self._task_id = None
                    return Reply(ReplyKind.TIMEOUT)
                self._cond.wait(left)
            reply = self._reply or Reply(ReplyKind.EXITED, exit_code=self._exit_code)
            self._task_id = None
            self._reply = None
            return reply

    def abort(self, task_id: str, reason: str) -> bool:
        """Make the running attempt of `task_id` return ABORTED now; False if it is not here."""
        with self._cond:
            if self._task_id != task_id or self._reply is not None:
                return False
            self._reply = Reply(ReplyKind.ABORTED, reason=reason)
            self._cond.notify_all()
            return True

    @property
    def task_id(self) -> str | None:
        return self._task_id

    # -- readers --------------------------------------------------------------------------

    def _deliver(self, reply: Reply) -> bool:
        with self._cond:
            if self._task_id is None or self._reply is not None:
                return False
            self._reply = reply
            self._cond.notify_all()
            return True

    def _read(self) -> None:
        """Read both pipes until stdout closes (the exit), then stderr until it closes."""
        assert self.popen is not None and self.popen.stdout and self.popen.stderr
        out, err = self.popen.stdout.fileno(), self.popen.stderr.fileno()
        stdout = _Lines(self.max_line, self._stdout_line, lambda _cut: self._oversize())
        stderr = _Lines(self.max_line, self._stderr_line, self._stderr_line)
        poller, err_only = select.poll(), select.poll()
        poller.register(out, select.POLLIN)
        poller.register(err, select.POLLIN)
        err_only.register(err, select.POLLIN)
        err_open = True
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if err_open:
                # Everything the task wrote to stderr before its response is logged first,
                # under the task's ID.
                err_open = _drain(err, stderr, err_only)
                if not err_open:
                    poller.unregister(err)
            if out in ready:
                chunk = _read_chunk(out)
                if not chunk:
                    break
                stdout.feed(chunk)
        stdout.close()
        self._finish()
        while err_open:
            err_only.poll()
            err_open = _drain(err, stderr, err_only)

    def _oversize(self) -> None:
        reply = Reply(
            ReplyKind.OVERSIZE,
            outcome=Outcome(
                Verdict.PERMANENT, error=f"response line exceeds {self.max_line} bytes"
            ),
        )
        if not self._deliver(reply):
            self.on_log("worker", f"discarded a stdout line over {self.max_line} bytes", None)

    def _stdout_line(self, raw: bytes) -> None:
        text = raw.rstrip(b"\r").decode("utf-8", "replace")
        message = None
        if text.lstrip().startswith("{"):
            try:
                message = json.loads(text)
            except ValueError:
                message = None
        if isinstance(message, dict):
            if "task_id" in message and self._ready:
                if message["task_id"] == self._task_id and self._deliver(
                    Reply(ReplyKind.RESPONSE, outcome=outcome_from_response(message))
                ):
                    return
                self.on_log(
                    "worker", f"response for task {message['task_id']!r}, which is not in "
                    "flight on this process", self._log_task_id,
                )
            elif "status" in message and "task_id" not in message and not self._ready:
                self._handshake(message)
                return
        self.on_log("stdout", text, self._log_task_id)

    def _handshake(self, message: Mapping[str, Any]) -> None:
        with self._cond:
            if message.get("status") == "ready":
                self._ready = True
            else:
                self._startup_error = str(message.get("error") or message.get("status"))
            self._cond.notify_all()

    def _stderr_line(self, raw: bytes) -> None:
        self.on_log("stderr", raw.rstrip(b"\r").decode("utf-8", "replace"), self._log_task_id)

    def _finish(self) -> None:
        code = self.popen.wait()  # type: ignore[union-attr]
        with self._cond:
            self._exit_code = code
            self._exited = True
            self._cond.notify_all()
            unexpected = not self._stopping
        if unexpected and self.on_exit is not None:
            self.on_exit(self)


class _Lines:
    """Splits one pipe's bytes into lines; a line over ``limit`` is cut to its first ``limit``
    bytes and handed to ``on_cut`` once, and the rest of it is dropped as it arrives."""

    def __init__(self, limit: int, on_line: Callable[[bytes], None],
                 on_cut: Callable[[bytes], None]) -> None:
        self.limit = limit
        self.on_line = on_line
        self.on_cut = on_cut
        self.buffer = bytearray()
        self.discarding = False

    def feed(self, chunk: bytes) -> None:
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            if self.discarding:
                self.discarding = False
            else:
                self.buffer += chunk[start:newline]
                self._hand_over()
            self.buffer.clear()
            start = newline + 1
        if not self.discarding:
            self.buffer += chunk[start:]
            if len(self.buffer) > self.limit:
                self._hand_over()
                self.buffer.clear()
                self.discarding = True

    def _hand_over(self) -> None:
        if len(self.buffer) > self.limit:
            self.on_cut(bytes(self.buffer[: self.limit]))
        else:
            self.on_line(bytes(self.buffer))

    def close(self) -> None:
        """A last line without a newline still counts (6.1)."""
        if self.buffer and not self.discarding:
            self.on_line(bytes(self.buffer))
        self.buffer.clear()


_DRAIN_CHUNKS = 16  # at most 1 MiB of stderr per turn, so stdout is never starved


def _read_chunk(fd: int) -> bytes:
    try:
        return os.read(fd, _READ_CHUNK)
    except OSError:
        return b""


def _drain(fd: int, lines: _Lines, check: select.poll) -> bool:
    """Read what the pipe (alone in ``check``) holds now; False once it is closed."""
    for _ in range(_DRAIN_CHUNKS):
        if not check.poll(0):
            return True
        chunk = _read_chunk(fd)
        if not chunk:
            lines.close()
            return False
        lines.feed(chunk)
    return True
