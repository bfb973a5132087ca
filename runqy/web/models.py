"""The dashboard's database models: the admin user and their signed-in sessions. Queue
configurations and vaults are the core's (:mod:`runqy.core.models`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from runqy.core.models import utcnow
from runqy.web.extensions import db


class AdminUser(db.Model):  # type: ignore[name-defined]
    """A dashboard administrator (Flask-Login user; the dashboard owns login)."""

    __tablename__ = "admin_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    # Flask-Login protocol, so the dashboard can use this model directly. The id Flask-Login
    # keeps in the cookie is the session's token (runqy.web.admin_sessions), not the user's id:
    # a session then ends, server-side, when its AdminSession row is deleted.
    is_active = True
    is_anonymous = False
    is_authenticated = True
    session_token = None  # a str, set when loaded through, or starting, a session

    def get_id(self) -> str | None:
        return self.session_token


class AdminSession(db.Model):  # type: ignore[name-defined]
    """One signed-in browser. `id` is the SHA-256 of the token its cookie carries (a copy of
    this table does not yield a usable cookie); deleting the row ends the session."""

    __tablename__ = "admin_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_user.id", ondelete="CASCADE"),
                                         index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
