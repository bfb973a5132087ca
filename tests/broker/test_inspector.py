"""Every Inspector read and action against a real Redis, with the edge cases of 6.6 and 8.3."""

from __future__ import annotations

import json
import time

import pytest
import redis

from runqy.broker import (
    BrokerError,
    EnqueueRequest,
    QueueNotFoundError,
    TaskMessage,
    TaskNotFoundError,
    TaskStateError,
    WorkerNotFoundError,
    keys,
)
from tests.broker import golden
from tests.broker.factories import Q, task

# Runs on every Redis binary and on a real Redis Cluster (tests/broker/conftest.py).
pytestmark = pytest.mark.topology_independent


def make_active(broker, task_id: str, **fields) -> TaskMessage:
    broker.enqueue(task(task_id, **fields))
    got = broker.dequeue([Q])
    assert got.msg.id == task_id
    return got.msg


def populate(broker, redis_client) -> None:
    """One queue with tasks in every state."""
    make_active(broker, "act")
    broker.enqueue(task("sch"), process_at=int(time.time()) + 600)
    broker.retry(make_active(broker, "ret"), "boom", int(time.time()) + 60)
    broker.archive(make_active(broker, "arc"), "fatal")
    broker.mark_complete(make_active(broker, "cmp", retention=600))
    broker.enqueue(task("p1"))
    broker.enqueue(task("p2"))
    broker.enqueue(task("g1"), group="ga")
    broker.enqueue(task("g2"), group="gb")


def reset_stats(redis_client) -> None:
    redis_client.config_resetstat()


def calls(redis_client) -> dict[str, int]:
    stats = redis_client.info("commandstats")
    return {k: int(v["calls"]) for k, v in stats.items() if k != "cmdstat_config"}


# -- queues ------------------------------------------------------------------------------------


def test_queue_names_are_sorted(broker, inspector):
    broker.enqueue(task(queue="b.default"))
    broker.enqueue(task(queue="a.default"))
    assert inspector.queue_names() == ["a.default", "b.default"]


def test_unknown_queue_is_not_found_for_every_read_and_action(inspector, admin):
    for call in (
        lambda: inspector.queue_stats("nope.default"),
        lambda: inspector.history("nope.default", 7),
        lambda: inspector.list_tasks("nope.default", "pending"),
        lambda: inspector.get_task("nope.default", "x"),
        lambda: admin.delete_task("nope.default", "x"),
        lambda: admin.run_all("nope.default", "retry"),
        lambda: admin.batch("nope.default", "delete", ["x"]),
    ):
        with pytest.raises(QueueNotFoundError):
            call()


def test_stats_of_an_empty_queue(broker, inspector):
    broker.enqueue(task("t"))
    broker.done(broker.dequeue([Q]).msg)
    stats = inspector.queue_stats(Q)
    assert (stats.size, stats.pending, stats.latency_seconds, stats.paused) == (0, 0, 0.0, False)
    assert (stats.processed, stats.processed_total, stats.failed) == (1, 1, 0)
    assert stats.memory_bytes == 0


def test_stats_count_every_state(redis_client, broker, inspector, admin):
    populate(broker, redis_client)
    admin.pause_queue(Q)
    s = inspector.queue_stats(Q)
    assert (s.pending, s.active, s.scheduled, s.retry, s.archived, s.completed) == (
        2,
        1,
        1,
        1,
        1,
        1,
    )
    assert (s.aggregating, s.groups, s.size) == (2, 2, 9)
    assert (s.processed, s.failed, s.processed_total, s.failed_total) == (3, 2, 3, 2)
    assert s.paused
    assert s.memory_bytes > 0


@pytest.mark.parametrize("unit", [1_000_000_000, 1], ids=["nanoseconds", "seconds"])
def test_latency_is_the_age_of_the_oldest_pending_task(redis_client, broker, inspector, unit):
    broker.enqueue(task("oldest"))
    broker.enqueue(task("newer"))
    since = int((time.time() - 5) * unit)
    redis_client.hset(keys.task_key(Q, "oldest"), "pending_since", since)
    assert 4.5 <= inspector.queue_stats(Q).latency_seconds <= 7


