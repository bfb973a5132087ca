"""The shipped migrations build exactly the models' schema; the admin user hashes with scrypt."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from runqy.web.extensions import db
from runqy.web.models import AdminUser


@pytest.fixture()
def database_url(pg_or_sqlite):
    return pg_or_sqlite


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert differences == []


def test_admin_user_password_is_hashed_with_scrypt(app):
    with app.app_context():
        user = AdminUser(email="ops@example.com")
        user.set_password("correct horse")
        db.session.add(user)
        db.session.commit()
        stored = db.session.get(AdminUser, user.id)
        assert stored.password_hash.startswith("scrypt:")
        assert stored.check_password("correct horse") and not stored.check_password("wrong")
        assert stored.created_at is not None and stored.last_login_at is None
        assert stored.get_id() is None  # Flask-Login keeps the session token, not the id
