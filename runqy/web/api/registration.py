"""`POST /worker/register`: a worker learns its Redis, sub-queues, deployment and secrets (6)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from runqy.core.models import QueueConfig, Vault
from runqy.core.values import as_string, normalize_queue, reject_unknown
from runqy.redis_connection import SENTINEL, SINGLE, RedisTopology
from runqy.web.api import api_bp
from runqy.web.auth import WORKER, require_role
from runqy.web.errors import ApiError, invalid_request
from runqy.web.extensions import db
from runqy.web.inputs import json_body
from runqy.web.state import runqy_state

REGISTER_KEYS = {"queue", "hostname", "os", "version", "worker_id"}


def redis_block(url: str) -> dict[str, Any]:
    """The `redis` block: the same connection as a URL and as parts.

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


def _decrypted_vaults(names: list[str]) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    cipher = runqy_state().cipher
    if cipher is None:
        raise ApiError(503, "vaults_disabled", "this queue uses vaults but "
                       "RUNQY_VAULT_MASTER_KEY is not set (generate one: openssl rand -base64 32)")
    found = {v.name: v for v in db.session.query(Vault).filter(Vault.name.in_(names))}
    missing = [name for name in names if name not in found]
    if missing:
        raise ApiError(409, "vault_missing",
                       *(f"vault '{name}' does not exist" for name in missing))
    return {name: {e.key: cipher.decrypt(e.value_encrypted) for e in found[name].entries}
            for name in names}


@api_bp.post("/worker/register")
@require_role(WORKER)
def register_worker() -> Any:
    """Register a worker: Redis connection, sub-queues, deployment and vault values."""
    body = json_body()
    reject_unknown(body, REGISTER_KEYS)
    if "queue" not in body:
        raise invalid_request("'queue' is required")
    requested = as_string(body["queue"], "queue")
    for key in ("hostname", "os", "version", "worker_id"):
        if key in body and body[key] is not None:
            as_string(body[key], key)
    full = normalize_queue(requested)
    parent, sub = full.split(".", 1)
    only_sub = sub if "." in requested else None
    config = db.session.query(QueueConfig).filter_by(name=parent, enabled=True).one_or_none()
    subs = [] if config is None else [
        s for s in config.sub_queues if s.enabled and (only_sub is None or s.name == only_sub)]
    if not subs:
        raise ApiError(404, "queue_not_found", f"queue '{requested}' is not configured")
    subs.sort(key=lambda s: (-s.priority, s.name))
    deployment = dict(config.deployment or {})
    token = deployment.get("git_token")
    token_vault = None
    if isinstance(token, str) and token.startswith("vault://"):
        token_vault, _, token_key = token[len("vault://"):].partition("/")
    vault_names = list(dict.fromkeys(config.vault_names + ([token_vault] if token_vault else [])))
    decrypted = _decrypted_vaults(vault_names)
    merged: dict[str, str] = {}
    for name in config.vault_names:
        merged.update(decrypted[name])
    if token_vault is not None:
        token = decrypted[token_vault].get(token_key)
        if token is None:
            raise ApiError(409, "vault_missing",
                           f"vault '{token_vault}' has no entry '{token_key}' for git_token")
    settings = runqy_state().settings
    dep_out = {key: deployment.get(key) for key in (
        "git_url", "branch", "path", "code_path", "startup_cmd", "mode", "startup_timeout_secs",
        "redis_storage", "requirements_file", "env")}
    dep_out = {k: v for k, v in dep_out.items()
               if v is not None or k in ("code_path", "env")}
    dep_out["env"] = dict(deployment.get("env") or {})
    dep_out["git_token"] = token or None
    return {
        "redis": redis_block(settings.worker_redis_url or settings.redis_connection_url()),
        "queue": {"name": requested, "priority": subs[0].priority},
        "sub_queues": [{"name": f"{parent}.{s.name}", "priority": s.priority} for s in subs],
        "deployment": dep_out,
        "vaults": merged,
    }
