"""End to end: a real server, a real Redis and real `runqy worker` processes.

The worker is the `runqy worker` console script, configured by a YAML file (with shortened
`timings:`), registering with a runqy server served by waitress, deploying from a local bare git
repository or a local path, and running the SDK in its own virtualenv.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from runqy import RunqyClient
from runqy.broker import Admin, Inspector, keys
from runqy.worker.runner import Worker
from tests.support.processes import running
from tests.worker.acks import await_outcomes_held, pause_writes, touch_payload
from tests.worker.harness import (
    APPS,
    fast_settings,
    poll_until,
    registration,
    restart_redis_keeping_data,
)
from tests.worker.live import CLIENT_KEY, LiveServer, WorkerProcess, start_server


@pytest.fixture()
def server(tmp_path, redis_server, redis_client):
    live = start_server(tmp_path / "instance", redis_server.url)
    yield live
    live.stop()


@pytest.fixture()
def client(server):
    return RunqyClient(server.base, CLIENT_KEY)


@pytest.fixture()
def workers(tmp_path, server, deployment_dir):
    started: list[WorkerProcess] = []

    def start(queues, worker_id="e2e-worker", **kwargs) -> WorkerProcess:
        process = WorkerProcess(server.base, queues, tmp_path / "workers", deployment_dir,
                                worker_id=worker_id, **kwargs).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill_all()


def git_repo_with(app: Path, tmp_path: Path) -> str:
    work = tmp_path / "src"
    shutil.copytree(app, work / "worker")
    for args in (["init", "-q", "-b", "main"], ["add", "."],
                 ["-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "app"]):
        subprocess.run(["git", *args], cwd=work, check=True, capture_output=True)
    bare = tmp_path / "app.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return f"file://{bare}"


def states(client: RunqyClient, ids) -> list[str]:
    return [client.get_task(t).state for t in ids]


def heartbeat(redis_client, worker_id: str) -> dict[str, str]:
    raw = redis_client.hgetall(keys.runqy_worker(worker_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_git_deployment_priority_retry_and_permanent_failure(server: LiveServer, client, workers,
                                                             redis_client, tmp_path):
    """200 tasks over two sub-queues, strict order; raise → retried then archived; Permanent."""
    url = git_repo_with(APPS / "behave", tmp_path)
    server.configure("e2e", {"high": 10, "low": 1},
                     {"git_url": url, "branch": "main", "code_path": "worker",
                      "startup_cmd": "python main.py"})
    low = client.enqueue_batch("e2e.low", [{"op": "stamp", "value": i} for i in range(100)])
    high = client.enqueue_batch("e2e.high", [{"op": "stamp", "value": i} for i in range(100)])
    assert (low.enqueued, high.enqueued) == (100, 100)
    raising = client.enqueue("e2e.high", {"op": "raise"}, max_retry=1)
    permanent = client.enqueue("e2e.high", {"op": "permanent"}, max_retry=5)
    worker = workers(["e2e"])
    poll_until(lambda: set(states(client, low.task_ids)) == {"completed"}, timeout=90,
               what="all 200 tasks completed", alive=worker.popen, detail=worker.stderr)
    high_results = [client.get_task(t).result for t in high.task_ids]
    low_results = [client.get_task(t).result for t in low.task_ids]
    assert [r["value"] for r in sorted(high_results, key=lambda r: r["ns"])] == list(range(100))
    assert [r["value"] for r in sorted(low_results, key=lambda r: r["ns"])] == list(range(100))
    assert max(r["ns"] for r in high_results) < min(r["ns"] for r in low_results)
    info = client.get_task(permanent.task_id)
    assert (info.state, info.retried, info.error) == ("archived", 0, "PermanentError: nope")
    retried = client.get_task(raising.task_id)
    assert (retried.state, retried.retried, retried.error) == ("retry", 1, "ValueError: bad")
    Admin(redis_client).run_task("e2e.high", raising.task_id)  # skip the asynq backoff
    final = client.wait(raising.task_id, timeout=20)
    assert (final.state, final.retried, final.error) == ("archived", 1, "ValueError: bad")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


def test_task_process_kill9_is_retried_and_the_process_restarted(server: LiveServer, client,
                                                                  workers, redis_client):
    """kill -9 of a task process: retried, completed, restarted; healthy false → true."""
    server.configure("kill", {"default": 1},
                     {"path": str(APPS / "behave"), "startup_cmd": "python main.py"})
    worker = workers(["kill"])
    task = client.enqueue("kill", {"op": "sleep-first", "seconds": 60}, max_retry=2)
    poll_until(lambda: client.get_task(task.task_id).state == "active", timeout=20,
               what="task active", alive=worker.popen, detail=worker.stderr)
    poll_until(lambda: heartbeat(redis_client, "e2e-worker").get("healthy") == "true",
               timeout=10, what="healthy=true while the task runs")
    victims = worker.children()
    assert len(victims) == 1
    os.kill(victims[0], signal.SIGKILL)
    poll_until(lambda: client.get_task(task.task_id).state == "retry", timeout=10,
               what="task retried at once")
    assert client.get_task(task.task_id).error == "task process crashed (exit code -9)"
    poll_until(lambda: heartbeat(redis_client, "e2e-worker").get("healthy") == "false",
               timeout=10, what="healthy=false after the crash")
    poll_until(lambda: heartbeat(redis_client, "e2e-worker").get("healthy") == "true",
               timeout=10, what="healthy=true once the process is back")
    assert worker.children() and worker.children() != victims
    Admin(redis_client).run_task("kill.default", task.task_id)
    done = client.wait(task.task_id, timeout=30)
    assert (done.state, done.result) == ("completed", {"retried": 1})
    poll_until(lambda: json.loads(heartbeat(redis_client, "e2e-worker")["recovery"])["state"]
               == "idle", timeout=10, what="recovery state idle after a success")


def test_always_crashing_queue_degrades_without_consuming_tasks(server: LiveServer, client,
                                                                workers, redis_client):
    server.configure("crashy", {"default": 1},
                     {"path": str(APPS / "behave"), "startup_cmd": "python main.py",
                      "env": {"BEHAVE_STARTUP": "crash"}})
    task = client.enqueue("crashy", {"op": "echo", "value": 1})
    worker = workers(["crashy"], concurrency=2, extra={
        "recovery": {"initial_delay": "50ms", "max_delay": "100ms", "probe_interval": "1h"}})
    poll_until(lambda: heartbeat(redis_client, "e2e-worker").get("status") == "degraded",
               timeout=30, what="status=degraded", alive=worker.popen, detail=worker.stderr)
    beat = heartbeat(redis_client, "e2e-worker")
    assert beat["healthy"] == "false"
    assert json.loads(beat["recovery"])["consecutive_fails"] == 5
    assert client.get_task(task.task_id).state == "pending"
    # The other slot may be starting its process as the breaker opens; it must not stay.
    poll_until(lambda: worker.children() == [], timeout=10, what="no task process left")
    logs = Inspector(redis_client).worker_logs("e2e-worker")
    assert any("process exited during startup (exit code 3)" in line["text"] for line in logs)


def test_worker_kill9_with_outcomes_not_yet_written_loses_no_task(
        server: LiveServer, client, workers, redis_client, tmp_path):
    """Batched acknowledgements: outcomes still owed when the worker is killed (-9) were never
    acknowledged, so their tasks stay active under their leases and another worker re-runs
    every one of them; none is lost, none is left active."""
    server.configure("acks", {"default": 1},
                     {"path": str(APPS / "behave"), "startup_cmd": "python main.py"})
    # No maintenance script calls after start-up in the first worker: the only script call
    # right after a task answers is then its round of outcomes.
    quiet = {"timings": {"lease_duration": "3s", "clock_skew": "0s", "forwarder_interval": "1h",
                         "recoverer_interval": "1h", "janitor_interval": "1h"}}
    first = workers(["acks"], worker_id="first", concurrency=2, extra=quiet)
    probe = client.enqueue("acks", {"op": "echo"})
    assert client.wait(probe.task_id, timeout=30).succeeded
    marks = [tmp_path / f"answered-{i}" for i in range(2)]
    tasks = [client.enqueue("acks", touch_payload(mark), max_retry=3) for mark in marks]
    poll_until(lambda: all(client.get_task(t.task_id).state == "active" for t in tasks),
               timeout=20, what="both tasks active")
    pause_writes(redis_client, 30)
    try:
        await_outcomes_held(redis_client, marks)
        first.kill_all()
    finally:
        redis_client.execute_command("CLIENT", "UNPAUSE")
    assert [client.get_task(t.task_id).state for t in tasks] == ["active", "active"]
    workers(["acks"], worker_id="second",
            extra={"timings": {"lease_duration": "3s", "clock_skew": "0s"}})
    for t in tasks:
        poll_until(lambda t=t: client.get_task(t.task_id).state == "retry", timeout=30,
                   what="recovered through its lease")
        Admin(redis_client).run_task("acks.default", t.task_id)
    assert [client.wait(t.task_id, timeout=30).result for t in tasks] == [{"retried": 1}] * 2


def test_worker_kill9_is_recovered_by_another_worker_and_sigterm_requeues(
        server: LiveServer, client, workers, redis_client):
    server.configure("dead", {"default": 1},
                     {"path": str(APPS / "behave"), "startup_cmd": "python main.py"})
    # A real 2 s lease and no clock-skew allowance: recovery 2 s after the last extension
    # instead of the contract's 60 s.
    short_lease = {"timings": {"lease_duration": "2s", "clock_skew": "0s"}}
    first = workers(["dead"], worker_id="first", extra=short_lease)
    task = client.enqueue("dead", {"op": "sleep-first", "seconds": 60}, max_retry=3)
    poll_until(lambda: client.get_task(task.task_id).state == "active", timeout=30,
               what="task active on the first worker", alive=first.popen, detail=first.stderr)
    # kill -9 of the worker alone: its busy task process must not keep running the task (it
    # would run twice once recovered); the kernel kills it with its worker.
    busy = first.children()
    assert busy
    first.popen.kill()
    first.popen.wait()
    poll_until(lambda: not any(running(pid) for pid in busy), timeout=3,
               what="task process gone with its worker")
    second = workers(["dead"], worker_id="second", extra=short_lease)
    poll_until(lambda: client.get_task(task.task_id).state == "retry", timeout=30,
               what="recovered by the second worker", alive=second.popen, detail=second.stderr)
    assert client.get_task(task.task_id).error == "asynq: task lease expired"
    Admin(redis_client).run_task("dead.default", task.task_id)
    assert client.wait(task.task_id, timeout=30).result == {"retried": 1}
    # SIGTERM mid-task: the unfinished task goes back to pending, nothing is lost.
    slow = client.enqueue("dead", {"op": "sleep", "seconds": 60})
    poll_until(lambda: client.get_task(slow.task_id).state == "active", timeout=20,
               what="slow task active")
    second.signal(signal.SIGTERM)
    assert second.wait(30) == 0
    info = client.get_task(slow.task_id)
    assert (info.state, info.retried) == ("pending", 0)
    assert redis_client.zscore(keys.RUNQY_WORKERS, "second") is None


def test_redis_restart_under_a_running_worker(server: LiveServer, client, workers, redis_client,
                                              redis_server):
    server.configure("bounce", {"default": 1},
                     {"path": str(APPS / "behave"), "startup_cmd": "python main.py"})
    batch = client.enqueue_batch("bounce", [{"op": "sleep", "seconds": 0.05}] * 60)
    worker = workers(["bounce"], concurrency=2)
    poll_until(lambda: "completed" in states(client, batch.task_ids[:5]), timeout=30,
               what="processing started", alive=worker.popen, detail=worker.stderr)
    restart_redis_keeping_data(redis_server)
    poll_until(lambda: set(states(client, batch.task_ids)) == {"completed"}, timeout=60,
               what="queue finished after the restart", alive=worker.popen,
               detail=worker.stderr)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


def test_registration_failures_exit_1(server: LiveServer, workers, tmp_path):
    """Rows 6 (401 and 403), 7 and 8 (the server stays down): exit 1 without retrying."""
    server.configure("known", {"default": 1},
                     {"path": str(APPS / "behave"), "startup_cmd": "python main.py"})
    wrong = workers(["known"], worker_id="wrong-key", api_key="not-a-key-0123456789")
    assert wrong.wait() == 1
    assert "server rejected the API key (401 unauthorized)" in wrong.stderr()
    assert "retrying" not in wrong.stderr()
    client_role = workers(["known"], worker_id="client-role", api_key=CLIENT_KEY)
    assert client_role.wait() == 1
    assert "server rejected the API key (403 forbidden)" in client_role.stderr()
    missing = workers(["unknown"], worker_id="missing")
    assert missing.wait() == 1
    assert "queue 'unknown' is not configured on the server" in missing.stderr()
    down = WorkerProcess("http://127.0.0.1:9", ["known"], tmp_path / "workers",
                         tmp_path / "deploy", worker_id="down").start()
    assert down.wait() == 1
    assert "failed after 3 attempts" in down.stderr()


def test_row8_server_back_within_the_retries(tmp_path, redis_server, redis_client,
                                             deployment_dir):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    worker = WorkerProcess(f"http://127.0.0.1:{port}", ["late"], tmp_path / "workers",
                           deployment_dir, worker_id="late",
                           extra={"bootstrap": {"retries": 6, "retry_delay": "500ms"}}).start()
    try:
        poll_until(lambda: "retrying in" in worker.stderr(), timeout=20,
                   what="a failed registration attempt", alive=worker.popen)
        live = start_server(tmp_path / "instance", redis_server.url, port=port)
        try:
            live.configure("late", {"default": 1},
                           {"path": str(APPS / "behave"), "startup_cmd": "python main.py"})
            poll_until(lambda: redis_client.zscore(keys.RUNQY_WORKERS, "late") is not None,
                       timeout=30, what="worker registered after the server came back",
                       alive=worker.popen, detail=worker.stderr)
            worker.signal(signal.SIGTERM)
            assert worker.wait() == 0
        finally:
            live.stop()
    finally:
        worker.kill_all()


def test_row9_parents_on_different_redis_servers_exit_1(redis_server, deployment_dir):
    settings = fast_settings(deployment_dir, queues=("one", "two"))
    worker = Worker(settings, [registration(redis_server.url, parent="one"),
                               registration("redis://127.0.0.1:1/0", parent="two")])
    assert worker.run() == 1
    assert any("use different Redis servers" in line["text"] for line in worker.logs.take())


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def test_processes_run_several_workers_that_stop_together(server: LiveServer, client, workers,
                                                           redis_client):
    """`worker.processes: 2`: two workers (`<id>-1`, `<id>-2`) share the queue; SIGTERM stops
    both (exit 0); a kill -9 of the command takes the workers and their task processes."""
    server.configure("multi", {"default": 1},
                     {"path": str(APPS / "behave"), "startup_cmd": "python main.py"})
    two = {"worker": {"processes": 2}}
    command = workers(["multi"], worker_id="multi", extra=two)
    both = {b"multi-1", b"multi-2"}
    poll_until(lambda: both <= set(redis_client.zrange(keys.RUNQY_WORKERS, 0, -1)), timeout=60,
               what="two workers registered", alive=command.popen, detail=command.stderr)
    batch = client.enqueue_batch("multi", [{"op": "echo", "value": i} for i in range(20)])
    poll_until(lambda: set(states(client, batch.task_ids)) == {"completed"}, timeout=30,
               what="the batch done")
    command.signal(signal.SIGTERM)
    assert command.wait(30) == 0
    assert not both & set(redis_client.zrange(keys.RUNQY_WORKERS, 0, -1))
    again = workers(["multi"], worker_id="multi2", extra=two)
    busy = client.enqueue("multi", {"op": "sleep", "seconds": 60})
    poll_until(lambda: client.get_task(busy.task_id).state == "active", timeout=60,
               what="a task running", alive=again.popen, detail=again.stderr)
    tree = _descendants(again.pid)
    assert len(tree) >= 4  # two workers, at least one task process each
    again.popen.kill()
    again.popen.wait()
    poll_until(lambda: not any(running(pid) for pid in tree), timeout=3,
               what="every worker and task process gone with the command")