def test_ids_listed_without_their_hash_do_not_break_stats_or_listings(
    redis_client, broker, inspector
):
    broker.enqueue(task("real"))
    redis_client.rpush(keys.pending(Q), "ghost")  # oldest pending, no hash
    redis_client.zadd(keys.scheduled(Q), {"ghost2": 1})
    redis_client.rpush(keys.active(Q), "ghost3")
    s = inspector.queue_stats(Q)
    assert (s.pending, s.scheduled, s.active, s.latency_seconds) == (2, 1, 1, 0.0)
    assert s.memory_bytes is not None
    assert [t.id for t in inspector.list_tasks(Q, "pending")] == ["real"]
    assert inspector.list_tasks(Q, "scheduled") == []


@pytest.mark.single_node
def test_memory_unknown_when_memory_usage_is_refused(redis_client, redis_server, broker):
    from runqy.broker import Inspector

    broker.enqueue(task("t"))
    redis_client.acl_setuser(
        "nomem",
        enabled=True,
        nopass=True,
        keys=["*"],
        channels=["*"],
        commands=["+@all", "-memory"],
    )
    limited = redis.Redis(port=redis_server.port, username="nomem", password="any")
    try:
        stats = Inspector(limited).queue_stats(Q)
    finally:
        limited.close()
        redis_client.acl_deluser("nomem")
    assert stats.memory_bytes is None
    assert stats.pending == 1


def test_all_queue_stats_reports_a_broken_queue_without_failing(redis_client, broker, inspector):
    broker.enqueue(task(queue="good.default"))
    redis_client.sadd(keys.QUEUES, "bad.default")
    redis_client.set(keys.pending("bad.default"), "not a list")
    results = {getattr(r, "queue", None): r for r in inspector.all_queue_stats()}
    assert results["good.default"].pending == 1
    assert [r for r in results.values() if isinstance(r, BrokerError)]


def test_history_is_newest_first_with_missing_days_as_zero(redis_client, broker, inspector):
    broker.enqueue(task())
    now = int(time.time())
    redis_client.set(keys.processed_daily(Q, now), 7)
    redis_client.set(keys.failed_daily(Q, now), 2)
    redis_client.set(keys.processed_daily(Q, now - 2 * 86400), 4)
    days = inspector.history(Q, 3)
    assert [d.date for d in days] == [keys.utc_date(now - i * 86400) for i in range(3)]
    assert [(d.processed, d.failed) for d in days] == [(7, 2), (0, 0), (4, 0)]
    assert days[0].succeeded == 5


# -- listing -----------------------------------------------------------------------------------


def test_pending_pages_start_with_the_oldest(broker, inspector):
    for i in range(5):
        broker.enqueue(task(f"t{i}"))
    assert [t.id for t in inspector.list_tasks(Q, "pending", 1, 2)] == ["t0", "t1"]
    assert [t.id for t in inspector.list_tasks(Q, "pending", 3, 2)] == ["t4"]
    assert inspector.list_tasks(Q, "pending", 4, 2) == []
    first = inspector.list_tasks(Q, "pending")[0]
    assert first.state == "pending" and abs(first.next_process_at - time.time()) <= 1


def test_zset_pages_are_in_ascending_score_order(redis_client, broker, inspector):
    now = int(time.time())
    for i, delay in enumerate([300, 100, 200]):
        broker.enqueue(task(f"s{i}"), process_at=now + delay)
    listed = inspector.list_tasks(Q, "scheduled", 1, 2)
    assert [(t.id, t.next_process_at) for t in listed] == [("s1", now + 100), ("s2", now + 200)]


def test_listing_every_state(redis_client, broker, inspector):
    populate(broker, redis_client)
    redis_client.hset(keys.task_key(Q, "junk"), mapping={"msg": b"\xff", "state": "retry"})
    redis_client.zadd(keys.retry(Q), {"junk": 1})
    by_state = {
        state: [t.id for t in inspector.list_tasks(Q, state)]
        for state in ("pending", "active", "scheduled", "retry", "archived", "completed")
    }
    assert by_state == {
        "pending": ["p1", "p2"],
        "active": ["act"],
        "scheduled": ["sch"],
        "retry": ["ret"],  # the undecodable one is skipped
        "archived": ["arc"],
        "completed": ["cmp"],
    }
    assert [t.id for t in inspector.list_tasks(Q, "aggregating", group="ga")] == ["g1"]
    retried = inspector.list_tasks(Q, "retry")[0]
    assert (retried.retried, retried.error_msg, retried.max_retry) == (1, "boom", 3)
    with pytest.raises(ValueError):
        inspector.list_tasks(Q, "aggregating")
    with pytest.raises(ValueError):
        inspector.list_tasks(Q, "sleeping")


