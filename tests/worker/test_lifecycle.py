"""Shutdown and Redis outages with a real worker, real processes and a real redis-server.

Rows 46-48 and 50-53 of worker-protocol.md section 10. Redis "goes down" by stopping the real
server with SHUTDOWN SAVE, and "comes back" by restarting it on the same port from that snapshot.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from runqy.broker import Inspector, keys
from runqy.worker.runner import Worker
from tests.worker.acks import await_outcomes_held, pause_writes, touch_payload
from tests.worker.harness import (
    WorkerThread,
    enqueue,
    fast_settings,
    poll_until,
    registration,
    restart_redis_keeping_data,
    running_worker,
    stop_redis_keeping_data,
    task_info,
)

Q = "app.default"


def active(client, task_id):
    return task_info(client, Q, task_id).state == "active"


def slot_process(runner):
    return runner.worker.pools[0].slots[0].process


def process_running(runner, task_id):
    """The process the task was sent to: the slot's own (long_running) or its own (one_shot)."""
    def sent():
        jobs = runner.worker.processor.in_flight()
        process = jobs[0].process if jobs else None
        return process if process is not None and process.task_id == task_id else None
    return poll_until(sent, timeout=10, what=f"task {task_id} sent to a process")


def answered_while_redis_is_down(runner, redis_server, client, payload) -> str:
    """Run a task, stop Redis, and wait until its process answered: its outcome is owed."""
    task_id = enqueue(client, Q, payload)
    process = process_running(runner, task_id)
    stop_redis_keeping_data(redis_server)
    poll_until(lambda: process.task_id is None, timeout=10,
               what="the process answered while Redis is down")
    assert runner.worker.processor.in_flight(), "the outcome must still be owed"
    return task_id


# Rows 46-48 have the Mode "both" in worker-protocol.md section 10.
IN_BOTH_MODES = pytest.mark.parametrize("mode", ["long_running", "one_shot"])


def test_row50_sigterm_while_idle_exits_quickly_and_deregisters(redis_server, redis_client,
                                                                 deployment_dir):
    settings = fast_settings(deployment_dir)
    runner = WorkerThread(Worker(settings, [registration(redis_server.url)])).start()
    worker_id = settings.worker_id
    poll_until(lambda: redis_client.zscore(keys.RUNQY_WORKERS, worker_id) is not None,
               timeout=10, what="worker registered in runqy:workers")
    poll_until(lambda: Inspector(redis_client).servers(), timeout=10,
               what="asynq server heartbeat written")
    started = time.monotonic()
    assert runner.stop() == 0
    assert time.monotonic() - started < 2 + settings.timings.stop_grace
    assert redis_client.zscore(keys.RUNQY_WORKERS, worker_id) is None
    assert redis_client.hget(keys.runqy_worker(worker_id), "status") == b"stopped"
    assert Inspector(redis_client).servers() == []


def test_rows51_52_53_shutdown_completes_or_requeues(redis_server, redis_client,
                                                     deployment_dir):
    c = redis_client
    # Row 51: the task finishes within shutdown_timeout.
    settings = fast_settings(deployment_dir, shutdown_timeout=10.0)
    runner = WorkerThread(Worker(settings, [registration(redis_server.url)])).start()
    quick = enqueue(c, Q, {"op": "sleep", "seconds": 1})
    poll_until(lambda: active(c, quick), timeout=10, what="task active")
    assert runner.stop() == 0
    assert task_info(c, Q, quick).state == "completed"
    # Row 52: the task outlasts shutdown_timeout; it is pending again, retried unchanged.
    settings = fast_settings(deployment_dir, shutdown_timeout=1.0)
    runner = WorkerThread(Worker(settings, [registration(redis_server.url)])).start()
    slow = enqueue(c, Q, {"op": "sleep", "seconds": 60})
    poll_until(lambda: active(c, slow), timeout=10, what="task active")
    process = slot_process(runner)
    started = time.monotonic()
    assert runner.stop() == 0
    assert time.monotonic() - started < 1 + settings.timings.stop_grace + 2
    info = task_info(c, Q, slow)
    assert (info.state, info.retried) == ("pending", 0)
    assert process.exited
    # Row 53: a second signal skips the wait.
    settings = fast_settings(deployment_dir, shutdown_timeout=60.0)
    runner = WorkerThread(Worker(settings, [registration(redis_server.url)])).start()
    poll_until(lambda: active(c, slow), timeout=10, what="requeued task active again")
    runner.worker.request_stop()
    started = time.monotonic()
    assert runner.stop() == 0
    assert time.monotonic() - started < 1 + settings.timings.stop_grace + 2
    assert task_info(c, Q, slow).state == "pending"


