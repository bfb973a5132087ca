"""The worker against a real Redis with real task processes (path deployments).

Each test starts a real `Worker` (in a thread of the test process) on the session's Redis and
checks what a user sees in Redis: task states, errors, results, logs and heartbeats. Rows refer
to the failure table of worker-protocol.md section 10.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import replace

import pytest

from runqy.broker import (
    Admin,
    Broker,
    EnqueueRequest,
    Inspector,
    TaskMessage,
    TaskNotFoundError,
    keys,
)
from runqy.worker.heartbeat import LogBuffer
from runqy.worker.process import Outcome, Verdict
from runqy.worker.processor import Processor
from tests.worker.harness import (
    enqueue,
    fast_settings,
    poll_until,
    registration,
    running_worker,
    task_info,
)

Q = "app.default"


def wait_state(client, task_id, *states, queue=Q, timeout=20.0):
    poll_until(lambda: task_info(client, queue, task_id).state in states, timeout=timeout,
               what=f"task {task_id} in {states}",
               detail=lambda: f"state is {task_info(client, queue, task_id).state}")
    return task_info(client, queue, task_id)


def logs_of(client, worker_id):
    return Inspector(client).worker_logs(worker_id, limit=500)


# Rows whose Mode is "both" in worker-protocol.md section 10 are run in each deployment mode.
IN_BOTH_MODES = pytest.mark.parametrize("mode", ["long_running", "one_shot"])


@IN_BOTH_MODES
def test_outcomes_in_both_modes(redis_server, redis_client, deployment_dir, mode):
    """Rows 18, 19, 21, 22, 23, 27, 34, 35, 38, 39, 41, 45 (and 28 in one_shot)."""
    settings = fast_settings(deployment_dir, concurrency=2, max_message_size=1024 * 1024)
    c = redis_client
    with running_worker(settings, registration(redis_server.url, mode=mode)) as runner:
        ids = {
            "echo": enqueue(c, Q, {"op": "echo", "value": 7}),
            "no_retention": enqueue(c, Q, {"op": "echo", "value": 1}, retention=0),
            "raise": enqueue(c, Q, {"op": "raise"}, retry=3),
            "raise_last": enqueue(c, Q, {"op": "raise"}, retry=0),
            "permanent": enqueue(c, Q, {"op": "permanent"}, retry=3),
            "set": enqueue(c, Q, {"op": "set"}),
            "nan": enqueue(c, Q, {"op": "nan"}),
            "late": enqueue(c, Q, {"op": "echo"}, deadline=int(time.time()) - 5),
            "text": enqueue(c, Q, b"plain text"),
            "binary": enqueue(c, Q, b"\xff\x00\x01"),
            "too_big": enqueue(c, Q, {"op": "echo", "value": "v" * (1024 * 1024 + 10)}),
            "noeol": enqueue(c, Q, {"op": "noeol"}),
            "stderr": enqueue(c, Q, {"op": "stderr"}),
            # A Go producer's JSON with a lone surrogate escape: no valid UTF-8 can hold it.
            "surrogate": enqueue(c, Q, b'{"op": "echo", "value": "\\udcff"}'),
            "slow": enqueue(c, Q, {"op": "sleep", "seconds": 60}, timeout=1, retry=2),
        }
        if mode == "one_shot":
            ids["exit"] = enqueue(c, Q, {"op": "exit", "code": 3}, retry=2)
        echo = wait_state(c, ids["echo"], "completed")
        assert json.loads(echo.result)["echo"] == 7
        poll_until(lambda: _gone(c, ids["no_retention"]), timeout=20,
                   what="retention-0 task deleted")
        raised = wait_state(c, ids["raise"], "retry")
        assert (raised.retried, raised.error_msg) == (1, "ValueError: bad")
        assert raised.next_process_at >= int(time.time()) + 10  # the asynq delay, 15 s or more
        last = wait_state(c, ids["raise_last"], "archived")
        assert last.error_msg == "ValueError: bad"
        permanent = wait_state(c, ids["permanent"], "archived")
        assert (permanent.retried, permanent.error_msg) == (0, "PermanentError: nope")
        for key in ("set", "nan"):
            bad = wait_state(c, ids[key], "archived")
            assert bad.error_msg.startswith("result is not JSON-serialisable")
        late = wait_state(c, ids["late"], "archived")
        assert late.error_msg == "deadline exceeded before start"
        text = wait_state(c, ids["text"], "completed")
        assert json.loads(text.result) == {"type": "str", "value": "plain text"}
        binary = wait_state(c, ids["binary"], "completed")
        assert json.loads(binary.result) == {"type": "bytes", "value": [255, 0, 1]}
        big = wait_state(c, ids["too_big"], "archived")
        assert big.error_msg.startswith("payload too large for the task protocol (")
        assert json.loads(wait_state(c, ids["noeol"], "completed").result) == "ok"
        wait_state(c, ids["stderr"], "completed")
        surrogate = wait_state(c, ids["surrogate"], "completed")
        assert json.loads(surrogate.result)["echo"] == "\udcff"
        assert wait_state(c, ids["slow"], "retry").error_msg == "task timed out after 1 s"
        if mode == "one_shot":
            crashed = wait_state(c, ids["exit"], "retry")
            assert crashed.error_msg == "process exited without a response (exit code 3)"
        worker_id = runner.worker.settings.worker_id

        def logged(text, **fields):
            return any(line["text"] == text and line["src"] == "stderr"
                       and all(line.get(k) == v for k, v in fields.items())
                       for line in logs_of(c, worker_id))

        poll_until(lambda: logged("to stderr", queue="app", task_id=ids["stderr"]), timeout=10,
                   what="stderr line in the worker log list")
        # Row 41: the line is in the logs as stderr, tagged with its own task.
        poll_until(lambda: logged("x", task_id=ids["noeol"]), timeout=10,
                   what="print(end='') output as its own stderr line")


def process_of(pool, task_id):
    """The process the task has been sent to."""
    return poll_until(lambda: next((s.process for s in pool.slots if s.process is not None
                                    and s.process.task_id == task_id), None),
                      timeout=10, what=f"task {task_id} sent to a process")


@IN_BOTH_MODES
@pytest.mark.parametrize(("startup", "reason"), [
    ("silent", "startup timed out after 1 s"),
    ("loadfail", "startup failed: load failed: RuntimeError: no model"),
], ids=["row16", "rows17_55"])
def test_rows16_17_55_failed_start_is_a_failure_and_the_task_waits(
        redis_server, redis_client, deployment_dir, mode, startup, reason):
    """A process that never prints ready is stopped after startup_timeout_secs; one whose
    loader raises reports a status error and exits. Either is a failure, logged, and restarted
    with backoff; the task stays pending with `retried` unchanged."""
    c = redis_client
    settings = fast_settings(deployment_dir)
    reg = registration(redis_server.url, env={"BEHAVE_STARTUP": startup},
                       startup_timeout_secs=1, mode=mode)
    task_id = enqueue(c, Q, {"op": "echo", "value": 1}, retry=3)
    with running_worker(settings, reg) as runner:
        pool = runner.worker.pools[0]
        first = poll_until(lambda: pool.slots[0].starting, timeout=10, what="a process starting")
        poll_until(lambda: first.exited, timeout=5, what="the failed process gone")
        poll_until(lambda: pool.recovery.consecutive_fails >= 2, timeout=20,
                   what="two failed starts")
        poll_until(lambda: any(line["text"] == reason and line["src"] == "worker"
                               for line in logs_of(c, settings.worker_id)),
                   timeout=10, what="the start-up failure in the worker log list")
        info = task_info(c, Q, task_id)
        assert (info.state, info.retried) == ("pending", 0)


def _gone(client, task_id):
    try:
        task_info(client, Q, task_id)
    except TaskNotFoundError:
        return True
    return False


@IN_BOTH_MODES
def test_redis_storage_keeps_results_of_retention_zero_tasks(redis_server, redis_client,
                                                              deployment_dir, mode):
    """Row 20."""
    settings = fast_settings(deployment_dir)
    with running_worker(settings, registration(redis_server.url, redis_storage=True,
                                               mode=mode)):
        task_id = enqueue(redis_client, Q, {"op": "echo", "value": 3}, retention=0)
        info = wait_state(redis_client, task_id, "completed")
    assert json.loads(info.result)["echo"] == 3
    assert info.retention == 24 * 3600
    assert json.loads(redis_client.get(f"asynq:result:{task_id}"))["echo"] == 3


@IN_BOTH_MODES
def test_hand_written_protocol_and_runqy_python_02_processes(redis_server, redis_client,
                                                              deployment_dir, mode):
    """Rows 23 (retry false), 24, 25, 26, 40, 42, and 43 (long_running) with a raw-protocol
    process."""
    settings = fast_settings(deployment_dir, max_message_size=1024 * 1024, queues=("raw",))
    c = redis_client
    reg = registration(redis_server.url, parent="raw", app="raw", mode=mode)
    q = "raw.default"
    with running_worker(settings, reg) as runner:
        ids = {
            "legacy": enqueue(c, q, {"n": 21, "lines": ["plain stdout", "{not json"]}),
            "legacy_fail": enqueue(c, q, {"fail": True}, retry=3),
            "no_retry_key": enqueue(c, q, {"respond": {"error": "flaky"}}, retry=3),
            "empty_error": enqueue(c, q, {"respond": {"error": "", "retry": True}}, retry=3),
            "retry_yes": enqueue(c, q, {"respond": {"error": "x", "retry": "yes"}}, retry=3),
            "oversize": enqueue(c, q, {"big": 1024 * 1024 + 100}),
            "after_oversize": enqueue(c, q, {"n": 1}),
        }
        if mode == "long_running":
            ids["foreign"] = enqueue(c, q, {"foreign": True, "n": 2})
        legacy = wait_state(c, ids["legacy"], "completed", queue=q)
        assert json.loads(legacy.result) == {"legacy": 42}
        failed = wait_state(c, ids["legacy_fail"], "archived", queue=q)
        assert (failed.retried, failed.error_msg) == (0, "ValueError: legacy failure")
        flaky = wait_state(c, ids["no_retry_key"], "retry", queue=q)
        assert flaky.error_msg == "flaky"
        empty = wait_state(c, ids["empty_error"], "retry", queue=q)
        assert empty.error_msg == "task failed without an error message"
        bad = wait_state(c, ids["retry_yes"], "archived", queue=q)
        assert bad.error_msg == "protocol error: 'retry' must be a boolean"
        over = wait_state(c, ids["oversize"], "archived", queue=q)
        assert over.error_msg == f"response line exceeds {1024 * 1024} bytes"
        assert json.loads(wait_state(c, ids["after_oversize"], "completed", queue=q).result) \
            == {"legacy": 2}
        worker_id = runner.worker.settings.worker_id
        poll_until(lambda: {"plain stdout", "{not json"} <= {
            line["text"] for line in logs_of(c, worker_id) if line["src"] == "stdout"},
            timeout=10, what="non-protocol stdout lines shipped as logs")
        if mode == "one_shot":
            return
        assert json.loads(wait_state(c, ids["foreign"], "completed", queue=q).result) \
            == {"legacy": 4}
        pids = {p.pid for pool in runner.worker.pools for p in pool.running_processes()}
        assert len(pids) == 1  # one process served everything: none was restarted
        poll_until(lambda: any("not-in-flight" in line["text"] and line["src"] == "worker"
                               for line in logs_of(c, worker_id)),
                   timeout=10, what="warning about a response for another task")


def test_strict_priority_order_and_paused_queues(redis_server, redis_client, deployment_dir):
    """200 tasks over two sub-queues finish high before low; row 37: a paused queue waits."""
    c = redis_client
    subs = {"app.high": 10, "app.low": 1, "app.paused": 20}
    high = [enqueue(c, "app.high", {"op": "stamp", "value": i}) for i in range(100)]
    low = [enqueue(c, "app.low", {"op": "stamp", "value": i}) for i in range(100)]
    held = enqueue(c, "app.paused", {"op": "stamp", "value": -1})
    Admin(c).pause_queue("app.paused")
    settings = fast_settings(deployment_dir, concurrency=1)
    with running_worker(settings, registration(redis_server.url, subs=subs)):
        poll_until(lambda: all(task_info(c, "app.low", t).state == "completed" for t in low),
                   timeout=60, what="all 200 tasks completed")
        assert task_info(c, "app.paused", held).state == "pending"
        Admin(c).unpause_queue("app.paused")
        wait_state(c, held, "completed", queue="app.paused")
    high_stamps = [json.loads(task_info(c, "app.high", t).result) for t in high]
    low_stamps = [json.loads(task_info(c, "app.low", t).result) for t in low]
    assert [s["value"] for s in sorted(high_stamps, key=lambda s: s["ns"])] == list(range(100))
    assert max(s["ns"] for s in high_stamps) < min(s["ns"] for s in low_stamps)
    assert [s["value"] for s in sorted(low_stamps, key=lambda s: s["ns"])] == list(range(100))


def test_crash_mid_task_retries_at_once_and_restarts_the_process(redis_server, redis_client,
                                                                  deployment_dir):
    """Rows 29, 30, 33: crash (SIGKILL), exit 0, and the heartbeat's healthy flag."""
    c = redis_client
    settings = fast_settings(deployment_dir, initial_delay=1.0)
    with running_worker(settings, registration(redis_server.url)) as runner:
        worker_id = runner.worker.settings.worker_id
        beat = f"asynq:workers:{worker_id}"
        poll_until(lambda: c.hget(beat, "healthy") == b"true", timeout=10, what="healthy beat")
        pid_before = runner.worker.pools[0].slots[0].process.pid
        killed = enqueue(c, Q, {"op": "kill-self"}, retry=3)
        info = wait_state(c, killed, "retry", timeout=5)
        assert info.error_msg == "task process crashed (exit code -9)"
        poll_until(lambda: c.hget(beat, "healthy") == b"false", timeout=5,
                   what="healthy=false while the process restarts")
        poll_until(lambda: json.loads(c.hget(beat, "recovery"))["consecutive_fails"] == 1,
                   timeout=5, what="the crash counted in the heartbeat")
        poll_until(lambda: c.hget(beat, "healthy") == b"true", timeout=10,
                   what="healthy=true after the restart")
        assert runner.worker.pools[0].slots[0].process.pid != pid_before
        exited = enqueue(c, Q, {"op": "exit", "code": 0}, retry=3)
        assert wait_state(c, exited, "retry").error_msg == \
            "task process exited unexpectedly (exit code 0)"
        poll_until(lambda: runner.worker.pools[0].recovery.consecutive_fails == 2, timeout=5,
                   what="the exit counted as a failure")
        fine = enqueue(c, Q, {"op": "echo", "value": 1})
        wait_state(c, fine, "completed", timeout=15)
        assert runner.worker.pools[0].recovery.consecutive_fails == 0
        # Row 30, idle: a process that stops on its own is restarted; no task is affected.
        idle = runner.worker.pools[0].slots[0].process
        os.kill(idle.pid, signal.SIGTERM)
        poll_until(lambda: runner.worker.pools[0].slots[0].process not in (None, idle)
                   and runner.worker.pools[0].slots[0].process.ready, timeout=10,
                   what="idle process replaced")
        assert runner.worker.pools[0].recovery.consecutive_fails == 1
        recovery = json.loads(c.hget(beat, "recovery"))
        assert recovery["total_restarts"] >= 2


