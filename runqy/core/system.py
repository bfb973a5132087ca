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
    database: dict[str, Any]  # kind, url (password masked), enabled configs, vaults


def system_info(rt: Runtime, settings: Settings) -> SystemInfo:
    database = {
        "kind": settings.database_kind,
        "url": mask_url_password(settings.database_uri()),
        "queue_configs": rt.session.query(QueueConfig).filter_by(enabled=True).count(),
        "vaults": rt.session.query(Vault).count(),
    }
    return SystemInfo(__version__, mask_url_password(settings.redis_connection_url()),
                      rt.inspector.server_info(), database)


def readiness_checks(rt: Runtime) -> dict[str, Callable[[], object]]:
    """One check per dependency, by the name a client sees; each raises when it is down."""
    return {"redis": rt.redis.ping,
            "database": lambda: rt.session.execute(text("SELECT 1"))}
