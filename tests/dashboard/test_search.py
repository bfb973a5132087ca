"""The task search in a real browser: 12 failing tasks among 700,000 archived ones, plus one in
another queue's retry set, all found by their error text, then acted on in bulk."""

from __future__ import annotations

import html
import re
import time

import pytest
from playwright.sync_api import Page, expect

from runqy.broker import Broker, Inspector, keys
from tests.dashboard.archive_fill import fill_archived, task_id
from tests.dashboard.conftest import LiveServer, create_admin
from tests.dashboard.test_auth import log_in as form_log_in
from tests.metrics.dataset import message

ARCHIVED = 700_000
SPECIAL = [7 + 58_333 * i for i in range(12)]  # spread over the whole set
NEEDLE_ERROR = "disk quota exceeded on /var/spool/reports"


@pytest.mark.timeout(180)
def test_search_finds_the_12_among_700000_archived_and_acts_on_them(server: LiveServer,
                                                                       page: Page,
                                                                       redis_client):
    wanted = fill_archived(redis_client, "reports", ARCHIVED, SPECIAL, NEEDLE_ERROR)
    broker = Broker(redis_client)
    retrying = message("mail")
    broker.enqueue(retrying)
    taken = broker.dequeue(["mail"])
    broker.retry(taken.msg, "Disk QUOTA exceeded while writing", int(time.time()) + 3600)
    broker.enqueue(message("mail"))  # pending: outside the failed scope

    page.goto(server.url("/monitoring/search?q=quota+exceeded"))
    progress = page.locator("#search-progress")
    expect(progress).to_have_attribute("data-done", "true", timeout=60_000)
    rows = page.locator("#search-results tbody tr[data-task-id]")
    found = {(r.get_attribute("data-queue"), r.get_attribute("data-task-id"))
             for r in rows.all()}
    assert found == {("reports", i) for i in wanted} | {("mail", retrying.id)}
    expect(progress).to_contain_text(f"13 match(es) for “quota exceeded”; {ARCHIVED + 1:,} of "
                                     f"{ARCHIVED + 1:,} task(s) read")
    first = page.locator(f'#search-results tr[data-task-id="{wanted[0]}"]')
    expect(first).to_contain_text(NEEDLE_ERROR)
    expect(first.locator("a").first).to_have_attribute(
        "href", f"{server.prefix}/monitoring/queues/reports/tasks/{wanted[0]}")

    # the same search narrowed to the error field of one queue's retry set
    page.goto(server.url("/monitoring/search?q=QUOTA&field=error&scope=retry&queue=mail"))
    expect(page.locator("#search-progress")).to_have_attribute("data-done", "true")
    expect(rows).to_have_count(1)

    # bulk: tick every match of the first search and run them again
    page.goto(server.url("/monitoring/search?q=quota+exceeded&queue=reports"))
    expect(progress).to_have_attribute("data-done", "true", timeout=60_000)
    page.on("dialog", lambda dialog: dialog.accept())
    page.check("#search-results input.select-all")
    page.click("text=Run selected")
    expect(page.locator(".flash.ok")).to_have_text("12 task(s) queued to run.")
    pending = {i.decode() for i in redis_client.lrange(keys.pending("reports"), 0, -1)}
    assert pending == set(wanted)
    assert Inspector(redis_client).queue_stats("reports").archived == ARCHIVED - 12


def test_search_waits_for_continue_every_500_matches(make_app, redis_client):
    """1,200 matches: the first step shows 500 and a Continue button instead of loading on; the
    Continue URL resumes from the cursor, and no match is shown twice or lost."""
    fill_archived(redis_client, "many", 1_300, list(range(1_200)), NEEDLE_ERROR)
    app = make_app()
    create_admin(app)
    client = app.test_client()
    assert form_log_in(client).status_code == 302
    url, seen, steps = "/monitoring/search/step?q=spool&field=error", [], 0
    while url:
        text = client.get(url).text
        steps += 1
        seen += re.findall(r'<tr data-task-id="([^"]+)"', text)
        waiting = 'id="search-continue"' in text
        link = re.search(r'hx-get="([^"]*search/step[^"]*)"', text)
        url = html.unescape(link.group(1)) if link else ""
        if waiting:
            assert len(seen) % 500 == 0 and 'hx-trigger="load"' not in text
    assert steps >= 3
    assert len(seen) == len(set(seen)) == 1_200
    assert "Done: 1,200 match(es)" in text and "1,300 of 1,300 task(s) read" in text


def test_queue_page_filter_pages_through_the_whole_state(make_app, redis_client):
    """The queue page's filter reads on with the search cursor: 111 matches among 6,000 archived
    tasks, the newest and the oldest alike, 20 per page through "Next matches", none twice."""
    fill_archived(redis_client, "deep", 6_000, [], NEEDLE_ERROR)
    needle = "000059"  # in the IDs of tasks 59, 590-599 and 5900-5999
    wanted = {task_id(i) for i in range(6_000) if needle in task_id(i)}
    app = make_app()
    create_admin(app)
    client = app.test_client()
    assert form_log_in(client).status_code == 302
    url, seen = f"/monitoring/queues/deep?state=archived&q={needle}", []
    while url:
        text = client.get(url).text
        rows = re.findall(r'<tr data-task-id="([^"]+)"', text)
        assert len(rows) <= 20
        seen += rows
        link = re.search(r'id="filter-next" rel="next" href="([^"]+)"', text)
        url = html.unescape(link.group(1)) if link else ""
    assert len(seen) == len(set(seen)) and set(seen) == wanted
    assert "6,000 of 6,000 archived task(s) read" in text
