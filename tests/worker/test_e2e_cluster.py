"""End to end on a real Redis Cluster: a server and two `runqy worker` processes, 10,000 tasks.

Three masters with one replica each; twelve queues whose slots land on all three masters. The
server is configured with a ``redis-cluster://`` URL naming one node and hands it to the
workers at registration. Every result is checked, the dashboard and /metrics must show all
twelve queues, and nothing may stay active.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from runqy import RunqyClient
from runqy.broker import Inspector, keys
from tests.dashboard.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, csrf_token
from tests.worker.harness import APPS, poll_until
from tests.worker.live import CLIENT_KEY, WorkerProcess, start_server

TASKS, QUEUES = 10_000, 12


def dashboard_pages(app, *paths: str) -> list[str]:
    """``paths`` as a logged-in dashboard user sees them."""
    create_admin(app)
    browser = app.test_client()
    form = browser.get("/monitoring/login").text
    token = csrf_token(form)
    browser.post("/monitoring/login", data={
        "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": token})
    pages = [browser.get(path) for path in paths]
    assert [page.status_code for page in pages] == [200] * len(paths)
    return [page.text for page in pages]


def test_ten_thousand_tasks_over_twelve_queues_on_three_masters(cluster, tmp_path,
                                                                deployment_dir):
    queues = cluster.queues_on_every_master("scale", QUEUES)
    owners = Counter(cluster.master_of_key(keys.pending(q)).port for q in queues)
    assert len(owners) == 3 and set(owners.values()) == {QUEUES // 3}

    server = start_server(tmp_path / "instance", cluster.url)
    workers: list[WorkerProcess] = []
    try:
        server.configure("scale", {q.split(".", 1)[1]: 1 for q in queues},
                         {"path": str(APPS / "behave"), "startup_cmd": "python main.py"})
        client = RunqyClient(server.base, CLIENT_KEY)
        sent: dict[str, dict[str, int]] = {}
        per_queue = TASKS // QUEUES
        for n, q in enumerate(queues):
            count = per_queue + (TASKS % QUEUES if n == 0 else 0)
            values = [n * 100_000 + i for i in range(count)]
            batch = client.enqueue_batch(q, [{"op": "echo", "value": v} for v in values])
            sent[q] = dict(zip(batch.task_ids, values, strict=True))
        assert sum(map(len, sent.values())) == TASKS
        # a client long-polling one task: the completion is published on another node
        watched = next(iter(sent[queues[-1]]))
        waiter = ThreadPoolExecutor(1)
        waited = waiter.submit(client.wait, watched, 90)

        for name in ("cluster-a", "cluster-b"):  # one deployment dir, prepared once
            workers.append(WorkerProcess(server.base, ["scale"], tmp_path / "workers",
                                         deployment_dir, concurrency=2,
                                         worker_id=name).start())
        redis = cluster.client()
        inspector = Inspector(redis)

        def drained() -> bool:
            stats = inspector.all_queue_stats()
            return sum(s.completed for s in stats) == TASKS

        poll_until(drained, timeout=120, what="10,000 tasks completed", interval=0.5,
                   detail=lambda: workers[0].stderr()[-2000:])

        per_worker = Counter()
        for q, expected in sent.items():
            results = {t.id: json.loads(t.result)
                       for t in inspector.list_tasks(q, "completed", size=len(expected))}
            assert {task_id: r["echo"] for task_id, r in results.items()} == expected
            per_worker.update(r["pid"] for r in results.values())
            stats = inspector.queue_stats(q)
            assert (stats.active, stats.pending, stats.retry, stats.archived) == (0, 0, 0, 0)
            assert redis.zcard(keys.lease(q)) == 0
        assert waited.result(timeout=30).state == "completed"
        waiter.shutdown()
        for worker in workers:  # both workers' task processes took part
            assert per_worker.keys() & set(worker.children()), worker.worker_id

        with urllib.request.urlopen(server.base + "/metrics", timeout=10) as answer:  # noqa: S310
            metrics = answer.read().decode()
        processed = {m["queue"]: float(m["value"]) for m in re.finditer(
            r'^asynq_tasks_processed_total{[^}]*queue="(?P<queue>[^"]+)"[^}]*} (?P<value>\S+)$',
            metrics, re.M)}
        assert processed == {q: len(sent[q]) for q in queues}
        listing, _overview = dashboard_pages(server.app, "/monitoring/queues", "/monitoring/")
        assert all(q in listing for q in queues)
    finally:
        for worker in workers:
            worker.kill_all()
        server.stop()
