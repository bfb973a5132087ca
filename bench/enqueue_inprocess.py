"""CPU per `POST /queue/add` in-process: the Flask test client, no network and no waitress, so
the figure is the request machinery, the view, the core's enqueue rules and the broker's round
trip to a throwaway redis-server. Useful to compare two trees (run it in each, interleaved).

    .venv/bin/python -m bench.enqueue_inprocess [--requests 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from runqy.config import Settings
from runqy.web import create_app
from tests.support.redis_server import RedisServer

KEY = "bench-admin-key-0123456789abcdef"
BODY = {"queue": "imgs", "data": {"prompt": "a cat on a mat", "steps": 20, "seed": 1234}}


def measure(requests: int, rounds: int) -> list[float]:
    """CPU microseconds per add, one figure per round, on a fresh Redis and instance."""
    redis_server = RedisServer().start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            app = create_app(Settings(instance_path=Path(folder), redis_url=redis_server.url,
                                      api_key=KEY, log_level="warning", no_ui=True))
            client = app.test_client()
            headers = {"Authorization": f"Bearer {KEY}"}
            created = client.post("/api/queue-configs", headers=headers, json={
                "name": "imgs", "deployment": {"path": "/srv/code", "startup_cmd": "python x"}})
            assert created.status_code == 201, created.json
            for _ in range(300):  # warm-up: caches, connections, scripts loaded
                client.post("/queue/add", headers=headers, json=BODY)
            costs = []
            for _ in range(rounds):
                started = time.process_time()
                for _ in range(requests):
                    client.post("/queue/add", headers=headers, json=BODY)
                costs.append((time.process_time() - started) / requests * 1e6)
            return costs
    finally:
        redis_server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="adds per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is shown")
    args = parser.parse_args()
    costs = sorted(measure(args.requests, args.rounds))
    print(f"CPU per add (µs), {args.rounds} rounds of {args.requests}: "
          f"{', '.join(f'{c:.0f}' for c in costs)}; median {costs[len(costs) // 2]:.0f}")


if __name__ == "__main__":
    main()
