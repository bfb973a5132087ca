"""Server configuration: the one Settings object (env vars, `.env`, CLI flags, defaults).

Nothing else in runqy reads ``os.environ``; everything asks a Settings instance. Precedence is
command-line flag, then environment variable, then ``.env`` in the working directory, then the
default (http-api.md section 9). Instance-folder secrets (generated admin key, session secret)
are resolved here too, so the CLI banner and the app agree on them.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from runqy.redis_connection import SINGLE, RedisTopology


class ConfigError(Exception):
    """A configuration value is invalid; start-up must stop with this message."""


# Long-polls wait parked, holding no thread (runqy.web.waiters): a waiter costs a socket and
# a pub/sub subscription, so the default cap is high.
DEFAULT_MAX_WAITERS = 10_000
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean (true/false/1/0/yes/no)")


def _parse_int(value: str) -> int:
    return int(value.strip())


def _parse_csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _parse_embedded(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in {"auto", "never", "always"}:
        return lowered
    return "always" if parse_bool(lowered) else "never"


def _parse_log_level(value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in {"debug", "info", "warning", "error"}:
        raise ValueError("must be debug, info, warning or error")
    return lowered


@dataclass(frozen=True)
class _Var:
    field: str
    names: tuple[str, ...]
    parse: Callable[[str], Any] = str


# Field name -> environment variable(s), first name wins; aliases follow it.
ENV_VARS: tuple[_Var, ...] = (
    _Var("host", ("HOST",)),
    _Var("port", ("PORT",), _parse_int),
    _Var("instance_path", ("RUNQY_INSTANCE_PATH",), Path),
    _Var("redis_url", ("REDIS_URL",)),
    _Var("redis_host", ("REDIS_HOST",)),
    _Var("redis_port", ("REDIS_PORT",), _parse_int),
    _Var("redis_password", ("REDIS_PASSWORD",)),
    _Var("redis_db", ("REDIS_DB",), _parse_int),
    _Var("redis_tls", ("REDIS_TLS",), parse_bool),
    _Var("redis_sentinels", ("REDIS_SENTINELS",)),
    _Var("redis_sentinel_master", ("REDIS_SENTINEL_MASTER",)),
    _Var("redis_sentinel_password", ("REDIS_SENTINEL_PASSWORD",)),
    _Var("redis_cluster_nodes", ("REDIS_CLUSTER_NODES",)),
    _Var("redis_wait_replicas", ("RUNQY_REDIS_WAIT_REPLICAS",), _parse_int),
    _Var("redis_wait_timeout_ms", ("RUNQY_REDIS_WAIT_TIMEOUT_MS",), _parse_int),
    _Var("embedded_redis", ("RUNQY_EMBEDDED_REDIS",), _parse_embedded),
    _Var("embedded_redis_port", ("RUNQY_EMBEDDED_REDIS_PORT",), _parse_int),
    _Var("redis_server_bin", ("RUNQY_REDIS_SERVER_BIN",)),
    _Var("worker_redis_url", ("RUNQY_WORKER_REDIS_URL",)),
    _Var("database_url", ("DATABASE_URL",)),
    _Var("db_host", ("DATABASE_HOST",)),
    _Var("db_port", ("DATABASE_PORT",), _parse_int),
    _Var("db_user", ("DATABASE_USER",)),
    _Var("db_password", ("DATABASE_PASSWORD",)),
    _Var("db_name", ("DATABASE_DBNAME",)),
    _Var("db_ssl", ("DATABASE_SSL",)),
    _Var("sqlite_path", ("SQLITE_DB_PATH",), Path),
    _Var("api_key", ("RUNQY_API_KEY",)),
    _Var("worker_api_key", ("RUNQY_WORKER_API_KEY",)),
    _Var("client_api_key", ("RUNQY_CLIENT_API_KEY",)),
    _Var("secret_key", ("RUNQY_SECRET_KEY", "RUNQY_JWT_SECRET")),
    _Var("vault_master_key", ("RUNQY_VAULT_MASTER_KEY",)),
    _Var("read_only", ("RUNQY_READ_ONLY", "ASYNQ_READ_ONLY"), parse_bool),
    _Var("config_dir", ("QUEUE_WORKERS_DIR",), Path),
    _Var("watch", ("RUNQY_WATCH",), parse_bool),
    _Var("prometheus_address", ("PROMETHEUS_ADDRESS",)),
    _Var("metrics_token", ("RUNQY_METRICS_TOKEN",)),
    _Var("url_prefix", ("RUNQY_URL_PREFIX",)),
    _Var("trusted_proxies", ("RUNQY_TRUSTED_PROXIES",), _parse_int),
    _Var("cors_origins", ("RUNQY_CORS_ORIGINS",), _parse_csv),
    _Var("max_body_size", ("RUNQY_MAX_BODY_SIZE",), _parse_int),
    _Var("max_payload_size", ("RUNQY_MAX_PAYLOAD_SIZE",), _parse_int),
    _Var("max_batch_size", ("RUNQY_MAX_BATCH_SIZE",), _parse_int),
    _Var("default_timeout", ("RUNQY_DEFAULT_TIMEOUT",), _parse_int),
    _Var("default_max_retry", ("RUNQY_DEFAULT_MAX_RETRY",), _parse_int),
    _Var("default_retention", ("RUNQY_DEFAULT_RETENTION",), _parse_int),
    _Var("threads", ("RUNQY_THREADS",), _parse_int),
    _Var("processes", ("RUNQY_PROCESSES", "RUNQY_WORKERS"), _parse_int),
    _Var("max_waiters", ("RUNQY_MAX_WAITERS",), _parse_int),
    _Var("no_ui", ("RUNQY_NO_UI",), parse_bool),
    _Var("log_level", ("RUNQY_LOG_LEVEL",), _parse_log_level),
)


# Renamed settings: the old flag (override key) and the old variable still work, with one
# warning per process.
RENAMED_FLAGS = {"workers": "processes"}
RENAMED_VARS = {"RUNQY_WORKERS": "RUNQY_PROCESSES"}
_warned: set[str] = set()


def warn_renamed(old: str, new: str) -> None:
    if old not in _warned:
        _warned.add(old)
        warnings.warn(f"{old} is deprecated and will be removed; use {new} (the number of "
                      "server processes; task workers are `runqy worker`)", FutureWarning,
                      stacklevel=3)


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, optional quotes, `#` comments, `export ` prefix."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass(frozen=True)
class Settings:
    """Every server setting, typed. Build it with :meth:`load`; tests may construct it directly."""

    host: str = "127.0.0.1"
    port: int = 3000
    instance_path: Path = field(default_factory=lambda: Path("instance"))
    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int | None = None
    redis_password: str = ""
    redis_db: int = 0
    redis_tls: bool = False
    # Sentinel (host:port,... plus the master's name) or Cluster (any of its nodes).
    redis_sentinels: str | None = None
    redis_sentinel_master: str = ""
    redis_sentinel_password: str = ""
    redis_cluster_nodes: str | None = None
    # Enqueue answers only once WAIT confirms this many replicas hold the tasks (0 = off).
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 1000
    embedded_redis: str = "auto"
    embedded_redis_port: int = 6390
    redis_server_bin: str | None = None
    worker_redis_url: str | None = None
    database_url: str | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_user: str = "postgres"
    db_password: str = ""
    db_name: str = "runqy"
    db_ssl: str = "disable"
    sqlite_path: Path | None = None
    api_key: str | None = None
    worker_api_key: str | None = None
    client_api_key: str | None = None
    secret_key: str | None = None
    vault_master_key: str | None = None
    read_only: bool = False
    config_dir: Path | None = None
    watch: bool = False
    prometheus_address: str | None = None
    metrics_token: str | None = None
    url_prefix: str = ""
    trusted_proxies: int = 0
    cors_origins: tuple[str, ...] = ()
    max_body_size: int = 52_428_800
    max_payload_size: int = 16_777_216
    max_batch_size: int = 10_000
    default_timeout: int = 1800
    default_max_retry: int = 3
    default_retention: int = 86_400
    threads: int = 32
    # Server (waitress) processes sharing the listening socket (`runqy serve --processes N`);
    # "workers" are the task workers everywhere else.
    processes: int = 1
    max_waiters: int | None = None
    no_ui: bool = False
    log_level: str = "info"
    # Set by the process that started an embedded Redis, so the app and banner can say so.
    redis_embedded: bool = False

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        dotenv_path: Path | None = None,
    ) -> Settings:
        """Resolve: `overrides` (CLI flags; None = not given) > environ > .env > default."""
        env = dict(os.environ if environ is None else environ)
        dotenv = read_dotenv(dotenv_path if dotenv_path is not None else Path.cwd() / ".env")
        merged = {**dotenv, **env}  # .env never overrides a variable that is already set
        values: dict[str, Any] = {}
        for var in ENV_VARS:
            for name in var.names:
                raw = merged.get(name)
                if raw is None or (raw == "" and var.parse is not str):
                    continue
                try:
                    values[var.field] = var.parse(raw)
                except ValueError as exc:
                    raise ConfigError(f"{name}={raw!r} is invalid: {exc}") from None
                if name in RENAMED_VARS:
                    warn_renamed(name, RENAMED_VARS[name])
                break
        overrides = dict(overrides or {})
        for old, new in RENAMED_FLAGS.items():
            given = overrides.pop(old, None)
            if given is not None:
                warn_renamed(f"--{old}", f"--{new}")
                if overrides.get(new) is None:
                    overrides[new] = given
        for key, value in overrides.items():
            if value is not None:
                values[key] = value
        for key in ("redis_url", "database_url", "api_key", "worker_api_key", "client_api_key",
                    "secret_key", "vault_master_key", "metrics_token", "redis_host",
                    "worker_redis_url", "db_host", "prometheus_address", "redis_server_bin",
                    "redis_sentinels", "redis_cluster_nodes"):
            if values.get(key) == "":
                values[key] = None
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Raise ConfigError for values that must stop start-up."""
        self.vault_key_bytes()
        if self.config_dir is not None and not self.config_dir.is_dir():
            raise ConfigError(f"QUEUE_WORKERS_DIR {self.config_dir} is not a directory")
        if self.url_prefix and (not self.url_prefix.startswith("/") or self.url_prefix == "/"):
            raise ConfigError("RUNQY_URL_PREFIX must start with '/' (for example /runqy)")
        for name in ("port", "threads", "processes", "max_body_size", "max_payload_size",
                     "max_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.redis_wait_replicas < 0 or self.redis_wait_timeout_ms < 0:
            raise ConfigError("RUNQY_REDIS_WAIT_REPLICAS and RUNQY_REDIS_WAIT_TIMEOUT_MS "
                              "must not be negative")
        try:
            self.redis_topology()
        except ValueError as exc:
            raise ConfigError(f"Redis settings are invalid: {exc}") from None

    # ---- derived values -------------------------------------------------------------------

    @property
    def instance_dir(self) -> Path:
        return self.instance_path.expanduser().resolve()

    @property
    def effective_max_waiters(self) -> int:
        return self.max_waiters if self.max_waiters is not None else DEFAULT_MAX_WAITERS

    @property
    def redis_configured(self) -> bool:
        return bool(self.redis_url or self.redis_host or self.redis_port
                    or self.redis_sentinels or self.redis_cluster_nodes)

    @property
    def wants_embedded_redis(self) -> bool:
        if self.redis_embedded or self.embedded_redis == "never":
            return False
        return self.embedded_redis == "always" or not self.redis_configured

    def redis_topology(self) -> RedisTopology:
        """The Redis the server talks to: REDIS_CLUSTER_NODES, REDIS_SENTINELS, else the URL
        (REDIS_PASSWORD and REDIS_TLS complete a sentinel or cluster URL that lacks them)."""
        if self.redis_cluster_nodes:
            return RedisTopology.cluster(self.redis_cluster_nodes, password=self.redis_password,
                                         tls=self.redis_tls)
        if self.redis_sentinels:
            return RedisTopology.sentinel(
                self.redis_sentinels, self.redis_sentinel_master, password=self.redis_password,
                sentinel_password=self.redis_sentinel_password, db=self.redis_db,
                tls=self.redis_tls)
        topology = RedisTopology.from_url(self.redis_url or self._single_node_url())
        if topology.kind == SINGLE:
            return topology
        return dataclasses.replace(
            topology, password=topology.password or self.redis_password,
            sentinel_password=topology.sentinel_password or self.redis_sentinel_password,
            tls=topology.tls or self.redis_tls)

    def redis_connection_url(self) -> str:
        """The URL of the Redis the server talks to (the embedded one once it is started);
        ``redis-sentinel://`` or ``redis-cluster://`` for those topologies."""
        return self.redis_topology().to_url()

    def _single_node_url(self) -> str:
        """The one-node URL from REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, REDIS_DB, REDIS_TLS."""
        scheme = "rediss" if self.redis_tls else "redis"
        auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
        host = self.redis_host or "localhost"
        return f"{scheme}://{auth}{host}:{self.redis_port or 6379}/{self.redis_db}"

    def database_uri(self) -> str:
        """SQLAlchemy URI: DATABASE_URL, else the DATABASE_* parts, else SQLite."""
        if self.database_url:
            url = self.database_url
            for prefix in ("postgresql://", "postgres://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix) :]
            return url
        if self.db_host:
            auth = quote(self.db_user, safe="")
            if self.db_password:
                auth += ":" + quote(self.db_password, safe="")
            return (f"postgresql+psycopg://{auth}@{self.db_host}:{self.db_port}/"
                    f"{quote(self.db_name, safe='')}?sslmode={quote(self.db_ssl, safe='')}")
        return f"sqlite:///{self.sqlite_file}"

    @property
    def sqlite_file(self) -> Path:
        return (self.sqlite_path or self.instance_dir / "runqy.db").expanduser().resolve()

    @property
    def database_kind(self) -> str:
        return "sqlite" if self.database_uri().startswith("sqlite") else "postgresql"

    def vault_key_bytes(self) -> bytes | None:
        """The decoded 32-byte vault master key, or None when vaults are off."""
        if not self.vault_master_key:
            return None
        try:
            key = base64.b64decode(self.vault_master_key.strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ConfigError(
                "RUNQY_VAULT_MASTER_KEY must be base64 of exactly 32 bytes "
                "(generate one with: openssl rand -base64 32)"
            )
        return key


def mask_url_password(url: str) -> str:
    """`redis://:secret@h:1/0` -> `redis://:****@h:1/0`; URLs without a password are unchanged.

    Sentinel and cluster URLs (a host list) also lose a ``password=`` query value.
    """
    if "," in url.partition("?")[0] or url.startswith(("redis-sentinel:", "redis-cluster:")):
        masked = re.sub(r"(://[^:@/]*:)[^@/]*@", r"\1****@", url)
        return re.sub(r"([?&]password=)[^&]*", r"\1****", masked)
    parts = urlsplit(url)
    if not parts.password:
        return url
    userinfo = f"{parts.username or ''}:****"
    host = parts.hostname or ""
    netloc = f"{userinfo}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def mask_secret(value: str) -> str:
    """`abcd…wxyz` for display; short values are fully masked."""
    return f"{value[:4]}…{value[-4:]}" if len(value) >= 16 else "****"


def ensure_instance_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def read_or_create_secret(path: Path, factory: Callable[[], str]) -> tuple[str, bool]:
    """Read a secret file, or create it (mode 0600) with `factory()`. Returns (value, created)."""
    if path.is_file():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value, False
    ensure_instance_dir(path.parent)
    value = factory()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value, True


@dataclass(frozen=True)
class InstanceSecrets:
    """The admin key and session secret in use, and whether this start generated them."""

    admin_key: str
    admin_key_generated: bool
    admin_key_file: Path | None
    secret_key: str


def resolve_instance_secrets(settings: Settings) -> InstanceSecrets:
    """Apply section 2/10: a set RUNQY_API_KEY wins; otherwise read or generate the files."""
    instance = settings.instance_dir
    if settings.api_key:
        admin, generated, key_file = settings.api_key, False, None
    else:
        key_file = instance / "admin-api-key"
        admin, generated = read_or_create_secret(key_file, lambda: secrets.token_urlsafe(32))
    if settings.secret_key:
        secret = settings.secret_key
    else:
        secret, _ = read_or_create_secret(instance / "secret-key",
                                          lambda: secrets.token_urlsafe(32))
    return InstanceSecrets(admin, generated, key_file, secret)
