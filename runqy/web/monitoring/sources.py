"""Where dashboard views get what they show: the app's Settings, Redis, Inspector and Broker.

The server core keeps one `RunqyState` per app in `app.extensions["runqy"]`; this module is the
only place the dashboard reaches into it.
"""

from __future__ import annotations

import redis
from flask import current_app

from runqy.broker import Broker, Inspector
from runqy.config import Settings
from runqy.web.factory import RunqyState
from runqy.web.vaults import VaultCipher


def state() -> RunqyState:
    return current_app.extensions["runqy"]


def settings() -> Settings:
    return state().settings


def redis_client() -> redis.Redis:
    return state().redis


def inspector() -> Inspector:
    return state().inspector


def broker() -> Broker:
    return state().broker


def cipher() -> VaultCipher | None:
    return state().cipher


def read_only() -> bool:
    return settings().read_only
