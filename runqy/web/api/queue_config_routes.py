"""Admin queue-configuration routes: CRUD, soft delete/restore, sub-queues, YAML reload (7.4),
as thin views on :mod:`runqy.core.queue_configs`."""

from __future__ import annotations

import time
from typing import Any

from flask import request

from runqy.core import queue_configs
from runqy.core.queue_configs import Saved, serialize
from runqy.core.values import as_bool, as_int, format_time, reject_unknown
from runqy.web.api import api_bp
from runqy.web.api.common import admin_route
from runqy.web.inputs import json_body, query_bool
from runqy.web.state import core


def _saved(saved: Saved) -> Any:
    return ({"queue": serialize(saved.config), "warnings": saved.warnings},
            201 if saved.created else 200)


@api_bp.get("/api/queue-configs")
@admin_route
def list_configs() -> Any:
    """Queue configurations (`?include_disabled=true` for all)."""
    configs = [serialize(c) for c in
               queue_configs.list_configs(core(), query_bool("include_disabled"))]
    return {"queues": configs, "count": len(configs)}


@api_bp.post("/api/queue-configs")
@admin_route
def create_config() -> Any:
    """Create a queue configuration (`?force=true` replaces)."""
    return _saved(queue_configs.create_config(core(), json_body(), replace=query_bool("force")))


@api_bp.get("/api/queue-configs/<name>")
@admin_route
def get_config(name: str) -> Any:
    """One queue configuration, enabled or not."""
    return serialize(queue_configs.find_config(core(), name))


@api_bp.put("/api/queue-configs/<name>")
@admin_route
def replace_config(name: str) -> Any:
    """Replace a queue configuration."""
    return _saved(queue_configs.replace_config(core(), name, json_body()))


@api_bp.patch("/api/queue-configs/<name>")
@admin_route
def patch_config(name: str) -> Any:
    """Change part of a queue configuration (JSON merge patch)."""
    return _saved(queue_configs.patch_config(core(), name, json_body()))


@api_bp.delete("/api/queue-configs/<name>")
@admin_route
def disable_config(name: str) -> Any:
    """Disable a queue configuration and its sub-queues (soft delete)."""
    return {"queue": serialize(queue_configs.disable_config(core(), name)), "disabled": True}


@api_bp.post("/api/queue-configs/<name>/restore")
@admin_route
def restore_config(name: str) -> Any:
    """Re-enable a configuration, or one sub-queue with `?sub=`."""
    return _saved(queue_configs.restore_config(core(), name, request.args.get("sub")))


@api_bp.put("/api/queue-configs/<name>/sub-queues/<sub>")
@admin_route
def put_sub_queue(name: str, sub: str) -> Any:
    """Add or update one sub-queue."""
    body = json_body()
    reject_unknown(body, {"priority", "enabled"})
    queue_configs.find_config(core(), name)
    priority = as_int(body.get("priority", 1), "priority")
    enabled = as_bool(body.get("enabled", True), "enabled")
    return _saved(queue_configs.put_sub_queue(core(), name, sub, priority, enabled))


@api_bp.delete("/api/queue-configs/<name>/sub-queues/<sub>")
@admin_route
def disable_sub_queue(name: str, sub: str) -> Any:
    """Disable one sub-queue (soft delete)."""
    config = queue_configs.disable_sub_queue(core(), name, sub)
    return {"queue": serialize(config), "disabled": f"{name}.{sub}"}


@api_bp.post("/api/queue-configs/reload")
@admin_route
def reload_configs() -> Any:
    """Reload the queue YAML directory (all or nothing)."""
    return {**queue_configs.reload_config_dir(core()), "timestamp": format_time(time.time())}
