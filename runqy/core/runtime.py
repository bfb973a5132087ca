"""What every core operation runs against: one Redis, one database session, the vault cipher
and the configuration folder. The server builds one per app; the CLI's local mode builds its
own from the instance's settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy.orm import Session, scoped_session

from runqy.broker import Admin, Broker, Inspector
from runqy.core.cipher import VaultCipher
from runqy.redis_connection import RedisClient


@dataclass
class Runtime:
    redis: RedisClient
    session: Session | scoped_session
    cipher: VaultCipher | None = None
    config_dir: Path | None = None
    # RUNQY_REDIS_WAIT_REPLICAS: enqueues answer once this many replicas confirm (0 = off).
    wait_replicas: int = 0
    wait_timeout_ms: int = 1000

    @cached_property
    def broker(self) -> Broker:
        return Broker(self.redis, wait_replicas=self.wait_replicas,
                      wait_timeout_ms=self.wait_timeout_ms)

    @cached_property
    def inspector(self) -> Inspector:
        return Inspector(self.redis)

    @cached_property
    def admin(self) -> Admin:
        return Admin(self.redis)
