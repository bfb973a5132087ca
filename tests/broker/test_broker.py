"""Every write of the Broker against a real Redis, including the edge cases of section 6."""

from __future__ import annotations

import json
import math
import random
import threading
import time
import uuid

import pytest
import redis

from runqy.broker import (
    Broker,
    BrokerError,
    DuplicateTaskError,
    EnqueueRequest,
    EnqueueResult,
    QueueAlreadyPausedError,
    QueueBusyError,
    QueueNotEmptyError,
    QueueNotFoundError,
    QueueNotPausedError,
    ServerInfo,
    TaskIdConflictError,
    TaskMessage,
    TaskNotFoundError,
    WorkerInfo,
    codec,
    decode_task,
    keys,
    queue_order,
    retry_delay,
)
from runqy.broker.broker import ENQUEUE_CHUNK
from runqy.broker.errors import TaskOutcomeUnknownError
from runqy.broker.scripts import SCRIPTS
from tests.broker.factories import Q, task
from tests.broker.proxy import CuttingProxy
from tests.support.polling import poll_until

# Runs on every Redis binary and on a real Redis Cluster (tests/broker/conftest.py).
pytestmark = pytest.mark.topology_independent

Q2 = "inference.high"


def hash_of(r, q: str, task_id: str) -> dict[bytes, bytes]:
    return r.hgetall(keys.task_key(q, task_id))


def msg_of(r, q: str, task_id: str) -> TaskMessage:
    return decode_task(r.hget(keys.task_key(q, task_id), "msg"))


def commandstats(r) -> dict[str, int]:
    return {name: int(v["calls"]) for name, v in r.info("commandstats").items()}


def active_task(broker: Broker, **fields):
    broker.enqueue(task("a1", **fields), id_supplied=True)
    dequeued = broker.dequeue([Q])
    assert dequeued is not None
    return dequeued.msg


# -- enqueue -----------------------------------------------------------------------------------


def test_enqueue_writes_hash_pending_and_queue_set_and_no_lookup(redis_client, broker):
    before = time.time_ns()
    result = broker.enqueue(task("t1"), id_supplied=True)
    assert (result.task_id, result.state) == ("t1", "pending")
    assert before // 10**9 <= result.next_process_at <= time.time()  # whole seconds
    h = hash_of(redis_client, Q, "t1")
    assert h[b"state"] == b"pending"
    assert before <= int(h[b"pending_since"]) <= time.time_ns()
    assert decode_task(h[b"msg"]) == task("t1")
    assert redis_client.lrange(keys.pending(Q), 0, -1) == [b"t1"]
    assert redis_client.smembers(keys.QUEUES) == {Q.encode()}
    # one key per pending task, as in asynq: no reverse lookup
    assert not redis_client.exists(keys.legacy_lookup("t1"))


def test_enqueue_generates_an_id_when_the_message_has_none(redis_client, broker):
    result = broker.enqueue(task(""))
    assert len(result.task_id) == 36
    assert msg_of(redis_client, Q, result.task_id).id == result.task_id


@pytest.mark.parametrize("fields", [{"queue": ""}, {"type": " "}])
def test_enqueue_refuses_a_task_without_queue_or_type(redis_client, broker, fields):
    with pytest.raises(ValueError):
        broker.enqueue(task("t1", **fields))
    assert redis_client.keys("*") == []


def test_enqueue_registers_a_queue_deleted_by_someone_else(redis_client, broker):
    broker.enqueue(task("t1"))
    redis_client.srem(keys.QUEUES, Q)
    broker.enqueue(task("t2"))
    assert redis_client.sismember(keys.QUEUES, Q)


def test_id_conflict_writes_nothing_and_keeps_the_existing_task(redis_client, broker):
    broker.enqueue(task("t1", retry=7), id_supplied=True)
    with pytest.raises(TaskIdConflictError):
        broker.enqueue(task("t1", retry=1), id_supplied=True)
    assert msg_of(redis_client, Q, "t1").retry == 7
    assert redis_client.llen(keys.pending(Q)) == 1


def test_unique_enqueue_takes_the_lock_and_refuses_a_duplicate(redis_client, broker):
    first = broker.enqueue(task(), unique_ttl=120)
    lock = keys.unique(Q, Q, b'{"x":1}')
    assert redis_client.get(lock) == first.task_id.encode()
    assert 118 <= redis_client.ttl(lock) <= 120
    assert hash_of(redis_client, Q, first.task_id)[b"unique_key"] == lock.encode()
    assert msg_of(redis_client, Q, first.task_id).unique_key == lock
    with pytest.raises(DuplicateTaskError):
        broker.enqueue(task("dup"), unique_ttl=120)
    assert not redis_client.exists(keys.task_key(Q, "dup"))


def test_unique_lock_of_an_empty_payload_has_an_empty_checksum():
    assert keys.unique(Q, "t", b"") == "asynq:{inference.default}:unique:t:"


def test_schedule_in_the_future_and_enqueue_when_due(redis_client, broker):
    at = int(time.time()) + 600
    result = broker.enqueue(task("s1"), process_at=at)
    assert (result.state, result.next_process_at) == ("scheduled", at)
    assert redis_client.zscore(keys.scheduled(Q), "s1") == at
    assert b"pending_since" not in hash_of(redis_client, Q, "s1")
    past = broker.enqueue(task("s2"), process_at=int(time.time()) - 5)
    assert past.state == "pending"


def test_scheduled_unique_lock_lasts_until_process_at_plus_ttl(redis_client, broker):
    at = int(time.time()) + 600
    broker.enqueue(task("s1"), process_at=at, unique_ttl=60)
    assert 655 <= redis_client.ttl(keys.unique(Q, Q, b'{"x":1}')) <= 660
    assert hash_of(redis_client, Q, "s1")[b"unique_key"]


