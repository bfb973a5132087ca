"""One task process on its own: handshake failures, stopping, who reads the pipes when, and
the line classifier.

Real child processes, no Redis (rows 16, 17, 54, 55 of worker-protocol.md section 10).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from runqy.worker.process import (
    Outcome,
    ReplyKind,
    StartupError,
    TaskProcess,
    Verdict,
    outcome_from_response,
    spliced_success,
)
from tests.worker.harness import APPS, poll_until

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


def request(task_id: str, payload: object) -> bytes:
    return json.dumps({"task_id": task_id, "payload": payload}).encode() + b"\n"


def run_in_thread(process: TaskProcess, task_id: str, line: bytes, limit: float):
    replies: list = []
    thread = threading.Thread(target=lambda: replies.append(process.run_task(task_id, line,
                                                                              limit)))
    thread.start()
    return thread, replies


def test_abort_from_another_thread_ends_the_slots_wait_at_once():
    """Cancel, lost lease and shutdown call abort() while the slot thread reads its child."""
    process = behave("ok", [])
    process.start()
    process.wait_ready(20)
    thread, replies = run_in_thread(process, "a", request("a", {"op": "sleep", "seconds": 60}),
                                    limit=120)
    poll_until(lambda: process.task_id == "a", timeout=10, what="task a in flight")
    assert not process.abort("someone-else", "cancelled")
    assert process.abort("a", "cancelled")
    thread.join(10)  # the child sleeps 60 s and the limit is 120 s: only the abort ends it
    assert not thread.is_alive()
    assert (replies[0].kind, replies[0].reason) == (ReplyKind.ABORTED, "cancelled")
    process.stop()


def test_the_time_limit_holds_while_the_child_does_not_read_its_request():
    """A request bigger than the pipe, to a child that is not reading: the write no longer pins
    the slot past its time limit (nor past an abort)."""
    process = behave("ok", [], stop_grace=1.0)
    process.start()
    process.wait_ready(20)
    # The handler sleeps past its limit, so the child reads nothing more for 60 s.
    sleeping = process.run_task("a", request("a", {"op": "sleep", "seconds": 60}), 0.5)
    assert sleeping.kind is ReplyKind.TIMEOUT
    big = request("b", {"op": "echo", "value": "v" * (1 << 20)})
    started = time.monotonic()
    assert process.run_task("b", big, 1.0).kind is ReplyKind.TIMEOUT
    assert time.monotonic() - started < 30
    process.stop()


def test_an_exit_while_idle_is_reported_at_once_and_nothing_is_sent_after_it():
    exits: list = []
    process = behave("ok", [])
    process.on_exit = exits.append
    process.start()
    process.wait_ready(20)
    assert process.run_task("a", request("a", {"op": "echo"}), 10).kind is ReplyKind.RESPONSE
    os.kill(process.pid, signal.SIGKILL)
    poll_until(lambda: exits == [process], timeout=10, what="the exit reported while idle")
    assert not process.ready and process.exit_code == -9
    reply = process.run_task("b", request("b", {"op": "echo"}), 10)
    assert (reply.kind, reply.exit_code) == (ReplyKind.NOT_SENT, -9)


def test_stderr_written_while_idle_is_read_under_the_earlier_task_and_never_blocks_the_child():
    """2 MiB of stderr after the response, with no task in flight: the idle watch reads it
    (the child would block on a full pipe otherwise), tagged with the task that ran last; the
    next task's lines carry the next task."""
    logs: list = []
    process = behave("ok", logs)
    process.start()
    process.wait_ready(20)
    line = request("a", {"op": "stderr-while-idle", "lines": 2048})
    assert process.run_task("a", line, 10).kind is ReplyKind.RESPONSE
    poll_until(lambda: any(text == "idle done" for _, text, _ in list(logs)), timeout=20,
               what="the idle stderr logged")
    assert process.run_task("b", request("b", {"op": "stderr"}), 10).kind is ReplyKind.RESPONSE
    process.stop()
    idle = [tag for src, text, tag in logs if src == "stderr" and text.startswith("x")]
    assert len(idle) == 2048 and set(idle) == {"a"}
    assert [tag for _, text, tag in logs if text in ("idle done", "to stderr")] == ["a", "b"]


