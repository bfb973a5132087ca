"""Dashboard access rules through the Flask test client: throttled logins, safe redirects,
HTMX-aware session expiry, closed setup, and the fragment-or-page rule of live views."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from runqy.web.monitoring.throttle import FREE_ATTEMPTS, LoginThrottle
from tests.dashboard.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, csrf_token


def form_token(client: FlaskClient, path: str, base_url: str = "http://localhost") -> str:
    return csrf_token(client.get(path, base_url=base_url).text)


def log_in(client: FlaskClient, password: str = ADMIN_PASSWORD, next_path: str | None = None,
           base_url: str = "http://localhost"):
    path = "/monitoring/login" + (f"?next={next_path}" if next_path else "")
    # Flask-WTF checks the Referer on HTTPS requests.
    return client.post(path, base_url=base_url, headers={"Referer": f"{base_url}{path}"},
                       data={"csrf_token": form_token(client, "/monitoring/login", base_url),
                             "email": ADMIN_EMAIL, "password": password})


@pytest.fixture()
def app(make_app, redis_client) -> Flask:
    built = make_app()
    create_admin(built)
    return built


def test_a_strangers_failures_slow_the_stranger_not_the_admin(app, make_app, redis_client):
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(FREE_ATTEMPTS):
        assert log_in(stranger, "wrong password").status_code == 401
    # The first delay is 1 s, shorter than a loaded machine may take to build the second app;
    # dating the last failure an hour ahead keeps the stranger's delay running for the whole
    # test, so what follows does not race the clock.
    redis_client.hincrbyfloat(LoginThrottle.key("203.0.113.9", ADMIN_EMAIL), "last", 3600)
    refused = log_in(stranger)  # at once, even with the right password
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "Too many failed logins" in refused.text
    assert stranger.get("/monitoring/").status_code == 302  # still logged out
    # Another server process on the same Redis refuses the stranger too...
    other_process = make_app()
    create_admin(other_process)
    second = other_process.test_client()
    second.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert log_in(second).status_code == 429
    # ...while the admin, from their own address, logs in at once.
    admin = app.test_client()
    admin.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert log_in(admin).status_code == 302


def test_delays_grow_after_the_free_attempts(app, redis_client):
    throttle = LoginThrottle(redis_client)
    attempt = ("192.0.2.1", "admin@example.com")
    key = LoginThrottle.key(*attempt)
    for _ in range(FREE_ATTEMPTS):
        assert throttle.attempt(*attempt) == 0
    waits = []
    for _ in range(4):
        waits.append(throttle.attempt(*attempt))
        # Time passes: the last failure moves back by the wait just announced.
        redis_client.hincrbyfloat(key, "last", -waits[-1])
        assert throttle.attempt(*attempt) == 0
    assert waits == [1, 2, 4, 8]
    assert 0 < redis_client.ttl(key) <= 86_400
    throttle.succeeded(*attempt)
    assert throttle.attempt(*attempt) == 0 and redis_client.hget(key, "failures") == b"1"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/api/queues"])
def test_login_never_redirects_outside_the_dashboard(app, target):
    response = log_in(app.test_client(), next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/monitoring/"


def test_expired_session_on_a_poll_sends_the_page_to_login(app):
    response = app.test_client().get("/monitoring/queues", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/monitoring/login?next=/monitoring/queues"


def test_setup_is_closed_once_an_admin_exists(app):
    client = app.test_client()
    assert client.get("/monitoring/setup").headers["Location"] == "/monitoring/login"
    response = client.post("/monitoring/setup", data={
        "csrf_token": form_token(client, "/monitoring/login"), "email": "x@y.z",
        "password": "another password", "confirm": "another password"})
    assert response.status_code == 409


def test_live_view_returns_the_fragment_to_htmx_and_the_page_otherwise(app):
    client = app.test_client()
    assert log_in(client).status_code == 302
    page = client.get("/monitoring/workers")
    fragment = client.get("/monitoring/workers", headers={"HX-Request": "true"})
    assert page.text.startswith("<!doctype html>") and 'id="live"' in page.text
    assert "<html" not in fragment.text and "runqy workers" in fragment.text


def test_logout_needs_post_with_token(app):
    client = app.test_client()
    log_in(client)
    assert client.get("/monitoring/logout").status_code == 405
    assert client.post("/monitoring/logout").status_code == 400  # no CSRF token
    assert client.get("/monitoring/").status_code == 200


def test_session_cookie_is_secure_only_over_https(app):
    plain_cookie = log_in(app.test_client()).headers["Set-Cookie"]
    tls_cookie = log_in(app.test_client(), base_url="https://localhost").headers["Set-Cookie"]
    assert "HttpOnly" in plain_cookie and "Secure" not in plain_cookie
    assert "HttpOnly" in tls_cookie and "Secure" in tls_cookie


def test_links_follow_x_forwarded_prefix_from_a_trusted_proxy(make_app, redis_client):
    app = make_app(trusted_proxies=1)
    create_admin(app)
    client = app.test_client()
    headers = {"X-Forwarded-Prefix": "/edge"}
    assert client.get("/monitoring/workers", headers=headers).headers["Location"] == \
        "/edge/monitoring/login?next=/edge/monitoring/workers"
    page = client.get("/monitoring/login", headers=headers).text
    assert 'href="/edge/static/css/dashboard.css"' in page
    assert 'src="/edge/static/vendor/htmx/htmx.min.js"' in page
    token = csrf_token(page)
    response = client.post("/monitoring/login?next=/edge/monitoring/workers", headers=headers,
                           data={"csrf_token": token, "email": ADMIN_EMAIL,
                                 "password": ADMIN_PASSWORD})
    assert response.headers["Location"] == "/edge/monitoring/workers"
