"""One supervised task process and the line protocol spoken with it (worker-protocol.md 5-6).

`TaskProcess` starts the child in its own process group, performs the readiness handshake,
sends one request at a time and classifies every stdout and stderr line. Reader threads never
stop on a bad line: oversized stdout lines are discarded without buffering and fail only the
task in flight.
"""

from __future__ import annotations

import contextlib
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
_STDERR_CATCH_UP = 0.05  # seconds a new task waits at most for the last one's stderr


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
            result = json.dumps(
                message.get("result"), separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ).encode()
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
        self._readers: list[threading.Thread] = []

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
            self.popen = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                start_new_session=True,
            )
        except OSError as exc:
            raise StartupError(f"cannot start {self.argv[0]!r}: {exc.strerror or exc}") from exc
        self.started_at = time.monotonic()
        for target in (self._read_stdout, self._read_stderr):
            thread = threading.Thread(target=target, daemon=True, name=f"proc-{self.pid}")
            thread.start()
            self._readers.append(thread)

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
        for reader in self._readers:
            reader.join(2)

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
        self._let_stderr_catch_up()
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

    def _let_stderr_catch_up(self) -> None:
        """Let the stderr reader tag what the last task wrote before the next one starts.

        A task's stderr lines are in their pipe before its response (the process writes them
        first), but the stderr thread may not have read them yet when the next task follows at
        once; they would then be tagged with the next task. Bounded, and free when the pipe is
        empty.
        """
        stderr = self.popen.stderr if self.popen is not None else None
        if stderr is None or stderr.closed:
            return
        poller = select.poll()
        poller.register(stderr.fileno(), select.POLLIN)
        if not _readable(poller):
            return
        limit = time.monotonic() + _STDERR_CATCH_UP
        while _readable(poller) and time.monotonic() < limit:
            time.sleep(0.0005)
        time.sleep(0.001)  # the reader has the bytes; let it take the GIL and tag them

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

    def _read_stdout(self) -> None:
        fd = self.popen.stdout.fileno()  # type: ignore[union-attr]
        buffer = bytearray()
        discarding = False
        while True:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                break
            start = 0
            while True:
                newline = chunk.find(b"\n", start)
                if newline < 0:
                    break
                if discarding:
                    discarding = False
                else:
                    buffer += chunk[start:newline]
                    if len(buffer) > self.max_line:
                        self._oversize()
                    else:
                        self._stdout_line(bytes(buffer))
                buffer.clear()
                start = newline + 1
            if not discarding:
                buffer += chunk[start:]
                if len(buffer) > self.max_line:
                    # Drop the rest of this line as it arrives instead of buffering it.
                    buffer.clear()
                    discarding = True
                    self._oversize()
        if buffer and not discarding:
            self._stdout_line(bytes(buffer))
        self._finish()

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

    def _read_stderr(self) -> None:
        fd = self.popen.stderr.fileno()  # type: ignore[union-attr]
        with open(fd, "rb", buffering=_READ_CHUNK, closefd=False) as stream:
            cut = False
            while True:
                try:
                    line = stream.readline(self.max_line)
                except (OSError, ValueError):
                    break
                if not line:
                    break
                if not cut:
                    text = line.rstrip(b"\r\n").decode("utf-8", "replace")
                    self.on_log("stderr", text, self._log_task_id)
                cut = not line.endswith(b"\n")  # the rest of a cut line is dropped

    def _finish(self) -> None:
        code = self.popen.wait()  # type: ignore[union-attr]
        with self._cond:
            self._exit_code = code
            self._exited = True
            self._cond.notify_all()
            unexpected = not self._stopping
        if unexpected and self.on_exit is not None:
            self.on_exit(self)


def _readable(poller: select.poll) -> bool:
    return any(events & select.POLLIN for _, events in poller.poll(0))