def test_group_enqueue_aggregates_without_unique_key_field(redis_client, broker):
    result = broker.enqueue(task("g1"), group="batch", unique_ttl=60)
    assert (result.state, result.next_process_at) == ("aggregating", None)
    h = hash_of(redis_client, Q, "g1")
    assert (h[b"state"], h[b"group"]) == (b"aggregating", b"batch")
    assert b"unique_key" not in h
    assert msg_of(redis_client, Q, "g1").group_key == "batch"
    assert redis_client.smembers(keys.groups(Q)) == {b"batch"}
    assert redis_client.zscore(keys.group(Q, "batch"), "g1") is not None


@pytest.mark.single_node
def test_enqueue_many_uses_one_script_call_per_queue_and_chunk_and_keeps_order(
    redis_client, broker
):
    broker.enqueue(task("taken"), id_supplied=True)
    requests = [EnqueueRequest(task(f"a{i}")) for i in range(300)]
    requests += [EnqueueRequest(task(f"b{i}", Q2)) for i in range(200)]
    requests.insert(10, EnqueueRequest(task("taken"), id_supplied=True))
    before = commandstats(redis_client).get("cmdstat_evalsha", 0)
    outcomes = broker.enqueue_many(requests)
    per_queue = [math.ceil(301 / ENQUEUE_CHUNK), math.ceil(200 / ENQUEUE_CHUNK)]
    assert commandstats(redis_client)["cmdstat_evalsha"] - before == sum(per_queue)
    assert isinstance(outcomes[10], TaskIdConflictError)
    assert [o.task_id for i, o in enumerate(outcomes) if i != 10] == [
        r.msg.id for i, r in enumerate(requests) if i != 10
    ]
    assert redis_client.llen(keys.pending(Q)) == 301
    assert redis_client.llen(keys.pending(Q2)) == 200


def test_enqueue_many_chunks_large_batches(redis_client, broker):
    outcomes = broker.enqueue_many([EnqueueRequest(task()) for _ in range(2500)])
    assert len({o.task_id for o in outcomes}) == 2500
    assert redis_client.llen(keys.pending(Q)) == 2500


def test_enqueue_survives_a_script_flush(redis_client, broker):
    broker.enqueue(task("t1"))
    redis_client.script_flush()
    broker.enqueue(task("t2"))
    redis_client.script_flush()
    assert len(broker.enqueue_many([EnqueueRequest(task()) for _ in range(3)])) == 3
    assert redis_client.llen(keys.pending(Q)) == 5


def test_a_script_flush_mid_batch_reruns_every_chunk_exactly_once(redis_client, broker):
    broker.enqueue(task("warm"))
    redis_client.script_flush()
    requests = [EnqueueRequest(task(f"t{i}")) for i in range(2 * ENQUEUE_CHUNK + 1)]
    outcomes = broker.enqueue_many(requests)
    assert all(isinstance(o, EnqueueResult) for o in outcomes)
    pending = redis_client.lrange(keys.pending(Q), 0, -1)
    assert sorted(pending) == sorted([b"warm"] + [f"t{i}".encode() for i in range(len(requests))])


def test_a_script_error_fails_exactly_the_tasks_of_its_queue(redis_client, broker):
    redis_client.set(keys.pending(Q2), "not a list")  # the script's LPUSH fails: WRONGTYPE
    requests = [EnqueueRequest(task(f"a{i}")) for i in range(3)]
    requests += [EnqueueRequest(task(f"b{i}", Q2)) for i in range(3)]
    outcomes = broker.enqueue_many(requests)
    assert [type(o) for o in outcomes] == [EnqueueResult] * 3 + [BrokerError] * 3
    for i, outcome in enumerate(outcomes[3:]):
        assert f"'b{i}'" in str(outcome) and "WRONGTYPE" in str(outcome)
    assert redis_client.llen(keys.pending(Q)) == 3


@pytest.mark.single_node
def test_a_connection_drop_mid_batch_reports_each_unanswered_task(redis_server, redis_client):
    n = 3 * ENQUEUE_CHUNK
    # Replies: SCRIPT LOAD of the enqueue script (the batch loads it first on its connection;
    # its source holds "SADD", so its 47-byte SHA reply counts), SADD (4 bytes), the first
    # chunk's script (an array of 1s); the connection dies 10 bytes into the second chunk's.
    first_chunk = 47 + 4 + len(f"*{ENQUEUE_CHUNK}\r\n") + 4 * ENQUEUE_CHUNK
    with CuttingProxy(redis_server.port, first_chunk + 10, start=b"SADD") as proxy:
        client = redis.Redis(port=proxy.port)
        try:
            outcomes = Broker(client).enqueue_many([EnqueueRequest(task()) for _ in range(n)])
        finally:
            client.close()
    assert proxy.cut.is_set()
    created = [o for o in outcomes[:ENQUEUE_CHUNK] if isinstance(o, EnqueueResult)]
    assert len(created) == ENQUEUE_CHUNK
    unknown = outcomes[ENQUEUE_CHUNK:]
    assert all(isinstance(o, TaskOutcomeUnknownError) for o in unknown)
    assert all(o.task_id in str(o) and o.queue == Q for o in unknown)
    # Nothing silently lost or duplicated: every created task is pending, every pending ID is
    # there once with its hash.
    pending = [p.decode() for p in redis_client.lrange(keys.pending(Q), 0, -1)]
    assert len(pending) == len(set(pending))
    assert {o.task_id for o in created} <= set(pending)
    assert set(pending) <= {o.task_id for o in created} | {o.task_id for o in unknown}
    assert all(redis_client.exists(keys.task_key(Q, t)) for t in pending)


