"""The Overview history chart from Prometheus (PROMETHEUS_ADDRESS), and the fallback to the
Redis daily counters when Prometheus does not answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from runqy.broker import Broker
from tests.dashboard.conftest import log_in
from tests.metrics.dataset import fill_queue
from tests.support.prometheus import PrometheusServer, prometheus_binary
from tests.support.redis_server import free_port

QUEUE = "prom.default"
PROCESSED = f'asynq_tasks_processed_total{{queue="{QUEUE}"}}'


def test_unreachable_prometheus_falls_back_to_redis_with_a_notice(start_server, context,
                                                                   redis_client):
    fill_queue(Broker(redis_client), QUEUE, completed=2, archived=1)
    server = start_server(prometheus_address=f"http://127.0.0.1:{free_port()}")
    server.create_admin()
    page = context.new_page()
    log_in(page, server)
    expect(page.locator("#history-source")).to_have_text("from Redis")
    expect(page.locator("#history-notice")).to_contain_text("Showing the Redis daily counters.")
    expect(page.locator("#history-totals")).to_have_text("3 processed, 1 failed")


@pytest.mark.skipif(prometheus_binary() is None, reason="prometheus not installed")
def test_history_comes_from_prometheus_when_it_answers(start_server, context, redis_client):
    port = free_port()
    prometheus = PrometheusServer([f"127.0.0.1:{port}"]).start()
    try:
        server = start_server(listen_port=port, prometheus_address=prometheus.url)
        server.create_admin()
        broker = Broker(redis_client)
        fill_queue(broker, QUEUE, pending=1)
        prometheus.wait_for_query(PROCESSED, lambda result: bool(result))
        fill_queue(broker, QUEUE, completed=3)
        prometheus.wait_for_query(
            PROCESSED, lambda result: bool(result) and float(result[0]["value"][1]) == 3)
        page = context.new_page()
        log_in(page, server, "/monitoring/")
        page.goto(server.url("/monitoring/?range=today"))
        expect(page.locator("#history-source")).to_have_text("from Prometheus")
        assert page.locator("#history-chart svg.chart g.day").count() == 24  # hourly buckets
        # Prometheus evaluates on a 15 s grid: the live refresh brings the tasks in.
        expect(page.locator("#history-totals")).not_to_have_text(
            re.compile(r"^0 processed"), timeout=45_000)
        assert page.locator("#history-notice").count() == 0
        # Today is the UTC day's 24 hours: the tasks fall in this hour, the totals match the
        # cards. 7D is UTC days, today the last bar: today's tasks are under today's date.
        now = datetime.now(UTC)
        expect(page.locator("#history-chart svg.chart g.day title").nth(now.hour)).to_have_text(
            f"{now:%H}:00: 3 processed, 0 failed")
        expect(page.locator("#history-totals")).to_have_text("3 processed, 0 failed")
        expect(page.locator('[data-stat="processed"] .value')).to_have_text("3")
        page.goto(server.url("/monitoring/?range=7d"))
        bars = page.locator("#history-chart svg.chart g.day title")
        expect(bars).to_have_count(7)
        expect(bars.nth(6)).to_have_text(f"{now:%m-%d}: 3 processed, 0 failed", timeout=20_000)
        expect(bars.nth(5)).to_have_text(f"{now - timedelta(days=1):%m-%d}: 0 processed, 0 failed")
    finally:
        prometheus.stop()
