"""Worker configuration: flags, environment, YAML file and defaults (worker-protocol.md 2-3).

`load_settings` resolves every setting in the order flag > environment > file > default,
expands `${VAR}` references, parses durations and sizes, and reports every problem at once as a
`ConfigError`. `Timings` holds the protocol intervals (leases, beats, loops); the defaults are
the contract's, and an optional `timings:` section of the file overrides them (tests shorten
them this way).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9][A-Za-z0-9_-]*)?$")
WORKER_ID = re.compile(r"^[^{}\s]+$")
DEFAULT_CONFIG = "./config.yml"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_SIZE = re.compile(r"^(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$")
_SIZE_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3,
               "KB": 1000, "MB": 1000**2, "GB": 1000**3}
_EXPANSION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_IGNORED_KEYS = (
    "retry.max_retry", "worker.ttl_completed", "worker.completed_task_ttl", "worker.ttl_archived",
    "worker.pending_timeout", "worker.active_timeout",
)
SECRET_ENV = ("RUNQY_API_KEY", "RUNQY_WORKER_API_KEY", "RUNQY_GIT_TOKEN")


class ConfigError(Exception):
    """One or more configuration problems; `problems` holds one message per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(f"config error: {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Timings:
    """Protocol intervals in seconds. The defaults are the contract's; tests shorten them."""

    lease_duration: float = 30.0
    clock_skew: float = 30.0  # the recoverer takes leases expired longer ago than this
    lease_extend_interval: float = 5.0
    heartbeat_interval: float = 5.0
    server_heartbeat_ttl: float = 10.0
    forwarder_interval: float = 5.0
    recoverer_interval: float = 60.0
    janitor_interval: float = 8.0
    idle_sleep: float = 1.0
    stop_grace: float = 10.0
    one_shot_exit_wait: float = 10.0
    redis_backoff_max: float = 30.0
    shutdown_redis_budget: float = 5.0
    default_time_limit: float = 1800.0


@dataclass(frozen=True)
class WorkerSettings:
    """Everything `runqy worker` is configured with."""

    server_url: str = ""
    api_key: str = ""
    queues: tuple[str, ...] = ()
    concurrency: int = 1
    processes: int = 1  # worker processes under one `runqy worker`, each with its own slots
    shutdown_timeout: float = 30.0
    worker_id: str = ""
    deployment_dir: Path = Path("./deployment")
    use_system_site_packages: bool = True
    git_ssh_key: str = ""
    git_token: str = ""
    bootstrap_retries: int = 5
    bootstrap_retry_delay: float = 5.0
    recovery_enabled: bool = True
    max_restarts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 300.0
    backoff_factor: float = 2.0
    cooldown_period: float = 600.0
    probe_interval: float = 600.0
    max_message_size: int = 32 * 1024 * 1024
    priority_mode: str = "strict"
    log_level: str = "info"
    log_format: str = "text"
    timings: Timings = field(default_factory=Timings)
    warnings: tuple[str, ...] = ()

    def with_timings(self, **changes: float) -> WorkerSettings:
        return replace(self, timings=replace(self.timings, **changes))

    def summary(self) -> list[str]:
        """Human-readable `key: value` lines with secrets masked (for `--validate`)."""
        lines = []
        for f in fields(self):
            if f.name in ("timings", "warnings"):
                continue
            value = getattr(self, f.name)
            if f.name in ("api_key", "git_token", "git_ssh_key"):
                value = mask(str(value))
            elif isinstance(value, tuple):
                value = ", ".join(value)
            lines.append(f"  {f.name}: {value}")
        return lines


def mask(secret: str) -> str:
    if not secret:
        return "(unset)"
    if len(secret) < 12:
        return "****"
    return f"{secret[:4]}…{secret[-4:]}"


def parse_duration(value: Any) -> float:
    """Go-style duration (`1m30s`, `500ms`) or plain seconds, as float seconds."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _DURATION_PART.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"invalid duration {value!r}")
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def parse_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ValueError(f"invalid size {value!r}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"invalid boolean {value!r}")


def parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"invalid integer {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"invalid integer {value!r}") from None


def parse_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"invalid number {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid number {value!r}") from None


def parse_queues(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(q).strip() for q in items if str(q).strip())


def parse_str(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class _Setting:
    name: str
    yaml_key: str | None
    env: tuple[str, ...]
    parse: Callable[[Any], Any]


_SETTINGS = (
    _Setting("server_url", "server.url", ("RUNQY_SERVER_URL",), parse_str),
    _Setting("api_key", "server.api_key", ("RUNQY_WORKER_API_KEY", "RUNQY_API_KEY"), parse_str),
    _Setting("queues", "worker.queues", ("RUNQY_QUEUES",), parse_queues),
    _Setting("concurrency", "worker.concurrency", ("RUNQY_CONCURRENCY",), parse_int),
    _Setting("processes", "worker.processes", ("RUNQY_WORKER_PROCESSES",), parse_int),
    _Setting("shutdown_timeout", "worker.shutdown_timeout", ("RUNQY_SHUTDOWN_TIMEOUT",),
             parse_duration),
    _Setting("worker_id", "worker.id", ("RUNQY_WORKER_ID",), parse_str),
    _Setting("max_message_size", "worker.max_message_size", ("RUNQY_MAX_MESSAGE_SIZE",),
             parse_size),
    _Setting("priority_mode", "worker.priority_mode", ("RUNQY_PRIORITY_MODE",), parse_str),
    _Setting("deployment_dir", "deployment.dir", ("RUNQY_DEPLOYMENT_DIR",),
             lambda v: Path(parse_str(v))),
    _Setting("use_system_site_packages", "deployment.use_system_site_packages",
             ("RUNQY_USE_SYSTEM_SITE_PACKAGES",), parse_bool),
    _Setting("git_ssh_key", "git.ssh_key", ("RUNQY_GIT_SSH_KEY",), parse_str),
    _Setting("git_token", "git.token", ("RUNQY_GIT_TOKEN",), parse_str),
    _Setting("bootstrap_retries", "bootstrap.retries", ("RUNQY_BOOTSTRAP_RETRIES",), parse_int),
    _Setting("bootstrap_retry_delay", "bootstrap.retry_delay", ("RUNQY_BOOTSTRAP_RETRY_DELAY",),
             parse_duration),
    _Setting("recovery_enabled", "recovery.enabled", ("RUNQY_RECOVERY_ENABLED",), parse_bool),
    _Setting("max_restarts", "recovery.max_restarts", ("RUNQY_RECOVERY_MAX_RESTARTS",), parse_int),
    _Setting("initial_delay", "recovery.initial_delay", ("RUNQY_RECOVERY_INITIAL_DELAY",),
             parse_duration),
    _Setting("max_delay", "recovery.max_delay", ("RUNQY_RECOVERY_MAX_DELAY",), parse_duration),
    _Setting("backoff_factor", "recovery.backoff_factor", ("RUNQY_RECOVERY_BACKOFF_FACTOR",),
             parse_float),
    _Setting("cooldown_period", "recovery.cooldown_period", ("RUNQY_RECOVERY_COOLDOWN",),
             parse_duration),
    _Setting("probe_interval", "recovery.probe_interval", ("RUNQY_RECOVERY_PROBE_INTERVAL",),
             parse_duration),
    _Setting("log_level", "logging.level", ("RUNQY_LOG_LEVEL",), parse_str),
    _Setting("log_format", "logging.format", ("RUNQY_LOG_FORMAT",), parse_str),
)
_TIMING_KEYS = {f"timings.{f.name}" for f in fields(Timings)}
_KNOWN_YAML = ({s.yaml_key for s in _SETTINGS if s.yaml_key} | {"worker.queue"}
               | set(_IGNORED_KEYS) | _TIMING_KEYS)


def expand(value: str, env: Mapping[str, str]) -> str:
    """`${VAR}`, `${VAR:-default}` and `$$`, applied to one parsed YAML string."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        current = env.get(match.group(1), "")
        if match.group(2) is not None and not current:
            return match.group(2)
        return current

    return _EXPANSION.sub(substitute, value)


def _expand_tree(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return expand(value, env)
    if isinstance(value, list):
        return [_expand_tree(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _expand_tree(v, env) for k, v in value.items()}
    return value


def _flatten_file(document: Any, problems: list[str], warnings: list[str]) -> dict[str, Any]:
    if document is None:
        return {}
    if not isinstance(document, dict):
        problems.append("the config file must be a YAML mapping")
        return {}
    flat: dict[str, Any] = {}
    sections = sorted({k.split(".")[0] for k in _KNOWN_YAML})
    for section, body in document.items():
        if section not in sections:
            problems.append(f"unknown key '{section}' (known: {', '.join(sections)})")
            continue
        if not isinstance(body, dict):
            problems.append(f"'{section}' must be a mapping")
            continue
        known = sorted(k.split(".", 1)[1] for k in _KNOWN_YAML if k.startswith(section + "."))
        for key, value in body.items():
            full = f"{section}.{key}"
            if full not in _KNOWN_YAML:
                problems.append(f"unknown key '{full}' (known in {section}: {', '.join(known)})")
            elif full in _IGNORED_KEYS:
                warnings.append(f"'{full}' is ignored: retry limits and timeouts come from tasks")
            elif full == "worker.queue":
                warnings.append("'worker.queue' is deprecated; use 'worker.queues'")
                flat.setdefault("worker.queues", value)
            else:
                flat[full] = value
    return flat


def _read_file(
    flag_path: str | None, env: Mapping[str, str], problems: list[str], warnings: list[str]
) -> dict[str, Any]:
    named = flag_path or env.get("RUNQY_WORKER_CONFIG") or None
    path = Path(named or DEFAULT_CONFIG)
    if not path.exists():
        if named:
            problems.append(f"config file {path} does not exist")
        return {}
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        problems.append(f"cannot read {path}: {exc}")
        return {}
    return _flatten_file(_expand_tree(document, env), problems, warnings)


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: str | None = None,
) -> WorkerSettings:
    """Resolve every setting (flag > environment > file > default); raise ConfigError."""
    env = os.environ if env is None else env
    flags = flags or {}
    problems: list[str] = []
    warnings: list[str] = []
    file_values = _read_file(config_path, env, problems, warnings)
    values: dict[str, Any] = {}
    for setting in _SETTINGS:
        source, raw = _pick(setting, flags, env, file_values)
        if source is None:
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            problems.append(f"{source}: {exc}")
    timings = {}
    for key in _TIMING_KEYS & file_values.keys():
        try:
            timings[key.split(".", 1)[1]] = parse_duration(file_values[key])
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    settings = WorkerSettings(**values, timings=Timings(**timings), warnings=tuple(warnings))
    if not settings.worker_id:
        settings = replace(settings, worker_id=f"{socket.gethostname()}-{os.getpid()}")
    settings = replace(settings, server_url=settings.server_url.rstrip("/"))
    problems.extend(validate(settings))
    if problems:
        raise ConfigError(problems)
    return settings


def _pick(
    setting: _Setting, flags: Mapping[str, Any], env: Mapping[str, str], file: Mapping[str, Any]
) -> tuple[str | None, Any]:
    flag = flags.get(setting.name)
    if flag not in (None, (), ""):
        return f"--{setting.name.replace('_', '-')}", flag
    for name in setting.env:
        if env.get(name):
            return name, env[name]
    if setting.yaml_key in file:
        return setting.yaml_key, file[setting.yaml_key]
    return None, None


def validate(settings: WorkerSettings) -> list[str]:
    """Every problem with otherwise parsed settings, one message each."""
    problems = []
    if not settings.server_url:
        problems.append("server.url is required")
    elif not re.match(r"^https?://[^/\s]+", settings.server_url):
        problems.append(f"server.url must be an http(s) URL, got {settings.server_url!r}")
    if not settings.api_key:
        problems.append("server.api_key is required")
    if not settings.queues:
        problems.append("at least one queue is required (worker.queues)")
    for queue in settings.queues:
        if len(queue) > 128 or not QUEUE_NAME.fullmatch(queue):
            problems.append(f"invalid queue name {queue!r}")
    if not 1 <= settings.concurrency <= 256:
        problems.append(f"worker.concurrency must be 1-256, got {settings.concurrency}")
    if not 1 <= settings.processes <= 64:
        problems.append(f"worker.processes must be 1-64, got {settings.processes}")
    for name in ("shutdown_timeout", "bootstrap_retry_delay", "initial_delay", "max_delay",
                 "cooldown_period", "probe_interval"):
        if getattr(settings, name) < 0:
            problems.append(f"{name} must not be negative")
    if settings.max_restarts < 1:
        problems.append("recovery.max_restarts must be at least 1")
    if settings.bootstrap_retries < 1:
        problems.append("bootstrap.retries must be at least 1")
    if settings.backoff_factor < 1.0:
        problems.append("recovery.backoff_factor must be at least 1.0")
    if not 1024**2 <= settings.max_message_size <= 1024**3:
        problems.append("worker.max_message_size must be between 1 MiB and 1 GiB")
    if settings.priority_mode not in ("strict", "weighted"):
        problems.append("worker.priority_mode must be 'strict' or 'weighted'")
    if settings.log_level not in ("debug", "info", "warning", "error"):
        problems.append("logging.level must be debug, info, warning or error")
    if settings.log_format not in ("text", "json"):
        problems.append("logging.format must be 'text' or 'json'")
    if not WORKER_ID.fullmatch(settings.worker_id) or settings.worker_id.endswith(":logs"):
        problems.append(f"invalid worker id {settings.worker_id!r}")
    return problems
