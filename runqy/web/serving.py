"""Running the app on waitress: in this process, or in N forked processes on one socket.

One Python process answers at most ~1,500 small API requests per second however many waitress
threads it has (one GIL). `--processes N` binds the listening socket once, then forks N children
that each run waitress on it; the kernel hands each new connection to one of them. The parent
only supervises: it keeps the embedded Redis (there is one) and the config watcher, and stops
every child when it is told to stop or when a child dies.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
import signal
import socket
import threading
import time
import types
from collections import Counter
from collections.abc import Callable
from typing import Any

from flask import Flask
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

from runqy.config import Settings
from runqy.descriptors import raise_open_files_limit
from runqy.serving_limits import (
    CLEANUP_INTERVAL,
    HARD_CONNECTION_LIMIT,
    KEEPALIVE_TIMEOUT,
    LISTEN_BACKLOG,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    REQUEST_TIMEOUT,
)
from runqy.web.extensions import db
from runqy.web.lean_routes import LeanRoutes
from runqy.web.waiters import Parking, parking_app
from runqy.web.waitress_flush import NoBusyWaitChannel
from runqy.web.waitress_lane import LaneDispatcher, LaneTask, LeanLane, pull_trigger

log = logging.getLogger("runqy.web")

def waitress_options(settings: Settings) -> dict[str, Any]:
    """The waitress adjustments `runqy serve` uses."""
    return {
        "threads": settings.threads,
        "connection_limit": HARD_CONNECTION_LIMIT,
        "channel_timeout": KEEPALIVE_TIMEOUT,
        "cleanup_interval": CLEANUP_INTERVAL,
        "max_request_header_size": MAX_HEADER_BYTES,
        "ident": "runqy",
        # poll() costs less per loop turn than select() and has no 1,024-descriptor limit.
        "asyncore_use_poll": True,
    }


class RunqyChannel(NoBusyWaitChannel):
    """waitress's channel with request deadlines, parked long-polls, and without the main
    loop's busy-wait while a task writes its answer (`runqy.web.waitress_flush`).

    Deadlines: `request_deadline` is when the current request's headers must be complete
    (REQUEST_TIMEOUT after its first byte, or after the connection opened); once they are,
    the body may pause at most REQUEST_TIMEOUT. The server's maintenance closes late ones.
    """

    task_class = LaneTask

    def __init__(self, server: Any, sock: socket.socket, addr: Any, adj: Any,
                 map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map)
        self.request_deadline = self.creation_time + REQUEST_TIMEOUT
        self.parking = Parking(self)
        make_room(server)

    def service(self) -> None:
        """Serve the first request; a parked one (runqy.web.waiters) goes back to the head of
        the queue, which keeps the connection busy and reading nothing until it resumes."""
        super().service()
        parking = self.parking
        if not parking.asked:
            parking.finished()
            return
        parking.asked = False
        with self.requests_lock:
            self.requests.insert(0, parking.request)
        parking.parked()

    def readable(self) -> bool:
        return not self.parking.asked and bool(super().readable())

    # Set by `_add_task` for a GET /health: served by the main loop at its next turn, from
    # handle_write, where a KeyboardInterrupt (SIGTERM) still stops the loop (a trigger thunk
    # would swallow it).
    liveness_due = False

    def writable(self) -> bool:
        return self.liveness_due or bool(super().writable())

    def handle_write(self) -> None:
        if self.liveness_due:
            self.liveness_due = False
            self.service()
        super().handle_write()

    def received(self, data: bytes) -> bool:
        if self.request is None and not self.requests:
            self.request_deadline = time.time() + REQUEST_TIMEOUT
        return bool(super().received(data))

    def overdue(self, now: float) -> bool:
        """Whether this connection is to be closed for a late request or a long idle spell."""
        if self.requests:
            return False  # a request is running: its answer decides
        partial = self.request
        if partial is not None and partial.headers_finished:
            return now - self.last_activity > REQUEST_TIMEOUT
        if partial is not None or self.last_activity == self.creation_time:
            return now > self.request_deadline
        return now - self.last_activity > KEEPALIVE_TIMEOUT


def connection_budget() -> int:
    """MAX_CONNECTIONS, or fewer when the open-files limit cannot hold that many (two
    descriptors per connection, 256 kept for Redis, the database and files): eviction must
    start before accept() runs out of descriptors, or the flood would keep everyone out."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, (soft - 256) // 2))


