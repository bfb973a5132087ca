"""The task search at scale (goal: 12 matching tasks among 700,000 archived ones found in < 3 s).

Starts a throwaway redis-server, writes 700,000 archived tasks of which 12 fail with a distinct
error (tests/dashboard/archive_fill.py), then times, interleaved round by round:
- `page`: the dashboard's search as the browser drives it: GET /monitoring/search/step from a
  logged-in Flask test client, following each answer's continuation until the scan is done
  (scanning, task reads for the matches and HTML rendering; no network or browser);
- `broker`: `runqy.broker.search.search` alone, with no time budget (one call);
- `peer`: the reader the old queue filter used, `Inspector.list_tasks` in pages of 500 with the
  match in Python, over the first `--peer-tasks` tasks only (scaled to 700,000 in the table).
Client CPU is this process's `time.process_time`, Redis CPU the server's used_cpu delta.

    .venv/bin/python -m bench.search [--tasks 700000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from bench.dashboard import logged_in_client
from runqy.broker import Inspector
from runqy.broker.search import search
from runqy.config import Settings
from tests.dashboard.archive_fill import fill_archived
from tests.support.redis_server import RedisServer

QUEUE = "reports"
NEEDLE = "quota exceeded"
ERROR = "disk quota exceeded on /var/spool/reports"
NEXT = re.compile(r'hx-get="([^"]*search/step[^"]*)"')


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def measure(client: redis.Redis, run: Callable[[], int]) -> tuple[float, float, float, int]:
    """(wall s, client CPU s, Redis CPU s, matches) of one run."""
    wall, cpu, server = time.perf_counter(), time.process_time(), redis_cpu(client)
    found = run()
    return (time.perf_counter() - wall, time.process_time() - cpu, redis_cpu(client) - server,
            found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=700_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--peer-tasks", type=int, default=50_000)
    args = parser.parse_args()
    server = RedisServer().start()
    try:
        client = server.client()
        special = [7 + (args.tasks // 12) * i for i in range(12)]
        started = time.perf_counter()
        fill_archived(client, QUEUE, args.tasks, special, ERROR)
        print(f"wrote {args.tasks:,} archived tasks in {time.perf_counter() - started:.1f}s "
              f"(redis {server.version()})")
        web = logged_in_client(Settings(
            redis_url=server.url, instance_path=Path(tempfile.mkdtemp()) / "instance",
            api_key="bench-admin-key-0123456789"))

        inspector = Inspector(client)

        def page() -> int:
            url, found = f"/monitoring/search/step?q={NEEDLE}&queue={QUEUE}", 0
            while url:
                text = web.get(url).text
                found += text.count("<tr data-task-id=")
                link = NEXT.search(text)
                url = link.group(1).replace("&amp;", "&") if link else ""
            return found

        def broker() -> int:
            step = search(inspector, [QUEUE], ["retry", "archived"], NEEDLE, budget=1e9)
            return len(step.matches)

        def peer() -> int:
            found = 0
            for number in range(1, args.peer_tasks // 500 + 1):
                found += sum(1 for t in inspector.list_tasks(QUEUE, "archived", number, 500)
                             if "quota exceeded" in t.error_msg.lower())
            return found

        runs = {"page": page, "broker": broker, "peer": peer}
        results: dict[str, list[tuple[float, float, float, int]]] = {n: [] for n in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                results[name].append(measure(client, run))
        print(f"load average {os.getloadavg()[0]:.1f} after the runs")
        print("| run | matches | wall median | wall p90 | wall max | client CPU | Redis CPU |")
        print("|---|---|---|---|---|---|---|")
        for name, rows in results.items():
            scale = args.tasks / args.peer_tasks if name == "peer" else 1
            walls = sorted(r[0] * scale for r in rows)
            p90 = walls[min(len(walls) - 1, int(len(walls) * 0.9))]
            print(f"| {name} | {rows[0][3]} | {statistics.median(walls):.2f} s | {p90:.2f} s | "
                  f"{walls[-1]:.2f} s | {statistics.median(r[1] for r in rows) * scale:.2f} s | "
                  f"{statistics.median(r[2] for r in rows) * scale:.2f} s |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
