"""The application state: one ``RunqyState`` per app, and the one accessor views use."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis
from flask import Flask, current_app
from prometheus_client import CollectorRegistry

from runqy.broker import Broker, Inspector
from runqy.broker.done_watch import DoneWatcher
from runqy.config import InstanceSecrets, Settings
from runqy.core.cipher import VaultCipher
from runqy.core.enqueue import Enqueuer, Limits
from runqy.core.runtime import Runtime
from runqy.web.extensions import db
from runqy.web.keyring import KeyRing
from runqy.web.queue_cache import QueueLookupCache
from runqy.web.waiters import Waiters

EXTENSION = "runqy"


@dataclass
class RunqyState:
    """Per-app runtime objects, at ``app.extensions[EXTENSION]``."""

    settings: Settings
    secrets: InstanceSecrets
    keyring: KeyRing
    redis: redis.Redis
    cipher: VaultCipher | None
    started_at: float = field(default_factory=time.time)
    waiters: Waiters = field(init=False)
    metrics_registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    # Client-route queue lookups (name -> target or None); invalidated on every commit.
    queue_cache: QueueLookupCache = field(default_factory=QueueLookupCache)
    core: Runtime = field(init=False)
    enqueuer: Enqueuer = field(init=False)

    def __post_init__(self) -> None:
        self.waiters = Waiters(DoneWatcher(self.redis, self.settings.effective_max_waiters))
        self.core = Runtime(self.redis, db.session, self.cipher, self.settings.config_dir,
                            self.settings.redis_wait_replicas, self.settings.redis_wait_timeout_ms)
        self.enqueuer = Enqueuer(self.core, Limits.of(self.settings), self.queue_cache)

    def close(self) -> None:
        """Stop what the app runs in the background (the long-polls' done-channel listener)
        and close its Redis connections: the end of the app's life, when its server stops."""
        self.waiters.close()
        self.redis.close()

    @property
    def broker(self) -> Broker:
        return self.core.broker

    @property
    def inspector(self) -> Inspector:
        return self.core.inspector


def state_of(app: Flask) -> RunqyState:
    """An app's state (outside a request: the banner, the config watcher)."""
    return app.extensions[EXTENSION]


def runqy_state() -> RunqyState:
    """The current app's state: the one accessor views use."""
    return state_of(current_app)


def core() -> Runtime:
    """What the core operations of the current app run against."""
    return runqy_state().core