@IN_BOTH_MODES
def test_row46_47_redis_restart_while_idle_and_while_a_task_finishes(
        redis_server, redis_client, deployment_dir, mode):
    c = redis_client
    settings = fast_settings(deployment_dir)
    with running_worker(settings, registration(redis_server.url, mode=mode)) as runner:
        beat = keys.runqy_worker(settings.worker_id)
        # The task finishes while Redis is down: the outcome waits for the reconnect.
        task_id = answered_while_redis_is_down(runner, redis_server, c,
                                               {"op": "sleep", "seconds": 1.5})
        time.sleep(2.5)  # Redis stays down over several reconnect attempts
        assert runner.thread.is_alive()
        redis_server.start()
        poll_until(lambda: task_info(c, Q, task_id).state == "completed", timeout=15,
                   what="outcome written after the reconnect")
        # Idle outage: after the restart, dequeuing resumes and the heartbeat is whole again.
        restart_redis_keeping_data(redis_server)
        c.delete(beat)
        later = enqueue(c, Q, {"op": "echo", "value": 2})
        poll_until(lambda: task_info(c, Q, later).state == "completed", timeout=15,
                   what="dequeuing resumed")
        poll_until(lambda: c.hget(beat, "status") == b"running", timeout=10,
                   what="complete heartbeat after reconnect")
        assert c.hget(beat, "started")


@IN_BOTH_MODES
def test_row48_redis_down_longer_than_the_lease_drops_the_outcome(
        redis_server, redis_client, deployment_dir, mode):
    c = redis_client
    # A real 2 s Redis lease (1.5 in memory), recoverable 4 s after it expired.
    settings = fast_settings(deployment_dir).with_timings(lease_duration=1.5, clock_skew=4)
    with running_worker(settings, registration(redis_server.url, mode=mode)) as runner:
        task_id = enqueue(c, Q, {"op": "sleep", "seconds": 2}, retry=3)
        process = process_running(runner, task_id)
        stop_redis_keeping_data(redis_server)
        poll_until(lambda: not runner.worker.processor.in_flight(), timeout=10,
                   what="lease lost, task forgotten")
        poll_until(lambda: process.exited, timeout=15, what="the task's process stopped")
        if mode == "long_running":
            poll_until(lambda: slot_process(runner) not in (None, process)
                       and slot_process(runner).ready, timeout=15, what="the process restarted")
        redis_server.start()
        assert task_info(c, Q, task_id).state == "active"  # nothing was written for it
        poll_until(lambda: task_info(c, Q, task_id).state == "retry", timeout=15,
                   what="recovered by the lease recoverer")
        assert task_info(c, Q, task_id).error_msg == "asynq: task lease expired"
        runner.worker.beat()
        assert json.loads(c.hget(keys.runqy_worker(settings.worker_id), "recovery"))[
            "consecutive_fails"] == 0