def test_an_empty_batch_and_a_bad_request_send_nothing(redis_client, broker):
    assert broker.enqueue_many([]) == []
    with pytest.raises(ValueError):
        broker.enqueue_many([EnqueueRequest(task("ok")), EnqueueRequest(task("bad", type=" "))])
    assert redis_client.dbsize() == 0


def test_generated_task_ids_are_uuid4(broker):
    outcomes = broker.enqueue_many([EnqueueRequest(task()) for _ in range(200)])
    parsed = [uuid.UUID(o.task_id) for o in outcomes]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == [o.task_id for o in outcomes]
    assert len(set(parsed)) == 200


# -- dequeue and leases -----------------------------------------------------------------------


def test_dequeue_is_fifo_and_activates_with_a_lease(redis_client, broker):
    broker.enqueue(task("first"))
    broker.enqueue(task("second"))
    got = broker.dequeue([Q])
    assert got.msg.id == "first" and got.queue == Q
    assert abs(got.lease_expires_at - (time.time() + 30)) <= 1
    h = hash_of(redis_client, Q, "first")
    assert h[b"state"] == b"active" and b"pending_since" not in h
    assert redis_client.zscore(keys.lease(Q), "first") == got.lease_expires_at
    assert redis_client.lrange(keys.active(Q), 0, -1) == [b"first"]


def test_dequeue_tries_queues_in_order_and_skips_paused(redis_client, broker, admin):
    broker.enqueue(task("low", Q))
    broker.enqueue(task("high", Q2))
    assert broker.dequeue([Q2, Q]).msg.id == "high"
    broker.enqueue(task("high2", Q2))
    admin.pause_queue(Q2)
    assert broker.dequeue([Q2, Q]).msg.id == "low"
    assert broker.dequeue([Q2, Q]) is None
    assert redis_client.llen(keys.pending(Q2)) == 1


def test_dequeue_of_empty_or_unknown_queues_returns_none(broker):
    assert broker.dequeue(["nothing.here", Q]) is None


def test_poison_message_is_archived_unchanged_and_the_next_task_returned(redis_client, broker):
    broker.enqueue(task("good"))
    redis_client.hset(keys.task_key(Q, "bad"), mapping={"msg": b"\xff\xff\xff", "state": "pending"})
    redis_client.rpush(keys.pending(Q), "bad")
    got = broker.dequeue([Q])
    assert got.msg.id == "good"
    h = hash_of(redis_client, Q, "bad")
    assert (h[b"state"], h[b"msg"]) == (b"archived", b"\xff\xff\xff")
    assert redis_client.zscore(keys.archived(Q), "bad") is not None
    assert redis_client.lrange(keys.active(Q), 0, -1) == [b"good"]


def test_an_id_without_hash_is_dropped_at_dequeue(redis_client, broker):
    redis_client.rpush(keys.pending(Q), "ghost")
    assert broker.dequeue([Q]) is None
    assert not redis_client.exists(keys.active(Q))


def test_extend_leases_pushes_only_existing_leases(redis_client, broker):
    msg = active_task(broker)
    redis_client.zadd(keys.lease(Q), {msg.id: 1})
    assert broker.extend_leases(Q, [msg.id, "gone"]) == {msg.id}
    assert redis_client.zscore(keys.lease(Q), msg.id) >= int(time.time()) + 29
    assert redis_client.zscore(keys.lease(Q), "gone") is None
    assert broker.extend_leases(Q, []) == set()


# -- finishing an attempt ----------------------------------------------------------------------


def test_set_result_only_while_active(redis_client, broker):
    broker.enqueue(task("p"))
    assert not broker.set_result(Q, "p", b"late")
    msg = broker.dequeue([Q]).msg
    assert broker.set_result(Q, msg.id, b'{"ok":1}')
    broker.done(msg)
    assert not broker.set_result(Q, msg.id, b"late")
    assert not redis_client.exists(keys.task_key(Q, msg.id))


def test_done_deletes_task_counts_and_releases_own_lock(redis_client, broker):
    broker.enqueue(task("a1"), unique_ttl=300)
    msg = broker.dequeue([Q]).msg
    broker.done(msg)
    assert not redis_client.exists(keys.task_key(Q, "a1"), keys.active(Q), keys.lease(Q))
    assert not redis_client.exists(keys.unique(Q, Q, b'{"x":1}'))
    assert redis_client.get(keys.processed_total(Q)) == b"1"
    daily = keys.processed_daily(Q, int(time.time()))
    assert redis_client.get(daily) == b"1"
    assert 90 * 86400 - 10 <= redis_client.ttl(daily) <= 90 * 86400
    assert not redis_client.exists(keys.failed_total(Q))
    with pytest.raises(TaskNotFoundError):
        broker.done(msg)


def test_done_keeps_a_lock_owned_by_another_task(redis_client, broker):
    broker.enqueue(task("a1"), unique_ttl=300)
    msg = broker.dequeue([Q]).msg
    redis_client.set(keys.unique(Q, Q, b'{"x":1}'), "someone-else")
    broker.done(msg)
    assert redis_client.get(keys.unique(Q, Q, b'{"x":1}')) == b"someone-else"


def test_total_counter_wraps_at_int64_max(redis_client, broker):
    redis_client.set(keys.processed_total(Q), 2**63 - 1)
    broker.done(active_task(broker))
    assert redis_client.get(keys.processed_total(Q)) == b"1"


