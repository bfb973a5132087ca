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
from runqy.core.queue_configs import OUTPUT_ONLY_KEYS, SCHEMA_TYPES, TASK_DEFAULT_LIMITS
from runqy.core.tasks import BATCH_LIMIT
from runqy.core.values import (
    MAX_RETRY,
    MAX_SECONDS,
    MAX_TIME,
    NAME_PART_RE,
    QUEUE_NAME_MAX,
    TASK_ID_RE,
)
from runqy.core.vaults import ENTRY_KEY_RE, RESERVED_ENV, RESERVED_VAULT_NAMES, VAULT_NAME_RE

DOCUMENTED_BLUEPRINTS = ("api", "ops")
_DURATION = {"type": "integer", "minimum": 0, "maximum": MAX_SECONDS,
             "description": "whole seconds"}
_MAX_RETRY = {"type": "integer", "minimum": 0, "maximum": MAX_RETRY}
_TIME = {"oneOf": [{"type": "string", "format": "date-time"},
                   {"type": "integer", "maximum": MAX_TIME}]}
_STRING = {"type": "string"}
_FLAG = {"type": "boolean"}

# Names and IDs: the patterns and lengths runqy.core enforces, so that a schema-valid name is
# never refused (and an invalid one never accepted).
_PART = NAME_PART_RE.pattern.strip("^$")
_NAME = {"type": "string", "pattern": NAME_PART_RE.pattern, "maxLength": 64}
_QUEUE = {"description": "`parent` (its `default` sub-queue) or `parent.sub`", "anyOf": [
    {"type": "string", "pattern": NAME_PART_RE.pattern,
     "maxLength": QUEUE_NAME_MAX - len(".default")},
    {"type": "string", "pattern": rf"^{_PART}\.{_PART}$", "maxLength": QUEUE_NAME_MAX}]}
_TASK_ID = {"type": "string", "pattern": TASK_ID_RE.pattern}
_VAULT_NAME = {"type": "string", "pattern": VAULT_NAME_RE.pattern,
               "not": {"enum": sorted(RESERVED_VAULT_NAMES)},
               "description": f"not one of {', '.join(sorted(RESERVED_VAULT_NAMES))} in any "
                              "letter case"}
_ENTRY_KEY = {"type": "string", "pattern": ENTRY_KEY_RE.pattern,
              "not": {"enum": sorted(RESERVED_ENV)},
              "description": f"not one of {', '.join(sorted(RESERVED_ENV))} in any letter case"}
PATH_PARAMETERS = {"queue": _QUEUE, "task_id": _TASK_ID, "name": _NAME, "sub": _NAME,
                   "vault": _VAULT_NAME, "key": _ENTRY_KEY}

_OPTIONS = {"timeout": _DURATION, "max_retry": _MAX_RETRY,
            "retention": _DURATION, "process_in": _DURATION, "process_at": _TIME,
            "unique_ttl": {**_DURATION, "minimum": 1}, "task_id": _TASK_ID,
            "deadline": {**_TIME, "description": "must be in the future"}}