def make_room(server: Any) -> None:
    """Past the connection budget (MAX_CONNECTIONS), close the longest-idle connection (no
    request running) of the client address that holds the most: one client's idle or
    half-sent connections then cannot keep anyone else out, while requests in progress are
    never cut."""
    channels = server.active_channels
    if len(channels) <= getattr(server, "max_connections", MAX_CONNECTIONS):
        return
    idle = [ch for ch in channels.values() if not ch.requests and not ch.will_close]
    if not idle:
        return
    per_address = Counter(_host(ch.addr) for ch in idle)
    greediest = per_address.most_common(1)[0][0]
    victim = min((ch for ch in idle if _host(ch.addr) == greediest),
                 key=lambda ch: ch.last_activity)
    victim.will_close = True


def _host(addr: Any) -> Any:
    return addr[0] if isinstance(addr, tuple) else addr


def _maintenance(server: Any, now: float) -> None:
    """Replaces waitress's maintenance (one idle timeout for all) with RunqyChannel's
    deadlines."""
    for channel in list(server.active_channels.values()):
        if isinstance(channel, RunqyChannel) and channel.overdue(now):
            channel.will_close = True


def _add_task(server: Any, channel: Any) -> None:
    """Replaces waitress's add_task: GET /health is answered in the main loop, never waiting for
    a thread, so liveness stays fast while every thread is busy (a stalled Redis, slow
    requests). It does no I/O (a few hundred µs of Flask). `POST /queue/add` and `GET
    /queue/<id>` go to the lean lane's thread (runqy.web.waitress_lane); every other request,
    /healthz included (it checks Redis and the database), to the thread pool. Deferred
    to the loop's next turn (RunqyChannel.handle_write) because waitress calls add_task
    holding the channel's requests lock, sometimes from a task thread."""
    pending = channel.requests
    lane = server.task_dispatcher.lane
    if pending and _is_liveness_probe(pending[0], server.liveness_path):
        channel.liveness_due = True
        server.trigger.pull_trigger()  # wake the loop
    elif pending and lane is not None and lane.accepts(pending[0]):
        lane.take(channel)
    else:
        server.task_dispatcher.add_task(channel)


def _is_liveness_probe(request: Any, path: str) -> bool:
    # A request whose first line did not parse has an error and no command, path...
    return not request.error and request.command in ("GET", "HEAD") and request.path == path


def make_server(app: Flask, settings: Settings, **where: Any) -> Any:
    """A waitress server with runqy's options, channel and deadlines (`.run()` serves until
    closed); `where` is host/port or sockets."""
    budget = connection_budget()
    options = {**waitress_options(settings),
               "connection_limit": budget + HARD_CONNECTION_LIMIT - MAX_CONNECTIONS}
    dispatcher = LaneDispatcher()
    dispatcher.set_thread_count(options["threads"])
    server = create_server(parking_app(app), **where, **options, _dispatcher=dispatcher)
    # The lane serves the lean routes when nothing (ProxyFix) sits in front of them.
    if isinstance(app.wsgi_app, LeanRoutes):
        dispatcher.lane = LeanLane(app.wsgi_app, dispatcher.add_task)
    # A host name with several addresses gives one listening server per address.
    listeners = server.map.values() if isinstance(server, MultiSocketServer) else [server]
    for listener in listeners:
        if isinstance(listener, BaseWSGIServer):
            listener.max_connections = budget
            listener.channel_class = RunqyChannel
            listener.maintenance = types.MethodType(_maintenance, listener)
            listener.liveness_path = settings.url_prefix.rstrip("/") + "/health"
            listener.add_task = types.MethodType(_add_task, listener)
            listener.pull_trigger = types.MethodType(pull_trigger, listener)
    return server


def quiet_waitress_queue_log() -> None:
    """waitress logs "Task queue depth is N" at WARNING for every request that waits for a
    thread: under load that is one log line per request, costing more than the request."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def raise_descriptor_limit() -> None:
    """Lift the soft open-files limit (often 1,024) towards what HARD_CONNECTION_LIMIT
    connections can take (up to three descriptors each, plus Redis and database pools)."""
    raise_open_files_limit(3 * HARD_CONNECTION_LIMIT + 256)


class WorkerExitedError(RuntimeError):
    """A worker process of `--processes N` ended by itself; the server stopped the others."""


class ListenError(RuntimeError):
    """The HTTP port cannot be listened on (in use, not permitted, unknown host): one line."""


def listen(host: str, port: int) -> list[socket.socket]:
    """Bind and listen on every address `host` resolves to, before anything else starts, so
    that a busy port stops start-up with one line and the banner follows a bound socket."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    listeners: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            listeners.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        for sock in listeners:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(f"port {port} on {host} is already in use") from None
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return listeners


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# How long a worker process may take to stop after SIGTERM (waitress gives its threads 5 s)
# before it is killed: a server whose worker dies exits within a bounded time, always.
CHILD_STOP_TIMEOUT = 10.0


