"""Server-side timings of dashboard pages (goals: Queue detail < 50 ms on page 1 and on page
10,000 of 1,000,000 pending tasks; Overview < 100 ms with 100 queues).

Starts a throwaway redis-server, fills it through the real broker (`enqueue_many`), logs in to a
runqy app and times GET requests with the Flask test client, so the figure is the server's own
work (Inspector reads, template rendering, SVG chart), without network or browser.

    .venv/bin/python -m bench.dashboard [--tasks 1000000] [--queues 100] [--requests 30]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from runqy.broker import Broker, EnqueueRequest, TaskMessage
from runqy.config import Settings
from runqy.web import create_app
from runqy.web.extensions import db
from runqy.web.models import AdminUser
from tests.metrics.dataset import fill_queue
from tests.support.redis_server import RedisServer

BIG_QUEUE = "bench-big.default"
PER_QUEUE = {"pending": 50, "active": 2, "scheduled": 10, "retry": 5, "archived": 5,
             "completed": 20}
BATCH = 5000


def fill_big_queue(broker: Broker, tasks: int) -> None:
    for start in range(0, tasks, BATCH):
        requests = [
            EnqueueRequest(TaskMessage(type=BIG_QUEUE, id=str(uuid.uuid4()), queue=BIG_QUEUE,
                                       payload=b'{"image": "s3://bucket/%d.png"}' % n, retry=3,
                                       timeout=60))
            for n in range(start, min(start + BATCH, tasks))
        ]
        broker.enqueue_many(requests)


def logged_in_client(settings: Settings) -> FlaskClient:
    app = create_app(settings)
    with app.app_context():
        admin = AdminUser(email="bench@example.com")
        admin.set_password("bench-password")
        db.session.add(admin)
        db.session.commit()
    client = app.test_client()
    page = client.get("/monitoring/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/monitoring/login", data={
        "csrf_token": token, "email": "bench@example.com", "password": "bench-password"})
    assert response.status_code == 302, response.status_code
    return client


def timed(get: Callable[[], object], requests: int) -> str:
    get()  # warm-up: script loading, template compilation, first connections
    timings = []
    for _ in range(requests):
        begin = time.perf_counter()
        get()
        timings.append((time.perf_counter() - begin) * 1000)
    timings.sort()
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    return (f"median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, "
            f"max {timings[-1]:.1f} ms over {requests} requests")


def check(client: FlaskClient, url: str, must_contain: str) -> Callable[[], object]:
    def get() -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert must_contain in response.text, (url, must_contain)
        return response

    return get


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()

    redis_server = RedisServer().start()
    try:
        broker = Broker(redis_server.client())
        started = time.perf_counter()
        fill_big_queue(broker, args.tasks)
        print(f"enqueued {args.tasks} pending tasks in {time.perf_counter() - started:.1f}s "
              f"(redis {redis_server.version()})")
        client = logged_in_client(Settings(
            redis_url=redis_server.url, instance_path=Path(tempfile.mkdtemp()) / "instance",
            api_key="bench-admin-key-0123456789"))
        last_page = min(10_000, max(1, args.tasks // 20))
        for page in (1, last_page):
            url = f"/monitoring/queues/{BIG_QUEUE}?state=pending&page={page}"
            print(f"Queue detail page {page:,} of {args.tasks:,} pending: "
                  f"{timed(check(client, url, f'Page {page:,} of'), args.requests)}")

        redis_server.client().flushall()
        started = time.perf_counter()
        for i in range(args.queues):
            fill_queue(broker, f"bench{i:03d}.default", **PER_QUEUE)
        print(f"filled {args.queues} queues in {time.perf_counter() - started:.1f}s")
        for range_key in ("7d", "30d"):
            overview = check(client, f"/monitoring/?range={range_key}", "Queue sizes")
            print(f"Overview with {args.queues} queues (range {range_key}): "
                  f"{timed(overview, args.requests)}")
        queues = check(client, "/monitoring/queues", f"bench{args.queues - 1:03d}")
        print(f"Queues page with {args.queues} queues: {timed(queues, args.requests)}")
    finally:
        redis_server.stop()


if __name__ == "__main__":
    main()