def test_active_task_past_its_lease_is_orphaned(redis_client, broker, inspector):
    make_active(broker, "a")
    assert not inspector.list_tasks(Q, "active")[0].is_orphaned
    redis_client.zadd(keys.lease(Q), {"a": int(time.time()) - 5})
    assert inspector.list_tasks(Q, "active")[0].is_orphaned
    assert inspector.get_task(Q, "a").is_orphaned


@pytest.mark.single_node
def test_last_page_of_100k_pending_costs_the_same_as_the_first(redis_client, broker, inspector):
    requests = [EnqueueRequest(task(f"t{i:06d}")) for i in range(100_000)]
    for start in range(0, len(requests), 10_000):
        broker.enqueue_many(requests[start : start + 10_000])
    costs, pages = {}, {}
    for page in (1, 2500, 5000):
        inspector.list_tasks(Q, "pending", page, 20)  # script load happens outside the count
        reset_stats(redis_client)
        pages[page] = [t.id for t in inspector.list_tasks(Q, "pending", page, 20)]
        costs[page] = calls(redis_client)
    assert costs[1] == costs[2500] == costs[5000]
    assert costs[1]["cmdstat_lrange"] == 1 and costs[1]["cmdstat_hmget"] == 20
    assert pages[1][0] == "t000000" and pages[5000][-1] == "t099999"
    assert pages[2500] == [f"t{i:06d}" for i in range(49_980, 50_000)]


# -- single task -------------------------------------------------------------------------------


def test_get_task_reports_state_result_and_next_time(redis_client, broker, inspector):
    at = int(time.time()) + 600
    broker.enqueue(task("s"), process_at=at)
    info = inspector.get_task(Q, "s")
    assert (info.state, info.next_process_at, info.result, info.timeout) == (
        "scheduled",
        at,
        None,
        1800,
    )
    msg = make_active(broker, "c", retention=60)
    broker.set_result(Q, "c", b'{"ok":1}')
    broker.mark_complete(msg)
    done = inspector.get_task(Q, "c")
    assert (done.state, done.result, done.next_process_at) == ("completed", b'{"ok":1}', None)
    assert done.completed_at > 0
    with pytest.raises(TaskNotFoundError):
        inspector.get_task(Q, "missing")


def test_hash_fields_of_the_original_runqy_worker_are_honoured(redis_client, broker, inspector):
    broker.enqueue(task("o"))
    redis_client.hset(keys.task_key(Q, "o"), mapping={"retried": "4", "error_msg": "from go"})
    info = inspector.get_task(Q, "o")
    assert (info.retried, info.error_msg) == (4, "from go")


def test_find_task_probes_the_queues_and_ignores_a_legacy_lookup(
    redis_client, broker, inspector
):
    broker.enqueue(task("x", queue="b.default"))
    broker.enqueue(task("x", queue="c.default"), id_supplied=True)
    assert inspector.find_task("x").queue == "b.default"  # the first queue by name
    # a lookup written by the Go runqy server or an older runqy is not trusted
    redis_client.hset(keys.legacy_lookup("stale"), "queue", "b.default")
    with pytest.raises(TaskNotFoundError):
        inspector.find_task("stale")


def test_find_task_answers_as_get_task_in_every_state(redis_client, broker, inspector):
    populate(broker, redis_client)
    redis_client.zadd(keys.lease(Q), {"act": int(time.time()) - 5})  # orphaned
    for task_id in ("act", "sch", "ret", "arc", "cmp", "p1", "g1"):
        assert inspector.find_task(task_id) == inspector.get_task(Q, task_id), task_id
    assert inspector.find_task("act").is_orphaned
    assert inspector.find_task("sch").next_process_at > time.time() + 500


def test_find_task_sees_a_queue_created_after_its_last_probe(redis_client, broker, inspector):
    broker.enqueue(task("x", queue="m.default"))
    assert inspector.find_task("x").queue == "m.default"
    broker.enqueue(task("new", queue="z.default"))  # a queue the previous probe did not know
    assert inspector.find_task("new").queue == "z.default"
    broker.enqueue(task("x", queue="a.default"), id_supplied=True)  # now first by name
    assert inspector.find_task("x").queue == "a.default"