_NOT_BOTH_START_TIMES = {"not": {"required": ["process_in", "process_at"]}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


# A relative path without '..' segments (code_path, requirements_file).
_RELATIVE_PATH = {"type": "string", "pattern": r"^(?!/)(?!(.*/)?\.\.(/|$)).+$"}
_DEPLOYMENT = {
    "type": "object", "additionalProperties": False, "required": ["startup_cmd"],
    "description": "Exactly one of `git_url` and `path`.",
    "properties": {
        "startup_cmd": {"type": "string", "pattern": r"\S"},
        "git_url": _nullable(_STRING), "path": _nullable(_STRING),
        "branch": _nullable(_STRING), "git_token": _nullable(_STRING),
        "code_path": _nullable(_RELATIVE_PATH), "requirements_file": _nullable(_RELATIVE_PATH),
        "mode": _nullable({"enum": ["long_running", "one_shot"]}),
        "startup_timeout_secs": _nullable({"type": "integer", "minimum": 1, "maximum": 3600}),
        "redis_storage": {},
        "env": _nullable({"type": "object", "propertyNames": _ENTRY_KEY,
                          "additionalProperties": {"type": ["string", "number", "boolean"]}}),
        "vaults": _nullable({"type": "array", "items": _STRING}),
    },
    "oneOf": [{"required": ["git_url"], "properties": {"git_url": _STRING}},
              {"required": ["path"], "properties": {"path": _STRING}}],
}
_SUB_QUEUE = {"type": "object", "additionalProperties": False, "required": ["name"],
              "properties": {"name": _NAME,
                             "priority": {"type": "integer", "minimum": 1, "maximum": 1000},
                             "enabled": _FLAG}}
_FIELD_TYPE = {"enum": sorted(SCHEMA_TYPES)}


_FIELD_TYPES = {"anyOf": [_FIELD_TYPE, {"type": "array", "items": _FIELD_TYPE, "minItems": 1}]}


def _default_of(kind: str, *names: str) -> dict[str, Any]:
    """A field whose default is a JSON `kind` value: its `type` must admit one of `names`."""
    admitting = {"enum": list(names)}
    return {"required": ["default"], "properties": {
        "default": {"type": kind},
        "type": {"anyOf": [admitting, {"type": "array", "items": _FIELD_TYPE, "minItems": 1,
                                       "contains": admitting}]}}}


# A field's default must be a value of its type (as runqy.core.input_schema checks payloads);
# a null default means none.
_DEFAULT_FITS_TYPE = [{"properties": {"default": {"type": "null"}}},
                      _default_of("boolean", "bool"), _default_of("integer", "int", "float"),
                      _default_of("number", "float"), _default_of("string", "string"),
                      _default_of("array", "array"), _default_of("object", "object")]
_INPUT_FIELD = {"type": "object", "additionalProperties": False, "required": ["name", "type"],
                "anyOf": _DEFAULT_FITS_TYPE,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "type": _FIELD_TYPES,
                    "required": _FLAG, "description": {},
                    "default": {"description": "a value of the field's type"}}}
_CONFIG_PROPERTIES = {
    "description": _nullable(_STRING), "enabled": _FLAG,
    "sub_queues": _nullable({"type": "array", "items": _SUB_QUEUE, "maxItems": 32,
                             "uniqueItems": True,
                             "description": "distinct names; empty or null: one `default`"}),
    "deployment": _DEPLOYMENT,
    "input_schema": _nullable({"type": "array", "items": _INPUT_FIELD}),
    "task_defaults": _nullable({"type": "object", "additionalProperties": False,
                                "properties": {key: {"type": "integer", "minimum": 0,
                                                     "maximum": limit}
                                               for key, limit in TASK_DEFAULT_LIMITS.items()}}),
    # What a GET returns and a client may send back unchanged (ignored).
    **{key: {} for key in sorted(OUTPUT_ONLY_KEYS)},
}
_DEPLOYMENT_PATCH = {"type": "object", "additionalProperties": False,
                     "properties": _DEPLOYMENT["properties"]}
_QUEUE_CONFIG = {"type": "object", "required": ["name", "deployment"],
                 "properties": {"name": _NAME, **_CONFIG_PROPERTIES}}
# The name is the path's; a body may repeat it (ignored when equal, 422 otherwise).
_QUEUE_CONFIG_REPLACE = {"type": "object", "required": ["deployment"],
                         "properties": _CONFIG_PROPERTIES}
_BULK_STATES = {action: sorted(bulk_states(action, LISTED_STATES)) for action in ACTIONS}

