"""Redis high availability under a running drain: Sentinel failovers and a Cluster master lost.

The server and two `runqy worker` processes keep running (no restart) while Redis fails over.
Enqueues are acknowledged only after `WAIT 1` (RUNQY_REDIS_WAIT_REPLICAS=1), so no task the
server acknowledged may be lost; tasks may run twice (at-least-once), never zero times.
"""

from __future__ import annotations

import time

import pytest
from redis.crc import key_slot

from runqy.broker import keys
from runqy.redis_connection import connect
from tests.support.polling import poll_until
from tests.support.redis_cluster import RedisClusterNodes
from tests.support.redis_sentinel import MASTER_NAME, RedisSentinelSetup
from tests.worker.failover import Drain
from tests.worker.live import start_server


@pytest.fixture()
def sentinel_setup():
    setup = RedisSentinelSetup().start()
    yield setup
    setup.stop()


def test_sentinel_failover_and_master_kill_during_a_drain(sentinel_setup, tmp_path,
                                                          deployment_dir):
    setup = sentinel_setup
    server = start_server(tmp_path / "instance", setup.url, redis_wait_replicas=1,
                          redis_wait_timeout_ms=2000)
    redis = connect(setup.url, socket_timeout=5, socket_connect_timeout=2)
    drain = Drain(redis, tmp_path / "workers", deployment_dir, [(server, "ha.default")])
    try:
        drain.start(initial=300)
        drain.wait_completed(100, timeout=60)

        # 1. A coordinated failover: the master is demoted to a replica (READONLY from now on).
        first = setup.master_port()
        with setup.sentinels[0].client() as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        second = setup.wait_master_change(first)
        drain.wait_completed(drain.completed() + 100, timeout=60)

        # 2. kill -9 of the new master: the sentinels promote the other node again; the killed
        # node comes back as a replica (so WAIT 1 can be met again).
        killed = setup.current_master()
        killed.kill()
        setup.wait_master_change(second)
        killed.start()
        poll_until(lambda: _replica_in_sync(setup), timeout=30, what="replica back in sync")

        settled_logs = [len(w.stderr()) for w in drain.workers]
        drain.wait_acked_after_settle(batches=5)
        assert drain.active_without_lease() == set()
        assert drain.finish() == {"ha.default": []}  # no acknowledged task lost
        assert drain.refused_after_settle() == []
        for worker, start in zip(drain.workers, settled_logs, strict=True):
            assert worker.popen.poll() is None  # the workers lived through both failovers
            assert "READONLY" not in worker.stderr()[start:]
        assert drain.active_without_lease() == set() and drain.active() == 0
    finally:
        drain.stop()
        server.stop()


def _replica_in_sync(setup: RedisSentinelSetup) -> bool:
    master = setup.current_master()
    replica = setup.replica if master is setup.master else setup.master
    with replica.client() as client:
        return client.info("replication").get("master_link_status") == "up"


def test_cluster_master_killed_during_a_drain(cluster, tmp_path, deployment_dir,
                                             record_property):
    """Two servers on one cluster, one with RUNQY_REDIS_WAIT_REPLICAS=1 and one without, each
    feeding a queue on the master that gets killed. With WAIT nothing acknowledged is lost;
    without it the loss is measured and reported (a master killed before replicating its last
    writes takes them along)."""
    waited, unwaited = _two_queues_on_one_master(cluster)
    durable = start_server(tmp_path / "durable", cluster.url, redis_wait_replicas=1,
                           redis_wait_timeout_ms=2000)
    plain = start_server(tmp_path / "plain", cluster.url)
    redis = cluster.client()
    drain = Drain(redis, tmp_path / "workers", deployment_dir,
                  [(durable, waited), (plain, unwaited)])
    try:
        drain.start(initial=200)
        drain.wait_completed(100, timeout=60)
        killed = cluster.master_of_key(keys.pending(waited))
        killed.kill()
        poll_until(lambda: _served_by_another(cluster, waited, killed.port), timeout=30,
                   what="the replica took over the queues' slots")
        killed.start()  # it rejoins as the new master's replica (its nodes.conf is kept)
        cluster.wait_healthy(time.monotonic() + 30)  # back as a replica, in sync
        drain.wait_acked_after_settle(batches=5)
        lost = drain.finish()
        acked = {p.queue: len(p.acked) for p in drain.producers}
        record_property("lost_without_wait", f"{len(lost[unwaited])} of {acked[unwaited]}")
        print(f"cluster master killed: with WAIT 1, {len(lost[waited])} of {acked[waited]} "
              f"acknowledged tasks lost; without WAIT, {len(lost[unwaited])} of "
              f"{acked[unwaited]}")
        assert lost[waited] == []
        assert drain.refused_after_settle() == []
        assert all(w.popen.poll() is None for w in drain.workers)
        assert drain.active_without_lease() == set() and drain.active() == 0
    finally:
        drain.stop()
        durable.stop()
        plain.stop()


def _two_queues_on_one_master(cluster: RedisClusterNodes) -> tuple[str, str]:
    table = cluster.slot_table()

    def owner(queue: str) -> int:
        slot = key_slot(queue.encode())
        return next(port for start, end, port in table if start <= slot <= end)

    unwaited = next(f"ha.plain{i}" for i in range(1000)
                    if owner(f"ha.plain{i}") == owner("ha.durable"))
    return "ha.durable", unwaited


def _served_by_another(cluster: RedisClusterNodes, queue: str, dead_port: int) -> bool:
    try:
        return cluster.master_of_key(keys.pending(queue)).port != dead_port
    except Exception:  # noqa: BLE001 - the cluster is reconfiguring
        return False