def test_heartbeat_says_bootstrapping_until_the_processes_are_ready(redis_server, redis_client,
                                                                    deployment_dir):
    """worker-protocol.md 4.5: the beat switches to running once the processes have started, so
    a normal start never reports running with healthy=false (an 'unhealthy' worker to alerts)."""
    settings = fast_settings(deployment_dir, concurrency=2)
    reg = registration(redis_server.url, env={"BEHAVE_STARTUP": "slow"})
    key = keys.runqy_worker(settings.worker_id)
    seen: list[tuple[bytes | None, bytes | None]] = []
    done = threading.Event()

    def watch() -> None:  # from before the worker starts: WorkerThread waits out bootstrap
        while not done.is_set():
            seen.append(tuple(redis_client.hmget(key, "status", "healthy")))
            done.wait(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with running_worker(settings, reg):
            poll_until(lambda: (b"running", b"true") in seen, timeout=20,
                       what="heartbeat running and healthy")
    finally:
        done.set()
        watcher.join()
    assert (b"bootstrapping", b"false") in seen
    assert (b"running", b"false") not in seen


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_sigterm_while_redis_is_down_tries_for_the_budget_then_exits_1(
        redis_server, redis_client, deployment_dir, busy):
    """worker-protocol.md 8.3: with Redis down at shutdown the worker tries for the shutdown
    budget (5 s; 1 s here), then exits 1; a running task is left to its lease."""
    c = redis_client
    settings = fast_settings(deployment_dir, shutdown_timeout=0.5)
    runner = WorkerThread(Worker(settings, [registration(redis_server.url)])).start()
    if busy:
        slow = enqueue(c, Q, {"op": "sleep", "seconds": 60})
        poll_until(lambda: active(c, slow), timeout=10, what="task active")
    stop_redis_keeping_data(redis_server)
    started = time.monotonic()
    assert runner.stop() == 1
    budget = settings.timings.shutdown_redis_budget
    assert time.monotonic() - started < 0.5 + budget + settings.timings.stop_grace + 1
    redis_server.start()
    if busy:
        assert task_info(c, Q, slow).state == "active"  # its lease will bring it back


def test_shutdown_writes_the_outcomes_still_owed_before_it_exits(redis_server, redis_client,
                                                                 deployment_dir, tmp_path):
    """Batched acknowledgements: a SIGTERM while outcomes wait to be written waits for them
    (worker-protocol.md 8.3 step 2), writes every one, then exits 0."""
    c = redis_client
    settings = fast_settings(deployment_dir, concurrency=2)
    runner = WorkerThread(Worker(settings, [registration(redis_server.url)])).start()
    marks = [tmp_path / f"answered-{i}" for i in range(2)]
    ids = [enqueue(c, Q, touch_payload(mark)) for mark in marks]
    poll_until(lambda: all(active(c, t) for t in ids), timeout=10, what="both tasks active")
    pause_writes(c, 30)
    try:
        await_outcomes_held(c, marks)
        stopping = threading.Thread(target=runner.stop, daemon=True)
        stopping.start()
        poll_until(lambda: runner.worker.status == "stopping", timeout=5, what="stopping")
        assert runner.worker.processor.in_flight(), "the outcomes must still be owed"
        assert all(active(c, t) for t in ids)
    finally:
        c.execute_command("CLIENT", "UNPAUSE")
    stopping.join(30)
    assert runner.exit_code == 0
    assert [task_info(c, Q, t).state for t in ids] == ["completed", "completed"]


def test_sigterm_with_outcomes_owed_and_redis_down_tries_for_the_budget_then_exits_1(
        redis_server, redis_client, deployment_dir):
    """An outcome owed when Redis goes away is retried at shutdown for the budget only; the
    task is then left to its lease (active), and the worker exits 1."""
    c = redis_client
    settings = fast_settings(deployment_dir, shutdown_timeout=0.5)
    runner = WorkerThread(Worker(settings, [registration(redis_server.url)])).start()
    task_id = answered_while_redis_is_down(runner, redis_server, c, {"op": "sleep", "seconds": 1})
    started = time.monotonic()
    assert runner.stop() == 1
    budget = settings.timings.shutdown_redis_budget
    assert time.monotonic() - started < 0.5 + budget + settings.timings.stop_grace + 1
    redis_server.start()
    assert task_info(c, Q, task_id).state == "active"  # its lease will bring it back
