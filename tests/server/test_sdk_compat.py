"""The real runqy-python 0.2.x client (PyPI `runqy-python`) against this server over HTTP."""

from __future__ import annotations

import pytest

from runqy.broker import Broker
from tests.server.conftest import ADMIN_KEY, CLIENT_KEY, configure

runqy_python = pytest.importorskip("runqy_python")


@pytest.fixture()
def sdk(app, live_server):
    configure(app.test_client(), "inference")
    return runqy_python.RunqyClient(f"http://127.0.0.1:{live_server.effective_port}", CLIENT_KEY)


def test_enqueue_status_and_result(sdk, redis_client):
    task = sdk.enqueue("inference", {"input": "hello"}, timeout=120)
    assert task.task_id and task.state == "pending" and task.queue == "inference.default"
    pending = sdk.get_task(task.task_id)
    assert pending.state == "pending" and pending.payload == {"input": "hello"}
    broker = Broker(redis_client)
    dequeued = broker.dequeue(["inference.default"])
    assert dequeued.msg.timeout == 120
    broker.set_result("inference.default", task.task_id, b'{"output": "HELLO"}')
    broker.mark_complete(dequeued.msg)
    done = sdk.get_task(task.task_id)
    assert done.state == "completed" and done.result == {"output": "HELLO"}
    assert done.error is None


def test_failure_batch_and_errors(sdk, redis_client, live_server):
    task = sdk.enqueue("inference.default", {"input": "x"})
    broker = Broker(redis_client)
    broker.archive(broker.dequeue(["inference.default"]).msg, "model exploded")
    failed = sdk.get_task(task.task_id)
    assert failed.state == "archived" and failed.error == "model exploded"
    batch = sdk.enqueue_batch("inference", [{"input": "a"}, {"input": "b"}])
    assert batch.enqueued == 2 and batch.failed == 0 and len(batch.task_ids) == 2
    with pytest.raises(runqy_python.TaskNotFoundError):
        sdk.get_task("no-such-task")
    wrong = runqy_python.RunqyClient(f"http://127.0.0.1:{live_server.effective_port}", "nope")
    with pytest.raises(runqy_python.AuthenticationError):
        wrong.enqueue("inference", {})
    admin = runqy_python.RunqyClient(f"http://127.0.0.1:{live_server.effective_port}", ADMIN_KEY)
    # The SDK maps every 404 to TaskNotFoundError; the envelope still says what happened.
    with pytest.raises(runqy_python.TaskNotFoundError, match="queue_not_found"):
        admin.enqueue("unknown", {})
