"""`runqy worker --processes N`: N worker processes under one command, one GIL each.

A runqy worker is one Python process: its slots, pipes and Redis calls share one GIL, so it
uses about one core however many slots it has. With ``processes`` above 1 the command forks
that many complete workers (each registers, beats and serves as ``<worker_id>-<k>`` with its
own ``concurrency`` slots per parent) and supervises them:

- SIGTERM or SIGINT is passed on to every worker, which shuts down as usual (8.3); a second
  one skips their wait. The workers run in their own process group, so a terminal's Ctrl-C
  reaches them once, through here.
- A worker that exits on its own (a fatal error) stops the others; the exit code is the
  highest of theirs.
- Each worker dies with this process (``PR_SET_PDEATHSIG``), and its task processes with it,
  whatever kills the command, kill -9 included.

Every lease, at-least-once and shutdown guarantee is per worker, exactly as with N separate
`runqy worker` commands on one machine; deployments are prepared one worker at a time (a file
lock in the deployment directory), the later ones reusing the checkout and venv.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import replace

from runqy.worker.process import die_with_parent
from runqy.worker.settings import WorkerSettings


def run_processes(settings: WorkerSettings, run_one: Callable[[WorkerSettings], int]) -> int:
    """Fork ``settings.processes`` workers running ``run_one``; their highest exit code."""
    parent = os.getpid()
    children: dict[int, int] = {}
    stopping = False

    def pass_on(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _signal(pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, pass_on)
    for index in range(1, settings.processes + 1):
        own = replace(settings, worker_id=f"{settings.worker_id}-{index}")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child ends in os._exit
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)  # the worker installs its own
                os.setpgid(0, 0)
                die_with_parent(parent)()
                code = run_one(own)
            finally:
                os._exit(code)
        children[pid] = index
    worst = 0
    while children:
        pid, status = os.wait()
        children.pop(pid, None)
        code = os.waitstatus_to_exitcode(status)
        worst = max(worst, code if code >= 0 else 1)
        if not stopping:  # one worker ended on its own: the command ends
            stopping = True
            for other in children:
                _signal(other, signal.SIGTERM)
    return worst


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