REQUEST_SCHEMAS: dict[str, dict[str, Any]] = {
    "api.add_task": {"type": "object", "required": ["queue"], "properties": {
        "queue": _QUEUE, "data": {}, **_OPTIONS}, **_NOT_BOTH_START_TIMES,
        "description": "Nested form (with `data` and options) or flat form (payload keys)."},
    "api.add_batch": {"type": "object", "required": ["queue", "jobs"], "properties": {
        "queue": _QUEUE, "jobs": {"type": "array", "minItems": 1},
        "timeout": _DURATION, "max_retry": _MAX_RETRY, "retention": _DURATION}},
    "api.register_worker": {"type": "object", "required": ["queue"], "properties": {
        "queue": _QUEUE, "hostname": _nullable(_STRING), "os": _nullable(_STRING),
        "version": _nullable(_STRING), "worker_id": _nullable(_STRING)}},
    "api.batch_action": {"type": "object", "required": ["action", "task_ids"], "properties": {
        "action": {"enum": list(ACTIONS)},
        "task_ids": {"type": "array", "items": _STRING, "minItems": 1,
                     "maxItems": BATCH_LIMIT}}},
    "api.all_action": {"type": "object", "required": ["action", "state"], "oneOf": [
        {"properties": {"action": {"const": action}, "state": {"enum": states}}}
        for action, states in _BULK_STATES.items()]},
    "api.create_config": _QUEUE_CONFIG,
    "api.replace_config": _QUEUE_CONFIG_REPLACE,
    "api.patch_config": {"type": "object", "description": "JSON merge patch (RFC 7396) of the "
                         "configuration (null removes a key); the result must be a valid "
                         "configuration (422 otherwise)",
                         "properties": {**_CONFIG_PROPERTIES, "deployment": _DEPLOYMENT_PATCH}},
    "api.put_sub_queue": {"type": "object", "properties": {
        "priority": {"type": "integer", "minimum": 1, "maximum": 1000},
        "enabled": _FLAG}},
    "api.create_vault": {"type": "object", "required": ["name"], "properties": {
        "name": _VAULT_NAME, "description": _nullable(_STRING)}},
    "api.patch_vault": {"type": "object", "properties": {"description": _nullable(_STRING)}},
    "api.put_entry": {"type": "object", "required": ["key", "value"], "properties": {
        "key": _ENTRY_KEY, "value": _STRING, "is_secret": _FLAG}},
}
# Success statuses other than 200 alone.
SUCCESS_STATUSES: dict[str, dict[str, str]] = {
    "api.create_config": {"200": "replaced (`?force=true`)", "201": "created"},
    "api.put_sub_queue": {"200": "updated", "201": "added"},
    "api.create_vault": {"201": "created"},
    "api.put_entry": {"200": "replaced", "201": "added"},
}

# Bodies whose handler refuses unknown keys (http-api.md 1); the others carry user data.
CLOSED_BODIES = frozenset({"api.add_batch", "api.register_worker", "api.batch_action",
                           "api.all_action", "api.put_sub_queue", "api.create_vault",
                           "api.patch_vault", "api.put_entry", "api.create_config",
                           "api.replace_config", "api.patch_config"})


def _int_range(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


# A query flag: these spellings, case-insensitive; anything else (an empty value too) is 400.
_QUERY_FLAG = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}
_STATES = list(LISTED_STATES)
# The query parameters each handler reads, with the ranges it enforces (http-api.md 5.4, 7).
QUERY_PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "api.get_task": {"wait": _QUERY_FLAG, "timeout": _int_range(1, 120)},
    "api.queue_detail": {"days": _int_range(1, 90)},
    "api.delete_queue": {"force": _QUERY_FLAG},
    "api.list_tasks": {"state": {"enum": _STATES}, "page": _int_range(1, 10**9),
                       "size": _int_range(1, 500), "limit": _int_range(1, 500),
                       "q": {"type": "string"}},
    "api.worker_logs": {"n": _int_range(1, 500), "since": _int_range(-1, 2**62)},
    "api.list_configs": {"include_disabled": _QUERY_FLAG},
    "api.create_config": {"force": _QUERY_FLAG},
    "api.restore_config": {"sub": _NAME},
    "api.delete_vault": {"force": _QUERY_FLAG},
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
                            "schema": PATH_PARAMETERS.get(name, _STRING)}
                           for name in re.findall(r"{([^}]+)}", path)]
            + [{"name": name, "in": "query", "required": False, "schema": schema}
               for name, schema in QUERY_PARAMETERS.get(endpoint, {}).items()],
            "responses": {**{status: {"description": text} for status, text in
                             SUCCESS_STATUSES.get(endpoint, {"200": "success"}).items()},
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
