"""Long-polls (``GET /queue/<id>?wait=true``, http-api.md 5.4) that hold no server thread.

A wait subscribes to the task's done channel (``runqy.broker.done_watch``), then reads the
task: a finished task is answered at once. Otherwise, under ``runqy serve``'s waitress set-up,
the request is **parked**: the view returns, the response it would give is never sent, the
waitress thread goes back to the pool, and the connection keeps the request and reads nothing
more. When the task's done message arrives (or the deadline passes, or the watcher's fallback
read sees the task finished) the same request is handed to a waitress thread again and the view
runs once more: it answers, or parks again. A thousand waiters cost a thousand open sockets and
a few hundred bytes each, not a thousand threads.

How a request parks, inside waitress: ``ParkingTask`` puts the connection's ``Parking`` in the
WSGI environ; the view calls ``Parking.park``; ``parking_app`` then raises ``Parked`` instead of
calling waitress's ``start_response``, so nothing is written; ``ParkingTask`` catches it and
the channel (``runqy.web.serving.RunqyChannel``) puts the request back at the head of its
queue, where it stays until ``Parking.resume``.

Without a parking-aware server (tests' plain waitress, the Flask test client) the same wait
blocks its thread on the watch instead: notified as fast, but one thread per waiter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from waitress.task import WSGITask

from runqy.broker import TaskInfo
from runqy.broker.done_watch import FINAL_STATES, DoneWatcher, Watch
from runqy.core import tasks
from runqy.core.errors import Busy, TimedOut
from runqy.core.runtime import Runtime
from runqy.metrics.http_metrics import STARTED, UNSENT

PARKING = "runqy.parking"


class Parked(Exception):  # noqa: N818 - a signal between two layers, not an error
    """Raised in place of ``start_response``: the request waits without its thread."""


class Parking:
    """The parked request of one connection (at most one: it reads nothing more meanwhile)."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.deadline: float | None = None  # of the waiting request, kept across its runs
        self.started: float | None = None  # when it arrived, for its one access-log line
        self.request: Any = None  # waitress's request object while parked
        self.asked = False  # the running view asked to park
        self._lock = threading.Lock()
        self._parked = False
        self._resume_due = False

    def park(self, deadline: float) -> None:
        self.asked = True
        self.deadline = deadline

    def parked(self) -> None:
        """The channel holds the request again: resume now if the watch fired meanwhile."""
        with self._lock:
            self._parked = True
            due, self._resume_due = self._resume_due, False
        if due:
            self._run_again()

    def resume(self) -> None:
        """The watch fired (any thread): run the request again, once it is fully parked."""
        with self._lock:
            if not self._parked:
                self._resume_due = True
                return
        self._run_again()

    def _run_again(self) -> None:
        with self._lock:
            self._parked = False
        self.channel.server.add_task(self.channel)

    def finished(self) -> None:
        """The request was answered: the next one on this connection starts afresh."""
        self.deadline = self.started = None


class ParkingTask(WSGITask):
    """waitress's WSGI task with the connection's ``Parking`` in the environ."""

    def get_environment(self) -> dict[str, Any]:
        environ = super().get_environment()
        environ[PARKING] = self.channel.parking
        return environ

    def service(self) -> None:
        try:
            super().service()
        except Parked:
            self.channel.parking.request = self.request


def parking_app(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Wrap the WSGI app: a request whose view parked it gets no response at all."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            parking = environ.get(PARKING)
            if parking is not None and parking.asked:
                raise Parked
            return start_response(status, headers, exc_info)

        return app(environ, respond)

    return wsgi


class Waiters:
    """The long-polls of one server process."""

    def __init__(self, watcher: DoneWatcher) -> None:
        self.watcher = watcher

    def wait(self, rt: Runtime, task_id: str, timeout: float,
             environ: dict[str, Any]) -> TaskInfo | None:
        """The task once completed or archived; None when the request was parked (the view's
        answer is then never sent). Busy ``too_many_waiters`` at the watcher's limit, TimedOut
        ``wait_timeout`` once the time is up, NotFound for a task that does not exist."""
        parking = environ.get(PARKING)
        if parking is not None and parking.deadline is None:
            parking.deadline = time.monotonic() + timeout
            parking.started = environ.get(STARTED)
        elif parking is not None and parking.started is not None:
            environ[STARTED] = parking.started  # timed and logged from its first run
        deadline = parking.deadline if parking is not None else time.monotonic() + timeout
        while True:
            fired = threading.Event()
            watch = self._watch(task_id, parking.resume if parking else fired.set, deadline)
            try:
                info = tasks.find_task(rt, task_id)
            except BaseException:
                self.watcher.unwatch(watch)
                raise
            if info.state in FINAL_STATES or time.monotonic() >= deadline:
                self.watcher.unwatch(watch)
                if info.state in FINAL_STATES:
                    return info
                raise TimedOut(f"task {task_id} did not finish within {timeout:g} s",
                               code="wait_timeout")
            watch.queue = info.queue  # lets the fallback read check it
            if parking is not None:
                parking.park(deadline)
                environ[UNSENT] = True
                return None
            fired.wait(max(0.0, deadline - time.monotonic()) + 1.0)

    def close(self) -> None:
        """Stop the watcher's thread and connection (the server shuts down)."""
        self.watcher.close()

    def _watch(self, task_id: str, callback: Callable[[], None], deadline: float) -> Watch:
        watch = self.watcher.watch(task_id, callback, deadline)
        if watch is None:
            raise Busy("too many long-polls are open; retry shortly", code="too_many_waiters")
        return watch
