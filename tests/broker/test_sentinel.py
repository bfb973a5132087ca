"""The broker behind Redis Sentinel: a demoted master's READONLY answers are followed.

asynq keeps writing to a demoted master until restarted (asynq #959). runqy's raw pipeline
treats READONLY as a lost answer and drops its connections, so the next batch asks the
sentinels where the master is now.
"""

from __future__ import annotations

import pytest
import redis

from runqy.broker import Broker, EnqueueRequest, EnqueueResult, keys
from runqy.broker.errors import TaskOutcomeUnknownError
from runqy.broker.pipeline import MasterChangedError, RawPipeline
from runqy.redis_connection import connect
from tests.broker.factories import Q, task
from tests.support.redis_sentinel import MASTER_NAME, RedisSentinelSetup


@pytest.fixture(scope="module")
def sentinel_setup():
    setup = RedisSentinelSetup().start()
    yield setup
    setup.stop()


def test_a_replica_answering_readonly_is_a_lost_answer(sentinel_setup):
    replica = next(n for n in (sentinel_setup.master, sentinel_setup.replica)
                   if n.port != sentinel_setup.master_port())
    client = replica.client()
    pipe = RawPipeline(client)
    pipe.command("SET", "x", "1")
    [reply] = pipe.execute()
    assert isinstance(reply, MasterChangedError) and isinstance(reply, redis.ConnectionError)


def test_enqueue_and_dequeue_follow_a_sentinel_failover(sentinel_setup):
    client = connect(sentinel_setup.url, socket_timeout=5, socket_connect_timeout=2)
    broker = Broker(client)
    assert isinstance(broker.enqueue(task("before")), EnqueueResult)
    assert broker.dequeue([Q]).msg.id == "before"  # the worker path holds a connection

    old = sentinel_setup.master_port()
    with sentinel_setup.sentinels[0].client() as sentinel:
        sentinel.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
    sentinel_setup.wait_master_change(old)

    # At most one answer per connection is lost to the switch; then both paths write to the
    # new master without a restart.
    outcomes = [broker.enqueue_many([EnqueueRequest(task(f"after-{i}"))])[0] for i in range(3)]
    assert all(isinstance(o, (EnqueueResult, TaskOutcomeUnknownError)) for o in outcomes)
    assert isinstance(outcomes[-1], EnqueueResult)
    taken = None
    for _ in range(3):
        try:
            taken = broker.dequeue([Q])
            break
        except redis.ConnectionError:
            continue
    assert taken is not None and taken.msg.id.startswith("after-")
    with redis.Redis(port=sentinel_setup.master_port()) as master:
        assert master.llen(keys.active(Q)) == 1