def test_a_task_is_never_sent_to_a_process_that_died_while_idle(redis_server, redis_client,
                                                               deployment_dir):
    """The process dies between two tasks while the slot is in Redis finishing the first and
    taking the second: the second goes back to pending untouched and runs on the restarted
    process, never failed as a crash of a process it never reached."""
    c = redis_client
    settings = fast_settings(deployment_dir, initial_delay=0.2)
    with running_worker(settings, registration(redis_server.url)) as runner:
        slot = runner.worker.pools[0].slots[0]
        poll_until(lambda: slot.process is not None and slot.process.ready, timeout=10,
                   what="the process ready")
        process = slot.process
        first = enqueue(c, Q, {"op": "sleep", "seconds": 0.5})
        poll_until(lambda: process.task_id == first, timeout=10, what="the first task running")
        second = enqueue(c, Q, {"op": "echo", "value": 1}, retry=0)
        c.execute_command("CLIENT", "PAUSE", 10000, "WRITE")  # holds the slot's completion
        try:
            poll_until(lambda: process.task_id is None, timeout=10, what="the first response")
            os.kill(process.pid, signal.SIGKILL)
            poll_until(lambda: process.exited, timeout=5, what="the idle exit noticed")
        finally:
            c.execute_command("CLIENT", "UNPAUSE")
        info = wait_state(c, second, "completed", "archived", timeout=15)
        assert (info.state, info.retried, info.error_msg) == ("completed", 0, "")
        assert wait_state(c, first, "completed").error_msg == ""
        assert slot.process is not process


