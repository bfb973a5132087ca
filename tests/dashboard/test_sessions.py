"""Dashboard sessions are revocable server-side: a copied session cookie stops working after
logout, "Sign out everywhere" and a password change."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.dashboard.conftest import ADMIN_PASSWORD, create_admin
from tests.dashboard.test_auth import form_token, log_in

NEW_PASSWORD = "a brand new password"


@pytest.fixture()
def app(make_app, redis_client) -> Flask:
    built = make_app()
    create_admin(built)
    return built


def logged_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert log_in(client).status_code == 302
    return client


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert thief.get("/monitoring/").status_code == 200
    return thief


def settings_post(client: FlaskClient, path: str, **data: str):
    return client.post(path, data={"csrf_token": form_token(client, "/monitoring/settings"),
                                   **data})


def test_logout_ends_the_session_for_a_copied_cookie_too(app):
    client = logged_in(app)
    thief = copy_of(app, client)
    other = logged_in(app)
    assert settings_post(client, "/monitoring/logout").headers["Location"] == \
        "/monitoring/login"
    assert thief.get("/monitoring/").status_code == 302
    assert other.get("/monitoring/").status_code == 200  # only that session ended


def test_sign_out_everywhere_ends_every_session(app):
    client = logged_in(app)
    thief = copy_of(app, client)
    other = logged_in(app)
    assert "Sign out everywhere" in client.get("/monitoring/settings").text
    response = settings_post(client, "/monitoring/sessions/end-all")
    assert response.status_code == 302
    assert "Signed out everywhere (2 sessions)." in client.get("/monitoring/login").text
    for browser in (client, thief, other):
        assert browser.get("/monitoring/").status_code == 302


def test_changing_the_password_ends_every_session(app):
    client = logged_in(app)
    thief = copy_of(app, client)
    assert 'href="/monitoring/password"' in client.get("/monitoring/settings").text
    wrong = settings_post(client, "/monitoring/password", current="not it",
                          password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert wrong.status_code == 400 and "This is not the current password." in wrong.text
    assert thief.get("/monitoring/").status_code == 200
    changed = settings_post(client, "/monitoring/password", current=ADMIN_PASSWORD,
                            password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert changed.headers["Location"] == "/monitoring/login"
    assert thief.get("/monitoring/").status_code == 302
    assert client.get("/monitoring/").status_code == 302
    assert log_in(app.test_client()).status_code == 401
    assert log_in(app.test_client(), NEW_PASSWORD).status_code == 302