@pytest.mark.single_node
def test_find_task_reads_the_list_and_every_queue_once_while_the_list_stays(
    redis_client, broker, inspector
):
    for q in ("a.default", "b.default", "c.default"):
        broker.enqueue(task("p", queue=q), id_supplied=True)
    inspector.find_task("p")
    reset_stats(redis_client)
    assert inspector.find_task("p").queue == "a.default"
    cost = calls(redis_client)  # pending: no score to read
    assert {k: v for k, v in cost.items() if "config" not in k} == {
        "cmdstat_smembers": 1, "cmdstat_hmget": 3}


def test_find_task_of_a_removed_queue_is_not_found(redis_client, broker, inspector):
    broker.enqueue(task("gone", queue="r.default"))
    assert inspector.find_task("gone").queue == "r.default"
    redis_client.srem(keys.QUEUES, "r.default")  # the hash left behind is not probed
    with pytest.raises(TaskNotFoundError):
        inspector.find_task("gone")


def test_delete_task_removes_lock_lookup_and_mirror(redis_client, broker, inspector, admin):
    broker.enqueue(task("u"), unique_ttl=300)
    redis_client.set(keys.result_mirror("u"), b"r")
    redis_client.hset(keys.legacy_lookup("u"), "queue", Q)  # as the Go runqy server writes
    admin.delete_task(Q, "u")
    assert not redis_client.exists(
        keys.task_key(Q, "u"),
        keys.pending(Q),
        keys.unique(Q, Q, b'{"x":1}'),
        keys.legacy_lookup("u"),
        keys.result_mirror("u"),
    )
    with pytest.raises(TaskNotFoundError):
        admin.delete_task(Q, "u")


def test_delete_task_drops_an_emptied_group(redis_client, broker, inspector, admin):
    broker.enqueue(task("g"), group="ga")
    admin.delete_task(Q, "g")
    assert not redis_client.exists(keys.group(Q, "ga"), keys.groups(Q))


@pytest.mark.parametrize(
    ("action", "state"),
    [
        ("delete_task", "active"),
        ("run_task", "active"),
        ("run_task", "pending"),
        ("archive_task", "active"),
        ("archive_task", "archived"),
        ("cancel_task", "pending"),
    ],
)
def test_actions_refuse_the_wrong_state(redis_client, broker, admin, action, state):
    if state == "active":
        make_active(broker, "t")
    elif state == "archived":
        broker.archive(make_active(broker, "t"), "x")
    else:
        broker.enqueue(task("t"))
    with pytest.raises(TaskStateError) as err:
        getattr(admin, action)(Q, "t")
    assert err.value.state == state
    assert redis_client.hget(keys.task_key(Q, "t"), "state") == state.encode()


def test_run_and_archive_of_a_completed_task(redis_client, broker, inspector, admin):
    broker.mark_complete(make_active(broker, "c", retention=60))
    admin.archive_task(Q, "c")
    assert redis_client.zscore(keys.archived(Q), "c") is not None
    assert not redis_client.exists(keys.completed(Q))
    admin.run_task(Q, "c")
    assert inspector.get_task(Q, "c").state == "pending"
    assert redis_client.lrange(keys.pending(Q), 0, -1) == [b"c"]


def test_run_task_from_a_group(redis_client, broker, inspector, admin):
    broker.enqueue(task("g"), group="ga")
    admin.run_task(Q, "g")
    assert redis_client.hget(keys.task_key(Q, "g"), "state") == b"pending"
    assert not redis_client.exists(keys.groups(Q))


def test_inspector_archive_trims_the_zset_but_keeps_hashes(redis_client, broker, inspector, admin):
    redis_client.zadd(keys.archived(Q), {"ancient": int(time.time()) - 91 * 86400})
    redis_client.hset(keys.task_key(Q, "ancient"), mapping={"msg": b"", "state": "archived"})
    broker.enqueue(task("p"))
    admin.archive_task(Q, "p")
    assert redis_client.zrange(keys.archived(Q), 0, -1) == [b"p"]
    assert redis_client.exists(keys.task_key(Q, "ancient"))


