"""Task workers: the fleet as the API, the dashboard and the CLI show it, and registration (a
worker learns its Redis, sub-queues, deployment and vault values, http-api.md 6).

Everything returned is plain data (dicts, lists, dataclasses of them), so each front door only
renders it: JSON for the API, a table for the CLI, a template for the dashboard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from runqy.broker import WorkerNotFoundError, WorkerRecord
from runqy.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from runqy.core.models import QueueConfig, Vault
from runqy.core.runtime import Runtime
from runqy.core.values import as_string, format_time, is_int, normalize_queue, reject_unknown
from runqy.redis_connection import SENTINEL, SINGLE, RedisTopology

_GO_MAP_ENTRY = re.compile(r"([^\s:\[\]]+):(\d+)")
LOG_LIMIT = 500  # log lines one call may read (http-api.md 7.3)


# ---- the fleet -------------------------------------------------------------------------------


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def worker_object(record: WorkerRecord) -> dict[str, Any]:
    """A worker's heartbeat as the object of http-api.md 7.3.

    Fields of the heartbeat that do not parse are null, and ``error`` names them; ``error`` is
    absent from a worker whose heartbeat parsed cleanly.
    """
    fields = record.fields
    priorities = {name: int(prio)
                  for name, prio in _GO_MAP_ENTRY.findall(fields.get("queues", ""))}
    names = record.queues or sorted(priorities, key=lambda n: (-priorities[n], n))
    entry: dict[str, Any] = {
        "worker_id": record.worker_id,
        "hostname": fields.get("hostname") or None,
        "pid": _int_or_none(fields.get("pid")),
        "version": fields.get("version") or None,
        "status": record.status,
        "healthy": record.healthy,
        "stale": record.stale,
        "started_at": format_time(record.started_at),
        "last_beat": format_time(record.last_beat),
        "concurrency": record.concurrency,
        "queues": [{"name": name, "priority": priorities.get(name)} for name in names],
        "recovery": record.recovery,
        "metrics": record.metrics,
        "active_tasks": list(record.active_tasks),
    }
    if record.error:
        entry.update(dict.fromkeys(record.invalid_fields))
        entry["error"] = record.error
    return entry


def _not_found(worker_id: str) -> NotFound:
    return NotFound(f"worker {worker_id} not found", code="worker_not_found")


@dataclass(frozen=True)
class Fleet:
    """Every worker's heartbeat record (sorted by ID) and how many are healthy and fresh."""

    workers: list[WorkerRecord]

    @property
    def healthy(self) -> int:
        return sum(1 for w in self.workers if w.healthy and not w.stale)


def fleet(rt: Runtime) -> Fleet:
    return Fleet(rt.inspector.runqy_workers())


def worker_record(rt: Runtime, worker_id: str) -> WorkerRecord:
    """One worker's heartbeat record; NotFound ``worker_not_found`` otherwise."""
    try:
        return rt.inspector.runqy_worker(worker_id)
    except WorkerNotFoundError:
        raise _not_found(worker_id) from None


def list_workers(rt: Runtime) -> list[dict[str, Any]]:
    """Every runqy worker (and original Go runqy worker), sorted by ID, as 7.3 objects."""
    return [worker_object(w) for w in fleet(rt).workers]


def worker_info(rt: Runtime, worker_id: str) -> dict[str, Any]:
    """One worker as a 7.3 object; NotFound ``worker_not_found`` otherwise."""
    return worker_object(worker_record(rt, worker_id))


def worker_logs(rt: Runtime, worker_id: str, limit: int = 200,
                since: int = -1) -> list[dict[str, Any]]:
    """The newest ``limit`` log lines, oldest first; with ``since`` >= 0 only the lines whose
    ``seq`` is greater. NotFound when the worker has neither lines nor a heartbeat."""
    if not 1 <= limit <= LOG_LIMIT:
        raise InvalidInput(f"'n' must be 1-{LOG_LIMIT}")
    lines = rt.inspector.worker_logs(worker_id, limit=limit)
    if not lines:
        worker_record(rt, worker_id)
    if since >= 0:
        # A line without an integer seq (a foreign or broken writer) cannot be "after" since.
        lines = [line for line in lines if is_int(line.get("seq")) and line["seq"] > since]
    return lines


# ---- registration ----------------------------------------------------------------------------

REGISTER_KEYS = {"queue", "hostname", "os", "version", "worker_id"}
# Deployment fields a worker receives; code_path and env are sent even when unset.
_DEPLOYMENT_OUT = ("git_url", "branch", "path", "code_path", "startup_cmd", "mode",
                   "startup_timeout_secs", "redis_storage", "requirements_file", "env")


