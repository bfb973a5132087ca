"""Fixtures for the independent contract tests: the server tests' apps, plus a configured queue.

The apps come from tests/server/conftest.py (real Redis, real SQLite), so these tests exercise
exactly what a deployed server does.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.server.conftest import (  # noqa: F401 - fixtures re-exported for this folder
    app,
    client,
    configure,
    database_url,
    live_server,
    make_app,
)


@pytest.fixture()
def queue(client: FlaskClient) -> str:  # noqa: F811 - the fixture above
    """A configured parent queue `imgs` (sub-queue `default`); returns its full name."""
    configure(client, "imgs")
    return "imgs.default"
