"""The task page tells the whole story of a task a real worker ran: its own log lines (stdout
and stderr, tagged with its ID by the worker), the traceback, the attempts and the worker, and
none of another task's lines."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, expect

from runqy import RunqyClient
from tests.dashboard.conftest import LiveServer, create_admin, log_in
from tests.worker.harness import APPS, poll_until
from tests.worker.live import CLIENT_KEY, WorkerProcess, start_server


@pytest.mark.timeout(240)
def test_task_page_shows_its_own_logs_traceback_attempts_and_worker(
        tmp_path, redis_server, redis_client, context: BrowserContext):
    live = start_server(tmp_path / "instance", redis_server.url)
    worker = None
    try:
        live.configure("story", {"default": 1},
                       {"path": str(APPS / "behave"), "startup_cmd": "python main.py"})
        worker = WorkerProcess(live.base, ["story"], tmp_path / "workers",
                               tmp_path / "deployment", worker_id="story-worker").start()
        client = RunqyClient(live.base, CLIENT_KEY)
        failing = client.enqueue("story", {"op": "raise"}, max_retry=0)
        chatty = client.enqueue("story", {"op": "stderr"})
        for task in (failing, chatty):
            poll_until(lambda t=task: client.get_task(t.task_id).state in ("archived",
                                                                          "completed"),
                       timeout=120, what="task finished", alive=worker.popen,
                       detail=worker.stderr)
        # the lines reach Redis with the next heartbeat
        poll_until(lambda: redis_client.exists(f"runqy:task:{chatty.task_id}:logs"),
                   timeout=10, what="the task's log lines stored")

        create_admin(live.app)
        server = LiveServer(live.app, live.base, "")
        page = context.new_page()
        log_in(page, server)
        page.goto(server.url(f"/monitoring/tasks/{failing.task_id}"))
        expect(page.locator("#task-error")).to_have_text("ValueError: bad")
        expect(page.locator("#task-traceback")).to_contain_text(
            "Traceback (most recent call last):")
        expect(page.locator("#task-traceback")).to_contain_text('raise ValueError("bad")')
        expect(page.locator("#task-traceback")).to_contain_text("ValueError: bad")
        logs = page.locator("#task-logs")
        expect(logs).to_contain_text("[stderr]")
        expect(logs).not_to_contain_text("to stderr")  # the other task's line
        expect(page.locator("#task-attempts")).to_have_text("retried 0 of 0 time(s)")
        expect(page.locator("#task-last-failure")).not_to_have_text("—")
        expect(page.locator("#task-workers a")).to_have_text("story-worker")
        expect(logs).to_contain_text("story-worker [worker] attempt 1 of 1 started")
        expect(page.locator("#task-workers a")).to_have_attribute(
            "href", "/monitoring/workers/story-worker")

        page.goto(server.url(f"/monitoring/tasks/{chatty.task_id}"))
        expect(page.locator("#task-logs")).to_contain_text("story-worker [stderr] to stderr")
        expect(page.locator("#task-logs")).not_to_contain_text("Traceback")
        assert page.locator("#task-traceback").count() == 0
        expect(page.locator("#task-result")).to_have_text('"ok"')

        # the worker's own log names the task of each line it captured
        page.goto(server.url("/monitoring/workers/story-worker"))
        tagged = page.locator("#worker-logs a.log-task", has_text=chatty.task_id)
        expect(tagged).not_to_have_count(0)
        # attempt lines are the task's own: the worker's log does not repeat one per task
        expect(page.locator("#worker-logs")).not_to_contain_text("attempt 1 of")
        # the worker's finishing transitions fed the per-minute counters: 2 processed, 1 failed
        page.goto(server.url("/monitoring/"))
        hour = page.locator('#live-rates [data-window="hour"]')
        expect(hour.locator('[data-rate="processed"]')).to_have_text("2")
        expect(hour.locator('[data-rate="failed"]')).to_have_text("1")
        expect(page.locator("#throughput-chart svg.chart")).to_have_attribute(
            "aria-label", "2 processed, 1 failed over 60 minute(s)")
    finally:
        if worker is not None:
            worker.kill_all()
        live.stop()
