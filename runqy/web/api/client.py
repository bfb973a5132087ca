"""Client routes: `POST /queue/add`, `POST /queue/add-batch`, `GET /queue/<id>` (section 5).

Every check (options, payload size, input schema, queue configured) runs before anything is
sent to Redis, so a rejected request writes nothing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from runqy.broker import EnqueueRequest, keys
from runqy.broker.codec import TaskMessage
from runqy.broker.errors import BrokerError, TaskOutcomeUnknownError
from runqy.core import tasks
from runqy.core.errors import DomainError
from runqy.core.input_schema import apply_input_schema
from runqy.core.models import QueueConfig
from runqy.core.values import (
    MAX_RETRY,
    as_int,
    as_seconds,
    as_time,
    check_task_id,
    format_time,
    normalize_queue,
    reject_unknown,
)
from runqy.web.api import api_bp
from runqy.web.api.common import task_object
from runqy.web.auth import CLIENT, require_role
from runqy.web.errors import ApiError, broker_error_status, invalid_request
from runqy.web.extensions import db
from runqy.web.inputs import json_body, query_bool, query_int
from runqy.web.state import core, runqy_state

OPTION_KEYS = ("timeout", "max_retry", "retention", "process_in", "process_at", "unique_ttl",
               "task_id", "deadline")
ADD_KEYS = {"queue", "data", *OPTION_KEYS}
BATCH_KEYS = {"queue", "jobs", "timeout", "max_retry", "retention"}
JOB_KEYS = {"data", *OPTION_KEYS}
FINAL_STATES = {"completed", "archived"}
WAIT_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class QueueTarget:
    """A configured, enabled sub-queue and the defaults that apply to its tasks."""

    name: str
    input_schema: list[dict[str, Any]] | None
    timeout: int
    max_retry: int
    retention: int
    max_payload_size: int


# One encoder for every payload: json.dumps builds a new one per call when given options.
_encode_payload = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def new_task_id() -> str:
    """A random (version 4) UUID string, as `str(uuid.uuid4())` gives, built without the
    UUID object (a measurable share of a 500-job batch)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def resolve_queue(raw: Any) -> QueueTarget:
    """The enabled sub-queue for a client name, or 404 (cached briefly: the hot path)."""
    name = normalize_queue(raw)
    target = runqy_state().queue_cache.get(name, _load_queue_target)
    if target is None:
        raise ApiError(404, "queue_not_found", f"queue '{name}' is not configured")
    return target


def _load_queue_target(name: str) -> QueueTarget | None:
    parent, sub = name.split(".", 1)
    config = db.session.query(QueueConfig).filter_by(name=parent, enabled=True).one_or_none()
    if config is None or not any(s.name == sub and s.enabled for s in config.sub_queues):
        return None
    settings = runqy_state().settings
    defaults = config.task_defaults or {}
    return QueueTarget(
        name=name,
        input_schema=config.input_schema,
        timeout=defaults.get("timeout") or settings.default_timeout,
        max_retry=defaults.get("max_retry", settings.default_max_retry),
        retention=defaults.get("retention", settings.default_retention),
        max_payload_size=settings.max_payload_size,
    )


def _option(options: dict[str, Any], fallback: dict[str, Any], key: str) -> Any:
    return options[key] if key in options else fallback.get(key)


@dataclass(frozen=True)
class JobOptions:
    """A job's checked options; `task_id` None means "generate one"."""

    timeout: int
    max_retry: int
    retention: int
    process_at: int | None
    unique_ttl: int | None
    deadline: int
    task_id: str | None


def resolve_options(target: QueueTarget, options: dict[str, Any], fallback: dict[str, Any],
                    now: int) -> JobOptions:
    """Check the /queue/add options of one job (400 on any bad value)."""
    timeout = _option(options, fallback, "timeout")
    timeout = as_seconds(timeout, "timeout") if timeout is not None else 0
    max_retry = _option(options, fallback, "max_retry")
    max_retry = target.max_retry if max_retry is None else as_int(max_retry, "max_retry",
                                                                  minimum=0, maximum=MAX_RETRY)
    retention = _option(options, fallback, "retention")
    retention = target.retention if retention is None else as_seconds(retention, "retention")
    if "process_in" in options and "process_at" in options:
        raise invalid_request("'process_in' and 'process_at' cannot be used together")
    process_at = None
    if options.get("process_in") is not None:
        process_at = now + as_seconds(options["process_in"], "process_in")
    elif options.get("process_at") is not None:
        process_at = as_time(options["process_at"], "process_at")
    if process_at is not None and process_at <= now:
        process_at = None
    unique_ttl = options.get("unique_ttl")
    if unique_ttl is not None:
        unique_ttl = as_seconds(unique_ttl, "unique_ttl", minimum=1)
    deadline = 0
    if options.get("deadline") is not None:
        deadline = as_time(options["deadline"], "deadline")
        if deadline <= now:
            raise invalid_request("'deadline' must be in the future")
    task_id = check_task_id(options["task_id"]) if options.get("task_id") is not None else None
    return JobOptions(timeout or target.timeout, max_retry, retention, process_at, unique_ttl,
                      deadline, task_id)


def encoded_within_limit(target: QueueTarget, data: Any) -> bytes:
    """The compact UTF-8 JSON of a payload, or 413 when it exceeds the payload limit."""
    payload = _encode_payload(data).encode("utf-8")
    if len(payload) > target.max_payload_size:
        raise ApiError(413, "payload_too_large",
                       f"the payload is {len(payload)} bytes; the limit is "
                       f"{target.max_payload_size}")
    return payload


