"""Fixtures for the server tests: apps on the session's real Redis, with SQLite or PostgreSQL.

`database_url` defaults to SQLite in the test's instance folder; a module overrides it with
`pg_or_sqlite` to run against both. PostgreSQL tests use one throwaway database per session
(DATABASE_URL's server, else 127.0.0.1:5432) and skip cleanly when none answers.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from runqy.config import Settings
from runqy.web import create_app
from runqy.web.extensions import db
from runqy.web.serving import make_server
from runqy.web.state import state_of
from tests.support.waitress_thread import ServingThread

ADMIN_KEY = "admin-key-0123456789abcdef"
WORKER_KEY = "worker-key-0123456789abcdef"
CLIENT_KEY = "client-key-0123456789abcdef"
VAULT_KEY = base64.b64encode(bytes(range(32))).decode()
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
WORKER = {"Authorization": f"Bearer {WORKER_KEY}"}
CLIENT = {"Authorization": f"Bearer {CLIENT_KEY}"}
TABLES = "admin_user, queue_config, sub_queue, vault, vault_entry"


def deployment(**extra: Any) -> dict[str, Any]:
    return {"path": "/srv/code", "startup_cmd": "python main.py", **extra}


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session, dropped at the end; skip if unreachable."""
    psycopg = pytest.importorskip("psycopg")
    admin_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    if not admin_url.startswith(("postgresql://", "postgres://")):
        pytest.skip("DATABASE_URL is not PostgreSQL")
    name = f"runqy_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=2)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=2) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def database_url() -> str | None:
    return None  # SQLite in the instance folder


@pytest.fixture(params=["sqlite", "postgresql"])
def pg_or_sqlite(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_url")


@pytest.fixture()
def make_app(redis_client, redis_server, tmp_path, database_url) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        values: dict[str, Any] = {
            "instance_path": tmp_path / "instance", "redis_url": redis_server.url,
            "database_url": database_url, "api_key": ADMIN_KEY, "worker_api_key": WORKER_KEY,
            "client_api_key": CLIENT_KEY, "threads": 8,
        }
        values.update(overrides)
        app = create_app(Settings(**values))
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            if db.engine.dialect.name == "postgresql":
                with db.engine.begin() as conn:
                    conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
            db.session.remove()
            db.engine.dispose()
        state_of(app).close()


@pytest.fixture()
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture()
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def live_server(app) -> Iterator[Any]:
    """`app` served by `runqy serve`'s waitress set-up on a free loopback port
    (`.effective_port`)."""
    serving = ServingThread(make_server(app, app.config["RUNQY_SETTINGS"],
                                        host="127.0.0.1", port=0))
    yield serving.server
    serving.stop()


def configure(client: FlaskClient, name: str = "imgs", **doc: Any) -> dict[str, Any]:
    """Create a queue configuration through the API (admin) and return the response body."""
    body = {"name": name, "deployment": deployment(), **doc}
    response = client.post("/api/queue-configs", json=body, headers=ADMIN)
    assert response.status_code == 201, response.json
    return response.json


def redis_keys(redis_client) -> set[bytes]:
    return set(redis_client.keys("*"))
