"""Redis memory per pending task (not a test): runqy's enqueue beside a plain asynq-format task.

Both write N pending tasks with the same payload into a throwaway redis-server, one after the
other on an emptied server: runqy through ``Broker.enqueue_many`` (task hash and pending list;
before issue 12 also a reverse lookup ``asynq:t:<id>``), asynq's format as a Go client writes
it (task hash with ``msg``, ``state``, ``pending_since``, and the pending list). Prints
``used_memory`` per task and the keys per task.

    .venv/bin/python -m bench.memory [--tasks 100000] [--redis-server-bin PATH]
"""

from __future__ import annotations

import argparse
import os
import time

from runqy.broker import Broker, EnqueueRequest, TaskMessage, encode, keys
from tests.support.redis_server import RedisServer

QUEUE = "mem.default"
PAYLOAD = b'{"prompt":"a cat on a mat","steps":20,"seed":1234}'


def message(task_id: str = "") -> TaskMessage:
    return TaskMessage(type=QUEUE, payload=PAYLOAD, id=task_id, queue=QUEUE, retry=3,
                       timeout=1800, retention=86400)


def runqy_tasks(broker: Broker, count: int) -> None:
    for start in range(0, count, 5000):
        broker.enqueue_many([EnqueueRequest(message()) for _ in range(min(5000, count - start))])


def asynq_tasks(client, count: int) -> None:
    """What a Go asynq client writes for a task due now (the same fields, no runqy keys)."""
    client.sadd(keys.QUEUES, QUEUE)
    for start in range(0, count, 5000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(count, start + 5000)):
            task_id = f"{i:08d}-0000-4000-8000-000000000000"
            pipe.hset(keys.task_key(QUEUE, task_id), mapping={
                "msg": encode(message(task_id)), "state": "pending",
                "pending_since": time.time_ns()})
            pipe.lpush(keys.pending(QUEUE), task_id)
        pipe.execute()


def measure(client, fill) -> tuple[float, float]:
    client.flushall()
    base, base_keys = client.info("memory")["used_memory"], client.dbsize()
    fill()
    return client.info("memory")["used_memory"] - base, client.dbsize() - base_keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--redis-server-bin", default=None)
    args = parser.parse_args()
    server = RedisServer(binary=args.redis_server_bin).start()
    try:
        client = server.client()
        results = {
            "runqy (Broker.enqueue_many)": measure(
                client, lambda: runqy_tasks(Broker(client), args.tasks)),
            "asynq format (as a Go client writes it)": measure(
                client, lambda: asynq_tasks(client, args.tasks)),
        }
        version = client.info("server")["redis_version"]
    finally:
        server.stop()
    print(f"{args.tasks:,} pending tasks, payload {len(PAYLOAD)} bytes, Redis {version}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print()
    print("| written by | used_memory per task | keys per task |")
    print("|---|---|---|")
    for name, (memory, count) in results.items():
        print(f"| {name} | {memory / args.tasks:.0f} B | {count / args.tasks:.2f} |")


if __name__ == "__main__":
    main()
