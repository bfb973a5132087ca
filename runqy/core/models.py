"""The configuration the core owns: parent queue configurations with sub-queues, and vaults.

Queue configurations are soft-deleted (``enabled = False``); vault entry values are stored
encrypted (see :mod:`runqy.core.vaults`) and never leave the core in clear except for worker
registration. The models are plain SQLAlchemy (no Flask); the web layer's Flask-SQLAlchemy
instance is built on :class:`Base`, so they share one metadata and one session.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """The declarative base of every runqy table."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)


class Timestamped:
    """When a row was created and last changed (UTC, whole seconds)."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class QueueConfig(Timestamped, Base):
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
    sub_queues: Mapped[list[SubQueue]] = relationship(
        back_populates="parent", cascade="all, delete-orphan", order_by="SubQueue.name",
        lazy="selectin",
    )

    @property
    def vault_names(self) -> list[str]:
        return list((self.deployment or {}).get("vaults") or [])


class SubQueue(Base):
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


class Vault(Timestamped, Base):
    __tablename__ = "vault"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    entries: Mapped[list[VaultEntry]] = relationship(
        back_populates="vault", cascade="all, delete-orphan", order_by="VaultEntry.key",
        lazy="selectin",
    )


class VaultEntry(Timestamped, Base):
    __tablename__ = "vault_entry"
    __table_args__ = (UniqueConstraint("vault_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vault_id: Mapped[int] = mapped_column(ForeignKey("vault.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # nonce (12) || ciphertext || tag (16), AES-256-GCM: the original runqy's format.
    value_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    is_secret: Mapped[bool] = mapped_column(default=True)
    vault: Mapped[Vault] = relationship(back_populates="entries")

    @property
    def value_length(self) -> int:
        return max(0, len(self.value_encrypted) - 28)
