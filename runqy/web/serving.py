"""Running the app on waitress: in this process, or in N forked processes on one socket.

One Python process answers at most ~1,500 small API requests per second however many waitress
threads it has (one GIL). `--workers N` binds the listening socket once, then forks N children
that each run waitress on it; the kernel hands each new connection to one of them. The parent
only supervises: it keeps the embedded Redis (there is one) and the config watcher, and stops
every child when it is told to stop or when a child dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

from runqy.config import Settings
from runqy.web.extensions import db

log = logging.getLogger("runqy.web")

# Seconds: waitress must not cut a long-poll (up to 120 s) short.
CHANNEL_TIMEOUT = 180


def waitress_options(settings: Settings) -> dict[str, Any]:
    """The waitress adjustments `runqy serve` uses."""
    return {
        "threads": settings.threads,
        "channel_timeout": CHANNEL_TIMEOUT,
        "ident": "runqy",
        # poll() costs less per loop turn than select() and has no 1,024-descriptor limit.
        "asyncore_use_poll": True,
    }


class TaskFlushedChannel(HTTPChannel):
    """waitress's channel, minus the main loop's busy-wait while a task writes its answer.

    A task thread flushes its own output as it writes it. Between appending to the output
    buffer and sending it, the buffer is non-empty, so the stock `writable()` makes the main
    loop poll, fail to take the task's lock and poll again: measured at 25-40 loop turns and
    ~500 µs of CPU per API request under load, in the thread every request needs. While a
    task runs, the main loop now waits for its end (the task wakes it) unless the backlog
    grows past `HELP_FLUSH_BYTES` (a slow client: then it helps as before).
    """

    HELP_FLUSH_BYTES = 65536

    def writable(self) -> bool:
        pending = self.total_outbufs_len
        if (pending and pending < self.HELP_FLUSH_BYTES and self.requests
                and not self.will_close and not self.close_when_flushed):
            return False
        return bool(super().writable())


def make_server(app: Flask, settings: Settings, **where: Any) -> Any:
    """A waitress server with runqy's options and channel (`.run()` serves until closed);
    `where` is host/port or sockets."""
    server = create_server(app, **where, **waitress_options(settings))
    # A host name with several addresses gives one listening server per address.
    listeners = server.map.values() if isinstance(server, MultiSocketServer) else [server]
    for listener in listeners:
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = TaskFlushedChannel
    return server


def quiet_waitress_queue_log() -> None:
    """waitress logs "Task queue depth is N" at WARNING for every request that waits for a
    thread: under load that is one log line per request, costing more than the request."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


class WorkerExitedError(RuntimeError):
    """A worker process of `--workers N` ended by itself; the server stopped the others."""


def serve(app: Flask, settings: Settings, start_background: Callable[[], Any]) -> None:
    """Serve `app` until SIGINT/SIGTERM (KeyboardInterrupt), in `settings.workers` processes.

    `start_background` starts this process's helper threads; with workers it runs in the
    parent after the children are forked (a thread running during fork() can leave locks held
    in the child).
    """
    quiet_waitress_queue_log()
    if settings.workers == 1:
        start_background()
        make_server(app, settings, host=settings.host, port=settings.port).run()
        return
    listener = socket.create_server((settings.host, settings.port), backlog=1024)
    children: list[int] = []
    try:
        for _ in range(settings.workers):
            pid = os.fork()
            if pid == 0:
                _run_child(app, listener, settings)
            children.append(pid)
        listener.close()
        log.info("serving with %d worker processes: %s", len(children), children)
        start_background()
        pid, status = os.wait()
        children.remove(pid)
        raise WorkerExitedError(f"worker process {pid} exited (wait status {status}); "
                                "the other workers were stopped")
    finally:
        _stop_children(children)


def _run_child(app: Flask, listener: socket.socket, settings: Settings) -> None:
    """A forked worker: serve on the inherited socket, never return into the parent's code."""
    code = 0
    try:
        # Pooled database connections were opened by the parent; sharing them across
        # processes corrupts the protocol stream. redis-py resets its pool by itself on fork.
        with app.app_context():
            db.engine.dispose(close=False)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
        make_server(app, settings, sockets=[listener]).run()
    except KeyboardInterrupt:
        pass
    except BaseException:
        log.exception("worker process %d failed", os.getpid())
        code = 1
    finally:
        os._exit(code)


def _stop_children(children: list[int]) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