def test_pipes_kept_after_a_response_go_back_to_the_idle_watch_when_given_back():
    """A slot with its next task already waiting keeps reading the pipes after a response
    (``keep_pipes``): each line still carries the task running when it arrived, and once the
    slot gives the pipes back the idle watch reads them again (2 MiB of idle stderr would
    block the child otherwise)."""
    logs: list = []
    process = behave("ok", logs)
    process.start()
    process.wait_ready(20)
    reply = process.run_task("a", request("a", {"op": "stderr"}), 10, keep_pipes=True)
    assert reply.kind is ReplyKind.RESPONSE
    line = request("b", {"op": "stderr-while-idle", "lines": 2048})
    assert process.run_task("b", line, 10, keep_pipes=True).kind is ReplyKind.RESPONSE
    process.give_back_pipes()
    poll_until(lambda: any(text == "idle done" for _, text, _ in list(logs)), timeout=20,
               what="the idle stderr logged")
    process.stop()
    idle = [tag for src, text, tag in logs if src == "stderr" and text.startswith("x")]
    assert len(idle) == 2048 and set(idle) == {"b"}
    assert [tag for _, text, tag in logs if text in ("to stderr", "idle done")] == ["a", "b"]


def test_sdk_results_are_stored_as_sent_and_other_framings_are_parsed_as_before():
    # The SDK's framing: the result's own bytes (compact, UTF-8, escapes kept).
    for sent in (b"null", b'{"v":"\\udcff","n":[1,2.5e-07]}', '"café"'.encode()):
        assert spliced_success(sent + b',"error":null,"retry":false}') == \
            Outcome(Verdict.SUCCESS, result=sent)
    # Whitespace is re-encoded compact; the rest goes to the general path (None).
    assert spliced_success(b'{"a": [1, "b c"]},"error":null,"retry":false}').result == \
        b'{"a":[1,"b c"]}'
    for line in (b'NaN,"error":null,"retry":false}', b'1,"result":2,"error":null,"retry":false}',
                 b'1,"error":"boom","retry":false}', b'1,"error":null,"retry":false} ',
                 b'"\xff","error":null,"retry":false}'):
        assert spliced_success(line) is None


def test_every_response_framing_classifies_as_the_protocol_says():
    """Through a real process: the SDK's framing, a duplicate key, NaN, spaces."""
    process = TaskProcess([sys.executable, "main.py"], cwd=str(APPS / "raw"),
                          env={"PATH": os.environ["PATH"]}, max_line=1 << 20,
                          on_log=lambda *line: None)
    process.start()
    process.wait_ready(20)
    cases = {
        '{"task_id":"%s","result":{"k":1},"result":[2],"error":null,"retry":false}':
            Outcome(Verdict.SUCCESS, result=b"[2]"),
        '{"task_id":"%s","result":NaN,"error":null,"retry":false}':
            Outcome(Verdict.PERMANENT, error="result is not JSON-serialisable: Out of range "
                    "float values are not JSON compliant"),
        '{"task_id": "%s", "result": {"a": 1}}': Outcome(Verdict.SUCCESS, result=b'{"a":1}'),
        '{"task_id":"%s","result":1,"error":"no","retry":false}':
            Outcome(Verdict.PERMANENT, error="no"),
    }
    for n, (template, outcome) in enumerate(cases.items()):
        task_id = f"t{n}"
        payload = {"exact": template % task_id}
        reply = process.run_task(task_id, request(task_id, payload), 10)
        assert (reply.kind, reply.outcome) == (ReplyKind.RESPONSE, outcome), template
    process.stop()


def test_the_open_files_limit_is_raised_towards_the_need_never_down_nor_past_hard():
    """Each task process holds DESCRIPTORS here; a pool raises the soft limit by that much per
    slot when it starts (256 slots would not fit in a 1,024 soft limit)."""
    code = textwrap.dedent("""
        import resource
        from runqy.descriptors import open_files_limit, raise_open_files_limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 300))
        raise_open_files_limit(open_files_limit() + 50)
        after_pool = open_files_limit()
        raise_open_files_limit(100)
        never_down = open_files_limit()
        raise_open_files_limit(10 ** 6)
        print(after_pool, never_down, open_files_limit())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": os.environ["PATH"]}, check=True)
    assert done.stdout.split() == ["250", "250", "300"]
