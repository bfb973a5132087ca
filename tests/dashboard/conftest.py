"""Fixtures for the dashboard tests: a real runqy server (waitress in a thread) on the session's
real Redis, one headless Chromium for the session, and logged-in browser pages.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page
from waitress.server import create_server

from runqy.config import Settings
from runqy.web import create_app
from runqy.web.extensions import db
from runqy.web.models import AdminUser
from runqy.web.state import state_of
from tests.support.browser import launch_chromium
from tests.support.waitress_thread import ServingThread

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"
ADMIN_KEY = "dashboard-test-admin-key-0123456789"
VAULT_KEY = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="  # base64 of 32 bytes
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@dataclass
class LiveServer:
    """A runqy app served by waitress on a free loopback port."""

    app: Flask
    base: str  # http://127.0.0.1:<port>
    prefix: str

    def url(self, path: str) -> str:
        return f"{self.base}{self.prefix}{path}"

    def create_admin(self) -> None:
        create_admin(self.app)


def create_admin(app: Flask, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    with app.app_context():
        db.session.add(AdminUser(email=email, password_hash=password_hash(password)))
        db.session.commit()


@functools.cache
def password_hash(password: str) -> str:
    """AdminUser.set_password's hash, computed once per password (scrypt takes about 0.1 s
    by design, and nearly every dashboard test creates the same admin)."""
    admin = AdminUser()
    admin.set_password(password)
    return admin.password_hash


@pytest.fixture()
def make_app(tmp_path, redis_server) -> Iterator[Callable[..., Flask]]:
    """Build runqy apps on the test Redis (closed after the test); keyword arguments override
    Settings fields."""
    built: list[Flask] = []

    def build(**overrides: object) -> Flask:
        overrides.setdefault("redis_url", redis_server.url)
        overrides.setdefault("vault_master_key", VAULT_KEY)
        instance = tmp_path / f"instance{len(built)}"
        built.append(create_app(Settings(instance_path=instance, api_key=ADMIN_KEY, **overrides)))
        return built[-1]

    yield build
    for app in built:
        state_of(app).close()


@pytest.fixture()
def start_server(make_app) -> Iterator[Callable[..., LiveServer]]:
    """Start servers on demand (on `listen_port`, default a free one); other keyword arguments
    override Settings fields."""
    running = []

    def start(listen_port: int = 0, **overrides: object) -> LiveServer:
        app = make_app(**overrides)
        serving = ServingThread(create_server(app, host="127.0.0.1", port=listen_port,
                                              threads=8))
        running.append(serving)
        return LiveServer(app, serving.base_url,
                          app.extensions["runqy"].settings.url_prefix.rstrip("/"))

    yield start
    for serving in running:
        serving.stop()


@pytest.fixture()
def server(start_server, redis_client: redis.Redis) -> LiveServer:
    """A server on a flushed Redis with an admin account already created."""
    live = start_server()
    live.create_admin()
    return live


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture()
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


def log_in(page: Page, server: LiveServer, next_path: str = "/monitoring/") -> None:
    """Log the page's browser context in through the login endpoint (its CSRF token, password
    check and session cookie; test_browser fills in the form itself), then open `next_path`.
    Posting the form from the page's request context skips drawing the login page and the
    dashboard twice, about 0.4 s per test on this machine."""
    login = server.url("/monitoring/login")
    answer = page.request.post(login, max_redirects=0, form={
        "csrf_token": csrf_token(page.request.get(login).text()),
        "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert answer.status == 302, answer.text()[:500]
    page.goto(server.url(next_path))


def csrf_token(html: str) -> str:
    """The CSRF token of the (first) form in a dashboard page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


@pytest.fixture()
def page(context: BrowserContext, server: LiveServer) -> Page:
    """A browser page logged in to `server`; dialogs (confirmations) are accepted."""
    tab = context.new_page()
    log_in(tab, server)
    return tab


def set_poll_interval(context: BrowserContext, server: LiveServer, seconds: int) -> None:
    context.add_cookies([{"name": "runqy_poll", "value": str(seconds), "url": server.base}])
