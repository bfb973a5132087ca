"""Throughput with no Prometheus configured: the overview's per-minute chart and the tasks/s and
error-rate figures of the overview and the queue page match the tasks the broker finished."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from runqy.broker import Broker
from tests.dashboard.conftest import LiveServer
from tests.metrics.dataset import fill_queue

QUEUE = "tp.default"


def test_per_minute_throughput_without_prometheus(server: LiveServer, page: Page, redis_client):
    # 4 completed, 1 retried and 1 archived: 6 finished attempts, 2 of them failed
    fill_queue(Broker(redis_client), QUEUE, completed=4, retry=1, archived=1)
    fill_queue(Broker(redis_client), "other.default", completed=2)
    page.goto(server.url("/monitoring/?range=today"))
    chart = page.locator("#throughput-chart svg.chart")
    expect(chart).to_have_attribute("aria-label", "8 processed, 2 failed over 60 minute(s)")
    bars = page.locator("#throughput-chart g.day title")
    expect(bars).to_have_count(60)
    assert sum(int(re.search(r": (\d+) processed", t).group(1))
               for t in bars.all_text_contents()) == 8
    hour = page.locator('#live-rates [data-window="hour"]')
    expect(hour.locator('[data-rate="processed"]')).to_have_text("8")
    expect(hour.locator('[data-rate="failed"]')).to_have_text("2")
    expect(hour.locator('[data-rate="error-rate"]')).to_have_text("25.0%")
    expect(hour.locator('[data-rate="per-second"]')).to_have_text("0.002222")  # 8 / 3600
    day = page.locator('#live-rates [data-window="day"]')
    expect(day.locator('[data-rate="per-second"]')).to_have_text("0.000093")  # 8 / 86400
    # Today is per hour, and sums to the cards
    expect(page.locator("#history-totals")).to_have_text("8 processed, 2 failed")
    expect(page.locator('[data-stat="processed"] .value')).to_have_text("8")
    assert page.locator("#history-chart svg.chart g.day").count() == 24

    page.goto(server.url(f"/monitoring/queues/{QUEUE}"))
    hour = page.locator('#live-rates [data-window="hour"]')
    expect(hour.locator('[data-rate="processed"]')).to_have_text("6")
    expect(hour.locator('[data-rate="error-rate"]')).to_have_text("33.3%")
