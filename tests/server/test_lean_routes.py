"""The lean path of `POST /queue/add` and `GET /queue/<id>` (runqy.web.lean_routes) answers
exactly as Flask does: same body, headers, request ID, metrics and access-log line; what it
does not handle is Flask's."""

from __future__ import annotations

import logging

from tests.metrics.test_metrics_endpoint import scrape
from tests.server.conftest import CLIENT, WORKER, configure

BODY = {"queue": "imgs", "data": {"prompt": "a cat", "n": 1}}
VARYING = {"X-Request-ID"}


def comparable(response) -> tuple[int, dict[str, str], dict]:
    """Status, headers but the request ID, and the JSON with the new task's ID and times out."""
    headers = {k: v for k, v in response.headers.items() if k not in VARYING}
    body = response.json
    info = body.get("info", {})
    for key in ("id", "next_process_at"):
        info.pop(key, None)
    return response.status_code, headers, body


def test_lean_answers_equal_flasks(app, client):
    configure(client, "imgs")
    # A query string sends the same request through Flask (the view ignores it).
    lean = client.post("/queue/add", headers=CLIENT, json=BODY)
    flask = client.post("/queue/add?via=flask", headers=CLIENT, json=BODY)
    assert lean.status_code == 200
    assert comparable(lean) == comparable(flask)
    assert "Set-Cookie" not in lean.headers and lean.headers["Cache-Control"] == "no-store"
    task_id = lean.json["info"]["id"]
    got = client.get(f"/queue/{task_id}", headers=CLIENT)
    assert got.status_code == 200 and got.json["info"]["id"] == task_id
    assert got.get_data() == client.get(f"/queue/{task_id}?wait=false", headers=CLIENT).get_data()
    secure = client.post("/queue/add", headers=CLIENT, json=BODY, base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_lean_requests_keep_request_ids_metrics_and_the_access_log(client, caplog):
    configure(client, "imgs")
    caplog.set_level(logging.INFO, logger="runqy.web.access")
    added = client.post("/queue/add", headers={**CLIENT, "X-Request-ID": "req-lean-1"}, json=BODY)
    assert added.headers["X-Request-ID"] == "req-lean-1"
    task_id = added.json["info"]["id"]
    client.get(f"/queue/{task_id}", headers=CLIENT)
    assert "POST /queue/add 200" in caplog.text and "[req-lean-1]" in caplog.text
    assert f"GET /queue/{task_id} 200" in caplog.text
    counts = scrape(client, **CLIENT).values("flask_http_request_duration_seconds_count")
    assert counts[frozenset({"method": "POST", "url_rule": "/queue/add",
                             "status": "200"}.items())] == 1
    assert counts[frozenset({"method": "GET", "url_rule": "/queue/<task_id>",
                             "status": "200"}.items())] == 1


def test_refusals_and_failures_are_flasks_answers(client, redis_client):
    configure(client, "imgs")
    assert client.post("/queue/add", json=BODY).status_code == 401
    assert client.post("/queue/add", headers={"Authorization": "Bearer nope"},
                       json=BODY).status_code == 401
    assert client.post("/queue/add", headers=WORKER, json=BODY).status_code == 403
    bad = client.post("/queue/add", headers={**CLIENT, "X-Request-ID": "req-bad"},
                      data=b"{not json", content_type="application/json")
    assert (bad.status_code, bad.json["code"]) == (400, "invalid_json")
    assert bad.headers["X-Request-ID"] == "req-bad"
    assert bad.headers["X-Content-Type-Options"] == "nosniff"
    missing = client.post("/queue/add", headers=CLIENT, json={"queue": "nope", "data": {}})
    assert (missing.status_code, missing.json["code"]) == (404, "queue_not_found")
    unknown = client.get("/queue/0123456789abcdef", headers=CLIENT)
    assert (unknown.status_code, unknown.json["code"]) == (404, "task_not_found")
    assert redis_client.llen("asynq:{imgs.default}:pending") == 0  # nothing was written
    counts = scrape(client, **CLIENT).values("flask_http_request_duration_seconds_count")
    assert counts[frozenset({"method": "POST", "url_rule": "/queue/add",
                             "status": "400"}.items())] == 1


def test_the_lean_path_knows_every_request_hook(app):
    """LeanRoutes does what these hooks do for its requests (or, for the dashboard's CSRF and
    remember-me cookie, what they do for an API request: nothing). A new hook must be added
    there too, or its requests would silently skip it: this fails until it is."""
    def names(table):
        return {key: sorted(f"{f.__module__}.{f.__qualname__}" for f in funcs)
                for key, funcs in table.items() if funcs}

    local = "init_request_metrics.<locals>"
    assert names(app.before_request_funcs) == {
        None: ["flask_wtf.csrf.CSRFProtect.init_app.<locals>.csrf_protect",
               f"runqy.metrics.http_metrics.{local}._start",
               "runqy.web.factory._register_request_hooks.<locals>._request_id"],
        "monitoring": ["runqy.web.monitoring.auth.guard"]}
    assert names(app.after_request_funcs) == {
        None: ["flask_login.login_manager.LoginManager._update_remember_cookie",
               f"runqy.metrics.http_metrics.{local}._observe",
               "runqy.web.factory._register_request_hooks.<locals>._headers",
               "runqy.web.security_headers.init_security_headers.<locals>._security_headers"]}
    assert names(app.teardown_request_funcs) == {
        None: [f"runqy.metrics.http_metrics.{local}._exception"]}
    assert not names(app.url_value_preprocessors) and not names(app.url_default_functions)
