"""Replays every asynq golden scenario with our broker and compares the Redis state with Go's.

Key names, types, TTL presence, hash fields, list/set/zset members and decoded protobufs must be
equal once time- and run-dependent values are masked; those values are then checked against the
README's relations, on the golden dump and on ours alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from runqy.broker import (
    Admin,
    Broker,
    Inspector,
    ServerInfo,
    TaskMessage,
    WorkerInfo,
    codec,
    retry_delay,
)
from tests.broker import golden
from tests.broker.factories import task

PAYLOAD = b'{"to":"a@b.c"}'
Replay = Callable[[Broker, Inspector], Iterator[str]]


def go_task(task_id: str, queue: str = "default", **fields) -> TaskMessage:
    """A task as the Go client builds it (max retry 25 and timeout 1800 unless given)."""
    return task(
        task_id, queue, **({"type": "email:send", "payload": PAYLOAD, "retry": 25} | fields)
    )


def go_server(name: str, active: int) -> ServerInfo:
    """The golden scenario's ServerInfo (same host, pid and uuid, so key names match)."""
    for snap in golden.scenario(name)["snapshots"]:
        for key, entry in golden.golden_entries(snap).items():
            if key.startswith("asynq:servers:"):
                info = codec.decode_server_info(entry.value)
                info.start_time.CopyFrom(codec.timestamp(int(time.time())))
                info.active_worker_count = active
                return info
    raise AssertionError(f"{name} has no server")


def worker_for(server: ServerInfo, msg: TaskMessage) -> WorkerInfo:
    start = int(time.time())
    return WorkerInfo(
        host=server.host,
        pid=server.pid,
        server_id=server.server_id,
        task_id=msg.id,
        task_type=msg.type,
        task_payload=msg.payload,
        queue=msg.queue,
        start_time=codec.timestamp(start),
        deadline=codec.timestamp(start + msg.timeout),
    )


def enqueue_basic(broker: Broker, _: Inspector) -> Iterator[str]:
    broker.enqueue(go_task("t-basic", "inference.default"), id_supplied=True)
    yield "after_enqueue"


def enqueue_options(broker: Broker, _: Inspector) -> Iterator[str]:
    msg = go_task(
        "t-opts", "inference.high", retry=3, timeout=60, retention=86400, deadline=2000000000
    )
    broker.enqueue(msg, id_supplied=True)
    yield "after_enqueue"


def enqueue_unique(broker: Broker, _: Inspector) -> Iterator[str]:
    from runqy.broker import DuplicateTaskError

    broker.enqueue(go_task("t-uniq"), unique_ttl=3600, id_supplied=True)
    with pytest.raises(DuplicateTaskError):
        broker.enqueue(go_task("t-uniq-2"), unique_ttl=3600, id_supplied=True)
    yield "after_enqueue"


def schedule(broker: Broker, _: Inspector) -> Iterator[str]:
    broker.enqueue(go_task("t-sched"), process_at=int(time.time()) + 3600, id_supplied=True)
    yield "after_enqueue"


def group(broker: Broker, _: Inspector) -> Iterator[str]:
    broker.enqueue(go_task("t-group"), group="g1", id_supplied=True)
    yield "after_enqueue"


def inspector_ops(broker: Broker, inspector: Inspector) -> Iterator[str]:
    q = "inference.default"
    broker.enqueue(go_task("t-insp", q), id_supplied=True)
    yield "after_enqueue"
    Admin(inspector.redis).pause_queue(q)
    yield "after_pause_queue"
    Admin(inspector.redis).archive_task(q, "t-insp")
    yield "after_archive_task"
    Admin(inspector.redis).run_task(q, "t-insp")
    yield "after_run_task"
    Admin(inspector.redis).delete_task(q, "t-insp")
    yield "after_delete_task"
    Admin(inspector.redis).unpause_queue(q)
    yield "after_unpause_queue"


def process_success(broker: Broker, _: Inspector) -> Iterator[str]:
    q = "inference.default"
    broker.enqueue(go_task("t-success", q, retention=3600), id_supplied=True)
    yield "after_enqueue"
    task = broker.dequeue([q])
    assert task is not None
    assert broker.set_result(q, task.msg.id, b'{"ok":true}')
    server = go_server("process_success", active=1)
    broker.write_server_heartbeat(server, [worker_for(server, task.msg)])
    yield "handler_running"
    broker.mark_complete(task.msg)
    broker.write_server_heartbeat(go_server("process_success", active=0), [])
    yield "after_completion"
    broker.clear_server_heartbeat(server)
    yield "after_server_shutdown"


def _process_failure(name: str, task_id: str, retry: int, fail: Callable) -> Replay:
    def replay(broker: Broker, _: Inspector) -> Iterator[str]:
        q = "inference.default"
        broker.enqueue(go_task(task_id, q, retry=retry), id_supplied=True)
        yield "after_enqueue"
        task = broker.dequeue([q])
        assert task is not None
        fail(broker, task.msg)
        server = go_server(name, active=0)
        broker.write_server_heartbeat(server, [])
        yield "after_first_failure" if name == "process_retry" else "after_archive"
        broker.clear_server_heartbeat(server)
        yield "after_server_shutdown"

    return replay


process_retry = _process_failure(
    "process_retry",
    "t-retry",
    2,
    lambda b, m: b.retry(m, "boom", int(time.time()) + retry_delay(m.retried)),
)
process_archive = _process_failure(
    "process_archive", "t-archive", 0, lambda b, m: b.archive(m, "fatal")
)


def server_heartbeat(broker: Broker, _: Inspector) -> Iterator[str]:
    q = "inference.default"
    broker.enqueue(go_task("t-long", q), id_supplied=True)
    task = broker.dequeue([q])
    assert task is not None
    server = go_server("server_heartbeat", active=1)
    broker.write_server_heartbeat(server, [worker_for(server, task.msg)])
    yield "handler_running"
    broker.requeue(task.msg)
    broker.clear_server_heartbeat(server)
    yield "after_server_shutdown"


REPLAYS: dict[str, Replay] = {
    "enqueue_basic": enqueue_basic,
    "enqueue_options": enqueue_options,
    "enqueue_unique": enqueue_unique,
    "schedule": schedule,
    "group": group,
    "inspector_ops": inspector_ops,
    "process_success": process_success,
    "process_retry": process_retry,
    "process_archive": process_archive,
    "server_heartbeat": server_heartbeat,
}


def test_every_scenario_has_a_replay():
    assert sorted(REPLAYS) == golden.scenario_names()


@pytest.mark.parametrize("name", sorted(REPLAYS))
def test_replay_matches_go_state(name, redis_client, broker, inspector):
    data = golden.scenario(name)
    seen = []
    for label in REPLAYS[name](broker, inspector):
        ours = golden.live_entries(redis_client)
        snap = golden.snapshot(data, label)
        theirs = golden.golden_entries(snap)
        assert golden.normalised(ours) == golden.normalised(theirs), label
        golden.check_relations(theirs, snap["captured_at_unix_ns"] / 1e9)
        golden.check_relations(ours, time.time())
        seen.append(label)
    assert seen == [s["label"] for s in data["snapshots"]]


def test_a_runqy_enqueue_writes_only_the_keys_a_go_client_writes(redis_client, broker):
    """One key per pending task, as in asynq: no reverse lookup beside the task hash."""
    broker.enqueue(go_task("t-basic", "inference.default"), id_supplied=True)
    assert set(redis_client.keys("*")) == {
        b"asynq:queues", b"asynq:{inference.default}:pending",
        b"asynq:{inference.default}:t:t-basic"}