def test_cancel_task_publishes_for_an_active_task(redis_client, broker, inspector, admin):
    make_active(broker, "a")
    pubsub = redis_client.pubsub()
    pubsub.subscribe(keys.CANCEL_CHANNEL)
    pubsub.get_message(timeout=5)
    admin.cancel_task(Q, "a")
    assert pubsub.get_message(timeout=5)["data"] == b"a"
    pubsub.close()
    with pytest.raises(TaskNotFoundError):
        admin.cancel_task(Q, "missing")


# -- bulk --------------------------------------------------------------------------------------


def test_delete_all_removes_hashes_locks_and_lookups(redis_client, broker, inspector, admin):
    at = int(time.time()) + 600
    broker.enqueue(task("s1"), process_at=at, unique_ttl=60)
    broker.enqueue(task("s2", payload=b"2"), process_at=at)
    broker.enqueue(task("p"))
    assert admin.delete_all(Q, "scheduled") == 2
    assert not redis_client.exists(keys.scheduled(Q), keys.task_key(Q, "s1"))
    assert not redis_client.exists(keys.unique(Q, Q, b'{"x":1}'))
    assert admin.delete_all(Q, "pending") == 1
    assert admin.delete_all(Q, "pending") == 0
    with pytest.raises(ValueError):
        admin.delete_all(Q, "active")


def test_bulk_actions_on_groups(redis_client, broker, inspector, admin):
    for i, g in enumerate(["ga", "ga", "gb"]):
        broker.enqueue(task(f"g{i}"), group=g)
    assert admin.run_all(Q, "aggregating", group="ga") == 2
    assert redis_client.smembers(keys.groups(Q)) == {b"gb"}
    assert admin.archive_all(Q, "aggregating") == 1
    assert not redis_client.exists(keys.groups(Q))
    assert admin.delete_all(Q, "archived") == 1


def test_run_all_and_archive_all(redis_client, broker, inspector, admin):
    for i in range(3):
        broker.retry(make_active(broker, f"r{i}"), "boom", int(time.time()) + 60)
    redis_client.zadd(keys.retry(Q), {"ghost": 1})
    assert admin.run_all(Q, "retry") == 3
    assert redis_client.llen(keys.pending(Q)) == 3 and not redis_client.exists(keys.retry(Q))
    assert admin.archive_all(Q, "pending") == 3
    assert redis_client.zcard(keys.archived(Q)) == 3
    assert inspector.queue_stats(Q).archived == 3
    with pytest.raises(ValueError):
        admin.run_all(Q, "pending")


def test_cancel_all_publishes_every_active_task(redis_client, broker, inspector, admin):
    for i in range(3):
        make_active(broker, f"a{i}")
    pubsub = redis_client.pubsub()
    pubsub.subscribe(keys.CANCEL_CHANNEL)
    pubsub.get_message(timeout=5)
    assert admin.cancel_all(Q) == 3
    got = {pubsub.get_message(timeout=5)["data"] for _ in range(3)}
    assert got == {b"a0", b"a1", b"a2"}
    pubsub.close()


def test_batch_reports_each_id(broker, inspector, admin):
    make_active(broker, "a")
    broker.enqueue(task("p2"))
    result = admin.batch(Q, "delete", ["p2", "a", "missing"])
    assert result.succeeded == ["p2"]
    assert set(result.failed) == {"a", "missing"}
    assert "active" in result.failed["a"]
    with pytest.raises(ValueError):
        admin.batch(Q, "explode", ["p"])


# -- fleet -------------------------------------------------------------------------------------


def load_golden(redis_client, scenario: str, label: str) -> float:
    """Write a golden snapshot into Redis, shifting expiry scores to the present."""
    snap = golden.snapshot(golden.scenario(scenario), label)
    shift = time.time() - snap["captured_at_unix_ns"] / 1e9
    for key, entry in golden.golden_entries(snap).items():
        if entry.type == "string":
            redis_client.set(key, entry.value)
        elif entry.type == "hash":
            redis_client.hset(key, mapping=entry.value)
        elif entry.type == "list":
            redis_client.rpush(key, *entry.value)
        elif entry.type == "set":
            redis_client.sadd(key, *entry.value)
        else:
            redis_client.zadd(key, {m: int(s + shift) for m, s in entry.value})
        if entry.ttl_ms != -1:
            redis_client.pexpire(key, entry.ttl_ms)
    return shift


