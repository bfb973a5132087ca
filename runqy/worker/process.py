"""One supervised task process and the line protocol spoken with it (worker-protocol.md 5-6).

`TaskProcess` starts the child in its own process group, performs the readiness handshake,
sends one request at a time and classifies every stdout and stderr line.

Who reads the pipes: while a task is in flight, the slot thread that sent it reads its own
child's stdout and stderr (no hand-off to another thread per task). It polls stdout, stderr,
the child's pidfd and a wake-up eventfd, so `abort()` from another thread (cancel, lost lease,
shutdown) and the exit end the wait at once, and the time limit bounds it. Between tasks, one
`_IdleWatch` thread per worker process reads the pipes of every idle process, so a chatty idle
child never blocks on a full pipe and an exit is noticed (and reported through ``on_exit``)
while no task is in flight. Each process's ``_io`` lock says who reads; the watch's epoll
registrations are one-shot and disarmed while a slot holds the pipes, so the watch is never
woken by a slot's own replies.

Every read drains stderr before stdout, so every stderr line carries the task that was running
when its bytes arrived (a task's stderr is in its pipe before its response is in the stdout
pipe), and before a request is sent whatever arrived while idle is read under the earlier tag.
A request is never sent to a process that has already exited. No read ever stops on a bad line:
oversized lines are discarded without buffering, failing only the task in flight (stdout) or
cut (stderr).

The child dies with the worker: it asks the kernel for SIGKILL when the worker thread that
started it goes away (``PR_SET_PDEATHSIG``), whatever kills the worker, kill -9 included.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from runqy.sdk.runtime import encode_json

LogSink = Callable[[str, str, "str | None"], None]
log = logging.getLogger("runqy.worker")
_READ_CHUNK = 1 << 16
_DRAIN_CHUNKS = 16  # at most 1 MiB of one pipe per turn, so the other is never starved
_PR_SET_PDEATHSIG = 1
DESCRIPTORS = 5  # what a task process holds open here: 3 pipes, its pidfd, a wake-up eventfd
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
    NOT_SENT = "not sent"  # the process had already exited: the task never reached it


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
            result = encode_json(message.get("result"))
        except ValueError as exc:
            return Outcome(Verdict.PERMANENT, error=f"result is not JSON-serialisable: {exc}")
        return Outcome(Verdict.SUCCESS, result=result)
    text = error or "task failed without an error message"
    return Outcome(Verdict.RETRY if retry else Verdict.PERMANENT, error=text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)
_SUCCESS_TAIL = b',"error":null,"retry":false}'


def spliced_success(rest: bytes) -> Outcome | None:
    """The outcome of a success response in the SDK's framing, given what follows its
    ``{"task_id":<in-flight ID>,"result":`` prefix; None for any other line.

    The whole line is still parsed once (the result by the JSON scanner, the rest compared byte
    for byte), so 6.3 classifies it exactly as the general path would: a string task_id, a
    null error, a boolean retry. The result keeps the bytes it was sent with, unless they
    hold whitespace (compact output has none outside strings): then it is re-encoded compact.
    """
    if not rest.endswith(_SUCCESS_TAIL):
        return None
    span = rest[: -len(_SUCCESS_TAIL)]
    if span == b"null":  # a task that returns nothing: nothing to parse
        return Outcome(Verdict.SUCCESS, result=span)
    try:
        text = span.decode()
        value, end = _STRICT_JSON.raw_decode(text)
    except ValueError:
        return None
    if end != len(text):
        return None
    if b" " in span or b"\t" in span or b"\r" in span:
        return Outcome(Verdict.SUCCESS, result=encode_json(value))
    return Outcome(Verdict.SUCCESS, result=span)


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {-code}"
    return f"exit code {code}"


_ARMED = select.EPOLLIN | select.EPOLLONESHOT
_DISARMED = select.EPOLLONESHOT  # no events; one-shot so that even a hang-up is reported once


class _IdleWatch:
    """The thread of a worker process that reads the pipes of idle task processes.

    Every fd is registered one-shot: after one event it stays silent until its process re-arms
    it, and a slot disarms its process's pipes for the length of a task.
    """

    _current: ClassVar[_IdleWatch | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.epoll = select.epoll()
        self.owners: dict[int, TaskProcess] = {}
        threading.Thread(target=self._run, daemon=True, name="idle-pipes").start()

    @classmethod
    def get(cls) -> _IdleWatch:
        """This worker process's watch (a forked worker gets its own)."""
        with cls._lock:
            if cls._current is None or cls._current.pid != os.getpid():
                cls._current = cls()
            return cls._current

    def add(self, fd: int, owner: TaskProcess) -> None:
        self.owners[fd] = owner
        self.epoll.register(fd, _ARMED)

    def arm(self, fd: int) -> None:
        self.epoll.modify(fd, _ARMED)

    def disarm(self, fd: int) -> None:
        self.epoll.modify(fd, _DISARMED)

    def remove(self, fd: int) -> None:
        """Before the fd is closed, so that a reused number never reaches the old owner."""
        self.owners.pop(fd, None)
        self.epoll.unregister(fd)

    def _run(self) -> None:
        while True:
            for fd, _ in self.epoll.poll():
                owner = self.owners.get(fd)
                if owner is None:
                    continue
                try:
                    owner.read_while_idle()
                except Exception:  # the watch serves every process: it must outlive any bug
                    log.exception("reading the pipes of task process %s failed", owner.pid)


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
        # Log lines keep the latest task's ID until the next task is sent: what a task writes
        # can be read after its response.
        self._log_task_id: str | None = None
        self._reply: Reply | None = None
        self._response_prefix = b""
        # Held by whoever reads the pipes: the slot during a task, the idle watch otherwise.
        self._io = threading.Lock()
        self._missed = False  # the watch found ``_io`` held: its holder re-arms everything
        # The thread that kept ``_io`` after a response (``keep_pipes``): its next task, or
        # `give_back_pipes`, goes on from there without re-arming and disarming the watch.
        self._kept_by: int | None = None
        self._watch = _IdleWatch.get()
        self._poller = select.poll()
        self._in = self._out = self._err = self._pidfd = self._wake = -1
        self._stdout = _Lines(max_line, self._stdout_line, lambda _cut: self._oversize())
        self._stderr = _Lines(max_line, self._stderr_line, self._stderr_line)

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
            popen = self.popen = subprocess.Popen(  # noqa: PLW1509 - preexec_fn only calls prctl
                self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                start_new_session=True, preexec_fn=die_with_parent(os.getpid()),
            )
        except OSError as exc:
            raise StartupError(f"cannot start {self.argv[0]!r}: {exc.strerror or exc}") from exc
        self.started_at = time.monotonic()
        assert popen.stdin and popen.stdout and popen.stderr
        self._in, self._out, self._err = (
            popen.stdin.fileno(), popen.stdout.fileno(), popen.stderr.fileno())
        try:
            for fd in (self._in, self._out, self._err):
                os.set_blocking(fd, False)
            self._pidfd = os.pidfd_open(popen.pid)
            self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except OSError as exc:  # out of descriptors, most likely: never leave the child behind
            self._signal_group(signal.SIGKILL)
            popen.wait()
            if self._pidfd >= 0:
                os.close(self._pidfd)
            raise StartupError(f"cannot watch the task process: {exc.strerror or exc}") from exc
        # stdout before stderr: a poll that sees a response also sees the stderr written
        # before it.
        for fd in (self._out, self._err, self._pidfd, self._wake):
            self._poller.register(fd, select.POLLIN)
        with self._io:  # an event before all three are in makes the watch try again below
            for fd in (self._out, self._err, self._pidfd):
                self._watch.add(fd, self)
        if self._missed:
            self.read_while_idle()

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
        self.close_stdin()
        if popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                popen.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                popen.wait()
        self._signal_group(signal.SIGKILL)  # whatever the task started in its group
        self._read_to_end(2.0)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)  # type: ignore[union-attr]

    def close_stdin(self) -> None:
        if self._in < 0:
            return
        with contextlib.suppress(KeyError):
            self._poller.unregister(self._in)
        self._in = -1
        with contextlib.suppress(OSError):
            self.popen.stdin.close()  # type: ignore[union-attr]

    def wait_exit(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._exited, timeout)

    def _read_to_end(self, timeout: float) -> None:
        """After the exit: log what the pipes still hold, for up to ``timeout``. A pipe that a
        stray grandchild keeps open is left to the idle watch."""
        limit = time.monotonic() + timeout
        self._take_pipes()
        try:
            while self._out >= 0 or self._err >= 0:
                left = limit - time.monotonic()
                if left <= 0:
                    break
                self._take({fd for fd, _ in self._poller.poll(left * 1000)})
            self._reap()
        finally:
            self._give_back_pipes()

    # -- tasks --------------------------------------------------------------------------------

    def run_task(
        self, task_id: str, line: bytes, time_limit: float, *, close_stdin: bool = False,
        keep_pipes: bool = False,
    ) -> Reply:
        """Send one request line and wait for its reply, the exit, the time limit or an abort.

        NOT_SENT when the process had exited before the line could be sent. ``keep_pipes``:
        after a response, this thread keeps reading the pipes (the idle watch stays silent)
        until its next `run_task` or `give_back_pipes`, which it must call before it waits
        for anything."""
        self._take_pipes()
        kept = False
        try:
            self._take({fd for fd, _ in self._poller.poll(0)})  # under the earlier tag
            if self._exited:
                return Reply(ReplyKind.NOT_SENT, exit_code=self._exit_code)
            with self._cond:
                self._task_id = self._log_task_id = task_id
                self._reply = None
            self._response_prefix = b'{"task_id":' + encode_json(task_id) + b',"result":'
            unsent = self._write(memoryview(line))
            if unsent is not None:
                self._poller.register(self._in, select.POLLOUT)
            elif close_stdin:
                self.close_stdin()
            limit = time.monotonic() + time_limit
            while self._reply is None:
                left = limit - time.monotonic()
                if left <= 0:
                    self._deliver(Reply(ReplyKind.TIMEOUT))
                    break
                ready = {fd for fd, _ in self._poller.poll(left * 1000)}
                if unsent is not None and self._in in ready:
                    unsent = self._write(unsent)
                    if unsent is None:
                        self._poller.unregister(self._in)
                        if close_stdin:
                            self.close_stdin()
                self._take(ready)
                if self._exited:
                    self._deliver(Reply(ReplyKind.EXITED, exit_code=self._exit_code))
            if unsent is not None and self._in >= 0:
                self._poller.unregister(self._in)
            with self._cond:
                reply, self._reply, self._task_id = self._reply, None, None
            if reply.kind is ReplyKind.ABORTED and self._wake >= 0:
                with contextlib.suppress(BlockingIOError):
                    os.eventfd_read(self._wake)
            kept = keep_pipes and reply.kind is ReplyKind.RESPONSE
            return reply
        finally:
            if kept:
                self._kept_by = threading.get_ident()
            else:
                self._give_back_pipes()

    def give_back_pipes(self) -> None:
        """End a `keep_pipes` hold of this thread (nothing when it holds none)."""
        if self._kept_by == threading.get_ident():
            self._kept_by = None
            self._give_back_pipes()

    def _write(self, data: memoryview) -> memoryview | None:
        """Write what stdin takes now; the rest, or None once all is written (or the process is
        gone: its exit ends the attempt)."""
        try:
            written = os.write(self._in, data)
        except BlockingIOError:
            return data
        except OSError:
            return None
        return data[written:] if written < len(data) else None

    def abort(self, task_id: str, reason: str) -> bool:
        """Make the running attempt of `task_id` return ABORTED now; False if it is not here."""
        with self._cond:
            if self._task_id != task_id or self._reply is not None:
                return False
            self._reply = Reply(ReplyKind.ABORTED, reason=reason)
            if not self._exited:
                os.eventfd_write(self._wake, 1)  # wakes the slot's poll
            return True

    @property
    def task_id(self) -> str | None:
        return self._task_id

    def _deliver(self, reply: Reply) -> bool:
        with self._cond:
            if self._task_id is None or self._reply is not None:
                return False
            self._reply = reply
            return True

    # -- reading the pipes --------------------------------------------------------------------

    def _take_pipes(self) -> None:
        """From here until `_give_back_pipes` this thread reads the pipes; the watch is silent."""
        if self._kept_by == threading.get_ident():  # still disarmed since the last response
            self._kept_by = None
            return
        self._io.acquire()
        try:
            for fd in self._pipes():
                self._watch.disarm(fd)
        except BaseException:
            self._io.release()
            raise

    def _give_back_pipes(self) -> None:
        try:
            for fd in self._pipes():
                self._watch.arm(fd)
        finally:
            self._io.release()
        if self._missed:
            self.read_while_idle()

    def _pipes(self) -> tuple[int, ...]:
        return tuple(fd for fd in (self._out, self._err) if fd >= 0)

    def read_while_idle(self) -> None:
        """The idle watch's turn: read what arrived, then re-arm what is still open."""
        if not self._io.acquire(blocking=False):
            # Whoever holds ``_io`` checks ``_missed`` after releasing it: either it sees the
            # flag, or it released before the second try, which then succeeds.
            self._missed = True
            if not self._io.acquire(blocking=False):
                return
        try:
            self._missed = False
            self._take({fd for fd, _ in self._poller.poll(0)})
            for fd in (self._out, self._err, self._pidfd):
                if fd >= 0:
                    self._watch.arm(fd)
        finally:
            self._io.release()

    def _take(self, ready: Collection[int]) -> None:
        """Read what a poll found ready, stderr before stdout; at the exit, everything the
        process wrote, then record the exit."""
        exited = self._pidfd >= 0 and self._pidfd in ready
        if self._err >= 0 and (exited or self._err in ready):
            self._err = self._drain(self._err, self._stderr, exited)
        if self._out >= 0 and (exited or self._out in ready):
            self._out = self._drain(self._out, self._stdout, exited)
        if exited:
            self._reap()

    def _drain(self, fd: int, lines: _Lines, to_end: bool) -> int:
        """Feed what the pipe holds now (up to its end when ``to_end``); the fd, or -1 once the
        pipe is closed."""
        for _ in range(_DRAIN_CHUNKS):
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except BlockingIOError:
                return fd
            except OSError:
                chunk = b""
            if not chunk:
                lines.close()
                self._forget(fd)
                pipe = self.popen.stdout if fd == self._out else self.popen.stderr  # type: ignore[union-attr]
                pipe.close()  # type: ignore[union-attr]
                return -1
            lines.feed(chunk)
            if len(chunk) < _READ_CHUNK and not to_end:
                return fd  # a short read emptied the pipe
        return fd

    def _forget(self, fd: int) -> None:
        self._watch.remove(fd)
        self._poller.unregister(fd)

    def _reap(self) -> None:
        """Record the exit once the process is gone (its pidfd is readable, or it was waited)."""
        if self._exited or self.popen is None:
            return
        code = self.popen.wait()
        if self._pidfd >= 0:
            self._forget(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        with self._cond:
            self._exit_code = code
            self._exited = True
            self._poller.unregister(self._wake)
            os.close(self._wake)
            self._wake = -1
            self._cond.notify_all()
            unexpected = not self._stopping
        if unexpected and self.on_exit is not None:
            self.on_exit(self)

    # -- classifying lines ----------------------------------------------------------------------

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
        raw = raw.rstrip(b"\r")
        prefix = self._response_prefix
        if self._task_id is not None and self._ready and raw.startswith(prefix):
            outcome = spliced_success(raw[len(prefix):])
            if outcome is not None and self._deliver(Reply(ReplyKind.RESPONSE, outcome=outcome)):
                return
        text = raw.decode("utf-8", "replace")
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
