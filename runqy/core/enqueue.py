"""Enqueueing (http-api.md 5.2, 5.3): which queue a client name resolves to, the job options,
the payload limit, the input schema, one job or a batch.

Every check runs before anything is sent to Redis, so a rejected request writes nothing. The
uniqueness key is the broker's business (it computes it from the stored message); this module
only passes ``unique_ttl`` on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from runqy.broker import EnqueueRequest, EnqueueResult
from runqy.broker.codec import TaskMessage
from runqy.broker.errors import BrokerError, TaskOutcomeUnknownError
from runqy.config import Settings
from runqy.core.errors import DomainError, InvalidInput, NotFound, TooLarge, Unprocessable
from runqy.core.errors import translated as domain_of
from runqy.core.input_schema import apply_input_schema
from runqy.core.models import QueueConfig
from runqy.core.runtime import Runtime
from runqy.core.values import (
    MAX_RETRY,
    as_int,
    as_seconds,
    as_time,
    check_task_id,
    normalize_queue,
    reject_unknown,
)

OPTION_KEYS = ("timeout", "max_retry", "retention", "process_in", "process_at", "unique_ttl",
               "task_id", "deadline")
ADD_KEYS = {"queue", "data", *OPTION_KEYS}
BATCH_KEYS = {"queue", "jobs", "timeout", "max_retry", "retention"}
BATCH_DEFAULT_KEYS = ("timeout", "max_retry", "retention")
JOB_KEYS = {"data", *OPTION_KEYS}


@dataclass(frozen=True)
class Limits:
    """The server-wide defaults and bounds of enqueueing (from Settings)."""

    default_timeout: int
    default_max_retry: int
    default_retention: int
    max_payload_size: int
    max_batch_size: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.default_timeout, settings.default_max_retry,
                   settings.default_retention, settings.max_payload_size,
                   settings.max_batch_size)


@dataclass(frozen=True)
class QueueTarget:
    """A configured, enabled sub-queue and the defaults that apply to its tasks."""

    name: str
    input_schema: list[dict[str, Any]] | None
    timeout: int
    max_retry: int
    retention: int
    max_payload_size: int


class LookupCache(Protocol):
    """A cache of queue lookups (the server's expires entries and drops them on commit)."""

    def get(self, name: str, load: Callable[[str], QueueTarget | None]) -> QueueTarget | None:
        ...


# One encoder for every payload: json.dumps builds a new one per call when given options.
_encode_payload = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def new_task_id() -> str:
    """A random (version 4) UUID string, as ``str(uuid.uuid4())`` gives, built without the
    UUID object (a measurable share of a 500-job batch)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _option(options: dict[str, Any], fallback: dict[str, Any], key: str) -> Any:
    return options[key] if key in options else fallback.get(key)


@dataclass(frozen=True)
class JobOptions:
    """A job's checked options; ``task_id`` None means "generate one"."""

    timeout: int
    max_retry: int
    retention: int
    process_at: int | None
    unique_ttl: int | None
    deadline: int
    task_id: str | None


def resolve_options(target: QueueTarget, options: dict[str, Any], fallback: dict[str, Any],
                    now: int) -> JobOptions:
    """Check the options of one job (InvalidInput on any bad value)."""
    timeout = _option(options, fallback, "timeout")
    timeout = as_seconds(timeout, "timeout") if timeout is not None else 0
    max_retry = _option(options, fallback, "max_retry")
    max_retry = target.max_retry if max_retry is None else as_int(max_retry, "max_retry",
                                                                  minimum=0, maximum=MAX_RETRY)
    retention = _option(options, fallback, "retention")
    retention = target.retention if retention is None else as_seconds(retention, "retention")
    if "process_in" in options and "process_at" in options:
        raise InvalidInput("'process_in' and 'process_at' cannot be used together")
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
            raise InvalidInput("'deadline' must be in the future")
    task_id = check_task_id(options["task_id"]) if options.get("task_id") is not None else None
    return JobOptions(timeout or target.timeout, max_retry, retention, process_at, unique_ttl,
                      deadline, task_id)


def encoded_within_limit(target: QueueTarget, data: Any) -> bytes:
    """The compact UTF-8 JSON of a payload; TooLarge when it exceeds the payload limit."""
    payload = _encode_payload(data).encode("utf-8")
    if len(payload) > target.max_payload_size:
        raise TooLarge(f"the payload is {len(payload)} bytes; the limit is "
                       f"{target.max_payload_size}", code="payload_too_large")
    return payload


def build_job(target: QueueTarget, data: Any, opts: JobOptions) -> tuple[EnqueueRequest, Any]:
    """Check one payload and build its broker request; returns (request, stored payload)."""
    if target.input_schema:
        encoded_within_limit(target, data)  # size first (5.2): a huge payload is never walked
        data, problems = apply_input_schema(target.input_schema, data)
        if problems:
            raise Unprocessable(*problems, code="schema_validation_failed")
    payload = encoded_within_limit(target, data)
    task_id = opts.task_id or new_task_id()
    msg = TaskMessage(type=target.name, payload=payload, id=task_id, queue=target.name,
                      retry=opts.max_retry, timeout=opts.timeout, deadline=opts.deadline,
                      retention=opts.retention)
    return EnqueueRequest(msg, process_at=opts.process_at, unique_ttl=opts.unique_ttl,
                          id_supplied=opts.task_id is not None), data


@dataclass(frozen=True)
class Enqueued:
    """One task just enqueued: its message as stored, where it went, and the stored payload."""

    msg: TaskMessage
    result: EnqueueResult
    data: Any


@dataclass
class BatchOutcome:
    task_ids: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # {index, code, message}


@dataclass
class Enqueuer:
    """Enqueueing for one server (or CLI) process: the runtime, the limits, and optionally a
    cache of queue lookups (the hot path reads the database at most once a second per name)."""

    rt: Runtime
    limits: Limits
    cache: LookupCache | None = None

    def target(self, raw: Any, load: Callable[[str], QueueTarget | None] | None = None
               ) -> QueueTarget:
        """The enabled sub-queue for a client name; NotFound ``queue_not_found`` otherwise.
        ``load`` stands in for the database read when the cache misses (the server's lean lane
        passes one that raises, so that its thread never waits for the database)."""
        name = normalize_queue(raw)
        load = load or self._load
        found = self.cache.get(name, load) if self.cache is not None else load(name)
        if found is None:
            raise NotFound(f"queue '{name}' is not configured", code="queue_not_found")
        return found

    def _load(self, name: str) -> QueueTarget | None:
        parent, sub = name.split(".", 1)
        config = (self.rt.session.query(QueueConfig).filter_by(name=parent, enabled=True)
                  .one_or_none())
        if config is None or not any(s.name == sub and s.enabled for s in config.sub_queues):
            return None
        defaults = config.task_defaults or {}
        limits = self.limits
        return QueueTarget(
            name=name,
            input_schema=config.input_schema,
            timeout=defaults.get("timeout") or limits.default_timeout,
            max_retry=defaults.get("max_retry", limits.default_max_retry),
            retention=defaults.get("retention", limits.default_retention),
            max_payload_size=limits.max_payload_size,
        )

    def add(self, body: dict[str, Any]) -> Enqueued:
        """Enqueue one task: the nested form (``data`` and options) or the flat form (every
        field but ``queue`` and ``timeout`` is the payload)."""
        req, stored = self.job(body)
        result = self.rt.broker.enqueue(req.msg, process_at=req.process_at,
                                        unique_ttl=req.unique_ttl, id_supplied=req.id_supplied)
        return Enqueued(req.msg, result, stored)

    def add_many(self, jobs: list[tuple[EnqueueRequest, Any]]) -> list[Enqueued | BrokerError]:
        """Enqueue the checked single adds of several requests (from ``job``) in one Redis
        round trip, on this thread's own connection as ``add``; each gets what ``add`` would
        give it: its task, or the broker error ``add`` would raise (a connection that cannot be
        opened raises for all, as ``add`` does)."""
        results = self.rt.broker.enqueue_many([req for req, _ in jobs], held=True)
        return [result if isinstance(result, BrokerError) else Enqueued(req.msg, result, stored)
                for (req, stored), result in zip(jobs, results, strict=True)]

    def job(self, body: dict[str, Any], load: Callable[[str], QueueTarget | None] | None = None
            ) -> tuple[EnqueueRequest, Any]:
        """The checks of ``add`` (InvalidInput, NotFound, ...; nothing is written): its broker
        request and the stored payload. ``load``: see ``target``."""
        if "queue" not in body:
            raise InvalidInput("'queue' is required")
        if "data" in body:
            reject_unknown(body, ADD_KEYS)
            data, options = body["data"], body
        else:
            data = {k: v for k, v in body.items() if k not in ("queue", "timeout")}
            options = {"timeout": body["timeout"]} if "timeout" in body else {}
        target = self.target(body["queue"], load)
        return build_job(target, data, resolve_options(target, options, {}, int(time.time())))

    def add_batch(self, body: dict[str, Any]) -> BatchOutcome:
        """Enqueue many tasks in one Redis round trip; a job that fails its checks or its
        write is reported by index, the others are enqueued."""
        reject_unknown(body, BATCH_KEYS)
        if "queue" not in body or "jobs" not in body:
            raise InvalidInput("'queue' and 'jobs' are required")
        jobs = body["jobs"]
        if not isinstance(jobs, list) or not jobs:
            raise InvalidInput("'jobs' must be a non-empty list")
        limit = self.limits.max_batch_size
        if len(jobs) > limit:
            raise TooLarge(f"{len(jobs)} jobs; the limit is {limit}", code="batch_too_large")
        fallback = {key: body[key] for key in BATCH_DEFAULT_KEYS if key in body}
        target = self.target(body["queue"])
        now = int(time.time())
        # The shared defaults are checked once: a bad one fails the whole request, and jobs
        # without options of their own reuse the result.
        shared = resolve_options(target, {}, fallback, now)
        outcome = BatchOutcome()
        requests: list[tuple[int, EnqueueRequest]] = []
        for index, job in enumerate(jobs):
            try:
                if isinstance(job, dict) and "data" in job:
                    reject_unknown(job, JOB_KEYS, f"jobs[{index}]")
                    req, _ = build_job(target, job["data"],
                                       resolve_options(target, job, fallback, now))
                else:
                    req, _ = build_job(target, job, shared)
            except DomainError as exc:
                outcome.errors.append({"index": index, "code": exc.code,
                                       "message": "; ".join(exc.messages)})
                continue
            requests.append((index, req))
        results = self.rt.broker.enqueue_many([req for _, req in requests]) if requests else []
        for (index, req), result in zip(requests, results, strict=True):
            if isinstance(result, TaskOutcomeUnknownError):
                raise result  # Redis failed during the pipeline: the whole request fails (5.3)
            if isinstance(result, BrokerError):
                error = domain_of(result)
                outcome.errors.append({"index": index,
                                       "code": error.code if error else "internal_error",
                                       "message": str(result)})
            else:
                outcome.task_ids.append(req.msg.id)
        outcome.errors.sort(key=lambda e: e["index"])
        return outcome
