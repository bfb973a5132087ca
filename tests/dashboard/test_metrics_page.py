"""The Metrics page in a browser: Prometheus time series drawn for the queues of the data set
(a real Prometheus scraping the real server), the queue and range choices in the URL, the notice
when Prometheus stops, and the how-to-enable page with the Redis counters when it is unset."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard import dataset
from tests.dashboard.conftest import SCREENSHOTS, create_admin, log_in, set_poll_interval
from tests.dashboard.test_auth import log_in as form_log_in
from tests.support.prometheus import PrometheusServer, prometheus_binary
from tests.support.redis_server import free_port

QUEUES = sorted([dataset.IMAGES_HIGH, dataset.IMAGES_LOW, dataset.MAIL])
CHARTS = ("processed", "failed", "error_rate", "queue_depth", "latency")


def legend(page: Page, chart: str) -> list[str]:
    return page.locator(f"#chart-{chart} li[data-series]").evaluate_all(
        "items => items.map(li => li.dataset.series)")


def series_path(page: Page, chart: str, queue: str):
    return page.locator(f'#chart-{chart} path[data-series="{queue}"]')


@pytest.mark.skipif(prometheus_binary() is None, reason="prometheus not installed")
def test_metrics_page_draws_prometheus_series_then_notices_when_it_stops(start_server, context,
                                                                         redis_client):
    port = free_port()
    prometheus = PrometheusServer([f"127.0.0.1:{port}"]).start()
    try:
        server = start_server(listen_port=port, prometheus_address=prometheus.url)
        server.create_admin()
        known = dataset.build(redis_client)
        # Rates need two scrapes in their window; depth one.
        prometheus.wait_for_query("rate(asynq_tasks_processed_total[5m])",
                                  lambda result: len(result) == len(QUEUES))
        set_poll_interval(context, server, 2)
        page = context.new_page()
        log_in(page, server)
        page.click("nav >> text=Metrics")
        expect(page).to_have_url(re.compile(r"/monitoring/metrics$"))
        # Range points sit on a 15 s grid: the live refresh brings in the first one.
        for chart in CHARTS:
            expect(page.locator(f"#chart-{chart} path[data-series]")).to_have_count(
                len(QUEUES), timeout=45_000)
        assert page.locator("#metrics-notice").count() == 0
        for chart in CHARTS:
            assert legend(page, chart) == QUEUES
        pending = {dataset.IMAGES_HIGH: 3, dataset.IMAGES_LOW: 25, dataset.MAIL: 1}
        for queue, count in pending.items():
            depth = series_path(page, "queue_depth", queue)
            assert int(depth.get_attribute("data-points")) >= 1
            assert re.fullmatch(r"(M[\d.]+,[\d.]+)( L[\d.]+,[\d.]+)*",
                                depth.get_attribute("d"))
            expect(depth.locator("title")).to_have_text(f"{queue}: {count}")
        # The deepest queue's line reaches the top of the plot; the others stay below it.
        tops = {queue: min(float(y) for y in re.findall(
            r",([\d.]+)", series_path(page, "queue_depth", queue).get_attribute("d")))
            for queue in QUEUES}
        assert tops[dataset.IMAGES_LOW] < tops[dataset.IMAGES_HIGH] < tops[dataset.MAIL]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "metrics-light.png"), full_page=True)
        # Counters were written before the first scrape: nothing processed since then.
        expect(series_path(page, "processed", dataset.IMAGES_HIGH).locator("title")
               ).to_have_text(f"{dataset.IMAGES_HIGH}: 0/s")

        page.select_option("#metrics-queue", dataset.IMAGES_LOW)
        expect(page).to_have_url(re.compile(rf"queue={re.escape(dataset.IMAGES_LOW)}"))
        for chart in CHARTS:
            expect(page.locator(f"#chart-{chart} path[data-series]")).to_have_count(1)
            assert legend(page, chart) == [dataset.IMAGES_LOW]
        page.select_option("#metrics-range", "7d")
        expect(page).to_have_url(re.compile(r"range=7d"))
        expect(page.locator("#metrics-source")).to_contain_text("last 7d")
        page.reload()  # the choices live in the URL
        assert page.locator("#metrics-queue").input_value() == dataset.IMAGES_LOW
        assert page.locator("#metrics-range").input_value() == "7d"

        prometheus.stop()
        response = page.goto(server.url("/monitoring/metrics?range=1h"))
        assert response.status == 200
        expect(page.locator("#metrics-notice")).to_contain_text(
            f"Prometheus at {prometheus.url} could not be reached")
        assert page.locator("#chart-processed").count() == 0
        expect(page.locator("#redis-history-totals")).to_have_text(
            f"{known.processed_today} processed, {known.failed_today} failed")
    finally:
        prometheus.stop()


def test_without_prometheus_the_page_explains_and_shows_redis_counters(server, page,
                                                                       redis_client):
    known = dataset.build(redis_client)
    response = page.goto(server.url("/monitoring/metrics?range=30d"))
    assert response.status == 200
    expect(page.locator("#metrics-setup")).to_contain_text("Set PROMETHEUS_ADDRESS")
    assert page.locator("#metrics-notice").count() == 0
    expect(page.locator("#redis-history-totals")).to_have_text(
        f"{known.processed_today} processed, {known.failed_today} failed")
    assert page.locator("#redis-history svg.chart g.day").count() == 30
    page.select_option("#metrics-queue", dataset.MAIL)
    expect(page).to_have_url(re.compile(rf"queue={re.escape(dataset.MAIL)}"))
    # mail.default holds one archived task: one attempt, failed.
    expect(page.locator("#redis-history-totals")).to_have_text("1 processed, 1 failed")


def test_bad_address_and_unknown_choices_still_give_the_page(make_app, redis_client):
    app = make_app(prometheus_address="ftp://prometheus.invalid")
    create_admin(app)
    client = app.test_client()
    assert form_log_in(client).status_code == 302
    response = client.get("/monitoring/metrics?range=2y&queue=no.such")
    assert response.status_code == 200
    page = response.text
    assert "PROMETHEUS_ADDRESS must be an http(s) URL" in page
    assert '<option value="1h" selected>' in page  # unknown range: the default
    assert "every queue, last 1 day(s)" in page  # unknown queue: all; 1h: today's counters
