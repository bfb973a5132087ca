"""First-time setup on a server others can reach needs the one-time setup token."""

from __future__ import annotations

from flask.testing import FlaskClient

from runqy.web.extensions import db
from runqy.web.models import AdminUser
from tests.dashboard.conftest import csrf_token

PUBLIC = "0.0.0.0"  # noqa: S104 - a Settings value only: nothing binds in these tests


def setup_post(client: FlaskClient, token: str | None, headers=None):
    page = client.get("/monitoring/setup", headers=headers).text
    csrf = csrf_token(page)
    data = {"csrf_token": csrf, "email": "root@example.com", "password": "long enough pw",
            "confirm": "long enough pw"}
    if token is not None:
        data["token"] = token
    return client.post("/monitoring/setup", data=data, headers=headers)


def admins(app) -> int:
    with app.app_context():
        return db.session.query(AdminUser).count()


def test_setup_on_a_public_address_needs_the_token_from_the_instance_folder(make_app):
    app = make_app(host=PUBLIC)
    client = app.test_client()
    page = client.get("/monitoring/setup")
    assert page.status_code == 200 and "Setup token" in page.text
    token_file = app.config["RUNQY_SETTINGS"].instance_dir / "setup-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert setup_post(client, None).status_code == 400
    wrong = setup_post(client, "guessed")
    assert wrong.status_code == 403 and "Wrong setup token." in wrong.text
    assert admins(app) == 0
    done = setup_post(client, token_file.read_text().strip())
    assert done.headers["Location"] == "/monitoring/"
    assert admins(app) == 1 and not token_file.exists()  # used once


def test_a_loopback_server_skips_the_token_unless_a_proxy_forwards(make_app):
    app = make_app()  # 127.0.0.1
    forwarded = {"X-Forwarded-For": "198.51.100.4"}
    assert "Setup token" in app.test_client().get("/monitoring/setup", headers=forwarded).text
    assert setup_post(app.test_client(), None, forwarded).status_code == 400
    assert admins(app) == 0
    assert "Setup token" not in app.test_client().get("/monitoring/setup").text
    assert setup_post(app.test_client(), None).status_code == 302
    assert admins(app) == 1
