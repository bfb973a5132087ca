"""The admin routes the original Go CLI calls in remote mode, with the Go server's JSON shapes
(http-api.md section 13), so the Go binary works against this server; plus the Go server's
Swagger paths, pointing at this server's docs.

They are aliases over the same core functions as `/api/*`, kept out of the route table and the
OpenAPI document (section 4), which describe this server's own API. Errors keep the envelope.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, redirect, url_for

from runqy.broker import WorkerRecord
from runqy.core import queue_configs, workers
from runqy.web.api.common import admin_route
from runqy.web.ops.openapi import openapi_document
from runqy.web.state import core

go_bp = Blueprint("go", __name__)


def go_worker(record: WorkerRecord) -> dict[str, Any]:
    """A worker as the Go server's WorkerInfo: unix seconds, the raw `queues` field."""
    return {"worker_id": record.worker_id, "started_at": record.started_at or 0,
            "last_beat": record.last_beat, "concurrency": record.concurrency or 0,
            "queues": record.fields.get("queues", ""), "status": record.status,
            "is_stale": record.stale}


@go_bp.get("/workers")
@admin_route
def list_workers() -> Any:
    """Every worker, as the Go CLI's `worker list` reads them."""
    listed = [go_worker(record) for record in workers.fleet(core()).workers]
    return {"workers": listed, "count": len(listed)}


@go_bp.get("/workers/<worker_id>")
@admin_route
def get_worker(worker_id: str) -> Any:
    """One worker, as the Go CLI's `worker info` reads it."""
    return go_worker(workers.worker_record(core(), worker_id))


def _enabled_sub_queues() -> list[dict[str, Any]]:
    return sorted(({"name": f"{config.name}.{sub.name}", "priority": sub.priority}
                   for config in queue_configs.list_configs(core())
                   for sub in config.sub_queues if sub.enabled), key=lambda q: q["name"])


@go_bp.get("/workers/queues")
@admin_route
def list_queues() -> Any:
    """Enabled sub-queues with their priorities, as the Go CLI's `config list` reads them."""
    listed = _enabled_sub_queues()
    return {"queues": listed, "count": len(listed)}


@go_bp.post("/workers/reload")
@admin_route
def reload() -> Any:
    """Reload the YAML directory, as the Go CLI's `config reload` expects the answer."""
    parents = set(queue_configs.reload_config_dir(core())["reloaded"])
    return {"reloaded": [q["name"] for q in _enabled_sub_queues()
                         if q["name"].split(".", 1)[0] in parents],
            "errors": [], "timestamp": int(time.time())}


@go_bp.get("/swagger/index.html")
def swagger_index() -> Response:
    """The Go server's Swagger UI path: this server's /docs."""
    return redirect(url_for("ops.docs"), 302)


@go_bp.get("/swagger/doc.json")
def swagger_doc() -> Any:
    """The Go server's OpenAPI path: this server's document (/openapi.json)."""
    return openapi_document(current_app)
