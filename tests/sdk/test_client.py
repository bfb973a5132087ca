"""`RunqyClient` against a real runqy server (waitress in a thread) on a real Redis.

Rows 56-58 of worker-protocol.md section 10, plus enqueue options, batches and `wait`.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from runqy import (
    AuthenticationError,
    QueueNotFoundError,
    RunqyClient,
    RunqyError,
    TaskNotFoundError,
    enqueue,
)
from runqy.broker import Broker, Inspector
from tests.worker.harness import APPS
from tests.worker.live import ADMIN_KEY, CLIENT_KEY, start_server


@pytest.fixture()
def server(tmp_path, redis_server, redis_client):
    live = start_server(tmp_path / "instance", redis_server.url)
    live.configure("imgs", {"default": 1, "fast": 5},
                   {"path": str(APPS / "behave"), "startup_cmd": "python main.py"})
    yield live
    live.stop()


def finish(redis_client, queue: str, result: bytes = b'{"ok":true}') -> str:
    """Complete the next task of `queue` the way a worker does, through the broker."""
    broker = Broker(redis_client)
    dequeued = broker.dequeue([queue])
    broker.set_result(queue, dequeued.msg.id, result)
    broker.mark_complete(dequeued.msg)
    return dequeued.msg.id


def test_enqueue_options_get_task_and_wait(server, redis_client):
    client = RunqyClient(server.base + "/", CLIENT_KEY)
    info = client.enqueue("imgs.fast", {"url": "a"}, max_retry=5, timeout=60, retention=600,
                          task_id="img-1")
    assert (info.task_id, info.queue, info.state, info.max_retry) == (
        "img-1", "imgs.fast", "pending", 5)
    assert not info.done
    scheduled = client.enqueue("imgs", {"url": "b"}, process_in=3600)
    assert scheduled.state == "scheduled" and scheduled.next_process_at

    threading.Timer(0.5, finish, (redis_client, "imgs.fast")).start()
    done = client.wait("img-1", timeout=10)
    assert done.succeeded and done.result == {"ok": True} and done.completed_at
    assert client.get_task("img-1").state == "completed"


def test_enqueue_batch_chunks_and_merges(server, redis_client):
    client = RunqyClient(server.base, CLIENT_KEY)
    result = client.enqueue_batch("imgs", [{"n": i} for i in range(5)], chunk_size=2,
                                  max_retry=1)
    assert (result.enqueued, result.failed, result.errors) == (5, 0, [])
    assert len(set(result.task_ids)) == 5
    assert Inspector(redis_client).queue_stats("imgs.default").pending == 5
    assert client.get_task(result.task_ids[4]).max_retry == 1
    server.admin("POST", "/api/queue-configs?force=true", {
        "name": "typed", "deployment": {"path": str(APPS / "behave"),
                                        "startup_cmd": "python main.py"},
        "input_schema": [{"name": "n", "type": "int", "required": True}]})
    mixed = client.enqueue_batch("typed", [{"n": 1}, {"n": 2}, {"n": 3}, {"n": "x"}],
                                 chunk_size=2)
    assert (mixed.enqueued, mixed.failed, len(mixed.task_ids)) == (3, 1, 3)
    assert [e["index"] for e in mixed.errors] == [3]


def test_row56_errors_are_typed(server):
    with pytest.raises(AuthenticationError) as caught:
        RunqyClient(server.base, "wrong-key-0123456789").get_task("x")
    assert caught.value.status == 401
    client = RunqyClient(server.base, CLIENT_KEY)
    with pytest.raises(TaskNotFoundError):
        client.get_task("no-such-task")
    with pytest.raises(QueueNotFoundError) as caught:
        client.enqueue("nope", {})
    assert caught.value.code == "queue_not_found" and caught.value.errors


def test_row57_wait_times_out(server):
    client = RunqyClient(server.base, CLIENT_KEY)
    info = client.enqueue("imgs", {"never": "done"})
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.wait(info.task_id, timeout=1)
    assert 0.9 <= time.monotonic() - started < 5


def test_row58_server_down_and_socket_timeout_raise_runqy_error():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(RunqyError, match="cannot reach"):
        RunqyClient(f"http://127.0.0.1:{port}", CLIENT_KEY).get_task("x")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        client = RunqyClient(f"http://127.0.0.1:{silent.getsockname()[1]}", CLIENT_KEY,
                             timeout=0.5)
        with pytest.raises(RunqyError):
            client.get_task("x")
    finally:
        silent.close()


def test_module_level_enqueue_is_runqy_python_compatible(server):
    info = enqueue("imgs", {"k": 1}, server.base, ADMIN_KEY, timeout=120)
    assert info.state == "pending"