@IN_BOTH_MODES
def test_always_crashing_process_degrades_and_the_probe_recovers(
        redis_server, redis_client, deployment_dir, tmp_path, mode):
    """Rows 31, 32, 17: five failed starts → degraded, tasks stay pending; the probe recovers.

    A one_shot slot starts a process only for a task, so the task is there from the start."""
    c = redis_client
    flag = tmp_path / "crash"
    flag.touch()
    settings = fast_settings(deployment_dir, concurrency=2, max_restarts=5, initial_delay=0.05,
                             max_delay=0.1, probe_interval=0.5)
    reg = registration(redis_server.url, env={"BEHAVE_STARTUP": "crash-while-file",
                                              "BEHAVE_CRASH_FILE": str(flag)}, mode=mode)
    task_id = enqueue(c, Q, {"op": "echo", "value": 5})
    with running_worker(settings, reg) as runner:
        beat = f"asynq:workers:{runner.worker.settings.worker_id}"
        poll_until(lambda: c.hget(beat, "status") == b"degraded", timeout=20,
                   what="status=degraded")
        assert c.hget(beat, "healthy") == b"false"
        assert json.loads(c.hget(beat, "recovery"))["state"] == "degraded"
        assert task_info(c, Q, task_id).state == "pending"
        time.sleep(1.5)  # a probe interval and more pass: the task must stay untouched
        assert task_info(c, Q, task_id).state == "pending"
        flag.unlink()
        wait_state(c, task_id, "completed", timeout=20)
        poll_until(lambda: c.hget(beat, "status") == b"running", timeout=10,
                   what="status=running after the probe")
        assert json.loads(c.hget(beat, "recovery"))["consecutive_fails"] == 0


