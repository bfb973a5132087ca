"""What the per-minute throughput counters cost on the worker's hot path.

`complete taking the next task` (bench/broker.py's cycle: Broker.complete with next_from, the
worker's one round trip per task) is run in interleaved rounds with the real `mark_complete`
script and with a peer copy of it whose `count_minute` call is removed, on the same throwaway
redis-server; each round drains `--tasks` tasks per variant. Prints the medians of the Redis CPU
per task (used_cpu delta), the client CPU per task and the rate.

    .venv/bin/python -m bench.throughput_counters [--tasks 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics

from bench.broker import bench_cycle
from runqy.broker import Broker, scripts
from tests.support.redis_server import RedisServer


def without_counting(script: scripts.Script) -> scripts.Script:
    source = script.source.replace(b"\ncount_minute(false)\n", b"\n")
    assert source != script.source, "mark_complete no longer calls count_minute(false)"
    return scripts.Script(script.name, source,
                          hashlib.sha1(source, usedforsecurity=False).hexdigest())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    real = scripts.SCRIPTS["mark_complete"]
    variants = {"with counters": real, "peer: without": without_counting(real)}
    server = RedisServer().start()
    try:
        client = server.client()
        for script in variants.values():
            client.script_load(script.source)
        results: dict[str, list] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, script in variants.items():
                scripts.SCRIPTS["mark_complete"] = script
                client.flushdb()
                results[name].append(bench_cycle(Broker(client), args.tasks, "complete_next"))
        scripts.SCRIPTS["mark_complete"] = real
        print(f"redis {server.version()}, load average {os.getloadavg()[0]:.1f}, "
              f"{args.rounds} rounds x {args.tasks} tasks")
        print("| variant | rate (median) | client CPU per task | Redis CPU per task |")
        print("|---|---|---|---|")
        for name, rows in results.items():
            print(f"| {name} | {statistics.median(r.per_second for r in rows):,.0f} tasks/s | "
                  f"{statistics.median(r.client_cpu_us for r in rows):.1f} µs | "
                  f"{statistics.median(r.redis_cpu_us for r in rows):.1f} µs |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