def take_stop_signals() -> None:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt in the main thread, whatever this process
    inherited: the ignored dispositions and the signal mask survive exec, and a shell or
    supervisor may start the server with the stop signals ignored (a non-interactive shell
    ignores SIGINT in its background jobs, so does `nohup`-style tooling) or blocked. Python
    leaves an inherited ignored SIGINT ignored, and the user's Ctrl-C would then neither stop
    the server nor, once it is killed instead, its embedded Redis."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def hold_stop_signals() -> None:
    """Defer SIGINT/SIGTERM for the rest of this process's life: its shutdown is bounded, and a
    second signal cutting it short would leave workers or the embedded Redis (in its own
    session) running."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def serve(app: Flask, settings: Settings, listeners: list[socket.socket],
          start_background: Callable[[], Any]) -> None:
    """Serve `app` on `listeners` (from `listen`) until SIGINT/SIGTERM (KeyboardInterrupt),
    in `settings.processes` processes.

    `start_background` starts this process's helper threads; with several processes it runs in the
    parent after the children are forked (a thread running during fork() can leave locks held
    in the child).
    """
    quiet_waitress_queue_log()
    raise_descriptor_limit()
    if settings.processes == 1:
        start_background()
        make_server(app, settings, sockets=listeners).run()
        return
    children: list[int] = []
    # Every worker holds the read end; only the parent holds the write end, which the kernel
    # closes however the parent ends (SIGKILL included): the workers then stop by themselves.
    parent_alive, parent_writes = os.pipe()
    try:
        # A stop signal between fork() and recording the child would leave that child out of
        # the stop list, or raise in the child and run the parent's shutdown there: signals
        # wait until every child is forked.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            for _ in range(settings.processes):
                pid = os.fork()
                if pid == 0:
                    os.close(parent_writes)
                    _run_child(app, listeners, settings, parent_alive, mask)
                children.append(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(parent_alive)
        for sock in listeners:
            sock.close()
        log.info("serving with %d worker processes: %s", len(children), children)
        start_background()
        pid, status = _wait_for_a_worker(children)
        raise WorkerExitedError(f"worker process {pid} exited (wait status {status}); "
                                "the other workers were stopped")
    finally:
        hold_stop_signals()
        _stop_children(children)
        os.close(parent_writes)


def _wait_for_a_worker(children: list[int]) -> tuple[int, int]:
    """Block until a worker ends; returns its pid (removed from `children`) and wait status.
    Another child (the embedded Redis) ending is left to its owner."""
    while True:
        pid, status = os.wait()
        if pid in children:
            children.remove(pid)
            return pid, status


def _run_child(app: Flask, listeners: list[socket.socket], settings: Settings,
               parent_alive: int, mask: set[signal.Signals]) -> None:
    """A forked worker: serve on the inherited sockets, never return into the parent's code.
    Stop signals arrive blocked (see `serve`); `mask` is the signal mask to restore."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _follow_parent(parent_alive)
        # Pooled database connections were opened by the parent; sharing them across
        # processes corrupts the protocol stream. redis-py resets its pool by itself on fork.
        with app.app_context():
            db.engine.dispose(close=False)
        make_server(app, settings, sockets=listeners).run()
    except KeyboardInterrupt:
        pass
    except BaseException:
        log.exception("worker process %d failed", os.getpid())
        code = 1
    finally:
        os._exit(code)


def _follow_parent(parent_alive: int) -> None:
    """In a worker: once the parent is gone (its end of the pipe closed), stop as if told to
    (SIGTERM), and exit outright if that has not ended it within CHILD_STOP_TIMEOUT: no worker
    outlives its server."""
    def watch() -> None:
        os.read(parent_alive, 1)  # b"" once the parent's end is closed; nothing is written
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(CHILD_STOP_TIMEOUT)
        os._exit(1)

    threading.Thread(target=watch, name="runqy-parent-watch", daemon=True).start()


def _stop_children(children: list[int]) -> None:
    """SIGTERM every worker, reap them, and SIGKILL any still running after
    CHILD_STOP_TIMEOUT (one that swallowed the signal or hangs must not hang the server)."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    running = set(children)
    deadline = time.monotonic() + CHILD_STOP_TIMEOUT
    while running and time.monotonic() < deadline:
        running -= {pid for pid in running if _reaped(pid)}
        if running:
            time.sleep(0.05)
    for pid in running:
        log.warning("worker process %d did not stop within %g s; killing it", pid,
                    CHILD_STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True