def test_timeout_and_cancel_stop_the_process(redis_server, redis_client, deployment_dir):
    """Rows 34 and 36."""
    c = redis_client
    settings = fast_settings(deployment_dir)
    with running_worker(settings, registration(redis_server.url)) as runner:
        slot = runner.worker.pools[0].slots[0]
        poll_until(lambda: slot.process is not None, timeout=10, what="process ready")
        pid = slot.process.pid
        slow = enqueue(c, Q, {"op": "sleep", "seconds": 30}, timeout=1, retry=2)
        info = wait_state(c, slow, "retry", timeout=10)
        assert info.error_msg == "task timed out after 1 s"
        assert runner.worker.pools[0].recovery.consecutive_fails == 0
        poll_until(lambda: slot.process is not None and slot.process.pid != pid, timeout=10,
                   what="a new process after the timeout")
        cancelled = enqueue(c, Q, {"op": "sleep", "seconds": 30}, retry=3)
        wait_state(c, cancelled, "active")
        # While it runs, asynq tools see the worker as a server with this task in flight.
        poll_until(lambda: [w.task_id for s in Inspector(c).servers() for w in s.workers]
                   == [cancelled], timeout=10, what="asynq-native WorkerInfo for the task")
        server = Inspector(c).servers()[0]
        assert (server.status, server.queues, server.strict_priority) == (
            "active", {Q: 1}, True)
        poll_until(lambda: bool(Broker(c).cancel(cancelled)) and
                   task_info(c, Q, cancelled).state == "archived", timeout=10,
                   what="cancelled task archived")
        assert task_info(c, Q, cancelled).error_msg == "cancelled"


