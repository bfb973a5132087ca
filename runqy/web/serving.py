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

import waitress
from flask import Flask

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
        waitress.serve(app, host=settings.host, port=settings.port, _quiet=True,
                       **waitress_options(settings))
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
        waitress.serve(app, sockets=[listener], _quiet=True, **waitress_options(settings))
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
