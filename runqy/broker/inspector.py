"""The read side of the Redis wire layer (wire-format.md 6.6, 7, 8.3): read-only.

Used by the core layer and the metrics exporter; the admin writes live in ``admin.py``. Queues
not registered in ``asynq:queues`` raise QueueNotFoundError for every read.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.cluster import RedisCluster

from runqy.broker import keys
from runqy.broker.broker import RUNQY_HEARTBEAT_TTL
from runqy.broker.codec import (
    ServerInfo,
    TaskMessage,
    WorkerInfo,
    decode_server_info,
    decode_task,
    decode_worker_info,
)
from runqy.broker.errors import (
    BrokerError,
    MessageDecodeError,
    QueueNotFoundError,
    TaskNotFoundError,
    WorkerNotFoundError,
)
from runqy.broker.pipeline import answered, raw_pipeline
from runqy.broker.scripts import ScriptPipeline, run
from runqy.broker.states import LIST_STATES, ZSET_STATES
from runqy.redis_connection import is_cluster

MEMORY_SAMPLE = 20
MEMORY_GROUP_SAMPLE = 5
WORKER_INDEX_MAX_AGE = 3600
# The task hash's fields a task read needs (asynq always writes `msg`: a hash without any of
# them is no task).
TASK_FIELDS = ("msg", "state", "result", "retried", "error_msg")
# 9.3: the original runqy worker writes pending_since in seconds; ns values are far above this
_PENDING_SINCE_SECONDS_BELOW = 10**11


@dataclass(frozen=True)
class QueueStats:
    queue: str
    size: int
    pending: int
    active: int
    scheduled: int
    retry: int
    archived: int
    completed: int
    aggregating: int
    groups: int
    processed: int  # today (UTC)
    failed: int  # today (UTC)
    processed_total: int
    failed_total: int
    paused: bool
    latency_seconds: float
    memory_bytes: int | None  # None when MEMORY USAGE is refused


@dataclass(frozen=True)
class DailyStats:
    date: str  # YYYY-MM-DD, UTC
    processed: int
    failed: int

    @property
    def succeeded(self) -> int:
        return self.processed - self.failed


@dataclass(frozen=True)
class TaskInfo:
    id: str
    queue: str
    type: str
    state: str
    payload: bytes
    result: bytes | None
    max_retry: int
    retried: int
    error_msg: str
    last_failed_at: int
    completed_at: int
    timeout: int
    deadline: int
    retention: int
    group: str
    next_process_at: int | None
    is_orphaned: bool
    msg: TaskMessage


@dataclass(frozen=True)
class BatchResult:
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # task ID -> error text


@dataclass(frozen=True)
class ServerRecord:
    """One asynq server (Go or a runqy worker's asynq-native identity) and its running tasks."""

    host: str
    pid: int
    server_id: str
    concurrency: int
    queues: dict[str, int]
    strict_priority: bool
    status: str
    started_at: int
    active_worker_count: int
    workers: list[WorkerInfo]
    info: ServerInfo


@dataclass(frozen=True)
class WorkerRecord:
    """A runqy worker heartbeat (8.2), or an original Go runqy worker's hash (``original``)."""

    worker_id: str
    fields: dict[str, str]
    last_beat: int
    stale: bool
    healthy: bool
    status: str
    queues: list[str]
    active_tasks: list[str]
    concurrency: int | None
    started_at: int | None
    metrics: dict[str, Any]
    recovery: dict[str, Any]
    original: bool
    # Published fields whose value could not be parsed (http-api.md 7.3): their attributes above
    # hold a fallback (None, {}, the index score), which readers must not present as published.
    invalid_fields: tuple[str, ...] = ()

    @property
    def processing(self) -> bool:
        return bool(self.active_tasks)

    @property
    def error(self) -> str | None:
        """What could not be parsed in the heartbeat hash, or None when it parsed cleanly."""
        if not self.invalid_fields:
            return None
        return "heartbeat fields that cannot be parsed: " + ", ".join(self.invalid_fields)


class Inspector:
    """Reads and inspector actions against one Redis (``decode_responses=False``)."""

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client
        # The queue names the last `find_task` read (sorted): its probe goes out with them
        # beside a fresh SMEMBERS, and is sent again when that read shows another list.
        self._probed_queues: list[str] = []

    # -- queues -------------------------------------------------------------------------------

    def queue_names(self) -> list[str]:
        """Every queue in ``asynq:queues``, sorted."""
        return sorted(text(q) for q in self.redis.smembers(keys.QUEUES))

    def require_queue(self, q: str) -> None:
        """QueueNotFoundError unless ``q`` is in ``asynq:queues``."""
        if not self.redis.sismember(keys.QUEUES, q):
            raise QueueNotFoundError(q)

    def queue_stats(self, q: str) -> QueueStats:
        """Sizes per state, today's and total counters, latency and sampled memory (6.6)."""
        self.require_queue(q)
        stats = self._stats_many([q])[0]
        if isinstance(stats, redis.ResponseError):
            raise BrokerError(f"stats of queue {q!r} failed: {stats}") from stats
        return stats

    def all_queue_stats(self) -> list[QueueStats | BrokerError]:
        """Stats of every queue; one failing queue yields its error, not a failed list.

        Every queue's two scripts go in one pipeline: one round trip for all queues keeps a
        /metrics scrape of 100 queues well under 100 ms.
        """
        queues = self.queue_names()
        return [
            BrokerError(f"stats of queue {q!r} failed: {stats}")
            if isinstance(stats, redis.ResponseError)
            else stats
            for q, stats in zip(queues, self._stats_many(queues), strict=True)
        ]

    def _stats_many(self, queues: Sequence[str]) -> list[QueueStats | redis.ResponseError]:
        now_f = time.time()
        now = int(now_f)
        pipe = ScriptPipeline(self.redis)
        for q in queues:
            pipe.script(
                "queue_stats",
                [
                    *queue_keys(q),
                    keys.processed_daily(q, now),
                    keys.failed_daily(q, now),
                    keys.processed_total(q),
                    keys.failed_total(q),
                    keys.paused(q),
                ],
                [keys.task_key_prefix(q), keys.group_prefix(q)],
            )
            pipe.script(
                "memory_usage",
                queue_keys(q),
                [keys.task_key_prefix(q), keys.group_prefix(q), MEMORY_SAMPLE, MEMORY_GROUP_SAMPLE],
            )
        replies = pipe.execute()
        return [
            _queue_stats(q, replies[2 * i], replies[2 * i + 1], now_f) for i, q in enumerate(queues)
        ]

    def history(self, q: str, days: int) -> list[DailyStats]:
        """Daily processed/failed for the last ``days`` UTC days, newest first."""
        self.require_queue(q)
        now = int(time.time())
        instants = [now - i * 86400 for i in range(days)]
        names = [k for t in instants for k in (keys.processed_daily(q, t), keys.failed_daily(q, t))]
        values = self.redis.mget(names) if names else []
        return [
            DailyStats(keys.utc_date(t), int(values[2 * i] or 0), int(values[2 * i + 1] or 0))
            for i, t in enumerate(instants)
        ]

    # -- tasks --------------------------------------------------------------------------------

    def list_tasks(
        self, q: str, state: str, page: int = 1, size: int = 20, group: str | None = None
    ) -> list[TaskInfo]:
        """One page (1-based) of tasks in a state, in asynq order.

        Only the requested ranks are read: lists by negative rank from the right end, ZSETs by
        rank, so the cost depends on ``size``, not on ``page``. ``aggregating`` needs ``group``.
        Items whose msg is missing or undecodable are skipped (a page may be short).
        """
        self.require_queue(q)
        if page < 1 or size < 1:
            raise ValueError("page and size must be >= 1")
        if state in LIST_STATES:
            start, stop = -(size * page), -(size * (page - 1)) - 1
            rows = self._rows(q, keys.state_container(q, state), "list", start, stop)[::-1]
        elif state in ZSET_STATES:
            rows = self._rows(
                q, keys.state_container(q, state), "zset", size * (page - 1), size * page - 1
            )
        elif state == "aggregating":
            if group is None:
                raise ValueError("listing aggregating tasks needs a group")
            rows = self._rows(q, keys.group(q, group), "zset", size * (page - 1), size * page - 1)
        else:
            raise ValueError(f"unknown task state {state!r}")
        now = int(time.time())
        return [info for row in rows if (info := _task_info(q, row, now)) is not None]

    def _rows(self, q: str, container: str, kind: str, start: int, stop: int) -> list[list]:
        return run(
            self.redis,
            "list_tasks",
            [container, keys.lease(q)],
            [kind, start, stop, keys.task_key_prefix(q)],
        )

    def groups(self, q: str) -> list[str]:
        """Names of the groups holding aggregating tasks, sorted."""
        self.require_queue(q)
        return sorted(text(g) for g in self.redis.smembers(keys.groups(q)))

    def group_sizes(self, q: str, names: Sequence[str]) -> dict[str, int]:
        """Aggregating tasks in each named group of ``q``."""
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.zcard(keys.group(q, name))
        return dict(zip(names, pipe.execute(), strict=True))

    def pending_since(self, q: str, task_ids: Sequence[str]) -> dict[str, int]:
        """Unix seconds since each pending task waits (its ``pending_since``, in nanoseconds or,
        from the original runqy worker, seconds); tasks without one are left out."""
        pipe = self.redis.pipeline(transaction=False)
        for task_id in task_ids:
            pipe.hget(keys.task_key(q, task_id), "pending_since")
        return {task_id: int(pending_since_seconds(raw))
                for task_id, raw in zip(task_ids, pipe.execute(), strict=True)
                if raw and raw.isdigit()}

    def server_info(self) -> dict[str, Any]:
        """The Redis server's INFO (version, memory, clients, ...).

        On a Cluster: the first master's, with memory and clients summed over every master.
        """
        if not is_cluster(self.redis):
            return self.redis.info()
        per_node = list(self.redis.info(target_nodes=RedisCluster.PRIMARIES).values())
        merged = dict(per_node[0])
        for name in ("used_memory", "connected_clients"):
            merged[name] = sum(int(info.get(name) or 0) for info in per_node)
        return merged

    def get_task(self, q: str, task_id: str) -> TaskInfo:
        self.require_queue(q)
        return self._get_task(q, task_id)

    def _get_task(self, q: str, task_id: str) -> TaskInfo:
        # Raw RESP (runqy.broker.pipeline): redis-py's pipeline packing and parsing cost more
        # client CPU than the rest of a `GET /queue/<id>`.
        pipe = raw_pipeline(self.redis)
        pipe.command("HMGET", keys.task_key(q, task_id), *TASK_FIELDS)
        for container in (keys.scheduled(q), keys.retry(q), keys.lease(q)):
            pipe.command("ZSCORE", container, task_id)
        fields, scheduled_at, retry_at, lease_at = answered(pipe.execute())
        state = text(fields[1] or b"")
        score = {"scheduled": scheduled_at, "retry": retry_at}.get(state)
        return _found(q, task_id, fields, score, lease_at)

    def find_task(self, task_id: str) -> TaskInfo:
        """Locate a task by ID alone (``find_tasks``); TaskNotFoundError when no queue has it."""
        found = self.find_tasks([task_id])[0]
        if isinstance(found, TaskNotFoundError):
            raise found
        return found

    def find_tasks(self, task_ids: Sequence[str]) -> list[TaskInfo | TaskNotFoundError]:
        """Locate tasks by ID alone: their hash's fields read in every queue, one pipeline for
        them all, and one more for the scores of those scheduled, retrying or active.

        A task has no key but its hash (no reverse lookup), so tasks enqueued by Go clients are
        found the same way. An ID present in several queues (IDs the callers chose) is found in
        the first of them by name. The queues probed are those the previous call read, with
        ``asynq:queues`` read again in the same pipeline: when it names other queues, the
        probe is sent again with them, so the answer is always that of the current list.
        """
        queues = self._probed_queues
        pipe = raw_pipeline(self.redis)
        pipe.command("SMEMBERS", keys.QUEUES)
        _probe(pipe, queues, task_ids)
        members, *rows = answered(pipe.execute())
        current = sorted(text(q) for q in members)
        if current != queues:
            self._probed_queues = queues = current
            pipe = raw_pipeline(self.redis)
            _probe(pipe, queues, task_ids)
            rows = answered(pipe.execute())
        hits: list[tuple[str, Sequence[Any], str, int | None] | None] = []
        scores = raw_pipeline(self.redis)
        n = len(queues)
        for i, task_id in enumerate(task_ids):
            # the first queue by name whose hash exists (asynq always writes `msg`)
            hit = next(((q, fields) for q, fields in zip(queues, rows[i * n:(i + 1) * n],
                                                        strict=True)
                        if any(field is not None for field in fields)), None)
            if hit is None:
                hits.append(None)
                continue
            q, fields = hit
            state = text(fields[1] or b"")
            scored = {"scheduled": keys.scheduled(q), "retry": keys.retry(q),
                      "active": keys.lease(q)}.get(state)
            at = scores.command("ZSCORE", scored, task_id) if scored else None
            hits.append((q, fields, state, at))
        score_replies = answered(scores.execute()) if len(scores) else []
        found: list[TaskInfo | TaskNotFoundError] = []
        for task_id, hit in zip(task_ids, hits, strict=True):
            if hit is None:
                found.append(TaskNotFoundError(None, task_id))
                continue
            q, fields, state, at = hit
            score = None if at is None else score_replies[at]
            try:
                if state == "active":  # the lease's expiry, not a next-run time
                    found.append(_found(q, task_id, fields, None, score))
                else:
                    found.append(_found(q, task_id, fields, score, None))
            except TaskNotFoundError as exc:
                found.append(exc)
        return found

    # -- fleet --------------------------------------------------------------------------------

    def servers(self) -> list[ServerRecord]:
        """Live asynq servers (index entries past their expiry are pruned first)."""
        now = int(time.time())
        self.redis.zremrangebyscore(keys.SERVERS, "-inf", f"({now}")
        names = [text(n) for n in self.redis.zrange(keys.SERVERS, 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.get(name)
            # the workers key shares the server key's braced identity
            pipe.hvals(keys.WORKERS + name.removeprefix(keys.SERVERS))
        replies = pipe.execute()
        records = []
        for raw, worker_values in zip(replies[::2], replies[1::2], strict=True):
            if raw is None:
                continue
            try:
                info = decode_server_info(raw)
                workers = [decode_worker_info(v) for v in worker_values]
            except MessageDecodeError:
                continue
            records.append(_server_record(info, workers))
        return sorted(records, key=lambda r: (r.host, r.pid, r.server_id))

    def runqy_workers(self) -> list[WorkerRecord]:
        """runqy workers from ``runqy:workers`` (8.3) plus original Go runqy workers."""
        now = int(time.time())
        self.redis.zremrangebyscore(keys.RUNQY_WORKERS, "-inf", now - WORKER_INDEX_MAX_AGE)
        indexed = [
            (text(m), int(s))
            for m, s in self.redis.zrange(keys.RUNQY_WORKERS, 0, -1, withscores=True)
        ]
        originals = [
            text(m)
            for m in self.redis.zrange(keys.WORKERS, 0, -1)
            if not m.startswith(keys.WORKERS.encode() + b":")
        ]
        pipe = self.redis.pipeline(transaction=False)
        for worker_id in [w for w, _ in indexed] + originals:
            pipe.hgetall(keys.runqy_worker(worker_id))
        hashes = pipe.execute()
        records = [
            _worker_record(worker_id, h, score, now, original=False)
            for (worker_id, score), h in zip(indexed, hashes, strict=False)
        ]
        records += [
            _worker_record(worker_id, h, None, now, original=True)
            for worker_id, h in zip(originals, hashes[len(indexed) :], strict=True)
            if h
        ]
        return sorted(records, key=lambda r: r.worker_id)

    def runqy_worker(self, worker_id: str) -> WorkerRecord:
        now = int(time.time())
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.runqy_worker(worker_id))
        pipe.zscore(keys.RUNQY_WORKERS, worker_id)
        fields, score = pipe.execute()
        if not fields and score is None:
            raise WorkerNotFoundError(worker_id)
        original = score is None
        return _worker_record(worker_id, fields, None if original else int(score), now, original)

    def worker_logs(self, worker_id: str, limit: int = 200) -> list[dict]:
        """The newest ``limit`` log lines, oldest first (8.4)."""
        return _log_entries(self.redis.lrange(keys.runqy_worker_logs(worker_id), -limit, -1))

    def task_logs(self, task_id: str) -> list[dict]:
        """The task's own log lines (each with the ``worker`` that wrote it), oldest first."""
        return _log_entries(self.redis.lrange(keys.task_logs(task_id), 0, -1))


def _log_entries(lines: Sequence[bytes]) -> list[dict]:
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        out.append(entry if isinstance(entry, dict) else {"text": text(line)})
    return out


# The queue_stats script's first 13 replies, in order (the 7 states first).
_COUNTED = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating",
            "groups", "processed", "failed", "processed_total", "failed_total", "paused")


def _queue_stats(q: str, counts: Any, memory: Any, now: float) -> QueueStats | redis.ResponseError:
    """QueueStats from the replies of the queue_stats and memory_usage scripts."""
    if isinstance(counts, redis.ResponseError):
        return counts
    sizes = [int(c) for c in counts[:13]]
    # MEMORY USAGE refused by the server: the other stats still count, memory is unknown.
    memory_bytes = None if isinstance(memory, Exception) or memory < 0 else int(memory)
    counted: dict[str, Any] = dict(zip(_COUNTED, sizes, strict=True))
    counted["paused"] = bool(counted["paused"])
    return QueueStats(
        queue=q,
        size=sum(sizes[:7]),
        **counted,
        latency_seconds=_latency(counts[13], now),
        memory_bytes=memory_bytes,
    )


def text(value: bytes | str) -> str:
    """A Redis reply as text (invalid UTF-8 replaced)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def queue_keys(q: str) -> list[str]:
    """The per-queue keys in the order lua/_lib.lua's ``queue_keys`` expects."""
    return [
        keys.pending(q),
        keys.active(q),
        keys.scheduled(q),
        keys.retry(q),
        keys.archived(q),
        keys.completed(q),
        keys.groups(q),
    ]


def pending_since_seconds(raw: bytes | str) -> float:
    """A ``pending_since`` value as unix seconds: nanoseconds, or seconds as the original runqy
    worker writes them (9.3)."""
    since = int(raw)
    return since if since < _PENDING_SINCE_SECONDS_BELOW else since / 1e9


def _latency(pending_since: bytes | str, now: float) -> float:
    if not pending_since:
        return 0.0
    return max(0.0, now - pending_since_seconds(pending_since))


def _probe(pipe: Any, queues: Sequence[str], task_ids: Sequence[str]) -> None:
    """Queue the read of each task's hash fields (``TASK_FIELDS``) in every queue."""
    for task_id in task_ids:
        for q in queues:
            pipe.command("HMGET", keys.task_key(q, task_id), *TASK_FIELDS)


def _found(q: str, task_id: str, fields: Sequence[Any], score: Any, lease_at: Any
           ) -> TaskInfo:
    """The task of a hash read (``TASK_FIELDS``) and its score; TaskNotFoundError if the hash
    holds no message."""
    info = _task_info(q, [task_id, score, *fields, lease_at], int(time.time()))
    if info is None:
        raise TaskNotFoundError(q, task_id)
    return info


def _task_info(q: str, row: Sequence[Any], now: int) -> TaskInfo | None:
    """Build a TaskInfo from ``[id, score, msg, state, result, retried, error_msg, lease]``."""
    task_id, score, raw, state, result, hash_retried, hash_error, lease_at = row
    if raw is None:
        return None
    try:
        msg = decode_task(raw)
    except MessageDecodeError:
        return None
    state = text(state or b"")
    retried = max(msg.retried, _int(hash_retried))  # 9.3: the original worker's larger count
    error_msg = msg.error_msg or text(hash_error or b"")
    if state == "pending":
        next_at: int | None = now
    elif state in ("scheduled", "retry") and score is not None:
        next_at = int(float(score))
    else:
        next_at = None
    return TaskInfo(
        id=text(task_id),
        queue=q,
        type=msg.type,
        state=state,
        payload=msg.payload,
        result=result,
        max_retry=msg.retry,
        retried=retried,
        error_msg=error_msg,
        last_failed_at=msg.last_failed_at,
        completed_at=msg.completed_at,
        timeout=msg.timeout,
        deadline=msg.deadline,
        retention=msg.retention,
        group=msg.group_key,
        next_process_at=next_at,
        is_orphaned=state == "active" and lease_at is not None and float(lease_at) < now,
        msg=msg,
    )


def _int(value: bytes | str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _server_record(info: ServerInfo, workers: list[WorkerInfo]) -> ServerRecord:
    return ServerRecord(
        host=info.host,
        pid=info.pid,
        server_id=info.server_id,
        concurrency=info.concurrency,
        queues=dict(info.queues),
        strict_priority=info.strict_priority,
        status=info.status,
        started_at=info.start_time.seconds,
        active_worker_count=info.active_worker_count,
        workers=sorted(workers, key=lambda w: (w.start_time.seconds, w.task_id)),
        info=info,
    )


_GO_MAP_ENTRY = re.compile(r"([^\s:\[\]]+):(-?\d+)")


def _finite_or_none(literal: str) -> float | None:
    value = float(literal)
    return value if math.isfinite(value) else None


class _HeartbeatFields:
    """Parses a heartbeat hash's fields, remembering each published value that does not parse."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.invalid: list[str] = []

    def _published(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value if value else None

    def integer(self, name: str) -> int | None:
        value = self._published(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            self.invalid.append(name)
            return None

    def boolean(self, name: str) -> bool:
        value = self._published(name)
        if value is None:
            return False
        if value.lower() not in ("true", "false", "1", "0"):
            self.invalid.append(name)
        return value.lower() in ("true", "1")

    def json_object(self, name: str) -> dict[str, Any]:
        """A JSON object; NaN and infinities (which Python's json.dumps writes for float NaN)
        become None, so the record can be sent as strict JSON."""
        value = self._published(name)
        if value is None:
            return {}
        try:
            parsed = json.loads(value, parse_constant=lambda _: None, parse_float=_finite_or_none)
        except (ValueError, RecursionError):
            parsed = None
        if not isinstance(parsed, dict):
            self.invalid.append(name)
            return {}
        return parsed


def _worker_record(
    worker_id: str, raw: dict[bytes, bytes], score: int | None, now: int, original: bool
) -> WorkerRecord:
    fields = {text(k): text(v) for k, v in raw.items()}
    parsed = _HeartbeatFields(fields)
    last_beat = parsed.integer("last_beat") or (score or 0)
    if fields.get("queue"):
        queues = [q for q in fields["queue"].split(",") if q]
    else:
        # original Go runqy workers only write the Go map text of their priorities
        entries = _GO_MAP_ENTRY.findall(fields.get("queues", ""))
        queues = [q for q, _ in sorted(entries, key=lambda e: (-int(e[1]), e[0]))]
    healthy = parsed.boolean("healthy")
    concurrency = parsed.integer("concurrency")
    started_at = parsed.integer("started_at")
    metrics = parsed.json_object("metrics")
    recovery = parsed.json_object("recovery")
    parsed.integer("pid")  # only checked: readers take the published text
    return WorkerRecord(
        worker_id=worker_id,
        fields=fields,
        last_beat=last_beat,
        stale=now - last_beat > RUNQY_HEARTBEAT_TTL,
        healthy=healthy,
        status=fields.get("status", ""),
        queues=queues,
        active_tasks=[t for t in fields.get("active_task", "").split(",") if t],
        concurrency=concurrency,
        started_at=started_at,
        metrics=metrics,
        recovery=recovery,
        original=original,
        invalid_fields=tuple(sorted(parsed.invalid)),
    )
