"""The lean lane: `POST /queue/add` and `GET /queue/<id>` served by one thread of its own
inside `runqy serve`'s waitress, the adds that are ready together enqueued in one Redis round
trip, the task reads that are ready together read in one (two for tasks scheduled, retrying or
active). It leans on waitress's internals (see the end of this docstring).

Through waitress's thread pool a lean add (runqy.web.lean_routes) still paid for the hand-off
to a pool thread (a Condition per request), the WSGI environ, waitress's start_response
checks, and one Redis round trip per add (bench/README.md, "Single enqueue over HTTP"). Here
the main loop, once a `POST /queue/add` (or a `GET /queue/<id>`) without a query string is
complete, puts its connection on the lane's queue (a C-level SimpleQueue); the lane's thread
takes every connection that is ready, checks each request the way LeanRoutes does, enqueues
the adds through one pipeline (`Enqueuer.add_many`: each request still gets its own task or
error), and writes each answer through waitress's own task and channel code (`LaneTask`), so
the status line, `Connection` handling, `Date`/`Server` headers and keep-alive are
waitress's.

What the lane does not answer goes to waitress's thread pool unchanged, where LeanRoutes and
Flask see it as before: a key that is missing or lacks the role, a CORS request, debug mode, a
body without Content-Length or over LANE_MAX_BODY (a large body is not read on the lane), a
queue whose configuration is not in the one-second cache (the lane never waits for the
database). A request that failed once started (bad JSON, a rejected job, Redis down or not
answering within its 2 s timeout) goes there too, carrying its exception (lean_routes.FAILED):
Flask's error handlers and hooks answer it, nothing is re-run. The main loop only hands
connections over: a slow or dead Redis holds up the lane's thread, never `/health` nor the
other connections; requests that arrive meanwhile wait on the lane and go out in one pipeline
once Redis answers. A `GET /queue/<id>` is checked the same way (key, roles, CORS, debug)
and the ready ones are read together (`LeanRoutes.task_answers` → `Inspector.find_tasks`: every
ID probed in every queue in one pipeline); a task not found (404) or a failed read goes to the
pool with its exception. `?wait=true` (any query string) stays on the pool.

Internals of waitress read here (pyproject.toml pins waitress <3.1;
tests/server/test_library_internals.py fails naming any that disappears): the parsed
request's `command`, `path`, `query`, `headers`, `error`, `url_scheme`, `get_body_stream()`;
the channel's `requests`, `connected`, `service()`, `write_soon()`, `cancel()`, `server`;
`Task`'s `status`, `response_headers`, `content_length`, `complete`, `wrote_header`,
`build_response_header()`; `ThreadedTaskDispatcher.add_task`/`shutdown`; the server's
`pull_trigger()` and `trigger`; `create_server(_dispatcher=...)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from queue import Empty, SimpleQueue
from time import perf_counter
from typing import Any

from waitress.task import ThreadedTaskDispatcher

from runqy.metrics.http_metrics import STARTED
from runqy.web.lean_routes import FAILED, OK, LeanRoutes
from runqy.web.waiters import ParkingTask

# Bodies up to this size are read on the lane; larger ones (up to the request size limit) go
# through the thread pool, so that one big body never holds up the small ones behind it.
LANE_MAX_BODY = 64 * 1024


class NotCached(Exception):  # noqa: N818 - a signal, not an error
    """The queue's configuration is not in the cache: the lane hands the request over."""


def _not_cached(name: str) -> Any:
    raise NotCached(name)


class LaneTask(ParkingTask):
    """waitress's task for the connection's head request: writes the lane's answer when it
    holds one, else runs the WSGI app (with the lane's failure, if any, in the environ)."""

    def execute(self) -> None:
        answer = getattr(self.request, "lane_answer", None)
        if answer is None:
            super().execute()
            return
        headers, body = answer
        self.status = OK
        self.response_headers = headers
        self.content_length = len(body)
        self.complete = True
        # waitress's own head (Connection, Date, Server), sent with the body in one write
        # where `write` would send each on its own.
        self.channel.write_soon(self.build_response_header() + body)
        self.wrote_header = True

    def get_environment(self) -> dict[str, Any]:
        environ = super().get_environment()
        failed = getattr(self.request, "lane_failed", None)
        if failed is not None:
            environ[FAILED], environ[STARTED] = failed
        return environ