def test_one_shot_failure_count_cancel_paused_queue_and_sigkill(redis_server, redis_client,
                                                                 deployment_dir):
    """Rows 33, 36, 37 and 54 in one_shot mode (the other tests cover them in long_running): a
    success resets the failure count, a cancel stops the task's process and archives the task,
    a paused sub-queue waits, and a process ignoring SIGTERM is killed after the grace."""
    c = redis_client
    settings = fast_settings(deployment_dir, initial_delay=0.05)
    reg = registration(redis_server.url, subs={Q: 1, "app.paused": 5}, mode="one_shot")
    held = enqueue(c, "app.paused", {"op": "echo", "value": 0})
    Admin(c).pause_queue("app.paused")
    with running_worker(settings, reg) as runner:
        pool = runner.worker.pools[0]
        crashed = enqueue(c, Q, {"op": "exit", "code": 3}, retry=3)
        wait_state(c, crashed, "retry")
        assert pool.recovery.consecutive_fails == 1
        fine = enqueue(c, Q, {"op": "echo", "value": 1})
        wait_state(c, fine, "completed")
        assert pool.recovery.consecutive_fails == 0
        cancelled = enqueue(c, Q, {"op": "sleep", "seconds": 30}, retry=3)
        process = process_of(pool, cancelled)
        poll_until(lambda: bool(Broker(c).cancel(cancelled)) and
                   task_info(c, Q, cancelled).state == "archived", timeout=10,
                   what="cancelled task archived")
        assert task_info(c, Q, cancelled).error_msg == "cancelled"
        assert process.exited
        stubborn = enqueue(c, Q, {"op": "ignore-term"}, timeout=1, retry=3)
        process = process_of(pool, stubborn)
        started = time.monotonic()
        assert wait_state(c, stubborn, "retry").error_msg == "task timed out after 1 s"
        poll_until(lambda: process.exited, timeout=10, what="the stubborn process gone")
        assert process.exit_code == -signal.SIGKILL
        assert time.monotonic() - started >= settings.timings.stop_grace
        assert task_info(c, "app.paused", held).state == "pending"


