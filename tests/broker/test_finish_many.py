"""Batched finishes (``Broker.finish_many``): many outcomes and the next tasks in one round trip.

Each task gets the same end state as its single-task finish, refused tasks answer NOT FOUND one
by one, the counters move by the batch's counts, and the tasks taken ahead are leased. Runs on
every Redis binary and on a real Redis Cluster (queues on different masters in one call).
"""

from __future__ import annotations

import time

import pytest

from runqy.broker import Broker, EnqueueRequest, Finish, TaskNotFoundError, decode_task, keys
from runqy.broker.broker import INT64_MAX
from tests.broker.factories import Q, task

pytestmark = pytest.mark.topology_independent

OTHER = "mail.default"


def active(broker: Broker, queue: str, *ids: str, **fields):
    broker.enqueue_many([EnqueueRequest(task(i, queue, **fields), id_supplied=True)
                         for i in ids])
    return [broker.dequeue([queue]).msg for _ in ids]


def state(r, queue: str, task_id: str) -> bytes | None:
    return r.hget(keys.task_key(queue, task_id), "state")


def test_every_kind_of_outcome_in_one_call_with_per_task_answers(redis_client, broker):
    r = redis_client
    done, kept, retried, archived, moved = active(broker, Q, "d", "c", "r", "a", "m",
                                                  retention=600)
    done.retention = 0
    (other,) = active(broker, OTHER, "o", retention=600)
    broker.retry(moved, "the recoverer was faster", int(time.time()) + 60)
    r.set(keys.result_mirror("m"), b"stale")  # must follow the task hash, not the refused call
    retry_at = int(time.time()) + 120
    errors, taken = broker.finish_many([
        Finish(done, "done"),
        Finish(kept, "complete", result=b'{"ok":1}'),
        Finish(retried, "retry", error="ValueError: bad", retry_at=retry_at),
        Finish(archived, "archive", error="PermanentError: no"),
        Finish(moved, "complete", result=b"late"),
        Finish(other, "complete", result=b"2"),
    ])
    assert [type(e) if e else None for e in errors] == [None, None, None, None,
                                                          TaskNotFoundError, None]
    assert taken == []
    assert not r.exists(keys.task_key(Q, "d"))
    assert (state(r, Q, "c"), r.get(keys.result_mirror("c"))) == (b"completed", b'{"ok":1}')
    assert r.hget(keys.task_key(Q, "c"), "result") == b'{"ok":1}'
    assert r.zscore(keys.retry(Q), "r") == retry_at
    stored = decode_task(r.hget(keys.task_key(Q, "r"), "msg"))
    assert (stored.retried, stored.error_msg) == (1, "ValueError: bad")
    assert state(r, Q, "a") == b"archived" and r.zscore(keys.archived(Q), "a") is not None
    assert state(r, Q, "m") == b"retry" and not r.exists(keys.result_mirror("m"))
    assert state(r, OTHER, "o") == b"completed"
    assert r.llen(keys.active(Q)) == 0 and r.zcard(keys.lease(Q)) == 0
    # Counters: 4 attempts of Q in this call (the refused one is not counted) + the retry
    # made before it; 2 failures + that retry.
    now = int(time.time())
    assert r.get(keys.processed_total(Q)) == b"5" and r.get(keys.failed_total(Q)) == b"3"
    assert r.get(keys.processed_daily(Q, now)) == b"5"
    assert r.get(keys.failed_daily(Q, now)) == b"3"
    assert r.ttl(keys.processed_daily(Q, now)) > 0
    assert r.get(keys.processed_total(OTHER)) == b"1"
    minute = f"{now // 60 % 60:02d}"
    assert r.hget(keys.throughput(Q, now), f"p{minute}") == b"5"
    assert r.hget(keys.throughput(Q, now), f"f{minute}") == b"3"


def test_tasks_taken_ahead_are_leased_and_bounded(redis_client, broker):
    r = redis_client
    (first,) = active(broker, Q, "first", retention=600)
    broker.enqueue_many([EnqueueRequest(task(f"n{i}", Q), id_supplied=True) for i in range(5)]
                        + [EnqueueRequest(task("x", OTHER), id_supplied=True)])
    errors, taken = broker.finish_many([Finish(first, "complete", result=b"1")],
                                       {Q: 3, OTHER: 2})
    assert errors == [None]
    assert [t.msg.id for t in taken if t.queue == Q] == ["n0", "n1", "n2"]
    assert [t.msg.id for t in taken if t.queue == OTHER] == ["x"]  # only what there was
    for t in taken:
        assert r.zscore(keys.lease(t.queue), t.msg.id) == t.lease_expires_at
        assert state(r, t.queue, t.msg.id) == b"active"
    assert r.llen(keys.pending(Q)) == 2


def test_a_paused_queue_gives_no_task_but_its_outcomes_are_written(redis_client, broker):
    r = redis_client
    (first,) = active(broker, Q, "first", retention=600)
    broker.enqueue(task("next", Q), id_supplied=True)
    r.set(keys.paused(Q), int(time.time()))
    errors, taken = broker.finish_many([Finish(first, "complete", result=b"1")], {Q: 4})
    assert (errors, taken) == ([None], [])
    assert state(r, Q, "first") == b"completed" and state(r, Q, "next") == b"pending"


def test_a_repeated_batch_answers_not_found_and_keeps_every_outcome(redis_client, broker):
    """What the worker does after a lost answer: send the same batch again."""
    r = redis_client
    msgs = active(broker, Q, "a", "b", retention=600)
    finishes = [Finish(m, "complete", result=b'"r"') for m in msgs]
    assert broker.finish_many(finishes)[0] == [None, None]
    errors, _ = broker.finish_many(finishes)
    assert all(isinstance(e, TaskNotFoundError) for e in errors)
    assert [r.get(keys.result_mirror(m.id)) for m in msgs] == [b'"r"', b'"r"']
    assert r.get(keys.processed_total(Q)) == b"2"


def test_the_total_counters_wrap_inside_a_batch_as_one_by_one(redis_client, broker):
    r = redis_client
    msgs = active(broker, Q, "a", "b", "c", retention=600)
    r.set(keys.processed_total(Q), int(INT64_MAX) - 1)
    r.set(keys.failed_total(Q), 7)
    errors, _ = broker.finish_many([Finish(msgs[0], "complete", result=b"1"),
                                    Finish(msgs[1], "archive", error="x"),
                                    Finish(msgs[2], "complete", result=b"1")])
    assert errors == [None, None, None]
    # As three single finishes: max-1 → max (success); the failure finds the maximum and
    # wraps both totals to 1; the last success makes processed 2.
    assert (r.get(keys.processed_total(Q)), r.get(keys.failed_total(Q))) == (b"2", b"1")
