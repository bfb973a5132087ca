"""The Aggregating tab of Queue detail in a browser: tasks waiting in aggregation groups
(wire-format.md 6.6), the group chosen in the URL, and run / archive / delete on them."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from runqy.broker import Broker, Inspector
from tests.dashboard.test_browser import collect_dialogs
from tests.metrics.dataset import message

QUEUE = "digest.default"


def enqueue_groups(broker: Broker, sizes: dict[str, int]) -> dict[str, list[str]]:
    """Aggregating tasks through the real broker; their IDs per group."""
    return {group: [broker.enqueue(message(QUEUE), group=group).task_id
                    for _ in range(size)]
            for group, size in sizes.items()}


def test_aggregating_tab_lists_groups_and_acts_on_their_tasks(server, page, redis_client):
    broker = Broker(redis_client)
    inspector = Inspector(redis_client)
    ids = enqueue_groups(broker, {"emails": 3, "alerts": 2})
    broker.enqueue(message(QUEUE))  # one pending task, for the tab counts
    dialogs = collect_dialogs(page)

    page.goto(server.url(f"/monitoring/queues/{QUEUE}"))
    expect(page.locator('[data-count="aggregating"]')).to_have_text("5")
    page.click('[data-state="aggregating"]')
    expect(page).to_have_url(re.compile(r"state=aggregating"))
    # The first group by name is shown until another is chosen.
    expect(page.locator('#group-tabs [aria-current="page"]')).to_have_attribute(
        "data-group", "alerts")
    expect(page.locator('#group-tabs [data-group="emails"] .badge')).to_have_text("3")
    expect(page.locator("#task-table tbody tr")).to_have_count(2)
    page.click('#group-tabs [data-group="emails"]')
    expect(page).to_have_url(re.compile(r"group=emails"))
    rows = page.locator("#task-table tbody tr")
    expect(rows).to_have_count(3)
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.taskId)")
    assert sorted(shown) == sorted(ids["emails"])
    expect(rows.first.locator("td").nth(5)).to_have_text("emails")

    first, second, third = shown
    page.locator(f'tr[data-task-id="{first}"] >> text=Run').click()
    expect(page.locator(".flash")).to_have_text(f"Task {first} queued to run.")
    assert inspector.get_task(QUEUE, first).state == "pending"
    expect(page).to_have_url(re.compile(r"group=emails"))  # back to the same group
    page.locator(f'tr[data-task-id="{second}"] >> text=Archive').click()
    expect(page.locator(".flash")).to_have_text(f"Task {second} archived.")
    assert inspector.get_task(QUEUE, second).state == "archived"
    page.locator(f'tr[data-task-id="{third}"] >> button:has-text("Delete")').click()
    expect(page.locator(".flash")).to_have_text(f"Task {third} deleted.")
    assert "emails" not in inspector.groups(QUEUE)
    # The emptied group's page stays on the tab and offers what is left.
    expect(page.locator("#group-tabs [data-group]")).to_have_count(1)

    page.goto(server.url(f"/monitoring/queues/{QUEUE}?state=aggregating&group=alerts"))
    page.click("text=Archive all")
    expect(page.locator(".flash")).to_have_text("2 aggregating task(s) in group alerts archived.")
    assert dialogs[-1] == f"Archive all 2 aggregating task(s) of group alerts in {QUEUE}?"
    stats = inspector.queue_stats(QUEUE)
    assert (stats.aggregating, stats.archived, stats.pending) == (0, 3, 2)
    assert inspector.groups(QUEUE) == []


def test_run_all_and_delete_all_act_on_the_chosen_group_only(server, page, redis_client):
    broker = Broker(redis_client)
    inspector = Inspector(redis_client)
    enqueue_groups(broker, {"a": 2, "b": 4})
    collect_dialogs(page)
    page.goto(server.url(f"/monitoring/queues/{QUEUE}?state=aggregating&group=b"))
    page.click("text=Run all")
    expect(page.locator(".flash")).to_have_text("4 aggregating task(s) in group b queued to run.")
    assert inspector.queue_stats(QUEUE).pending == 4
    assert inspector.groups(QUEUE) == ["a"]
    page.goto(server.url(f"/monitoring/queues/{QUEUE}?state=aggregating&group=a"))
    page.click("text=Delete all")
    expect(page.locator(".flash")).to_have_text("2 aggregating task(s) in group a deleted.")
    stats = inspector.queue_stats(QUEUE)
    assert (stats.aggregating, stats.pending) == (0, 4)


def test_queue_without_groups_has_no_aggregating_tab(server, page, redis_client):
    Broker(redis_client).enqueue(message(QUEUE))
    page.goto(server.url(f"/monitoring/queues/{QUEUE}"))
    expect(page.locator('[data-state="pending"]')).to_have_count(1)
    expect(page.locator('[data-state="aggregating"]')).to_have_count(0)
    # A bookmarked Aggregating page, filtered, of a queue whose groups are all gone.
    response = page.goto(server.url(f"/monitoring/queues/{QUEUE}?state=aggregating&q=x"))
    assert response.status == 200
    expect(page.locator("#group-tabs")).to_contain_text("no group holds tasks now")
    expect(page.locator(".empty")).to_have_text("No aggregating tasks matching “x”.")
