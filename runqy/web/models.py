"""Database models: the admin user, parent queue configurations with sub-queues, and vaults.

Queue configurations are soft-deleted (`enabled = False`); vault entry values are stored
encrypted (see runqy.web.vaults) and never leave this layer in clear except for registration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from runqy.web.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)


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


class QueueConfig(db.Model):  # type: ignore[name-defined]
    """One parent queue: deployment spec, input schema and task defaults."""

    __tablename__ = "queue_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(16), default="api")
    deployment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    input_schema: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    task_defaults: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sub_queues: Mapped[list[SubQueue]] = relationship(
        back_populates="parent", cascade="all, delete-orphan", order_by="SubQueue.name",
        lazy="selectin",
    )

    @property
    def vault_names(self) -> list[str]:
        return list((self.deployment or {}).get("vaults") or [])


class SubQueue(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sub_queue"
    __table_args__ = (UniqueConstraint("queue_config_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_config_id: Mapped[int] = mapped_column(ForeignKey("queue_config.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    priority: Mapped[int] = mapped_column(default=1)
    enabled: Mapped[bool] = mapped_column(default=True)
    parent: Mapped[QueueConfig] = relationship(back_populates="sub_queues")

    @property
    def full_name(self) -> str:
        return f"{self.parent.name}.{self.name}"


class Vault(db.Model):  # type: ignore[name-defined]
    __tablename__ = "vault"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    entries: Mapped[list[VaultEntry]] = relationship(
        back_populates="vault", cascade="all, delete-orphan", order_by="VaultEntry.key",
        lazy="selectin",
    )


class VaultEntry(db.Model):  # type: ignore[name-defined]
    __tablename__ = "vault_entry"
    __table_args__ = (UniqueConstraint("vault_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vault_id: Mapped[int] = mapped_column(ForeignKey("vault.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # nonce (12) || ciphertext || tag (16), AES-256-GCM: the original runqy's format.
    value_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    is_secret: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    vault: Mapped[Vault] = relationship(back_populates="entries")

    @property
    def value_length(self) -> int:
        return max(0, len(self.value_encrypted) - 28)
