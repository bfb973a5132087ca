"""The dashboard's database model: the admin user. Queue configurations and vaults are the
core's (:mod:`runqy.core.models`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
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

    # Flask-Login protocol, so the dashboard can use this model directly.
    is_active = True
    is_anonymous = False
    is_authenticated = True

    def get_id(self) -> str:
        return str(self.id)
