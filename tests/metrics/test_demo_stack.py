"""The compose stack's demo queue with a real `runqy worker`: its tasks run, and /metrics shows
the work and the worker (the numbers the Grafana dashboard and the alerts are built on)."""

from __future__ import annotations

import os
import urllib.request

import pytest
import yaml

from runqy import RunqyClient
from runqy.broker import keys
from tests.metrics.conftest import Scrape
from tests.metrics.test_deploy import DEPLOY
from tests.support.polling import poll_until
from tests.worker.live import CLIENT_KEY, RUNQY, WorkerProcess, start_server

pytestmark = pytest.mark.skipif(not os.path.exists(RUNQY),
                                reason="the runqy console script is not installed in the venv")


def scrape(base: str) -> Scrape:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:  # noqa: S310
        return Scrape(response.read().decode())


def yaml_queue() -> dict:
    return yaml.safe_load((DEPLOY / "example" / "queues" / "demo.yaml").read_text())["queues"][
        "demo"]


def test_demo_tasks_and_worker_show_in_metrics(tmp_path, redis_server, redis_client):
    demo = yaml_queue()
    server = start_server(tmp_path / "instance", redis_server.url)
    worker = None
    try:
        # The YAML's deployment path is the worker container's mount; here the same code is
        # used from the checkout.
        server.configure("demo", {s["name"]: s["priority"] for s in demo["sub_queues"]},
                         {**demo["deployment"], "path": str(DEPLOY / "example" / "demo_task")},
                         demo["task_defaults"])
        worker = WorkerProcess(server.base, ["demo"], tmp_path / "worker",
                               tmp_path / "deployment", worker_id="demo-worker-1").start()
        client = RunqyClient(server.base, CLIENT_KEY)
        for _ in range(3):
            client.enqueue("demo", {"sleep": 0})
        client.enqueue("demo.high", {"sleep": 0, "fail": True})

        def worked() -> bool:
            result = scrape(server.base)
            return (result.get("asynq_tasks_processed_total", queue="demo.default") == 3
                    and result.get("asynq_tasks_failed_total", queue="demo.high") == 1)

        poll_until(worked, timeout=240, what="the demo tasks to be processed",
                   detail=lambda: worker.stderr()[-2000:], alive=worker.popen)
        result = scrape(server.base)
        assert result.value("asynq_queue_size", queue="demo.default", state="pending") == 0
        # The failed task waits for its retry (max_retry 2 in demo.yaml).
        assert result.value("asynq_queue_size", queue="demo.high", state="retry") == 1
        poll_until(lambda: scrape(server.base).value("runqy_workers", status="running") == 1,
                   timeout=30, what="the worker to count as running",
                   detail=lambda: str(redis_client.hgetall(keys.runqy_worker("demo-worker-1"))))
        assert scrape(server.base).value("runqy_workers", status="unhealthy") == 0
    finally:
        if worker is not None:
            worker.kill_all()
        server.stop()