def test_mark_complete_keeps_result_and_expires_runqy_keys(redis_client, broker):
    msg = active_task(broker, retention=600)
    broker.set_result(Q, msg.id, b'{"ok":true}')
    broker.mark_complete(msg)
    now = int(time.time())
    h = hash_of(redis_client, Q, msg.id)
    assert (h[b"state"], h[b"result"]) == (b"completed", b'{"ok":true}')
    stored = decode_task(h[b"msg"])
    assert abs(stored.completed_at - now) <= 1
    assert redis_client.zscore(keys.completed(Q), msg.id) == stored.completed_at + 600
    assert redis_client.get(keys.result_mirror(msg.id)) == b'{"ok":true}'
    assert 598 <= redis_client.ttl(keys.result_mirror(msg.id)) <= 600
    assert redis_client.get(keys.processed_total(Q)) == b"1"
    with pytest.raises(TaskNotFoundError):
        broker.mark_complete(msg)


def test_complete_writes_result_completion_and_mirror(redis_client, broker):
    msg = active_task(broker, retention=600)
    broker.complete(msg, b'{"ok":true}')
    h = hash_of(redis_client, Q, msg.id)
    assert (h[b"state"], h[b"result"]) == (b"completed", b'{"ok":true}')
    stored = decode_task(h[b"msg"])
    assert abs(stored.completed_at - time.time()) <= 1
    assert redis_client.zscore(keys.completed(Q), msg.id) == stored.completed_at + 600
    assert not redis_client.exists(keys.active(Q), keys.lease(Q))
    assert redis_client.get(keys.result_mirror(msg.id)) == b'{"ok":true}'
    assert 598 <= redis_client.ttl(keys.result_mirror(msg.id)) <= 600
    assert redis_client.get(keys.processed_total(Q)) == b"1"
    # A repeat (a retry after a lost answer) is refused and leaves the mirror as it is.
    with pytest.raises(TaskNotFoundError):
        broker.complete(msg, b'{"ok":true}')
    with pytest.raises(ValueError):
        broker.complete(task("no-retention"), b"1")
    assert redis_client.get(keys.result_mirror(msg.id)) == b'{"ok":true}'
    assert redis_client.get(keys.processed_total(Q)) == b"1"


@pytest.mark.single_node
def test_complete_keeps_the_result_when_only_the_completion_script_was_loaded(redis_client,
                                                                            broker):
    """A Redis whose script cache holds markAsComplete but not set_result (another process
    loaded one of them since a restart): the batch must not run the completion before the
    result write, or the task ends completed without its result."""
    msg = active_task(broker, retention=600)
    redis_client.script_flush()
    redis_client.script_load(SCRIPTS["dequeue"].source)
    Broker(redis_client.__class__(connection_pool=redis.ConnectionPool(
        **redis_client.connection_pool.connection_kwargs))).complete(msg, b'{"ok":true}')
    h = hash_of(redis_client, Q, msg.id)
    assert (h[b"state"], h.get(b"result")) == (b"completed", b'{"ok":true}')
    assert redis_client.get(keys.result_mirror(msg.id)) == b'{"ok":true}'


@pytest.mark.parametrize("next_q", [Q, Q2], ids=["same_queue_one_script", "other_queue"])
def test_complete_can_take_the_next_task_in_the_same_round_trip(redis_client, broker, next_q):
    msg = active_task(broker, retention=600)
    broker.enqueue(task("next", next_q, retention=600), id_supplied=True)
    taken = broker.complete(msg, b"1", next_from=next_q)
    assert (taken.queue, taken.msg.id) == (next_q, "next")
    assert redis_client.zscore(keys.lease(next_q), "next") == taken.lease_expires_at
    assert hash_of(redis_client, next_q, "next")[b"state"] == b"active"
    assert hash_of(redis_client, Q, msg.id)[b"state"] == b"completed"
    assert broker.complete(taken.msg, b"2", next_from=next_q) is None  # nothing left


@pytest.mark.parametrize("next_q", [Q, Q2], ids=["same_queue_one_script", "other_queue"])
def test_a_refused_completion_leaves_the_next_task_pending(redis_client, broker, next_q):
    msg = active_task(broker, retention=600)
    broker.enqueue(task("next", next_q, retention=600), id_supplied=True)
    broker.enqueue(task("later", next_q, retention=600), id_supplied=True)
    broker.retry(msg, "moved", int(time.time()) + 60)
    with pytest.raises(TaskNotFoundError):
        broker.complete(msg, b"late", next_from=next_q)
    # "next" is pending (not taken, or put back at the end dequeued first).
    assert redis_client.lrange(keys.pending(next_q), 0, -1) == [b"later", b"next"]
    assert hash_of(redis_client, next_q, "next")[b"state"] == b"pending"
    assert not redis_client.exists(keys.active(next_q))


def test_complete_of_a_task_moved_meanwhile_leaves_no_trace(redis_client, broker):
    msg = active_task(broker, retention=600)
    broker.retry(msg, "lease expired", int(time.time()) + 60)  # e.g. the recoverer was faster
    with pytest.raises(TaskNotFoundError):
        broker.complete(msg, b"late")
    assert hash_of(redis_client, Q, msg.id)[b"state"] == b"retry"
    assert b"result" not in hash_of(redis_client, Q, msg.id)
    assert not redis_client.exists(keys.result_mirror(msg.id))
    assert redis_client.get(keys.processed_total(Q)) == b"1"  # the retry's count only


def test_complete_of_a_deleted_task_leaves_no_mirror(redis_client, broker):
    msg = active_task(broker, retention=600)
    # Another actor removed the task entirely (what a delete script does).
    redis_client.lrem(keys.active(Q), 0, msg.id)
    redis_client.zrem(keys.lease(Q), msg.id)
    redis_client.delete(keys.task_key(Q, msg.id))
    with pytest.raises(TaskNotFoundError):
        broker.complete(msg, b"late")
    assert not redis_client.exists(keys.result_mirror(msg.id), keys.task_key(Q, msg.id))


