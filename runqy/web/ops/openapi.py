"""The OpenAPI 3.1 document, generated from the Flask URL map of the API and ops blueprints.

Every JSON route is described from its view (docstring, roles from `require_role`) and the
request-body schema it validates against here, so the document cannot drift from the routes.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from runqy import __version__
from runqy.broker.states import ACTIONS, LISTED_STATES, bulk_states
from runqy.core.tasks import BATCH_LIMIT
from runqy.core.values import MAX_RETRY, MAX_SECONDS, MAX_TIME, TASK_ID_RE

DOCUMENTED_BLUEPRINTS = ("api", "ops")
_DURATION = {"type": "integer", "minimum": 0, "maximum": MAX_SECONDS,
             "description": "whole seconds"}
_MAX_RETRY = {"type": "integer", "minimum": 0, "maximum": MAX_RETRY}
_TIME = {"oneOf": [{"type": "string", "format": "date-time"},
                   {"type": "integer", "maximum": MAX_TIME}]}
_OPTIONS = {"timeout": _DURATION, "max_retry": _MAX_RETRY,
            "retention": _DURATION, "process_in": _DURATION, "process_at": _TIME,
            "unique_ttl": {**_DURATION, "minimum": 1},
            "task_id": {"type": "string", "pattern": TASK_ID_RE.pattern}, "deadline": _TIME}
_QUEUE_CONFIG = {"type": "object", "required": ["name", "deployment"], "properties": {
    "name": {"type": "string"}, "description": {"type": "string"},
    "sub_queues": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "priority": {"type": "integer"},
        "enabled": {"type": "boolean"}}}},
    "deployment": {"type": "object", "required": ["startup_cmd"]},
    "input_schema": {"type": "array", "items": {"type": "object"}},
    "task_defaults": {"type": "object"}}}

REQUEST_SCHEMAS: dict[str, dict[str, Any]] = {
    "api.add_task": {"type": "object", "required": ["queue"], "properties": {
        "queue": {"type": "string"}, "data": {}, **_OPTIONS},
        "description": "Nested form (with `data` and options) or flat form (payload keys)."},
    "api.add_batch": {"type": "object", "required": ["queue", "jobs"], "properties": {
        "queue": {"type": "string"}, "jobs": {"type": "array", "minItems": 1},
        "timeout": _DURATION, "max_retry": _MAX_RETRY, "retention": _DURATION}},
    "api.register_worker": {"type": "object", "required": ["queue"], "properties": {
        "queue": {"type": "string"}, "hostname": {"type": "string"}, "os": {"type": "string"},
        "version": {"type": "string"}, "worker_id": {"type": "string"}}},
    "api.batch_action": {"type": "object", "required": ["action", "task_ids"], "properties": {
        "action": {"enum": list(ACTIONS)},
        "task_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                     "maxItems": BATCH_LIMIT}}},
    "api.all_action": {"type": "object", "required": ["action", "state"], "properties": {
        "action": {"enum": list(ACTIONS)},
        "state": {"enum": sorted({s for a in ACTIONS for s in bulk_states(a, LISTED_STATES)})}}},
    "api.create_config": _QUEUE_CONFIG,
    "api.replace_config": _QUEUE_CONFIG,
    "api.patch_config": {"type": "object", "description": "JSON merge patch (RFC 7396)"},
    "api.put_sub_queue": {"type": "object", "properties": {
        "priority": {"type": "integer", "minimum": 1, "maximum": 1000},
        "enabled": {"type": "boolean"}}},
    "api.create_vault": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "description": {"type": "string"}}},
    "api.patch_vault": {"type": "object", "properties": {"description": {"type": "string"}}},
    "api.put_entry": {"type": "object", "required": ["key", "value"], "properties": {
        "key": {"type": "string"}, "value": {"type": "string"}, "is_secret": {"type": "boolean"}}},
}

# Bodies whose handler refuses unknown keys (http-api.md 1); the others carry user data.
CLOSED_BODIES = frozenset({"api.add_batch", "api.register_worker", "api.batch_action",
                           "api.all_action", "api.put_sub_queue", "api.create_vault",
                           "api.patch_vault", "api.put_entry"})


def _int_range(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


_FLAG = {"type": "boolean"}
_STATES = list(LISTED_STATES)
# The query parameters each handler reads, with the ranges it enforces (http-api.md 5.4, 7).
QUERY_PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "api.get_task": {"wait": _FLAG, "timeout": _int_range(1, 120)},
    "api.queue_detail": {"days": _int_range(1, 90)},
    "api.delete_queue": {"force": _FLAG},
    "api.list_tasks": {"state": {"enum": _STATES}, "page": _int_range(1, 10**9),
                       "size": _int_range(1, 500), "limit": _int_range(1, 500),
                       "q": {"type": "string"}},
    "api.worker_logs": {"n": _int_range(1, 500), "since": _int_range(-1, 2**62)},
    "api.list_configs": {"include_disabled": _FLAG},
    "api.create_config": {"force": _FLAG},
    "api.restore_config": {"sub": {"type": "string"}},
    "api.delete_vault": {"force": _FLAG},
}

_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_OBJECT = {"type": ["object", "null"]}
WORKER_SCHEMA = {
    "type": "object",
    "required": ["worker_id", "status", "healthy", "stale", "last_beat", "queues", "active_tasks"],
    "description": "A heartbeat field that cannot be parsed is null, and `error` names it; "
                   "`error` is absent when the heartbeat parsed cleanly.",
    "properties": {
        "worker_id": {"type": "string"}, "hostname": {"type": ["string", "null"]},
        "pid": _NULLABLE_INT, "version": {"type": ["string", "null"]},
        "status": {"type": "string"}, "healthy": {"type": ["boolean", "null"]},
        "stale": {"type": "boolean"}, "started_at": {"type": ["string", "null"]},
        "last_beat": {"type": ["string", "null"]}, "concurrency": _NULLABLE_INT,
        "queues": {"type": "array", "items": {"type": "object"}},
        "recovery": _NULLABLE_OBJECT, "metrics": _NULLABLE_OBJECT,
        "active_tasks": {"type": "array", "items": {"type": "string"}},
        "error": {"type": "string"}}}
_WORKER_REF = {"$ref": "#/components/schemas/Worker"}
RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "api.list_workers": {"type": "object", "properties": {
        "workers": {"type": "array", "items": _WORKER_REF}, "count": {"type": "integer"}}},
    "api.get_worker": _WORKER_REF,
}

ERROR_SCHEMA = {"type": "object", "required": ["errors", "code"], "properties": {
    "errors": {"type": "array", "items": {"type": "string"}}, "code": {"type": "string"}}}


def documented_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(METHOD, path relative to the URL prefix with {params}, endpoint) for every JSON route."""
    prefix = app.config["RUNQY_SETTINGS"].url_prefix.rstrip("/")
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".", 1)[0] not in DOCUMENTED_BLUEPRINTS:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        if prefix and path.startswith(prefix):
            path = path[len(prefix):] or "/"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, path, rule.endpoint))
    return sorted(routes, key=lambda r: (r[1], r[0]))