class LeanLane:
    """The lane's queue and thread (see the module doc)."""

    def __init__(self, routes: LeanRoutes, to_pool: Callable[[Any], None]) -> None:
        self.routes = routes
        self.to_pool = to_pool  # waitress's thread pool (ThreadedTaskDispatcher.add_task)
        self._ready: SimpleQueue[Any] = SimpleQueue()
        # The main-loop wake-ups asked for during the current batch (lane thread only).
        self._deferred: set[Any] | None = None
        self._thread = threading.Thread(target=self._run, name="runqy-lean-lane", daemon=True)
        self._thread.start()

    def accepts(self, request: Any) -> bool:
        """Whether a complete request is for the lane (main loop: method, path, no query)."""
        return (not request.error
                and self.routes.roles_for(request.command, request.path, request.query)
                is not None)

    def take(self, channel: Any) -> None:
        """Queue a connection whose head request `accepts` (main loop, never blocks)."""
        self._ready.put(channel)

    def stop(self) -> list[Any]:
        """End the thread after its current batch; returns the connections still queued."""
        self._ready.put(None)
        self._thread.join(10)
        left = []
        while True:
            try:
                channel = self._ready.get_nowait()
            except Empty:
                return left
            if channel is not None:
                left.append(channel)

    def _run(self) -> None:
        while True:
            batch = [self._ready.get()]
            while True:
                try:
                    batch.append(self._ready.get_nowait())
                except Empty:
                    break
            stopping = None in batch
            self._deferred = set()
            try:
                self._serve([channel for channel in batch if channel is not None])
            finally:
                deferred, self._deferred = self._deferred, None
                for trigger in deferred:
                    trigger.pull_trigger()
            if stopping:
                return

    def defers(self, trigger: Any) -> bool:
        """Whether a wake-up of the main loop asked for now is left to the end of the lane's
        batch: one wake-up (a pipe write and a loop turn) per batch instead of one per answer.
        Only answers are written during a batch, each far below waitress's output high
        watermark, so nothing on the lane waits for the main loop meanwhile."""
        if threading.get_ident() != self._thread.ident or self._deferred is None:
            return False
        self._deferred.add(trigger)
        return True

    def _serve(self, batch: list[Any]) -> None:
        adds: list[tuple[Any, float, Any]] = []
        reads: list[tuple[Any, float, Any]] = []
        for channel in batch:
            job = self._start(channel)
            if job is not None:
                (adds if channel.requests[0].command == "POST" else reads).append(job)
        for jobs, run in ((adds, self.routes.add_many), (reads, self.routes.task_answers)):
            if jobs:
                answers = run([job for _, _, job in jobs])
                for (channel, started, _), answer in zip(jobs, answers, strict=True):
                    self._finish(channel, started, answer)

    def _start(self, channel: Any) -> tuple[Any, float, Any] | None:
        """Check a request and return its job for the batch (an add's checked job, a read's
        task ID); hand over what the lane does not answer."""
        if not channel.connected:
            channel.service()  # waitress drops the request and closes (ClientDisconnected)
            return None
        request = channel.requests[0]
        headers = request.headers
        started = perf_counter()
        roles = self.routes.roles_for(request.command, request.path, request.query)
        if roles is None or not self.routes.admits(
                roles, "ORIGIN" in headers, headers.get("AUTHORIZATION", ""),
                headers.get("X_API_KEY", "")):
            self.to_pool(channel)
            return None
        if request.command == "GET":
            return channel, started, request.path[len(self.routes.task_path):]
        length = headers.get("CONTENT_LENGTH", "")
        if not (self.routes.body_fits(length) and int(length) <= LANE_MAX_BODY):
            self.to_pool(channel)
            return None
        stream = request.get_body_stream()
        raw = stream.read(int(length))
        stream.seek(0)  # Flask reads it again if the request is handed over
        try:
            return channel, started, self.routes.add_job(raw, _not_cached)
        except NotCached:
            self.to_pool(channel)  # nothing was done: the pool runs it from the start
        except Exception as exc:  # noqa: BLE001 - answered by Flask's handlers
            self._finish(channel, started, exc)
        return None

    def _finish(self, channel: Any, started: float, answer: dict[str, Any] | Exception
                ) -> None:
        request = channel.requests[0]
        if not isinstance(answer, Exception):
            try:
                request.lane_answer = self.routes.response(
                    request.command, request.path, answer, started,
                    request.headers.get("X_REQUEST_ID", ""), request.url_scheme == "https")
            except Exception as exc:  # noqa: BLE001 - answered by Flask's handlers
                answer = exc
            else:
                channel.service()  # writes it; queues the connection's next request, if any
                return
        request.lane_failed = (answer, started)
        self.to_pool(channel)


def pull_trigger(server: Any) -> None:
    """The listener's `pull_trigger` (waitress calls it when a request's answer is written):
    deferred to the end of the batch on the lane (`LeanLane.defers`)."""
    lane = server.task_dispatcher.lane
    if lane is None or not lane.defers(server.trigger):
        server.trigger.pull_trigger()


class LaneDispatcher(ThreadedTaskDispatcher):
    """waitress's thread pool, which also stops the lean lane when the server stops."""

    lane: LeanLane | None = None

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        if self.lane is not None:
            for channel in self.lane.stop():
                channel.cancel()
        return bool(super().shutdown(cancel_pending, timeout))