@pytest.mark.single_node
def test_complete_whose_answer_is_lost_raises_and_a_retry_keeps_the_outcome(
    redis_server, redis_client, broker
):
    msg = active_task(broker, retention=600)
    # The connection dies in the middle of the completion script's reply (":1\r\n"); Redis
    # got every command.
    with CuttingProxy(redis_server.port, 2, start=b"EVALSHA") as proxy:
        client = redis.Redis(port=proxy.port)
        try:
            with pytest.raises(redis.ConnectionError):
                Broker(client).complete(msg, b'{"n":1}')
        finally:
            client.close()
    poll_until(lambda: hash_of(redis_client, Q, msg.id)[b"state"] == b"completed", timeout=5,
               what="the completion Redis received")
    with pytest.raises(TaskNotFoundError):
        broker.complete(msg, b'{"n":1}')
    assert redis_client.get(keys.result_mirror(msg.id)) == b'{"n":1}'
    assert hash_of(redis_client, Q, msg.id)[b"result"] == b'{"n":1}'
    assert redis_client.get(keys.processed_total(Q)) == b"1"


def test_retry_counts_a_failure_and_keeps_the_lock(redis_client, broker):
    broker.enqueue(task("r1"), unique_ttl=300)
    msg = broker.dequeue([Q]).msg
    at = int(time.time()) + 40
    broker.retry(msg, "boom", at)
    stored = msg_of(redis_client, Q, "r1")
    assert (stored.retried, stored.error_msg) == (1, "boom")
    assert abs(stored.last_failed_at - time.time()) <= 1
    assert redis_client.zscore(keys.retry(Q), "r1") == at
    assert hash_of(redis_client, Q, "r1")[b"state"] == b"retry"
    for key in (keys.processed_total(Q), keys.failed_total(Q)):
        assert redis_client.get(key) == b"1"
    assert redis_client.get(keys.failed_daily(Q, int(time.time()))) == b"1"
    assert redis_client.exists(keys.unique(Q, Q, b'{"x":1}'))


def test_retry_that_is_not_a_failure_moves_no_counter(redis_client, broker):
    broker.retry(active_task(broker), "later", int(time.time()) + 5, is_failure=False)
    assert msg_of(redis_client, Q, "a1").retried == 0
    assert not redis_client.exists(keys.processed_total(Q), keys.failed_total(Q))


def test_error_text_with_invalid_utf8_is_replaced(redis_client, broker):
    broker.retry(active_task(broker), "bad \udcff byte", int(time.time()) + 5)
    assert msg_of(redis_client, Q, "a1").error_msg == "bad ? byte"


def test_archive_keeps_retried_and_counts(redis_client, broker):
    msg = active_task(broker)
    broker.archive(msg, "fatal")
    stored = msg_of(redis_client, Q, "a1")
    assert (stored.error_msg, stored.retried) == ("fatal", 0)
    assert redis_client.zscore(keys.archived(Q), "a1") == stored.last_failed_at
    assert redis_client.get(keys.failed_total(Q)) == b"1"
    with pytest.raises(TaskNotFoundError):
        broker.archive(msg, "again")


