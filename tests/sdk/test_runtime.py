"""The SDK task side, run as real child processes speaking the line protocol on stdin/stdout."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_task_code(tmp_path: Path, code: str, *lines: dict | str, once: bool = False):
    """Run `code` (plus run()/run_once()) with the given request lines; (stdout objs, stderr)."""
    script = tmp_path / "main.py"
    script.write_text(HEADER + textwrap.dedent(code) + ("\nrun_once()\n" if once else "\nrun()\n"))
    stdin = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    done = subprocess.run(
        [sys.executable, str(script)], input=stdin.encode(), capture_output=True, timeout=30,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return done.returncode, out, done.stderr.decode()


# Rows marked "both" in worker-protocol.md section 10 hold for run() and run_once() alike.
IN_BOTH_MODES = pytest.mark.parametrize("once", [False, True], ids=["long_running", "one_shot"])

HEADER = ("from runqy import task, load, run, run_once, PermanentError, RetryableError, "
          "current_task\n")


def test_ready_then_one_response_per_line_and_exit_zero_at_eof(tmp_path):
    code, out, _ = run_task_code(tmp_path, """
        @task
        def handle(payload):
            return {"doubled": payload["x"] * 2}
    """, {"task_id": "t1", "payload": {"x": 2}}, {"task_id": "t2", "payload": {"x": 5}})
    assert code == 0
    assert out == [
        {"status": "ready"},
        {"task_id": "t1", "result": {"doubled": 4}, "error": None, "retry": False},
        {"task_id": "t2", "result": {"doubled": 10}, "error": None, "retry": False},
    ]


def test_exceptions_map_to_retry_flags_and_typed_messages(tmp_path):
    _, out, err = run_task_code(tmp_path, """
        @task
        def handle(payload):
            kind = payload["kind"]
            if kind == "value":
                raise ValueError("bad")
            if kind == "retryable":
                raise RetryableError("later")
            if kind == "permanent":
                raise PermanentError("never")
            raise KeyError()
    """, *({"task_id": k, "payload": {"kind": k}} for k in
           ("value", "retryable", "permanent", "empty")))
    by_id = {o["task_id"]: o for o in out[1:]}
    assert by_id["value"]["error"] == "ValueError: bad" and by_id["value"]["retry"] is True
    assert by_id["retryable"]["retry"] is True
    assert by_id["permanent"] == {"task_id": "permanent", "result": None,
                                  "error": "PermanentError: never", "retry": False}
    assert by_id["empty"]["error"] == "KeyError"
    assert "Traceback" in err and "ValueError: bad" in err


def test_unserialisable_results_fail_permanently_and_the_process_keeps_serving(tmp_path):
    """Rows 27: a set or NaN gives a permanent error; the next task still works."""
    _, out, _ = run_task_code(tmp_path, """
        import math
        @task
        def handle(payload):
            return {"set": {1}, "nan": math.nan, "ok": "fine"}[payload]
    """, {"task_id": "a", "payload": "set"}, {"task_id": "b", "payload": "nan"},
        {"task_id": "c", "payload": "ok"})
    assert out[1]["error"].startswith("result is not JSON-serialisable: TypeError")
    assert out[1]["retry"] is False
    assert out[2]["error"].startswith("result is not JSON-serialisable: ValueError")
    assert out[3]["result"] == "fine"


@IN_BOTH_MODES
def test_print_goes_to_stderr_and_never_corrupts_the_protocol(tmp_path, once):
    """Row 41: print("x", end="") lands in stderr as its own line."""
    _, out, err = run_task_code(tmp_path, """
        import os
        @task
        def handle(payload):
            print("x", end="")
            os.write(1, b"raw fd write\\n")
            return "done"
    """, {"task_id": "t", "payload": None}, once=once)
    assert out == [{"status": "ready"},
                   {"task_id": "t", "result": "done", "error": None, "retry": False}]
    assert "x\n" in err and "raw fd write" in err


@IN_BOTH_MODES
def test_ctx_is_none_without_loader_and_the_loader_value_otherwise(tmp_path, once):
    """Row 44 and the loader contract."""
    _, out, _ = run_task_code(tmp_path, """
        @task()
        def handle(payload, ctx):
            return {"ctx": ctx}
    """, {"task_id": "t", "payload": 1}, once=once)
    assert out[1]["result"] == {"ctx": None}
    _, out, _ = run_task_code(tmp_path, """
        @load
        def setup():
            return {"model": "small"}
        @task
        def handle(payload, *rest):
            return {"ctx": rest[0]}
    """, {"task_id": "t", "payload": 1}, once=once)
    assert out[1]["result"] == {"ctx": {"model": "small"}}


@IN_BOTH_MODES
def test_loader_failure_and_missing_handler_are_startup_errors(tmp_path, once):
    """Row 55."""
    code, out, _ = run_task_code(tmp_path, """
        @load
        def setup():
            raise RuntimeError("no model")
        @task
        def handle(payload):
            return 1
    """, {"task_id": "t", "payload": 1}, once=once)
    assert code == 1
    assert out == [{"status": "error", "error": "load failed: RuntimeError: no model"}]
    code, out, _ = run_task_code(tmp_path, "", {"task_id": "t", "payload": 1}, once=once)
    assert code == 1
    assert out == [{"status": "error", "error": "no task handler registered"}]


def test_async_handler_base64_payload_current_task_and_bad_lines(tmp_path):
    _, out, err = run_task_code(tmp_path, """
        import asyncio
        @task
        async def handle(payload):
            await asyncio.sleep(0)
            info = current_task()
            return {"type": type(payload).__name__, "id": info.task_id, "queue": info.queue,
                    "retried": info.retried}
    """, "not json", {"task_id": "b", "queue": "q.default", "retried": 2,
                      "payload": "AAEC", "payload_encoding": "base64"})
    assert out[1]["result"] == {"type": "bytes", "id": "b", "queue": "q.default", "retried": 2}
    assert "unreadable request line" in err


def test_run_once_answers_one_line_and_returns_silently_at_eof(tmp_path):
    code, out, _ = run_task_code(tmp_path, """
        @task
        def handle(payload):
            return payload
    """, {"task_id": "a", "payload": 1}, {"task_id": "b", "payload": 2}, once=True)
    assert code == 0 and [o.get("task_id") for o in out] == [None, "a"]
    code, out, _ = run_task_code(tmp_path, """
        @task
        def handle(payload):
            return payload
    """, once=True)
    assert code == 0 and out == [{"status": "ready"}]


def test_second_registration_replaces_the_first_with_a_warning(tmp_path):
    _, out, err = run_task_code(tmp_path, """
        @task
        def first(payload):
            return "first"
        @task
        def second(payload):
            return "second"
    """, {"task_id": "t", "payload": None})
    assert out[1]["result"] == "second"
    assert "a second @task replaces the first" in err
