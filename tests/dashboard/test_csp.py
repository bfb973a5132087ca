"""Security headers on every page, and the whole dashboard working under its strict CSP:
every page loads, and refreshes, in real Chromium with no Content-Security-Policy violation."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, expect

from runqy.web.security_headers import CONTENT_SECURITY_POLICY
from tests.dashboard import dataset
from tests.dashboard.conftest import ADMIN_KEY, LiveServer, log_in, set_poll_interval

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}

# Registered before any page script runs: violations are kept on the page for the test to read.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def dashboard_paths(server: LiveServer, known: dataset.Known) -> list[str]:
    api = server.app.test_client()
    assert api.post("/api/queue-configs", headers=ADMIN, json={
        "name": "images", "deployment": {"path": "/srv", "startup_cmd": "python m.py"}},
    ).status_code == 201
    assert api.post("/api/vaults", headers=ADMIN, json={"name": "keys"}).status_code == 201
    paths = ["/monitoring/", "/monitoring/queues", f"/monitoring/queues/{dataset.IMAGES_HIGH}",
             f"/monitoring/queues/{dataset.IMAGES_HIGH}?state=archived",
             f"/monitoring/queues/{dataset.MAIL}/tasks/{known.script_task_id}",
             "/monitoring/workers", "/monitoring/workers/worker-a", "/monitoring/metrics",
             "/monitoring/queue-configs", "/monitoring/queue-configs/new",
             "/monitoring/queue-configs/images", "/monitoring/vaults", "/monitoring/vaults/keys",
             "/monitoring/system", "/monitoring/settings", "/monitoring/password"]
    return [server.url(path) for path in paths]


def test_every_dashboard_page_works_under_the_csp(context, server, redis_client):
    known = dataset.build(redis_client)
    console: list[str] = []
    context.add_init_script(RECORD_VIOLATIONS)
    set_poll_interval(context, server, 2)
    page = context.new_page()
    page.on("console", lambda msg: console.append(msg.text) if _is_csp(msg) else None)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(server.url("/monitoring/login"))
    assert page.evaluate("window.__cspViolations") == []
    log_in(page, server)
    for url in dashboard_paths(server, known) + [server.base + "/docs"]:
        response = page.goto(url)
        assert response.status == 200, url
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        page.wait_for_load_state("load")
        assert page.evaluate("window.__cspViolations") == [], url
    # Live refresh, a filter (htmx swaps) and a bulk action still work under the policy.
    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_LOW}"))
    with page.expect_response(lambda r: "images.low" in r.url and
                              r.request.headers.get("hx-request") == "true"):
        pass  # the 2 s poll
    page.fill("#task-filter", "no-such-task")
    expect(page.locator("#filter-summary")).to_contain_text("0 match(es)")
    page.goto(server.url(f"/monitoring/queues/{dataset.IMAGES_HIGH}?state=pending"))
    page.locator("input.row-select").first.check()
    page.get_by_role("button", name="Archive selected").click()
    expect(page.locator(".flash")).to_contain_text("1 task(s) archived.")
    assert page.evaluate("window.__cspViolations") == []
    assert console == []


def _is_csp(message: ConsoleMessage) -> bool:
    return "Content Security Policy" in message.text or "Content-Security-Policy" in message.text


def test_security_headers_on_html_json_and_https(server):
    client = server.app.test_client()
    page = client.get("/monitoring/login")
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in page.headers  # plain HTTP
    assert client.get("/docs").headers["X-Frame-Options"] == "DENY"
    health = client.get("/health")
    assert health.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in health.headers
    secure = client.get("/monitoring/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