def build_job(target: QueueTarget, data: Any, opts: JobOptions) -> tuple[EnqueueRequest, Any]:
    """Check one payload and build its broker request; returns (request, stored payload)."""
    if target.input_schema:
        encoded_within_limit(target, data)  # size first (5.2): a huge payload is never walked
        data, problems = apply_input_schema(target.input_schema, data)
        if problems:
            raise ApiError(422, "schema_validation_failed", *problems)
    payload = encoded_within_limit(target, data)
    task_id = opts.task_id or new_task_id()
    msg = TaskMessage(type=target.name, payload=payload, id=task_id, queue=target.name,
                      retry=opts.max_retry, timeout=opts.timeout, deadline=opts.deadline,
                      retention=opts.retention)
    if opts.unique_ttl is not None:
        msg.unique_key = keys.unique(target.name, target.name, payload)
    return EnqueueRequest(msg, process_at=opts.process_at, unique_ttl=opts.unique_ttl,
                          id_supplied=opts.task_id is not None), data


def _info_of_new_task(req: EnqueueRequest, result: Any, stored: Any) -> dict[str, Any]:
    """The task object of a task just enqueued, without reading it back from Redis."""
    msg = req.msg
    return {
        "id": msg.id, "queue": msg.queue, "type": msg.type, "state": result.state,
        "payload": stored, "max_retry": msg.retry, "retried": 0, "last_err": None,
        "last_failed_at": None, "next_process_at": format_time(result.next_process_at),
        "completed_at": None, "timeout": msg.timeout, "deadline": format_time(msg.deadline),
        "retention": msg.retention, "result": None, "is_orphaned": False,
    }


@api_bp.post("/queue/add")
@require_role(CLIENT)
def add_task() -> Any:
    """Enqueue one task (nested form with `data` and options, or flat form)."""
    body = json_body()
    if "queue" not in body:
        raise invalid_request("'queue' is required")
    if "data" in body:
        reject_unknown(body, ADD_KEYS)
        data, options = body["data"], body
    else:
        data = {k: v for k, v in body.items() if k not in ("queue", "timeout")}
        options = {"timeout": body["timeout"]} if "timeout" in body else {}
    target = resolve_queue(body["queue"])
    req, stored = build_job(target, data, resolve_options(target, options, {}, int(time.time())))
    result = runqy_state().broker.enqueue(req.msg, process_at=req.process_at,
                                    unique_ttl=req.unique_ttl, id_supplied=req.id_supplied)
    return {"info": _info_of_new_task(req, result, stored), "data": stored}


@api_bp.post("/queue/add-batch")
@require_role(CLIENT)
def add_batch() -> Any:
    """Enqueue many tasks in one request and one Redis round trip."""
    body = json_body()
    reject_unknown(body, BATCH_KEYS)
    if "queue" not in body or "jobs" not in body:
        raise invalid_request("'queue' and 'jobs' are required")
    jobs = body["jobs"]
    if not isinstance(jobs, list) or not jobs:
        raise invalid_request("'jobs' must be a non-empty list")
    limit = runqy_state().settings.max_batch_size
    if len(jobs) > limit:
        raise ApiError(413, "batch_too_large", f"{len(jobs)} jobs; the limit is {limit}")
    fallback = {key: body[key] for key in ("timeout", "max_retry", "retention") if key in body}
    target = resolve_queue(body["queue"])
    now = int(time.time())
    # The shared defaults are checked once: a bad one is a 400 for the whole request, and jobs
    # without options of their own reuse the result.
    shared = resolve_options(target, {}, fallback, now)
    errors: list[dict[str, Any]] = []
    requests: list[tuple[int, EnqueueRequest]] = []
    for index, job in enumerate(jobs):
        try:
            if isinstance(job, dict) and "data" in job:
                reject_unknown(job, JOB_KEYS, f"jobs[{index}]")
                req, _ = build_job(target, job["data"],
                                   resolve_options(target, job, fallback, now))
            else:
                req, _ = build_job(target, job, shared)
        except (ApiError, DomainError) as exc:
            errors.append({"index": index, "code": exc.code, "message": "; ".join(exc.messages)})
            continue
        requests.append((index, req))
    results = runqy_state().broker.enqueue_many([req for _, req in requests]) if requests else []
    task_ids = []
    for (index, req), result in zip(requests, results, strict=True):
        if isinstance(result, TaskOutcomeUnknownError):
            raise result  # Redis failed during the pipeline: the whole answer is 503 (5.3)
        if isinstance(result, BrokerError):
            _, code = broker_error_status(result)
            errors.append({"index": index, "code": code, "message": str(result)})
        else:
            task_ids.append(req.msg.id)
    errors.sort(key=lambda e: e["index"])
    return {"enqueued": len(task_ids), "failed": len(errors), "task_ids": task_ids,
            "errors": errors}


@api_bp.get("/queue/<task_id>")
@require_role(CLIENT)
def get_task(task_id: str) -> Any:
    """Read a task's status and result; `?wait=true&timeout=N` long-polls."""
    wait = query_bool("wait")
    timeout = query_int("timeout", 30, 1, 120) if wait else 0
    if not wait:
        return {"info": task_object(tasks.find_task(core(), task_id))}
    waiters = runqy_state().waiters
    if not waiters.acquire(blocking=False):
        raise ApiError(429, "too_many_waiters", "too many long-polls are open; retry shortly",
                       headers={"Retry-After": "1"})
    try:
        deadline = time.monotonic() + timeout
        while True:
            info = tasks.find_task(core(), task_id)
            if info.state in FINAL_STATES:
                return {"info": task_object(info)}
            if time.monotonic() >= deadline:
                raise ApiError(408, "wait_timeout",
                               f"task {task_id} did not finish within {timeout} s")
            time.sleep(WAIT_POLL_SECONDS)
    finally:
        waiters.release()
