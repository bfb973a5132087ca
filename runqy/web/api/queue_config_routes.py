"""Admin queue-configuration routes: CRUD, soft delete/restore, sub-queues, YAML reload (7.4)."""

from __future__ import annotations

import time
from typing import Any

from flask import request

from runqy.core.models import QueueConfig, SubQueue
from runqy.core.values import NAME_PART_RE, as_bool, as_int, format_time, reject_unknown
from runqy.web.api import api_bp
from runqy.web.api.common import admin_route
from runqy.web.errors import ApiError, invalid_request
from runqy.web.extensions import db
from runqy.web.inputs import json_body, query_bool
from runqy.web.queue_configs import (
    ConfigDirError,
    apply_config_dir,
    document_of,
    enabled_queue_names,
    find_config,
    merge_patch,
    register_queues,
    save_config,
    serialize,
    validate_or_raise,
    vault_warnings,
)
from runqy.web.state import runqy_state


def _saved(config: QueueConfig, doc: dict[str, Any], status: int = 200) -> Any:
    warnings = vault_warnings(doc)
    if config.source == "yaml" and request.method != "POST":
        warnings.append(f"'{config.name}' comes from a YAML file; the next reload overwrites it")
    # Redis first: when it fails (503) the uncommitted change is rolled back, so a retry is
    # not met by queue_config_exists; a failed commit after it leaves only an empty queue name.
    register_queues(runqy_state().redis, enabled_queue_names(config))
    db.session.commit()
    return {"queue": serialize(config), "warnings": warnings}, status


@api_bp.get("/api/queue-configs")
@admin_route
def list_configs() -> Any:
    """Queue configurations (`?include_disabled=true` for all)."""
    query = db.session.query(QueueConfig).order_by(QueueConfig.name)
    if not query_bool("include_disabled"):
        query = query.filter_by(enabled=True)
    configs = [serialize(c) for c in query]
    return {"queues": configs, "count": len(configs)}


@api_bp.post("/api/queue-configs")
@admin_route
def create_config() -> Any:
    """Create a queue configuration (`?force=true` replaces)."""
    body = json_body()
    name = body.get("name")
    if not isinstance(name, str):
        raise invalid_request("'name' is required and must be a string")
    doc = validate_or_raise(body, name)
    existing = db.session.query(QueueConfig).filter_by(name=name).one_or_none()
    if existing is not None and not query_bool("force"):
        raise ApiError(409, "queue_config_exists", f"queue configuration '{name}' exists")
    config = save_config(doc, "api", existing)
    return _saved(config, doc, 200 if existing is not None else 201)


@api_bp.get("/api/queue-configs/<name>")
@admin_route
def get_config(name: str) -> Any:
    """One queue configuration, enabled or not."""
    return serialize(find_config(name))


@api_bp.put("/api/queue-configs/<name>")
@admin_route
def replace_config(name: str) -> Any:
    """Replace a queue configuration."""
    body = json_body()
    config = find_config(name)
    doc = validate_or_raise(body, name)
    save_config(doc, config.source, config)
    return _saved(config, doc)


@api_bp.patch("/api/queue-configs/<name>")
@admin_route
def patch_config(name: str) -> Any:
    """Change part of a queue configuration (JSON merge patch)."""
    body = json_body()
    config = find_config(name)
    current = document_of(config)
    merged = merge_patch(current, body)
    for whole in ("sub_queues", "input_schema"):
        if whole in body and body[whole] is not None:
            merged[whole] = body[whole]
    patched_dep = body.get("deployment")
    if isinstance(patched_dep, dict) and patched_dep.get("vaults") is not None:
        merged["deployment"]["vaults"] = patched_dep["vaults"]
    doc = validate_or_raise(merged, name)
    save_config(doc, config.source, config)
    return _saved(config, doc)


@api_bp.delete("/api/queue-configs/<name>")
@admin_route
def disable_config(name: str) -> Any:
    """Disable a queue configuration and its sub-queues (soft delete)."""
    config = find_config(name)
    config.enabled = False
    for sub in config.sub_queues:
        sub.enabled = False
    db.session.commit()
    return {"queue": serialize(config), "disabled": True}


@api_bp.post("/api/queue-configs/<name>/restore")
@admin_route
def restore_config(name: str) -> Any:
    """Re-enable a configuration, or one sub-queue with `?sub=`."""
    config = find_config(name)
    only = request.args.get("sub")
    subs = [s for s in config.sub_queues if only is None or s.name == only]
    if only is not None and not subs:
        raise ApiError(404, "queue_config_not_found", f"sub-queue '{name}.{only}' not found")
    config.enabled = True
    for sub in subs:
        sub.enabled = True
    return _saved(config, document_of(config))


@api_bp.put("/api/queue-configs/<name>/sub-queues/<sub>")
@admin_route
def put_sub_queue(name: str, sub: str) -> Any:
    """Add or update one sub-queue."""
    body = json_body()
    reject_unknown(body, {"priority", "enabled"})
    config = find_config(name)
    if not NAME_PART_RE.fullmatch(sub) or len(sub) > 64:
        raise ApiError(422, "invalid_config", f"sub-queue name {sub!r} is invalid")
    priority = as_int(body.get("priority", 1), "priority")
    if not 1 <= priority <= 1000:
        raise ApiError(422, "invalid_config", "priority must be 1-1000")
    enabled = as_bool(body.get("enabled", True), "enabled")
    row = next((s for s in config.sub_queues if s.name == sub), None)
    status = 200
    if row is None:
        if len(config.sub_queues) >= 32:
            raise ApiError(422, "invalid_config", "a queue has at most 32 sub-queues")
        config.sub_queues.append(SubQueue(name=sub, priority=priority, enabled=enabled))
        status = 201
    else:
        row.priority, row.enabled = priority, enabled
    return _saved(config, document_of(config), status)


@api_bp.delete("/api/queue-configs/<name>/sub-queues/<sub>")
@admin_route
def disable_sub_queue(name: str, sub: str) -> Any:
    """Disable one sub-queue (soft delete)."""
    config = find_config(name)
    row = next((s for s in config.sub_queues if s.name == sub), None)
    if row is None:
        raise ApiError(404, "queue_config_not_found", f"sub-queue '{name}.{sub}' not found")
    row.enabled = False
    db.session.commit()
    return {"queue": serialize(config), "disabled": f"{name}.{sub}"}


@api_bp.post("/api/queue-configs/reload")
@admin_route
def reload_configs() -> Any:
    """Reload the queue YAML directory (all or nothing)."""
    directory = runqy_state().settings.config_dir
    if directory is None:
        raise ApiError(409, "config_dir_unset", "no YAML directory is configured "
                       "(QUEUE_WORKERS_DIR or runqy serve --config DIR)")
    try:
        result = apply_config_dir(directory, runqy_state().redis)
    except ConfigDirError as exc:
        db.session.rollback()
        raise ApiError(422, "invalid_config", *exc.problems) from None
    return {**result, "timestamp": format_time(time.time())}