def test_explicit_sub_queues_limit_what_is_served(redis_server, redis_client, deployment_dir):
    """4.1: `parent.sub` names serve only those sub-queues; unknown ones are a warning."""
    c = redis_client
    settings = fast_settings(deployment_dir, queues=("app.high", "app.nope"))
    reg = registration(redis_server.url, subs={"app.high": 5, "app.low": 1})
    with running_worker(settings, reg) as runner:
        low = enqueue(c, "app.low", {"op": "echo", "value": 1})
        high = enqueue(c, "app.high", {"op": "echo", "value": 2})
        wait_state(c, high, "completed", queue="app.high")
        assert runner.worker.processor.queues_in_order() == ["app.high"]
        assert task_info(c, "app.low", low).state == "pending"
        poll_until(lambda: any("'app.nope'" in line["text"]
                               for line in logs_of(c, settings.worker_id)),
                   timeout=10, what="warning about the unknown sub-queue")


def test_weighted_mode_serves_every_sub_queue(redis_server, redis_client, deployment_dir):
    """worker.priority_mode: weighted — the low queue is served before the high one is empty."""
    c = redis_client
    subs = {"app.heavy": 3, "app.light": 1}
    heavy = [enqueue(c, "app.heavy", {"op": "stamp", "value": i}) for i in range(60)]
    light = [enqueue(c, "app.light", {"op": "stamp", "value": i}) for i in range(20)]
    settings = fast_settings(deployment_dir, priority_mode="weighted")
    with running_worker(settings, registration(redis_server.url, subs=subs)):
        poll_until(lambda: all(task_info(c, "app.heavy", t).state == "completed" for t in heavy)
                   and all(task_info(c, "app.light", t).state == "completed" for t in light),
                   timeout=60, what="both sub-queues drained")
        assert Inspector(c).servers()[0].strict_priority is False
    heavy_last = max(json.loads(task_info(c, "app.heavy", t).result)["ns"] for t in heavy)
    light_first = min(json.loads(task_info(c, "app.light", t).result)["ns"] for t in light)
    assert light_first < heavy_last


def test_task_code_for_runqy_python_02_runs_unchanged(redis_server, redis_client,
                                                      deployment_dir):
    """The real runqy-python 0.2.x SDK (from the test extra) behind the worker.

    The command names the interpreter that has it installed, as a deployment whose
    requirements.txt installs runqy-python would.
    """
    c = redis_client
    q = "old.default"
    settings = fast_settings(deployment_dir, queues=("old",))
    reg = registration(redis_server.url, parent="old", app="legacy02")
    reg = replace(reg, deployment=replace(reg.deployment,
                                          startup_cmd=f"{sys.executable} main.py"))
    with running_worker(settings, reg):
        ok = enqueue(c, q, {"n": 14})
        retryable = enqueue(c, q, {"retryable": True}, retry=3)
        failing = enqueue(c, q, {"fail": True}, retry=3)
        assert json.loads(wait_state(c, ok, "completed", queue=q).result) == {"tripled": 42}
        assert wait_state(c, retryable, "retry", queue=q).error_msg == "try again"
        archived = wait_state(c, failing, "archived", queue=q)  # 0.2.x sends retry: false
        assert archived.retried == 0 and "ValueError: legacy failure" in archived.error_msg
        poll_until(lambda: any(line["text"] == "legacy handler called"
                               for line in logs_of(c, settings.worker_id)),
                   timeout=10, what="print() output of 0.2.x code in the logs")


