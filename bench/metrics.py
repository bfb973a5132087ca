"""How long one /metrics scrape takes with many queues (goal: < 100 ms for 100 queues).

Starts a throwaway redis-server, fills N queues with tasks in every state (through the real
broker), registers a few workers, then times GET /metrics on a runqy app (Flask test client,
so the figure is the server's own work: Inspector reads, collector, exposition; no network).

    .venv/bin/python -m bench.metrics [--queues 100] [--scrapes 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from runqy.broker import Broker
from runqy.config import Settings
from runqy.web import create_app
from tests.metrics.dataset import fill_queue
from tests.support.redis_server import RedisServer

PER_QUEUE = {"pending": 50, "active": 2, "scheduled": 10, "retry": 5, "archived": 5,
             "completed": 20, "aggregating": 3}


def populate(broker: Broker, queues: int) -> int:
    for i in range(queues):
        fill_queue(broker, f"bench{i:03d}.default", **PER_QUEUE)
    return queues * sum(PER_QUEUE.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()

    redis_server = RedisServer().start()
    try:
        client = redis_server.client()
        started = time.perf_counter()
        tasks = populate(Broker(client), args.queues)
        print(f"filled {args.queues} queues, {tasks} tasks in "
              f"{time.perf_counter() - started:.1f}s (redis {redis_server.version()})")
        settings = Settings(redis_url=redis_server.url,
                            instance_path=Path(tempfile.mkdtemp()) / "instance",
                            api_key="bench-admin-key-0123456789")
        http = create_app(settings).test_client()
        http.get("/metrics")  # warm-up: script loading, first connections
        timings, size = [], 0
        for _ in range(args.scrapes):
            begin = time.perf_counter()
            response = http.get("/metrics")
            timings.append((time.perf_counter() - begin) * 1000)
            assert response.status_code == 200
            size = len(response.data)
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(f"/metrics with {args.queues} queues: median {statistics.median(timings):.1f} ms, "
              f"p95 {p95:.1f} ms, max {timings[-1]:.1f} ms over {args.scrapes} scrapes; "
              f"{size} bytes")
    finally:
        redis_server.stop()


if __name__ == "__main__":
    main()
