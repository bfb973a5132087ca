"""The broker on a real Redis Cluster (3 masters, 1 replica each): what only a cluster shows.

Queues spread over every master in one batch, a resharding (ASK, then MOVED) in the middle of
a queue's life, and ``WAIT`` counting the replicas of each queue's own master.
"""

from __future__ import annotations

import pytest

from runqy.broker import Broker, BrokerError, EnqueueRequest, EnqueueResult, Inspector, keys
from runqy.broker.errors import TaskOutcomeUnknownError
from tests.broker.factories import task


@pytest.fixture()
def client(cluster):
    client = cluster.client()
    yield client
    client.close()


def test_one_batch_over_queues_on_every_master_gives_one_outcome_per_task(cluster, client):
    queues = cluster.queues_on_every_master("spread", 6)
    assert len({cluster.master_of_key(keys.pending(q)).port for q in queues}) == 3
    requests = [EnqueueRequest(task(f"{q}-{i}", q)) for i in range(40) for q in queues]
    outcomes = Broker(client).enqueue_many(requests)
    assert [o.task_id for o in outcomes] == [r.msg.id for r in requests]
    assert all(isinstance(o, EnqueueResult) for o in outcomes)
    for q in queues:  # each queue's tasks sit on its own master, nowhere else
        with cluster.master_of_key(keys.pending(q)).client() as node:
            assert node.llen(keys.pending(q)) == 40
    inspector = Inspector(client)
    assert inspector.queue_names() == queues
    stats = inspector.all_queue_stats()
    assert [(s.queue, s.pending) for s in stats] == [(q, 40) for q in queues]
    assert all(s.memory_bytes > 0 for s in stats)  # sampled on each queue's own node
    assert inspector.find_task(f"{queues[-1]}-3").queue == queues[-1]


def _move_slot_keys(cluster, slot, source, target) -> None:
    source_id, target_id = cluster.node_id(source), cluster.node_id(target)
    with target.client() as node:
        node.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    with source.client() as node:
        node.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        moving = node.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10_000)
        node.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *moving)


def _assign_slot(cluster, slot, target) -> None:
    target_id = cluster.node_id(target)
    for master in cluster.masters():
        with master.client() as node:
            node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)


def test_a_resharding_is_followed_through_ask_and_moved(cluster, client):
    q, other = cluster.queues_on_every_master("moving", 3)[:2]
    broker = Broker(client)
    broker.enqueue_many([EnqueueRequest(task(f"before-{i}", q)) for i in range(5)])

    # ASK: the slot of a result mirror is being migrated; the new key goes to the target.
    mirror_slot = client.keyslot(keys.result_mirror("asked"))
    source = cluster.master_of_slot(mirror_slot)
    target = next(m for m in cluster.masters() if m.port != source.port)
    _move_slot_keys(cluster, mirror_slot, source, target)
    broker.enqueue(task("asked", other, retention=600))
    broker.complete(broker.dequeue([other]).msg, b'"r"')
    with target.client() as node:
        pipe = node.pipeline(transaction=False)
        pipe.execute_command("ASKING")
        pipe.get(keys.result_mirror("asked"))
        assert pipe.execute()[1] == b'"r"'
    _assign_slot(cluster, mirror_slot, target)

    # The queue's own slot: while its keys are split, scripts cannot run (TRYAGAIN) and each
    # task says so; once the slot is assigned, the old master answers MOVED and it is followed.
    slot = client.keyslot(keys.pending(q))
    source = cluster.master_of_slot(slot)
    target = next(m for m in cluster.masters() if m.port != source.port)
    _move_slot_keys(cluster, slot, source, target)
    during = broker.enqueue_many([EnqueueRequest(task(f"during-{i}", q)) for i in range(2)])
    assert all(type(o) is BrokerError for o in during)
    _assign_slot(cluster, slot, target)
    after = broker.enqueue_many([EnqueueRequest(task(f"after-{i}", q)) for i in range(5)])
    assert all(isinstance(o, EnqueueResult) for o in after)

    taken = []
    while (dequeued := broker.dequeue([q])) is not None:
        broker.done(dequeued.msg)
        taken.append(dequeued.msg.id)
    assert taken == [f"before-{i}" for i in range(5)] + [f"after-{i}" for i in range(5)]
    with target.client() as node:
        assert node.get(keys.processed_total(q)) == b"10"
    assert not client.exists(*(keys.task_key(q, f"during-{i}") for i in range(2)))


def test_wait_counts_the_replicas_of_each_queues_master(cluster, client):
    queues = cluster.queues_on_every_master("durable", 3)
    requests = [EnqueueRequest(task(f"{q}-1", q)) for q in queues]
    confirmed = Broker(client, wait_replicas=1, wait_timeout_ms=2000).enqueue_many(requests)
    assert all(isinstance(o, EnqueueResult) for o in confirmed)
    for q in queues:
        replica = _replica_of(cluster, cluster.master_of_key(keys.pending(q)))
        with replica.client() as node:  # the replica had it when the enqueue answered
            assert node.execute_command("READONLY") and node.llen(keys.pending(q)) == 1

    # Each master has one replica: asking for two cannot be confirmed, so the outcome is
    # unknown (the task exists on the master, but a failover could lose it).
    more = [EnqueueRequest(task(f"{q}-2", q)) for q in queues]
    unconfirmed = Broker(client, wait_replicas=2, wait_timeout_ms=100).enqueue_many(more)
    assert all(isinstance(o, TaskOutcomeUnknownError) for o in unconfirmed)


def _replica_of(cluster, master):
    master_id = cluster.node_id(master)
    for replica in cluster.replicas():
        with replica.client() as node:
            line = next(x for x in node.execute_command("CLUSTER", "NODES").decode().splitlines()
                        if "myself" in x)
            if line.split()[3] == master_id:
                return replica
    raise LookupError("no replica for this master")