def test_reads_on_a_go_dump(redis_client, inspector):
    load_golden(redis_client, "process_success", "handler_running")
    [server] = inspector.servers()
    assert (server.host, server.pid, server.concurrency, server.queues) == ("vm", 22955, 1, {Q: 1})
    assert [w.task_id for w in server.workers] == ["t-success"]
    assert server.workers[0].deadline.seconds - server.workers[0].start_time.seconds == 1800
    info = inspector.get_task(Q, "t-success")
    assert (info.state, info.result, info.max_retry, info.retention) == (
        "active",
        b'{"ok":true}',
        25,
        3600,
    )
    assert inspector.find_task("t-success").queue == Q  # no lookup: found by probing
    assert inspector.queue_stats(Q).active == 1
    assert inspector.runqy_workers() == []  # asynq-native entries are not runqy workers


def test_server_without_workers_hash_and_expired_servers(redis_client, inspector):
    load_golden(redis_client, "process_success", "after_completion")
    [server] = inspector.servers()
    assert server.workers == [] and server.active_worker_count == 0
    redis_client.zadd(keys.SERVERS, {"asynq:servers:{old:1:x}": int(time.time()) - 5})
    assert len(inspector.servers()) == 1
    assert redis_client.zscore(keys.SERVERS, "asynq:servers:{old:1:x}") is None


def _beat(broker, worker_id: str, last_beat: int, **extra) -> None:
    fields = {
        "worker_id": worker_id,
        "last_beat": str(last_beat),
        "started_at": str(last_beat - 100),
        "healthy": "true",
        "status": "running",
        "queue": "inference.high,inference.default",
        "active_task": "t1,t2",
        "concurrency": "2",
        "metrics": json.dumps({"cpu_percent": 1.5}),
        "recovery": json.dumps({"state": "idle", "consecutive_fails": 0, "total_restarts": 0}),
    } | extra
    broker.write_worker_heartbeat(worker_id, fields)


def test_runqy_workers_with_stale_rules(redis_client, broker, inspector):
    now = int(time.time())
    _beat(broker, "fresh", now)
    _beat(broker, "hung", now - 60, active_task="")
    redis_client.zadd(keys.RUNQY_WORKERS, {"vanished": now - 120, "ancient": now - 7200})
    workers = {w.worker_id: w for w in inspector.runqy_workers()}
    assert sorted(workers) == ["fresh", "hung", "vanished"]
    fresh = workers["fresh"]
    assert not fresh.stale and fresh.healthy and fresh.processing
    assert fresh.queues == ["inference.high", "inference.default"]
    assert (fresh.concurrency, fresh.started_at, fresh.metrics["cpu_percent"]) == (
        2,
        now - 100,
        1.5,
    )
    assert workers["hung"].stale and not workers["hung"].processing
    assert workers["vanished"].stale and workers["vanished"].last_beat == now - 120
    assert redis_client.zscore(keys.RUNQY_WORKERS, "ancient") is None


def test_original_go_runqy_workers_are_listed_too(redis_client, inspector):
    now = int(time.time())
    redis_client.zadd(keys.WORKERS, {"gohost:77": now, "asynq:workers:{h:1:s}": now + 10})
    redis_client.hset(
        "asynq:workers:gohost:77",
        mapping={"healthy": "1", "last_beat": str(now), "queues": "map[a.low:1 a.high:10]"},
    )
    [worker] = inspector.runqy_workers()
    assert (worker.worker_id, worker.original, worker.healthy) == ("gohost:77", True, True)
    assert worker.queues == ["a.high", "a.low"]
    assert inspector.runqy_worker("gohost:77").original
    assert redis_client.exists("asynq:workers:gohost:77")


def test_one_worker_and_its_logs(broker, inspector):
    now = int(time.time())
    lines = [{"ts": i, "src": "stderr", "text": f"l{i}", "seq": i} for i in range(1, 11)]
    _beat(broker, "w", now)
    broker.write_worker_heartbeat("w", {"last_beat": str(now)}, lines)
    assert inspector.runqy_worker("w").status == "running"
    assert [entry["seq"] for entry in inspector.worker_logs("w", limit=3)] == [8, 9, 10]
    with pytest.raises(WorkerNotFoundError):
        inspector.runqy_worker("nobody")
    assert inspector.worker_logs("nobody") == []