def test_archive_trims_old_and_excess_entries_with_their_keys(redis_client, broker):
    now = int(time.time())
    pipe = redis_client.pipeline(transaction=False)
    old = now - 91 * 86400
    pipe.zadd(keys.archived(Q), {"ancient": old})
    pipe.hset(keys.task_key(Q, "ancient"), mapping={"msg": b"", "state": "archived"})
    pipe.hset(keys.legacy_lookup("ancient"), "queue", Q)
    for i in range(10_000):
        pipe.zadd(keys.archived(Q), {f"x{i:05d}": now - 1000 + i // 100})
        pipe.hset(keys.task_key(Q, f"x{i:05d}"), mapping={"msg": b"", "state": "archived"})
    pipe.execute()
    broker.archive(active_task(broker), "fatal")
    assert redis_client.zcard(keys.archived(Q)) == 9_999
    assert not redis_client.exists(keys.task_key(Q, "ancient"), keys.legacy_lookup("ancient"))
    assert not redis_client.exists(keys.task_key(Q, "x00000"))  # oldest beyond the cap
    assert redis_client.zscore(keys.archived(Q), "a1") is not None


def test_requeue_puts_the_task_next_in_line_without_pending_since(redis_client, broker):
    msg = active_task(broker)
    broker.enqueue(task("waiting"))
    broker.requeue(msg)
    h = hash_of(redis_client, Q, "a1")
    assert h[b"state"] == b"pending" and b"pending_since" not in h
    assert broker.dequeue([Q]).msg.id == "a1"
    with pytest.raises(TaskNotFoundError):
        broker.requeue(task("never-active"))


# -- background loops --------------------------------------------------------------------------


def test_forward_moves_due_scheduled_and_retry_tasks(redis_client, broker):
    now = int(time.time())
    broker.enqueue(task("later"), process_at=now + 600)
    broker.enqueue(task("due"), process_at=now + 600)
    redis_client.zadd(keys.scheduled(Q), {"due": now - 1})
    msg = active_task(broker)
    broker.retry(msg, "boom", now - 1)
    redis_client.zadd(keys.scheduled(Q), {"ghost": now - 1})
    before = time.time_ns()
    assert broker.forward_due(Q) == 3  # due, a1 and the ghost ID that had no hash
    assert set(redis_client.lrange(keys.pending(Q), 0, -1)) == {b"due", b"a1"}
    assert int(hash_of(redis_client, Q, "due")[b"pending_since"]) >= before
    assert redis_client.zrange(keys.scheduled(Q), 0, -1) == [b"later"]
    assert not redis_client.exists(keys.task_key(Q, "ghost"))
    assert broker.forward_due(Q) == 0


def test_forward_returns_a_grouped_task_to_its_group(redis_client, broker):
    broker.enqueue(task("g1"), group="batch")
    redis_client.zrem(keys.group(Q, "batch"), "g1")
    redis_client.srem(keys.groups(Q), "batch")
    redis_client.zadd(keys.retry(Q), {"g1": int(time.time()) - 1})
    assert broker.forward_due(Q) == 1
    assert hash_of(redis_client, Q, "g1")[b"state"] == b"aggregating"
    assert redis_client.zscore(keys.group(Q, "batch"), "g1") is not None
    assert redis_client.sismember(keys.groups(Q), "batch")


def test_forward_handles_more_than_one_batch(redis_client, broker):
    past = int(time.time()) - 1
    for i in range(250):
        broker.enqueue(task(f"s{i}"), process_at=past + 1000)
    redis_client.zadd(keys.scheduled(Q), {f"s{i}": past for i in range(250)})
    assert broker.forward_due(Q) == 250
    assert redis_client.llen(keys.pending(Q)) == 250


@pytest.mark.single_node
def test_the_worker_path_reconnects_after_a_redis_restart(redis_server, redis_client, broker):
    broker.enqueue(task("before"))
    assert broker.dequeue([Q]).msg.id == "before"  # this thread's connection is now held
    redis_server.restart()  # the data is gone with the throwaway server; the socket too
    broker.enqueue(task("after"))
    try:
        got = broker.dequeue([Q])
    except redis.ConnectionError:
        got = broker.dequeue([Q])  # the dead socket was noticed; this one reconnected
    assert got.msg.id == "after"
    assert redis_client.zscore(keys.lease(Q), "after") == got.lease_expires_at


def test_a_short_real_lease_expires_and_is_recovered(redis_client):
    broker = Broker(redis_client, lease_seconds=1, clock_skew_seconds=0)
    broker.enqueue(task("short"))
    got = broker.dequeue([Q])
    assert got.lease_expires_at == redis_client.zscore(keys.lease(Q), "short")
    assert got.lease_expires_at <= int(time.time()) + 1
    assert broker.extend_leases(Q, ["short"]) == {"short"}
    poll_until(lambda: broker.recover_expired_leases(Q) == 1, timeout=5,
               what="the expired lease recovered")
    stored = msg_of(redis_client, Q, "short")
    assert (stored.retried, stored.error_msg) == (1, "asynq: task lease expired")
    assert Broker(redis_client).lease_seconds == 30  # the contract's defaults
    assert Broker(redis_client).clock_skew_seconds == 30
    with pytest.raises(ValueError):
        Broker(redis_client, lease_seconds=0)


def test_recover_expired_leases_retries_archives_and_sweeps_orphans(redis_client, broker):
    broker.enqueue(task("retry-me", retry=3))
    broker.enqueue(task("archive-me", retry=0))
    broker.enqueue(task("fresh"))
    for _ in range(3):
        broker.dequeue([Q])
    now = int(time.time())
    redis_client.zadd(keys.lease(Q), {"retry-me": now - 31, "archive-me": now - 40})
    redis_client.zadd(keys.lease(Q), {"fresh": now - 20})  # within the skew allowance
    redis_client.zadd(keys.lease(Q), {"orphan": now - 100})
    redis_client.rpush(keys.active(Q), "orphan")
    assert broker.recover_expired_leases(Q) == 2
    retried = msg_of(redis_client, Q, "retry-me")
    assert (retried.retried, retried.error_msg) == (1, "asynq: task lease expired")
    delay = redis_client.zscore(keys.retry(Q), "retry-me") - retried.last_failed_at
    assert 15 <= delay <= 44
    assert hash_of(redis_client, Q, "archive-me")[b"state"] == b"archived"
    assert hash_of(redis_client, Q, "fresh")[b"state"] == b"active"
    assert redis_client.lrange(keys.active(Q), 0, -1) == [b"fresh"]
    assert redis_client.zrange(keys.lease(Q), 0, -1) == [b"fresh"]
    assert broker.recover_expired_leases(Q) == 0


def test_purge_completed_deletes_expired_tasks_and_their_runqy_keys(redis_client, broker):
    for task_id in ("old", "young"):
        broker.enqueue(task(task_id, retention=600))
        msg = broker.dequeue([Q]).msg
        broker.set_result(Q, task_id, b"{}")
        broker.mark_complete(msg)
    redis_client.zadd(keys.completed(Q), {"old": int(time.time()) - 1})
    assert broker.purge_completed(Q) == 1
    assert not redis_client.exists(
        keys.task_key(Q, "old"), keys.result_mirror("old")
    )
    assert redis_client.zrange(keys.completed(Q), 0, -1) == [b"young"]
    assert broker.purge_completed(Q) == 0


# -- queue control -----------------------------------------------------------------------------


def test_pause_and_unpause_raise_precise_errors(redis_client, broker, admin):
    admin.pause_queue(Q)
    assert abs(int(redis_client.get(keys.paused(Q))) - time.time()) <= 1
    with pytest.raises(QueueAlreadyPausedError):
        admin.pause_queue(Q)
    admin.unpause_queue(Q)
    with pytest.raises(QueueNotPausedError):
        admin.unpause_queue(Q)


def test_delete_queue_refusals(redis_client, broker, admin):
    with pytest.raises(QueueNotFoundError):
        admin.delete_queue("missing.default")
    broker.enqueue(task("p"))
    with pytest.raises(QueueNotEmptyError):
        admin.delete_queue(Q)
    broker.dequeue([Q])
    with pytest.raises(QueueBusyError):
        admin.delete_queue(Q, force=True)
    assert redis_client.sismember(keys.QUEUES, Q)


def test_delete_empty_queue_keeps_completed_and_counters(redis_client, broker, admin):
    msg = active_task(broker, retention=600)
    broker.mark_complete(msg)
    admin.delete_queue(Q)
    assert not redis_client.sismember(keys.QUEUES, Q)
    assert redis_client.zcard(keys.completed(Q)) == 1
    assert redis_client.get(keys.processed_total(Q)) == b"1"


def test_force_delete_queue_deletes_hashes(redis_client, broker, admin):
    broker.enqueue(task("p"))
    broker.enqueue(task("s"), process_at=int(time.time()) + 60)
    admin.delete_queue(Q, force=True)
    assert not redis_client.exists(
        keys.task_key(Q, "p"), keys.task_key(Q, "s"), keys.pending(Q), keys.scheduled(Q)
    )
    assert not redis_client.sismember(keys.QUEUES, Q)


def test_cancel_publishes_the_task_id(redis_client, broker):
    pubsub = redis_client.pubsub()
    pubsub.subscribe(keys.CANCEL_CHANNEL)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    assert broker.cancel("t-42") == 1
    message = pubsub.get_message(timeout=5)
    assert message["data"] == b"t-42"
    pubsub.close()


# -- fleet -------------------------------------------------------------------------------------


def _server(active: int = 0) -> ServerInfo:
    return ServerInfo(
        host="h1",
        pid=42,
        server_id="sid",
        concurrency=2,
        queues={Q: 1},
        strict_priority=True,
        status="active",
        start_time=codec.timestamp(int(time.time())),
        active_worker_count=active,
    )


def test_server_heartbeat_writes_and_clears_asynq_keys(redis_client, broker):
    worker = WorkerInfo(host="h1", pid=42, server_id="sid", task_id="t1", queue=Q)
    broker.write_server_heartbeat(_server(1), [worker])
    server_key, workers_key = "asynq:servers:{h1:42:sid}", "asynq:workers:{h1:42:sid}"
    assert codec.decode_server_info(redis_client.get(server_key)).active_worker_count == 1
    assert codec.decode_worker_info(redis_client.hget(workers_key, "t1")) == worker
    assert 9 <= redis_client.ttl(server_key) <= 10 and 9 <= redis_client.ttl(workers_key) <= 10
    assert abs(redis_client.zscore(keys.SERVERS, server_key) - time.time() - 10) <= 1
    broker.write_server_heartbeat(_server(0), [])
    assert not redis_client.exists(workers_key)
    assert redis_client.zscore(keys.WORKERS, workers_key) is not None
    broker.clear_server_heartbeat(_server())
    assert not redis_client.exists(server_key, keys.SERVERS, keys.WORKERS)


def test_runqy_worker_heartbeat_and_logs(redis_client, broker):
    now = int(time.time())
    fields = {"worker_id": "w1", "last_beat": str(now), "healthy": "true", "status": "running"}
    lines = [{"ts": i, "src": "stdout", "text": f"line {i}", "seq": i} for i in range(1, 601)]
    broker.write_worker_heartbeat("w1", fields, lines)
    assert redis_client.hget(keys.runqy_worker("w1"), "status") == b"running"
    assert 29 <= redis_client.ttl(keys.runqy_worker("w1")) <= 30
    assert redis_client.zscore(keys.RUNQY_WORKERS, "w1") == now
    logs = redis_client.lrange(keys.runqy_worker_logs("w1"), 0, -1)
    assert len(logs) == 500 and json.loads(logs[0])["seq"] == 101
    assert 29 <= redis_client.ttl(keys.runqy_worker_logs("w1")) <= 30
    broker.remove_worker("w1")
    assert redis_client.zscore(keys.RUNQY_WORKERS, "w1") is None
    assert redis_client.exists(keys.runqy_worker("w1"))  # expires by itself


# -- policies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "low", "high"), [(0, 15, 44), (1, 16, 74), (3, 96, 212), (10, 10015, 10334)]
)
def test_retry_delay_stays_within_asynq_bounds(n, low, high):
    delays = {retry_delay(n) for _ in range(2000)}
    assert min(delays) >= low and max(delays) <= high
    assert min(delays) == low and max(delays) == high  # the whole range is reachable


def test_strict_queue_order():
    order = queue_order({"a.low": 1, "a.high": 10, "a.mid": 5, "a.mid2": 5, "a.off": 0})
    assert order == ["a.high", "a.mid", "a.mid2", "a.low"]


def test_weighted_queue_order_follows_the_weights():
    random.seed(7)
    firsts = [queue_order({"a.x": 6, "a.y": 2}, strict=False)[0] for _ in range(4000)]
    share = firsts.count("a.x") / len(firsts)
    assert 0.70 <= share <= 0.80
    assert sorted(queue_order({"a.x": 6, "a.y": 2, "a.z": -1}, strict=False)) == ["a.x", "a.y"]


# -- Redis Cluster ------------------------------------------------------------------------------


class RecordingRedis(redis.Redis):
    """A real client that also notes the keys and arguments of every script call."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.script_calls: list[tuple[list[str], list[str]]] = []

    def evalsha(self, sha, numkeys, *keys_and_args):
        as_text = [a.decode("latin-1") if isinstance(a, bytes) else str(a) for a in keys_and_args]
        self.script_calls.append((as_text[:numkeys], as_text[numkeys:]))
        return super().evalsha(sha, numkeys, *keys_and_args)


def _hash_tag(key: str) -> str | None:
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start + 1 : end] if start != -1 and end > start + 1 else None


@pytest.mark.single_node
def test_every_script_call_stays_in_one_hash_slot(redis_server, admin, monkeypatch):
    from runqy.broker import Inspector
    from runqy.broker.pipeline import RawPipeline

    client = RecordingRedis(port=redis_server.port)
    raw_script = RawPipeline.script

    def recording_script(pipe, name, script_keys, args):  # the raw pipelines' script calls
        client.script_calls.append(([str(k) for k in script_keys], [
            a.decode("latin-1") if isinstance(a, bytes) else str(a) for a in args]))
        return raw_script(pipe, name, script_keys, args)

    monkeypatch.setattr(RawPipeline, "script", recording_script)
    client.flushall()
    broker, inspector = Broker(client), Inspector(client)
    now = int(time.time())
    broker.enqueue(task("u"), unique_ttl=60)
    broker.enqueue(task("s", Q2), process_at=now + 60)
    broker.enqueue(task("g"), group="gr")
    for msg_id, action in (("a", "retry"), ("b", "archive"), ("c", "complete")):
        broker.enqueue(task(msg_id, retention=60))
        msg = broker.dequeue([Q2, Q]).msg
        if action == "retry":
            broker.retry(msg, "x", now - 1)
        elif action == "archive":
            broker.archive(msg, "x")
        else:
            broker.mark_complete(msg)
    broker.forward_due(Q)
    broker.recover_expired_leases(Q)
    broker.purge_completed(Q)
    broker.write_server_heartbeat(ServerInfo(host="h", pid=1, server_id="s"), [])
    inspector.queue_stats(Q)
    inspector.list_tasks(Q, "pending")
    admin.archive_task(Q, inspector.list_tasks(Q, "pending")[0].id)
    admin.run_all(Q, "archived")
    admin.delete_all(Q, "pending")
    admin.delete_queue(Q2, force=True)
    assert len(client.script_calls) > 20
    for call_keys, args in client.script_calls:
        tags = {_hash_tag(k) for k in call_keys}
        # key prefixes passed as arguments (task hashes, groups) must carry the same tag
        tags |= {_hash_tag(a) for a in args if a.startswith("asynq:{")}
        assert len(tags) == 1 and None not in tags, call_keys
    client.close()


# -- wake-ups and completion notices (runqy-layer channels) --------------------------------------


def test_every_path_to_pending_wakes_idle_workers_and_every_end_tells_waiters(
        redis_client, broker, admin):
    """Idle workers sleep on ``runqy:wake:{q}``; waiting clients on ``runqy:done:<id>``. Each
    message rides in the round trip the operation makes anyway (checked by what arrives)."""
    listener = redis_client.pubsub()
    listener.subscribe(keys.wake_channel(Q))
    listener.psubscribe(keys.done_channel("*"))
    for _ in range(2):
        assert listener.get_message(timeout=5)["type"] in ("subscribe", "psubscribe")

    def heard() -> list[tuple[str, str]]:
        got = []
        while (message := listener.get_message(timeout=0.1)) is not None:
            if message["type"] in ("message", "pmessage"):
                got.append((message["channel"].decode(), message["data"].decode()))
        return got

    now = int(time.time())
    broker.enqueue(task("p", retention=60))
    broker.enqueue(task("later"), process_at=now + 3600)
    assert heard() == [(keys.wake_channel(Q), "")]  # the scheduled task sends none
    broker.requeue(broker.dequeue([Q]).msg)
    assert heard() == [(keys.wake_channel(Q), "")]
    msg = broker.dequeue([Q]).msg
    broker.complete(msg, b"1")
    assert heard() == [(keys.done_channel("p"), "completed")]
    admin.run_task(Q, "later")
    assert heard() == [(keys.wake_channel(Q), "")]
    broker.archive(broker.dequeue([Q]).msg, "boom")
    assert heard() == [(keys.done_channel("later"), "archived")]
    broker.enqueue(task("zero", retention=0))
    broker.retry(broker.dequeue([Q]).msg, "again", now - 1)
    assert heard() == [(keys.wake_channel(Q), "")]  # a retry is not the end
    assert broker.forward_due(Q) == 1
    broker.done(broker.dequeue([Q]).msg)
    assert heard() == [(keys.wake_channel(Q), ""), (keys.done_channel("zero"), "deleted")]
    listener.close()


@pytest.mark.single_node
def test_a_broker_per_call_does_not_run_a_bounded_pool_out_of_connections(redis_client,
                                                                           redis_server):
    """Scripts and harnesses build a Broker per enqueue: they share their thread's held
    connection, and a thread's connection goes back to the pool when the thread ends."""
    client = redis.Redis(port=redis_server.port, max_connections=3)
    ids = [f"per-call-{n}" for n in range(50)]
    for task_id in ids:
        Broker(client).enqueue(task(task_id, "per-call"))

    def from_another_thread(n: int) -> None:
        Broker(client).enqueue(task(f"thread-{n}", "per-call"))

    for n in range(10):  # each short-lived thread takes a connection and gives it back
        worker = threading.Thread(target=from_another_thread, args=(n,))
        worker.start()
        worker.join()
    assert client.llen("asynq:{per-call}:pending") == 60
    client.close()


@pytest.mark.single_node
def test_held_batches_reconnect_after_a_redis_restart(redis_server):
    """`enqueue_many(held=True)` (the server's lean lane) runs on the thread's own connection,
    as `enqueue` does, and checks it first: after a Redis restart the next batch is written on
    a new connection instead of failing as "outcome unknown"."""
    client = redis.Redis(port=redis_server.port)
    broker = Broker(client)
    outcomes = broker.enqueue_many([EnqueueRequest(task(f"b{i}", "held")) for i in range(3)],
                                   held=True)
    assert [o.task_id for o in outcomes] == ["b0", "b1", "b2"]
    redis_server.restart()  # the data is gone with the throwaway server; the socket too
    again = broker.enqueue_many([EnqueueRequest(task("after", "held"))], held=True)
    assert [o.task_id for o in again] == ["after"]
    assert client.lrange("asynq:{held}:pending", 0, -1) == [b"after"]
    client.close()