@pytest.fixture()
def processor(redis_client, deployment_dir):
    settings = fast_settings(deployment_dir)
    warnings: list[str] = []
    processor = Processor(redis_client, settings, {"app": {Q: 1}}, LogBuffer(), warnings.append)
    yield processor
    processor.stop_loops()
    assert warnings == []


def success_with_next_task_taken(c, processor) -> str:
    """Complete one task while another waits; returns the waiting task's ID."""
    first = enqueue(c, Q, {"op": "echo"})
    job = processor.next_task("app")
    assert job.task_id == first
    waiting = enqueue(c, Q, {"op": "echo"})
    processor.finish(job, Outcome(Verdict.SUCCESS, result=b"1"))  # written asynchronously
    wait_state(c, first, "completed", timeout=10)
    poll_until(lambda: [j.task_id for j in processor.in_flight()] == [waiting], timeout=10,
               what="the next task taken ahead, leased, in the completion's round trip")
    assert task_info(c, Q, waiting).state == "active"
    return waiting


def test_a_success_takes_the_slots_next_task_in_the_same_round_trip(redis_client, processor):
    waiting = success_with_next_task_taken(redis_client, processor)
    job = processor.next_task("app")
    assert job.task_id == waiting and job.lease_expires_at > time.time()


def test_a_task_taken_ahead_goes_back_when_draining(redis_client, processor):
    waiting = success_with_next_task_taken(redis_client, processor)
    processor.draining.set()
    assert processor.next_task("app") is None
    assert processor.in_flight() == []
    assert task_info(redis_client, Q, waiting).state == "pending"


def test_a_task_taken_ahead_that_no_slot_asks_for_goes_back(redis_client, processor):
    waiting = success_with_next_task_taken(redis_client, processor)
    processor.start_loops()  # e.g. the pool degraded right after the success
    wait_state(redis_client, waiting, "pending", timeout=10)
    assert processor.in_flight() == []


def test_a_task_taken_ahead_can_be_cancelled_before_it_runs(redis_client, processor):
    waiting = success_with_next_task_taken(redis_client, processor)
    assert processor.cancel(waiting)
    info = wait_state(redis_client, waiting, "archived", timeout=10)
    assert info.error_msg == "cancelled"
    assert processor.next_task("app") is None  # never handed to a slot
    assert processor.in_flight() == []


def test_a_stop_mid_stream_leaves_no_task_taken_ahead(redis_server, redis_client,
                                                      deployment_dir):
    """Each success also takes the slot's next task; a stop must put such a task back."""
    c = redis_client
    settings = fast_settings(deployment_dir, concurrency=2)
    requests = [EnqueueRequest(TaskMessage(type=Q, queue=Q, payload=b'{"op":"echo"}',
                                           retry=3, timeout=60, retention=3600))
                for _ in range(5000)]
    ids = [o.task_id for o in Broker(c).enqueue_many(requests)]
    with running_worker(settings, registration(redis_server.url)) as runner:
        poll_until(lambda: int(c.get(keys.processed_total(Q)) or 0) >= 20, timeout=30,
                   what="processing under way")
        assert runner.stop() == 0
    assert int(c.get(keys.processed_total(Q))) < len(ids), "stopped mid-stream"
    assert c.llen(keys.active(Q)) == 0 and c.zcard(keys.lease(Q)) == 0
    states = [task_info(c, Q, task_id).state for task_id in ids]
    assert set(states) <= {"completed", "pending"}
    assert states.count("completed") == int(c.get(keys.processed_total(Q)))
    assert c.llen(keys.pending(Q)) == states.count("pending")