def openapi_document(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, endpoint in documented_routes(app):
        view = app.view_functions[endpoint]
        doc = (view.__doc__ or endpoint).strip().splitlines()[0]
        roles = getattr(view, "required_roles", None)
        operation: dict[str, Any] = {
            "operationId": f"{endpoint.replace('.', '_')}_{method.lower()}",
            "summary": doc,
            "tags": [endpoint.split(".", 1)[0]],
            "parameters": [{"name": name, "in": "path", "required": True,
                            "schema": {"type": "string"}}
                           for name in re.findall(r"{([^}]+)}", path)]
            + [{"name": name, "in": "query", "required": False, "schema": schema}
               for name, schema in QUERY_PARAMETERS.get(endpoint, {}).items()],
            "responses": {"200": {"description": "success"},
                          "default": {"description": "error",
                                      "content": {"application/json": {
                                          "schema": {"$ref": "#/components/schemas/Error"}}}}},
        }
        if endpoint in RESPONSE_SCHEMAS:
            operation["responses"]["200"]["content"] = {
                "application/json": {"schema": RESPONSE_SCHEMAS[endpoint]}}
        if roles:
            operation["security"] = [{"bearer": []}, {"apiKey": []}]
            operation["description"] = f"Roles: {', '.join(roles)}."
        else:
            operation["security"] = []
        if endpoint in REQUEST_SCHEMAS:
            body = REQUEST_SCHEMAS[endpoint]
            if endpoint in CLOSED_BODIES:
                body = {**body, "additionalProperties": False}
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": body}}}
        paths.setdefault(path, {})[method.lower()] = operation
    prefix = app.config["RUNQY_SETTINGS"].url_prefix.rstrip("/")
    return {
        "openapi": "3.1.0",
        "info": {"title": "runqy", "version": __version__,
                 "description": "Redis-backed task queue server (asynq v0.26 wire format)."},
        "servers": [{"url": prefix or "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": {"Error": ERROR_SCHEMA, "Worker": WORKER_SCHEMA},
        },
    }
