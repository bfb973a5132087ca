"""The dashboard in a real browser against a real server, Redis and broker-made data.

Each test drives Chromium the way an operator would and checks what they would notice: the
numbers on the page, and what Redis holds after clicking.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from runqy.broker import Broker, Inspector, keys
from tests.dashboard import dataset
from tests.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    SCREENSHOTS,
    LiveServer,
    log_in,
    set_poll_interval,
)
from tests.metrics.dataset import message

# The page background of each theme (--bg in static/css/dashboard.css).
BACKGROUNDS = {"light": "rgb(246, 247, 249)", "dark": "rgb(16, 21, 30)"}


def collect_dialogs(page: Page) -> list[str]:
    """Accept every confirmation and remember its text."""
    seen: list[str] = []

    def accept(dialog) -> None:
        seen.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return seen


def card(page: Page, name: str):
    return page.locator(f'[data-stat="{name}"] .value')


def test_first_setup_then_login_logout_and_back_to_the_page_asked_for(start_server, context,
                                                                       redis_client):
    server = start_server()
    page = context.new_page()
    page.goto(server.url("/monitoring"))
    expect(page).to_have_url(re.compile(r"/monitoring/setup$"))
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", "short")
    page.fill("#confirm", "short")
    page.click("text=Create Admin Account")
    expect(page.locator(".field-error")).to_contain_text("at least 8")

    page.fill("#password", ADMIN_PASSWORD)
    page.fill("#confirm", ADMIN_PASSWORD)
    page.click("text=Create Admin Account")
    expect(page.locator("h1")).to_have_text("Overview")
    session = next(c for c in context.cookies() if c["name"] == "session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert 6.9 * 86400 < session["expires"] - time.time() <= 7 * 86400 + 60

    page.goto(server.url("/monitoring/setup"))  # setup is closed once an admin exists
    expect(page).to_have_url(re.compile(r"/monitoring/$"))

    page.goto(server.url("/monitoring/"))
    page.click("text=Logout")
    expect(page).to_have_url(re.compile(r"/monitoring/login$"))
    page.goto(server.url("/monitoring/workers?x=1"))
    expect(page).to_have_url(re.compile(r"/monitoring/login\?next="))
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".flash.error")).to_have_text("Wrong email or password.")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/monitoring/workers\?x=1$"))


def test_overview_shows_the_known_numbers(server: LiveServer, page: Page, redis_client):
    known = dataset.build(redis_client)
    page.goto(server.url("/monitoring/?range=30d"))
    expect(card(page, "queues")).to_have_text("3")
    expect(card(page, "pending")).to_have_text(str(known.pending))
    expect(card(page, "active")).to_have_text(str(known.active))
    expect(card(page, "retry")).to_have_text(str(known.retry))
    expect(card(page, "archived")).to_have_text(str(known.archived))
    expect(card(page, "workers")).to_have_text("1 / 2")
    expect(card(page, "processed")).to_have_text(str(known.processed_today))
    expect(card(page, "failed")).to_have_text(str(known.failed_today))
    rate = f"{100 * known.failed_today / known.processed_today:.1f}%"
    expect(card(page, "error-rate")).to_have_text(rate)
    expect(page.locator("#history-totals")).to_have_text(
        f"{known.processed_today} processed, {known.failed_today} failed")
    assert page.locator("#history-chart svg.chart g.day").count() == 30
    expect(page.locator(f'#queue-sizes tr[data-queue="{dataset.IMAGES_LOW}"] td').nth(2)
           ).to_have_text("25")
    page.click("text=7D")
    expect(page).to_have_url(re.compile(r"range=7d"))
    assert page.locator("#history-chart svg.chart g.day").count() == 7


def test_queues_grouped_by_parent_and_pause_resume_change_redis(server, page, redis_client):
    dataset.build(redis_client)
    inspector = Inspector(redis_client)
    page.goto(server.url("/monitoring/queues"))
    parents = page.locator("#queues tr.parent td")
    expect(parents.nth(0)).to_contain_text("images")
    expect(parents.nth(1)).to_contain_text("mail")
    row = page.locator(f'#queues tr[data-queue="{dataset.IMAGES_HIGH}"]')
    expect(row.locator("td").nth(2)).to_have_text("3")  # pending
    row.locator("text=Pause").click()
    expect(page.locator(".flash")).to_have_text(f"Queue {dataset.IMAGES_HIGH} paused.")
    assert inspector.queue_stats(dataset.IMAGES_HIGH).paused
    expect(row.locator(".badge")).to_have_text("paused")
    row.locator("text=Resume").click()
    expect(page.locator(".flash")).to_have_text(f"Queue {dataset.IMAGES_HIGH} resumed.")
    assert not inspector.queue_stats(dataset.IMAGES_HIGH).paused


def test_force_delete_queue_states_the_task_count(server, page, redis_client):
    dataset.build(redis_client)
    dialogs = collect_dialogs(page)
    page.goto(server.url("/monitoring/queues"))
    page.locator(f'#queues tr[data-queue="{dataset.IMAGES_LOW}"] >> text=Force delete').click()
    expect(page.locator(".flash")).to_have_text(f"Queue {dataset.IMAGES_LOW} deleted.")
    assert dialogs == [f"Delete queue {dataset.IMAGES_LOW} and its 25 task(s)?"]
    assert dataset.IMAGES_LOW not in Inspector(redis_client).queue_names()


def test_queue_detail_paginates_on_the_server_and_filters(server, page, redis_client):
    dataset.build(redis_client)
    low = Inspector(redis_client)
    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_LOW}"))
    expect(page.locator('[data-count="pending"]')).to_have_text("25")
    expect(page.locator("#task-table tbody tr")).to_have_count(20)
    first_page_ids = page.locator("#task-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.taskId)")
    expected = [t.id for t in low.list_tasks(dataset.IMAGES_LOW, "pending", 1, 20)]
    assert first_page_ids == expected
    page.click("text=Next ›")
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("#task-table tbody tr")).to_have_count(5)
    expect(page.locator(".pagination")).to_contain_text("Page 2 of 2")

    wanted = expected[7]
    page.fill("#task-filter", wanted[:13])
    expect(page.locator("#task-table tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=" + wanted[:13]))
    expect(page.locator("#filter-summary")).to_contain_text("1 match(es)")
    page.reload()  # the filter lives in the URL
    expect(page.locator(f'tr[data-task-id="{wanted}"]')).to_have_count(1)


def test_run_archived_task_archive_and_delete_change_redis(server, page, redis_client):
    dataset.build(redis_client)
    inspector = Inspector(redis_client)
    dialogs = collect_dialogs(page)
    archived = inspector.list_tasks(dataset.IMAGES_HIGH, "archived", 1, 20)[0].id
    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}?state=archived"))
    expect(page.locator('[data-count="archived"]')).to_have_text("2")
    page.locator(f'tr[data-task-id="{archived}"] >> text=Run').click()
    expect(page.locator(".flash")).to_have_text(f"Task {archived} queued to run.")
    assert inspector.get_task(dataset.IMAGES_HIGH, archived).state == "pending"
    expect(page.locator('[data-count="archived"]')).to_have_text("1")

    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}?state=pending"))
    pending = inspector.list_tasks(dataset.IMAGES_HIGH, "pending", 1, 20)[0].id
    page.locator(f'tr[data-task-id="{pending}"] >> text=Archive').click()
    expect(page.locator(".flash")).to_have_text(f"Task {pending} archived.")
    assert inspector.get_task(dataset.IMAGES_HIGH, pending).state == "archived"

    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}?state=retry"))
    retry = inspector.list_tasks(dataset.IMAGES_HIGH, "retry", 1, 20)[0].id
    page.locator(f'tr[data-task-id="{retry}"] >> button:has-text("Delete")').click()
    expect(page.locator(".flash")).to_have_text(f"Task {retry} deleted.")
    assert inspector.queue_stats(dataset.IMAGES_HIGH).retry == 0
    assert dialogs == [f"Archive task {pending}?", f"Delete task {retry}?"]


def test_bulk_selected_and_all_in_state_actions(server, page, redis_client):
    dataset.build(redis_client)
    inspector = Inspector(redis_client)
    dialogs = collect_dialogs(page)
    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_LOW}"))
    boxes = page.locator("#task-table input.row-select")
    chosen = [boxes.nth(i).get_attribute("value") for i in (0, 1, 2)]
    for i in (0, 1, 2):
        boxes.nth(i).check()
    page.click("text=Archive selected")
    expect(page.locator(".flash")).to_have_text("3 task(s) archived.")
    assert dialogs[-1] == "Archive 3 selected task(s)?"
    assert {t.id for t in inspector.list_tasks(dataset.IMAGES_LOW, "archived")} == set(chosen)

    page.click("text=Delete all")
    expect(page.locator(".flash")).to_have_text("22 pending task(s) deleted.")
    assert dialogs[-1] == f"Delete all 22 pending task(s) in {dataset.IMAGES_LOW}?"
    stats = inspector.queue_stats(dataset.IMAGES_LOW)
    assert (stats.pending, stats.archived) == (0, 3)

    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_LOW}?state=archived"))
    page.click("text=Run all")
    expect(page.locator(".flash")).to_have_text("3 archived task(s) queued to run.")
    assert inspector.queue_stats(dataset.IMAGES_LOW).pending == 3


def test_payload_with_script_is_shown_as_text(server, page, redis_client):
    known = dataset.build(redis_client)
    page.goto(server.url(f"/monitoring/tasks/{known.script_task_id}"))
    expect(page.locator("#task-payload")).to_contain_text("<script>window.__pwned = 1</script>")
    page.goto(server.url(f"/monitoring/queues/{dataset.MAIL}"))
    expect(page.locator(".payload")).to_contain_text("<script>")
    assert page.evaluate("window.__pwned") is None


def test_task_detail_permalink_shows_fields_and_acts(server, page, redis_client):
    dataset.build(redis_client)
    inspector = Inspector(redis_client)
    task = inspector.list_tasks(dataset.IMAGES_HIGH, "retry")[0]
    page.goto(server.url(f"/monitoring/tasks/{task.id}"))
    expect(page.locator("#task-state")).to_have_text("retry")
    expect(page.locator("#task-error")).to_have_text("boom")
    expect(page.locator("#task-attempts")).to_have_text(
        f"retried {task.retried} of {task.max_retry} time(s)")
    expect(page.locator("#task-next-run")).to_contain_text("in ")
    page.click("h2 >> text=Run")
    expect(page.locator("#task-state")).to_have_text("pending")
    assert inspector.get_task(dataset.IMAGES_HIGH, task.id).state == "pending"


def test_workers_page_lists_heartbeats_stale_and_go_servers(server, page, redis_client):
    known = dataset.build(redis_client)
    page.goto(server.url("/monitoring/workers"))
    healthy = page.locator('#workers tr[data-worker="worker-a"]')
    expect(healthy).to_contain_text("healthy")
    expect(healthy).to_contain_text(known.active_task_id)
    expect(healthy).to_contain_text(f"{dataset.IMAGES_HIGH}, {dataset.IMAGES_LOW}")
    expect(page.locator('#workers tr[data-worker="worker-b"]')).to_contain_text("stale")
    go = page.locator('#servers tr[data-server="go-server-1"]')
    expect(go).to_contain_text("gohost")
    expect(go).to_contain_text("go-task-1")
    page.click("text=worker-a")
    expect(page.locator("#worker-logs")).to_contain_text("worker-a <b>booted</b>")
    expect(page.locator("dl.facts")).to_contain_text("12.5%")


def test_live_refresh_shows_a_new_task_within_two_poll_intervals(server, context, redis_client):
    dataset.build(redis_client)
    set_poll_interval(context, server, 2)
    page = context.new_page()
    log_in(page, server)
    pending = card(page, "pending")
    before = int(pending.inner_text())
    Broker(redis_client).enqueue(message(dataset.MAIL))
    expect(pending).to_have_text(str(before + 1), timeout=4_500)
    # The page was not reloaded: only the partial was swapped in.
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_failed_poll_shows_disconnected(start_server, context, redis_client):
    server = start_server()
    server.create_admin()
    set_poll_interval(context, server, 2)
    page = context.new_page()
    log_in(page, server)
    expect(page.locator("#disconnected")).to_be_hidden()
    page.route("**/monitoring/**", lambda route: route.abort())
    expect(page.locator("#disconnected")).to_be_visible(timeout=5_000)
    page.unroute("**/monitoring/**")
    expect(page.locator("#disconnected")).to_be_hidden(timeout=5_000)


def test_post_without_csrf_token_is_refused(server, page, redis_client):
    dataset.build(redis_client)
    response = page.request.post(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}/pause"))
    assert response.status == 400
    assert "token" in response.text().lower()
    assert not Inspector(redis_client).queue_stats(dataset.IMAGES_HIGH).paused


def test_read_only_hides_and_refuses_changes(start_server, context, redis_client):
    dataset.build(redis_client)
    server = start_server(read_only=True)
    server.create_admin()
    page = context.new_page()
    log_in(page, server)  # login still works
    page.goto(server.url("/monitoring/queues"))
    expect(page.locator(".badge.readonly-note")).to_have_text("read-only")
    expect(page.locator("#queues button")).to_have_count(0)
    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}"))
    expect(page.locator("#task-table input, #task-table button")).to_have_count(0)
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    response = page.request.post(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}/pause"),
                                 headers={"X-CSRFToken": token})
    assert response.status == 403
    assert not Inspector(redis_client).queue_stats(dataset.IMAGES_HIGH).paused


def test_no_ui_removes_every_dashboard_route(start_server, context, redis_client):
    server = start_server(no_ui=True)
    assert not any(rule.rule.startswith("/monitoring")
                   for rule in server.app.url_map.iter_rules())
    page = context.new_page()
    for path in ("/monitoring", "/monitoring/", "/monitoring/login", "/monitoring/setup"):
        assert page.request.get(server.url(path)).status == 404
    assert page.request.get(server.url("/health")).status == 200


def test_everything_works_under_a_url_prefix(start_server, context, redis_client):
    dataset.build(redis_client)
    server = start_server(url_prefix="/runqy")
    page = context.new_page()
    page.goto(server.url("/monitoring/"))
    expect(page).to_have_url(re.compile(r"/runqy/monitoring/setup$"))
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.fill("#confirm", ADMIN_PASSWORD)
    page.click("text=Create Admin Account")
    expect(card(page, "queues")).to_have_text("3")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgba(0, 0, 0, 0)"
    page.click("nav >> text=Queues")
    expect(page).to_have_url(re.compile(r"/runqy/monitoring/queues$"))
    page.locator(f'#queues tr[data-queue="{dataset.MAIL}"] >> text=Pause').click()
    expect(page.locator(".flash")).to_have_text(f"Queue {dataset.MAIL} paused.")
    assert Inspector(redis_client).queue_stats(dataset.MAIL).paused
    hrefs = page.locator("a[href^='/']").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    assert hrefs and all(h.startswith("/runqy/") for h in hrefs)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_system_theme_follows_the_browser(server, browser, scheme):
    ctx = browser.new_context(color_scheme=scheme)
    page = ctx.new_page()
    log_in(page, server)
    assert page.locator("html").get_attribute("data-theme") == "system"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == BACKGROUNDS[scheme]
    ctx.close()


def test_settings_change_theme_and_poll_interval(server, page):
    page.goto(server.url("/monitoring/settings"))
    page.select_option("#theme", "dark")
    page.select_option("#poll_interval", "0")
    page.click("text=Save")
    expect(page.locator(".flash")).to_have_text("Settings saved.")
    assert page.locator("html").get_attribute("data-theme") == "dark"
    page.goto(server.url("/monitoring/"))
    assert page.locator("#live").get_attribute("hx-trigger") is None


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots(server, context, redis_client, theme):
    """Overview, Queue detail and Workers, saved under test-artifacts/screenshots/."""
    dataset.build(redis_client)
    context.add_cookies([{"name": "runqy_theme", "value": theme, "url": server.base}])
    page = context.new_page()
    log_in(page, server)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == BACKGROUNDS[theme]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in (("overview", "/monitoring/?range=7d"),
                       ("queue-detail", f"/monitoring/queues/{dataset.IMAGES_HIGH}?state=archived"),
                       ("workers", "/monitoring/workers")):
        page.goto(server.url(path))
        expect(page.locator("#live")).to_be_visible()
        target = SCREENSHOTS / f"{name}-{theme}.png"
        page.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 10_000


def test_queue_config_editor_creates_and_disables_a_parent_queue(server, page, redis_client):
    dialogs = collect_dialogs(page)
    page.goto(server.url("/monitoring/queue-configs"))
    page.click("text=New configuration")
    page.fill("#name", "inference")
    page.fill("#body", '{"sub_queues": [{"name": "high", "priority": 10}, '
                       '{"name": "low", "priority": 1}], "deployment": '
                       '{"path": "apps/inference", "startup_cmd": "python main.py"}}')
    page.click("text=Save")
    row = page.locator('#queue-configs tr[data-config="inference"]')
    expect(row).to_contain_text("high (10), low (1)")
    assert {"inference.high", "inference.low"} <= set(Inspector(redis_client).queue_names())

    row.locator("a").click()
    stored = page.input_value("#body")  # the editor opens on the stored document
    assert '"path": "apps/inference"' in stored
    page.fill("#body", stored.replace('"priority": 10', '"priority": 0'))
    page.click("text=Save")
    expect(page.locator(".flash.error")).to_have_text(
        "sub_queues[0]: priority must be an integer 1-1000")
    page.goto(server.url("/monitoring/queue-configs"))
    row.locator("text=Disable").click()
    expect(row.locator("td.status .badge")).to_have_text("disabled")
    assert dialogs == ["Disable queue configuration inference? "
                       "Workers can no longer register for it."]


def test_vaults_mask_secret_values_and_unset_entries(server, page):
    page.goto(server.url("/monitoring/vaults"))
    page.fill("#name", "ml-keys")
    page.click("text=Create vault")
    expect(page.locator("h1")).to_have_text("Vault ml-keys")
    page.fill("#key", "HF_TOKEN")
    page.fill("#value", "hf_super_secret")
    page.click("text=Set entry")
    page.fill("#key", "REGION")
    page.fill("#value", "eu-west-1")
    page.uncheck("#is_secret")
    page.click("text=Set entry")
    expect(page.locator('tr[data-key="HF_TOKEN"]')).to_contain_text("********")
    expect(page.locator('tr[data-key="REGION"]')).to_contain_text("eu-west-1")
    assert "hf_super_secret" not in page.content()
    collect_dialogs(page)
    page.locator('tr[data-key="REGION"] >> text=Unset').click()
    expect(page.locator('tr[data-key="REGION"]')).to_have_count(0)


def test_system_page_shows_redis_and_database(server, page, redis_server):
    page.goto(server.url("/monitoring/system"))
    expect(page.locator(".cards")).to_contain_text(redis_server.version())
    expect(page.locator("#database-info")).to_contain_text("sqlite")
    expect(page.locator("#database-info")).to_contain_text("Admin accounts1")


def test_polling_pauses_while_the_tab_is_hidden(server, context):
    set_poll_interval(context, server, 2)
    # Let the test hide the tab: document.hidden follows window.__hidden.
    context.add_init_script("Object.defineProperty(document, 'hidden', "
                            "{configurable: true, get: () => window.__hidden === true});")
    page = context.new_page()
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.headers.get("hx-request") else None)
    log_in(page, server)
    with page.expect_request(lambda r: r.headers.get("hx-request") == "true", timeout=5_000):
        pass
    page.evaluate("window.__hidden = true")
    seen = len(polls)
    page.wait_for_timeout(4_500)  # two intervals with the tab hidden: absence needs the wait
    assert len(polls) == seen
    # Back on the tab: one refresh at once. With a 30 s interval on a freshly loaded page, no
    # regular poll can be what arrives within a second.
    set_poll_interval(context, server, 30)
    page.reload()
    page.evaluate("window.__hidden = true")
    with page.expect_request(lambda r: r.headers.get("hx-request") == "true", timeout=1_000):
        page.evaluate("window.__hidden = false; "
                      "document.dispatchEvent(new Event('visibilitychange'))")


def test_cancel_active_task_publishes_to_workers(server, page, redis_client):
    known = dataset.build(redis_client)
    subscriber = redis_client.pubsub()
    subscriber.subscribe(keys.CANCEL_CHANNEL)
    assert subscriber.get_message(timeout=2)["type"] == "subscribe"
    collect_dialogs(page)
    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}?state=active"))
    page.locator(f'tr[data-task-id="{known.active_task_id}"] >> text=Cancel').click()
    expect(page.locator(".flash")).to_have_text(f"Task {known.active_task_id} asked to cancel.")
    message = subscriber.get_message(timeout=5)
    subscriber.close()
    assert message["data"].decode() == known.active_task_id
