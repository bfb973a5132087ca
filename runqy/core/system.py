"""What the server runs on (the dashboard's System page, ``runqy status``) and whether its
dependencies answer (``/healthz``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from runqy import __version__
from runqy.config import Settings, mask_url_password
from runqy.core.models import QueueConfig, Vault
from runqy.core.runtime import Runtime


@dataclass(frozen=True)
class SystemInfo:
    version: str
    redis_url: str  # password masked
    redis: dict[str, Any]  # the server's INFO
    database: dict[str, Any]  # kind, url (password masked), location (SQLite: the file)


def system_info(rt: Runtime, settings: Settings) -> SystemInfo:
    url = mask_url_password(settings.database_uri())
    sqlite = settings.database_kind == "sqlite"
    database = {"kind": settings.database_kind, "url": url,
                "location": settings.sqlite_file.as_posix() if sqlite else url}
    return SystemInfo(__version__, mask_url_password(settings.redis_connection_url()),
                      rt.inspector.server_info(), database)


def stored_counts(rt: Runtime) -> dict[str, int]:
    """Enabled queue configurations and vaults in the database."""
    return {"queue_configs": rt.session.query(QueueConfig).filter_by(enabled=True).count(),
            "vaults": rt.session.query(Vault).count()}


def readiness_checks(rt: Runtime) -> dict[str, Callable[[], object]]:
    """One check per dependency, by the name a client sees; each raises when it is down."""
    return {"redis": rt.redis.ping,
            "database": lambda: rt.session.execute(text("SELECT 1"))}
