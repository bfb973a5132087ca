"""A database outage: enqueueing goes on with the last known queue configurations (tasks live
in Redis), within the stated staleness bound; dashboard pages answer an HTML error page."""

from __future__ import annotations

import pytest

from runqy.web.extensions import db
from runqy.web.models import AdminUser
from runqy.web.state import EXTENSION
from tests.server.conftest import CLIENT, configure


@pytest.fixture()
def outage(make_app, tmp_path):
    """An app on SQLite in its own folder, and a function that takes the database away: the
    folder moves (new connections cannot open the file) and pooled connections are closed."""
    folder = tmp_path / "db"
    app = make_app(sqlite_path=folder / "runqy.db")
    configure(app.test_client(), "imgs")
    with app.app_context():
        admin = AdminUser(email="root@example.com")
        admin.set_password("long enough pw")
        db.session.add(admin)
        db.session.commit()

    def cut() -> None:
        folder.rename(tmp_path / "db-gone")
        with app.app_context():
            db.engine.dispose()

    return app, cut


def add(client, queue: str):
    return client.post("/queue/add", json={"queue": queue, "data": {"n": 1}}, headers=CLIENT)


def test_enqueue_goes_on_with_the_last_known_config_through_an_outage(outage, redis_client):
    app, cut = outage
    client = app.test_client()
    assert add(client, "imgs").status_code == 200  # looked up: now known
    cut()
    app.extensions[EXTENSION].queue_cache.ttl = 0  # every lookup now goes to the database
    added = add(client, "imgs")
    assert added.status_code == 200, added.json
    assert redis_client.exists(f"asynq:{{imgs.default}}:t:{added.json['info']['id']}")
    never_seen = add(client, "other")
    assert never_seen.status_code == 503 and never_seen.json["code"] == "database_unavailable"
    # Past the staleness bound the last known configuration is no longer used.
    app.extensions[EXTENSION].queue_cache.max_stale = 0
    assert add(client, "imgs").status_code == 503


def test_dashboard_pages_answer_html_during_an_outage(outage):
    app, cut = outage
    cut()
    client = app.test_client()
    for path in ("/monitoring/login", "/monitoring/"):
        page = client.get(path)
        assert page.status_code == 503, path
        assert page.mimetype == "text/html" and "Database unavailable" in page.text
        assert "sqlite" not in page.text.lower()
