"""Layout at the narrowest supported width (800 px) and a common desktop one (1,400 px): no
card's content is wider than the card (wide tables scroll inside it), the page itself never
scrolls sideways, and chart text stays readable."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from runqy.broker import Broker
from tests.dashboard import dataset
from tests.dashboard.conftest import LiveServer
from tests.metrics.dataset import fill_queue, message

LONG_QUEUE = "reporting-pipeline-with-a-very-long-name.sub-queue-for-nightly-exports"

# Elements wider than their box, and the page's own sideways overflow.
OVERFLOWING = """() => {
  const wide = [...document.querySelectorAll('.panel, .card, .main')]
    .filter(el => el.scrollWidth > el.clientWidth + 1)
    .map(el => `${el.className}#${el.id}: ${el.scrollWidth} > ${el.clientWidth}`);
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) wide.push(`page: ${page.scrollWidth}`);
  return wide;
}"""
# The smallest chart text as drawn on screen, in CSS pixels.
SMALLEST_CHART_TEXT = """() => Math.min(...[...document.querySelectorAll('svg.chart text.axis')]
  .map(t => { const svg = t.ownerSVGElement;
              return parseFloat(getComputedStyle(t).fontSize)
                     * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width; }))"""


@pytest.mark.parametrize("width", [800, 1400])
def test_no_card_content_wider_than_its_card(server: LiveServer, page: Page, redis_client,
                                             width):
    known = dataset.build(redis_client)
    broker = Broker(redis_client)
    fill_queue(broker, LONG_QUEUE, pending=2, retry=1, archived=1)
    long_payload = message(LONG_QUEUE)
    long_payload.payload = b'{"path": "' + b"x" * 600 + b'"}'
    broker.enqueue(long_payload)
    page.set_viewport_size({"width": width, "height": 900})
    pages = ["/monitoring/", "/monitoring/queues", f"/monitoring/queues/{LONG_QUEUE}",
             f"/monitoring/queues/{LONG_QUEUE}?state=retry", "/monitoring/workers",
             "/monitoring/workers/worker-a", f"/monitoring/tasks/{long_payload.id}",
             f"/monitoring/tasks/{known.script_task_id}", "/monitoring/metrics",
             "/monitoring/search?q=boom", "/monitoring/system", "/monitoring/queue-configs"]
    for path in pages:
        page.goto(server.url(path))
        page.wait_for_load_state("networkidle")
        assert page.evaluate(OVERFLOWING) == [], path
    page.goto(server.url("/monitoring/?range=30d"))
    assert page.evaluate(SMALLEST_CHART_TEXT) >= 11
