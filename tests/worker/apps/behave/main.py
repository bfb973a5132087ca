"""Test task app: the payload's "op" picks the behaviour, BEHAVE_STARTUP the start-up one."""

import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

from runqy import PermanentError, current_task, load, run, run_once, task

STARTUP = os.environ.get("BEHAVE_STARTUP", "ok")
CRASH_FILE = os.environ.get("BEHAVE_CRASH_FILE")


@load
def setup():
    if STARTUP == "silent":
        time.sleep(3600)
    if STARTUP == "slow":
        time.sleep(1.5)
    if STARTUP == "crash":
        sys.exit(3)
    if STARTUP == "loadfail":
        raise RuntimeError("no model")
    if STARTUP == "crash-while-file" and CRASH_FILE and Path(CRASH_FILE).exists():
        os._exit(4)
    return {"pid": os.getpid()}


@task
def handle(payload, ctx):
    op = payload.get("op", "echo") if isinstance(payload, dict) else "raw"
    if op == "raw":
        return {"type": type(payload).__name__, "value": payload if isinstance(payload, str)
                else list(payload)}
    if op == "echo":
        return {"echo": payload.get("value"), "pid": ctx["pid"]}
    if op == "stamp":
        return {"ns": time.time_ns(), "value": payload.get("value")}
    if op == "ctx":
        info = current_task()
        return {"task_id": info.task_id, "queue": info.queue, "retried": info.retried}
    if op == "raise":
        raise ValueError("bad")
    if op == "permanent":
        raise PermanentError("nope")
    if op == "sleep-first":
        if current_task().retried == 0:
            time.sleep(payload["seconds"])
        return {"retried": current_task().retried}
    if op == "sleep":
        time.sleep(payload["seconds"])
        return {"slept": payload["seconds"]}
    if op == "touch":  # sleep, then leave a file the test can see: the answer comes next
        time.sleep(payload["seconds"])
        Path(payload["path"]).write_text(str(current_task().retried))
        return {"retried": current_task().retried}
    if op == "kill-self":
        os.kill(os.getpid(), signal.SIGKILL)
    if op == "exit":
        os._exit(payload.get("code", 1))
    if op == "set":
        return {1, 2}
    if op == "nan":
        return math.nan
    if op == "noeol":
        print("x", end="")
        return "ok"
    if op == "stderr":
        print("to stderr", file=sys.stderr)
        return "ok"
    if op == "stderr-while-idle":
        threading.Thread(target=_write_stderr_later, args=(payload["lines"],)).start()
        return "ok"
    if op == "big":
        return "y" * payload["size"]
    if op == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
    raise PermanentError(f"unknown op {op}")


def _write_stderr_later(lines):
    """Far more than a pipe holds, written after the response, while no task is in flight."""
    time.sleep(0.2)
    for _ in range(lines):
        print("x" * 1023, file=sys.stderr)
    print("idle done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    run_once() if os.environ.get("RUNQY_MODE") == "one_shot" else run()
