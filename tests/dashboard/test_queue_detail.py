"""Queue detail page: Pause/Resume change Redis; which workers listen, and a warning when none
is healthy."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from runqy.broker import Broker, Inspector, ServerInfo, WorkerInfo, keys
from tests.dashboard import dataset
from tests.dashboard.test_browser import collect_dialogs


def test_pause_and_resume_on_the_queue_page_change_redis(server, page, redis_client):
    dialogs = collect_dialogs(page)
    dataset.build(redis_client)
    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_LOW}"))
    inspector = Inspector(redis_client)
    control = page.locator("#queue-control")
    control.locator("text=Pause").click()
    expect(page.locator(".flash")).to_have_text(f"Queue {dataset.IMAGES_LOW} paused.")
    assert dialogs == [f"Pause queue {dataset.IMAGES_LOW}? Workers stop taking its tasks."]
    assert page.url.endswith(f"/monitoring/queues/{dataset.IMAGES_LOW}")  # stays on the queue
    assert inspector.queue_stats(dataset.IMAGES_LOW).paused
    control.locator("text=Resume").click()
    expect(page.locator(".flash")).to_have_text(f"Queue {dataset.IMAGES_LOW} resumed.")
    assert not inspector.queue_stats(dataset.IMAGES_LOW).paused
    expect(control.locator("text=Pause")).to_be_visible()


def test_queue_page_names_listening_workers_and_warns_when_none_is_healthy(server, page,
                                                                          redis_client):
    dataset.build(redis_client)  # worker-a healthy, worker-b stale; both on images.*
    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}"))
    workers = page.locator("#queue-workers")
    expect(workers.locator('[data-condition="worker-a"]')).to_have_text("healthy")
    expect(workers.locator('[data-condition="worker-b"]')).to_have_text("stale")
    expect(page.locator("#no-healthy-worker")).to_have_count(0)

    dataset.write_worker(Broker(redis_client), "worker-a", healthy=False, active="",
                         beat=int(time.time()))
    page.reload()
    expect(workers.locator('[data-condition="worker-a"]')).to_have_text("degraded")
    expect(page.locator("#no-healthy-worker")).to_contain_text("No healthy worker")

    page.goto(server.url(f"/monitoring/queues/{dataset.MAIL}"))  # only a Go server on mail
    expect(page.locator("#no-healthy-worker")).to_contain_text("No worker listens")


def test_since_shows_when_pending_tasks_were_enqueued_and_active_ones_started(server, page,
                                                                             redis_client):
    known = dataset.build(redis_client)
    now = int(time.time())
    pending_id = redis_client.lindex(keys.pending(dataset.IMAGES_HIGH), -1).decode()
    redis_client.hset(keys.task_key(dataset.IMAGES_HIGH, pending_id), "pending_since",
                      str((now - 7200) * 1_000_000_000))
    worker = WorkerInfo(host="h", pid=1, server_id="s1", task_id=known.active_task_id,
                        task_type="t", queue=dataset.IMAGES_HIGH)
    worker.start_time.seconds = now - 600
    Broker(redis_client).write_server_heartbeat(
        ServerInfo(host="h", pid=1, server_id="s1", concurrency=1,
                   queues={dataset.IMAGES_HIGH: 1}, status="active", active_worker_count=1),
        [worker])

    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}?state=pending"))
    expect(page.locator(f'tr[data-task-id="{pending_id}"] .since')).to_have_text("2.0 h ago")
    expect(page.locator("#task-table .since").nth(1)).to_contain_text("ago")  # just enqueued
    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}?state=active"))
    expect(page.locator(f'tr[data-task-id="{known.active_task_id}"] .since')
           ).to_have_text("10 min ago")
