"""One task process on its own: handshake failures, stopping, and the line classifier.

Real child processes, no Redis (rows 16, 17, 54, 55 of worker-protocol.md section 10).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from runqy.worker.process import (
    ReplyKind,
    StartupError,
    TaskProcess,
    Verdict,
    outcome_from_response,
)
from tests.worker.harness import APPS

ROOT = Path(__file__).resolve().parents[2]


def behave(startup: str, logs: list, stop_grace: float = 10.0) -> TaskProcess:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "BEHAVE_STARTUP": startup}
    return TaskProcess([sys.executable, "main.py"], cwd=str(APPS / "behave"), env=env,
                       max_line=1 << 20, on_log=lambda *line: logs.append(line),
                       stop_grace=stop_grace)


def test_row16_silent_process_is_stopped_after_the_startup_timeout():
    logs: list = []
    process = behave("silent", logs)
    process.start()
    started = time.monotonic()
    with pytest.raises(StartupError, match=r"startup timed out after 1 s"):
        process.wait_ready(1)
    assert 1 <= time.monotonic() - started < 5
    assert process.exited


def test_row17_and_55_status_error_and_loader_failure():
    logs: list = []
    process = behave("loadfail", logs)
    process.start()
    with pytest.raises(StartupError, match=r"startup failed: load failed: RuntimeError: no model"):
        process.wait_ready(20)
    assert any(src == "stderr" and "RuntimeError: no model" in text for src, text, _ in logs)


def test_exit_during_startup_names_the_exit_code():
    process = behave("crash", [])
    process.start()
    with pytest.raises(StartupError, match=r"process exited during startup \(exit code 3\)"):
        process.wait_ready(20)


def test_row54_sigterm_ignored_then_sigkill_after_the_grace_period():
    process = behave("ok", [], stop_grace=1.0)
    process.start()
    process.wait_ready(20)
    line = b'{"task_id":"t","payload":{"op":"ignore-term"}}\n'
    reply = process.run_task("t", line, time_limit=1.0)
    assert reply.kind is ReplyKind.TIMEOUT
    started = time.monotonic()
    process.stop()
    assert 0.9 <= time.monotonic() - started < 5
    assert process.exit_code == -9


def test_response_classification_rows_23_to_26():
    assert outcome_from_response({"task_id": "t", "result": [1]}).result == b"[1]"
    assert outcome_from_response({"task_id": "t", "error": "e"}).verdict is Verdict.RETRY
    assert outcome_from_response({"task_id": "t", "error": "e", "retry": False}).verdict \
        is Verdict.PERMANENT
    assert outcome_from_response({"task_id": "t", "error": ""}).error == \
        "task failed without an error message"
    bad = outcome_from_response({"task_id": "t", "error": "e", "retry": "yes"})
    assert (bad.verdict, bad.error) == (Verdict.PERMANENT,
                                        "protocol error: 'retry' must be a boolean")
    assert outcome_from_response({"task_id": "t", "error": 5}).verdict is Verdict.PERMANENT


def test_row45_every_stderr_line_carries_the_task_that_wrote_it():
    """Tasks back to back, each writing to stderr just before its response: every line is
    tagged with its own task, never the next one."""
    logs: list = []
    process = behave("ok", logs)
    process.start()
    process.wait_ready(20)
    ids = [f"t{i}" for i in range(40)]
    for task_id in ids:
        line = json.dumps({"task_id": task_id, "payload": {"op": "stderr"}}).encode() + b"\n"
        assert process.run_task(task_id, line, time_limit=10).kind is ReplyKind.RESPONSE
    process.stop()
    assert [tag for src, text, tag in logs if text == "to stderr"] == ids


def test_a_result_with_a_lone_surrogate_is_stored_with_its_escape():
    outcome = outcome_from_response({"task_id": "t", "result": {"v": "\udcff"}})
    assert (outcome.verdict, outcome.result) == (Verdict.SUCCESS, b'{"v":"\\udcff"}')