def redis_block(url: str) -> dict[str, Any]:
    """The ``redis`` block: the same connection as a URL and as parts.

    For Sentinel and Cluster the URL (``redis-sentinel://``, ``redis-cluster://``) carries the
    whole topology and ``mode`` names it; ``addr`` lists the sentinels or the known nodes.
    """
    topology = RedisTopology.from_url(url)
    if topology.kind != SINGLE:
        return {"url": url, "mode": topology.kind,
                "addr": ",".join(f"{h}:{p}" for h, p in topology.nodes),
                "password": topology.password, "db": topology.db, "use_tls": topology.tls,
                **({"master": topology.master} if topology.kind == SENTINEL else {})}
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or 6379
    password = unquote(parts.password) if parts.password else ""
    db_index = int(parts.path.lstrip("/") or 0)
    use_tls = parts.scheme == "rediss"
    auth = f":{parts.password}@" if parts.password else ""
    return {"url": f"{parts.scheme}://{auth}{host}:{port}/{db_index}", "addr": f"{host}:{port}",
            "password": password, "db": db_index, "use_tls": use_tls}


def _decrypted_vaults(rt: Runtime, names: list[str]) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    if rt.cipher is None:
        raise Unavailable("this queue uses vaults but RUNQY_VAULT_MASTER_KEY is not set "
                          "(generate one: openssl rand -base64 32)", code="vaults_disabled")
    found = {v.name: v for v in rt.session.query(Vault).filter(Vault.name.in_(names))}
    missing = [name for name in names if name not in found]
    if missing:
        raise Conflict(*(f"vault '{name}' does not exist" for name in missing),
                       code="vault_missing")
    return {name: {e.key: rt.cipher.decrypt(e.value_encrypted) for e in found[name].entries}
            for name in names}


def registration_queue(body: dict[str, Any]) -> str:
    """The queue a registration request names, after checking its fields."""
    reject_unknown(body, REGISTER_KEYS)
    if "queue" not in body:
        raise InvalidInput("'queue' is required")
    requested = as_string(body["queue"], "queue")
    for key in ("hostname", "os", "version", "worker_id"):
        if body.get(key) is not None:
            as_string(body[key], key)
    return requested


def register(rt: Runtime, requested: str, redis_url: str) -> dict[str, Any]:
    """What a worker serving ``requested`` (``parent`` for every enabled sub-queue, or
    ``parent.sub`` for one) receives: the Redis at ``redis_url``, its sub-queues highest
    priority first, the deployment with the git token resolved, and its vaults' values."""
    full = normalize_queue(requested)
    parent, sub = full.split(".", 1)
    only_sub = sub if "." in requested else None
    config = rt.session.query(QueueConfig).filter_by(name=parent, enabled=True).one_or_none()
    subs = [] if config is None else [
        s for s in config.sub_queues if s.enabled and (only_sub is None or s.name == only_sub)]
    if not subs:
        raise NotFound(f"queue '{requested}' is not configured", code="queue_not_found")
    subs.sort(key=lambda s: (-s.priority, s.name))
    deployment = dict(config.deployment or {})
    token = deployment.get("git_token")
    token_vault = None
    if isinstance(token, str) and token.startswith("vault://"):
        token_vault, _, token_key = token[len("vault://"):].partition("/")
    vault_names = list(dict.fromkeys(config.vault_names + ([token_vault] if token_vault else [])))
    decrypted = _decrypted_vaults(rt, vault_names)
    merged: dict[str, str] = {}
    for name in config.vault_names:
        merged.update(decrypted[name])
    if token_vault is not None:
        token = decrypted[token_vault].get(token_key)
        if token is None:
            raise Conflict(f"vault '{token_vault}' has no entry '{token_key}' for git_token",
                           code="vault_missing")
    dep_out = {key: deployment.get(key) for key in _DEPLOYMENT_OUT}
    dep_out = {k: v for k, v in dep_out.items() if v is not None or k in ("code_path", "env")}
    dep_out["env"] = dict(deployment.get("env") or {})
    dep_out["git_token"] = token or None
    return {
        "redis": redis_block(redis_url),
        "queue": {"name": requested, "priority": subs[0].priority},
        "sub_queues": [{"name": f"{parent}.{s.name}", "priority": s.priority} for s in subs],
        "deployment": dep_out,
        "vaults": merged,
    }
