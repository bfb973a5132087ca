"""One Redis node versus a three-master Redis Cluster: batch enqueue and drain throughput.

Starts a throwaway redis-server and a throwaway cluster (3 masters + 1 replica each, all on
loopback, no persistence), then runs the same two measures on both, interleaved (single,
cluster, single, cluster, ...), and prints a Markdown table for bench/README.md:

- batch enqueue: ``Broker.enqueue_many``, 1,000 tasks per call spread over 12 queues (on the
  cluster, four per master);
- the same batch enqueue with ``RUNQY_REDIS_WAIT_REPLICAS=1`` (cluster only: its masters have
  replicas);
- drain: one Python thread doing what a worker slot does, ``dequeue`` then ``complete`` with
  the next task taken in the same round trip, round-robin over the 12 queues.

    python bench/scale.py [--enqueue 30000] [--drain 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runqy.broker import Broker, EnqueueRequest  # noqa: E402
from tests.support.redis_cluster import RedisClusterNodes  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broker import task  # noqa: E402 - bench/broker.py: the same task shape

BATCH = 1000
QUEUES = 12


class Topology:
    """A client plus the data nodes whose CPU counts (masters and replicas)."""

    def __init__(self, label: str, client, nodes: list[RedisServer], queues: list[str]) -> None:
        self.label, self.client, self.nodes, self.queues = label, client, nodes, queues

    def redis_cpu(self) -> float:
        total = 0.0
        for node in self.nodes:
            with node.client() as client:
                info = client.info("cpu")
            total += info["used_cpu_user"] + info["used_cpu_sys"]
        return total

    def flush(self) -> None:
        for node in self.nodes:
            with node.client() as client:
                if client.info("replication")["role"] == "master":
                    client.flushall()


def measure(topology: Topology, count: int, action: Callable[[], None]) -> tuple[float, ...]:
    """(ops/s, client CPU µs/op, Redis CPU µs/op summed over every node)."""
    redis_cpu, cpu, start = topology.redis_cpu(), time.process_time(), time.perf_counter()
    action()
    wall = time.perf_counter() - start
    return (count / wall, (time.process_time() - cpu) / count * 1e6,
            (topology.redis_cpu() - redis_cpu) / count * 1e6)


def enqueue(topology: Topology, n: int, wait_replicas: int = 0) -> tuple[float, ...]:
    topology.flush()
    broker = Broker(topology.client, wait_replicas=wait_replicas, wait_timeout_ms=1000)

    def run() -> None:
        for start in range(0, n, BATCH):
            broker.enqueue_many([EnqueueRequest(task(topology.queues[i % QUEUES]))
                                 for i in range(start, min(start + BATCH, n))])

    return measure(topology, n, run)


def drain(topology: Topology, n: int) -> tuple[float, ...]:
    topology.flush()
    broker = Broker(topology.client)
    for start in range(0, n, BATCH):
        msgs = [task(topology.queues[i % QUEUES]) for i in range(start, min(start + BATCH, n))]
        for msg in msgs:
            msg.retention = 3600
        broker.enqueue_many([EnqueueRequest(m) for m in msgs])

    def run() -> None:
        turn = 0
        got = broker.dequeue(topology.queues)
        while got is not None:
            turn += 1
            nxt = topology.queues[turn % QUEUES]
            got = broker.complete(got.msg, b'{"ok":true}', next_from=nxt) or broker.dequeue(
                topology.queues)

    return measure(topology, n, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enqueue", type=int, default=30_000)
    parser.add_argument("--drain", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    single_server = RedisServer().start()
    cluster = RedisClusterNodes().start()
    try:
        single = Topology("one node", single_server.client(), [single_server],
                          [f"bench.q{i}" for i in range(QUEUES)])
        spread = Topology("3-master cluster", cluster.client(), cluster.live_nodes(),
                          cluster.queues_on_every_master("bench", QUEUES))
        loads, results = [], {(t.label, m): [] for t in (single, spread)
                              for m in ("enqueue", "drain")}
        results[(spread.label, "enqueue+wait")] = []
        for _ in range(args.rounds):
            for topology in (single, spread):
                results[(topology.label, "enqueue")].append(enqueue(topology, args.enqueue))
                if topology is spread:
                    results[(spread.label, "enqueue+wait")].append(
                        enqueue(spread, args.enqueue, wait_replicas=1))
                results[(topology.label, "drain")].append(drain(topology, args.drain))
                loads.append(os.getloadavg()[0])
    finally:
        cluster.stop()
        single_server.stop()
    print(f"{args.rounds} interleaved rounds, load average {min(loads):.1f}-{max(loads):.1f}")
    print("| measure | topology | median rate (min-max) | client CPU per op | "
          "Redis CPU per op (all nodes) |")
    print("|---|---|---|---|---|")
    for (label, what), runs in results.items():
        rates = [r[0] for r in runs]
        unit = "cycles/s" if what == "drain" else "tasks/s"
        name = {"enqueue": f"enqueue_many, {BATCH} per call over {QUEUES} queues "
                           f"({args.enqueue:,})",
                "enqueue+wait": f"the same with WAIT 1 ({args.enqueue:,})",
                "drain": f"dequeue + complete(next) ({args.drain:,})"}[what]
        print(f"| {name} | {label} | {statistics.median(rates):,.0f} {unit} "
              f"({min(rates):,.0f}-{max(rates):,.0f}) | "
              f"{statistics.median(r[1] for r in runs):.1f} µs | "
              f"{statistics.median(r[2] for r in runs):.1f} µs |")


if __name__ == "__main__":
    main()
