"""The write side of the Redis wire layer: every asynq state transition plus runqy's own keys.

Each transition is one Lua script from ``lua/`` (wire-format.md section 6); the runqy-layer keys
(result mirror, worker heartbeat) are written by the caller-side code here, right after the
script, because they carry no queue hash tag (section 7). A task has no key of its own besides
its asynq hash: the queue of a task ID is found by probing the queues (``Inspector.find_task``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import redis

from runqy.broker import keys
from runqy.broker.codec import ServerInfo, TaskMessage, WorkerInfo, decode_task, encode
from runqy.broker.errors import (
    BrokerError,
    DuplicateTaskError,
    MessageDecodeError,
    TaskIdConflictError,
    TaskNotFoundError,
    TaskOutcomeUnknownError,
)
from runqy.broker.pipeline import LOST_ERRORS, ClusterRawPipeline, RawPipeline, raw_pipeline
from runqy.broker.scripts import ScriptPipeline, run
from runqy.redis_connection import is_cluster

log = logging.getLogger(__name__)
LEASE_SECONDS = 30
CLOCK_SKEW_SECONDS = 30
DAILY_COUNTER_TTL = 90 * 24 * 3600
ARCHIVE_MAX_AGE = 90 * 24 * 3600
ARCHIVE_CAP = 10_000
INT64_MAX = str(2**63 - 1)
LEASE_EXPIRED_ERROR = "asynq: task lease expired"
RUNQY_HEARTBEAT_TTL = 30
WORKER_LOG_KEEP = 500
# Per-minute throughput hashes (one per queue and UTC hour) live 49 h: 48 h of history.
THROUGHPUT_TTL = 49 * 3600
TASK_LOG_KEEP = 200  # newest log lines kept per task, for its dashboard page
TASK_LOG_TTL = 3 * 24 * 3600
ENQUEUE_CHUNK = 250
JANITOR_BATCH = 100


@dataclass(frozen=True)
class EnqueueRequest:
    """One task of ``enqueue_many``; the fields mirror ``Broker.enqueue``'s arguments."""

    msg: TaskMessage
    process_at: int | None = None
    unique_ttl: int | None = None
    group: str | None = None
    id_supplied: bool = False


@dataclass(frozen=True)
class EnqueueResult:
    task_id: str
    state: str  # pending, scheduled or aggregating
    next_process_at: int | None  # None for aggregating tasks


@dataclass(frozen=True)
class Dequeued:
    queue: str
    msg: TaskMessage
    lease_expires_at: int


@dataclass(frozen=True)
class Finish:
    """One attempt's end for ``Broker.finish_many`` (wire-format.md 6.3).

    ``kind``: "complete" (retention > 0: completed until now + retention, with ``result``
    stored in the same step unless it is empty), "done" (retention 0: deleted), "retry" (at
    ``retry_at``; ``failure`` False does not count it as failed) or "archive". ``error`` is the
    failure text; ``raw``, an archived message's bytes kept unchanged (they cannot be decoded).
    """

    msg: TaskMessage
    kind: str
    result: bytes = b""
    error: str = ""
    retry_at: int = 0
    failure: bool = True
    raw: bytes | None = None


def retry_delay(retried: int) -> int:
    """asynq's default backoff (5.2): n^4 + 15 + r*(n+1), r uniform in 0..29."""
    return retried**4 + 15 + random.randint(0, 29) * (retried + 1)


def queue_order(priorities: Mapping[str, int], strict: bool = True) -> list[str]:
    """The order in which to try queues for one dequeue attempt (5.3).

    Strict: descending priority, ties by name. Weighted: each queue repeated priority/gcd times,
    shuffled, first occurrences kept. Queues with priority <= 0 are not served.
    """
    served = {q: p for q, p in priorities.items() if p > 0}
    if strict or len(served) <= 1:
        return sorted(served, key=lambda q: (-served[q], q))
    divisor = reduce(math.gcd, served.values())
    draw = [q for q, p in served.items() for _ in range(p // divisor)]
    random.shuffle(draw)
    return list(dict.fromkeys(draw))


def _now() -> float:
    return time.time()


def _dequeue_call(q: str, lease_at: int) -> tuple[list[str], list[Any]]:
    """Keys and arguments of the dequeue script for queue ``q``."""
    return [keys.paused(q), keys.pending(q), keys.active(q), keys.lease(q)], [
        lease_at, keys.task_key_prefix(q)]


def _finish_keys(q: str, now: int) -> list[str]:
    """The finish script's keys for queue ``q`` (lua/finish.lua), all in the queue's slot."""
    return [keys.active(q), keys.lease(q), keys.pending(q), keys.paused(q), keys.completed(q),
            keys.retry(q), keys.archived(q), keys.processed_daily(q, now),
            keys.failed_daily(q, now), keys.processed_total(q), keys.failed_total(q),
            keys.throughput(q, now)]


def _minute_args(now: int) -> list[Any]:
    """The last two ARGV of a script that counts throughput: the minute, the hash's expiry."""
    return [f"{now // 60 % 60:02d}", now - now % 3600 + THROUGHPUT_TTL]


def _script_error(exc: redis.ResponseError, queue: str, task_id: str) -> BrokerError:
    if str(exc).startswith("NOT FOUND"):
        return TaskNotFoundError(queue, task_id)
    return BrokerError(f"script failed for task {task_id!r} in {queue!r}: {exc}")


def _raise_script_error(exc: redis.ResponseError, queue: str, task_id: str) -> None:
    raise _script_error(exc, queue, task_id) from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Broker:
    """Writes against one Redis (redis-py client with ``decode_responses=False``)."""

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        lease_seconds: int = LEASE_SECONDS,
        clock_skew_seconds: int = CLOCK_SKEW_SECONDS,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> None:
        """``lease_seconds`` is the lease a dequeue or extension grants; the recoverer takes
        leases expired more than ``clock_skew_seconds`` ago. The defaults are the contract's
        (6.2, 6.4); tests shorten them to exercise real expiry.

        ``wait_replicas`` > 0 makes an enqueue succeed only once ``WAIT`` saw that many replicas
        (on a Cluster: of each queue's master) confirm it within ``wait_timeout_ms``; tasks not
        confirmed in time get ``TaskOutcomeUnknownError`` (they exist on the master but a
        failover could lose them)."""
        if lease_seconds < 1 or clock_skew_seconds < 0:
            raise ValueError("lease_seconds must be >= 1 and clock_skew_seconds >= 0")
        self.redis = redis_client
        self._cluster = is_cluster(redis_client)
        self._wait = (int(wait_replicas), int(wait_timeout_ms)) if wait_replicas > 0 else None
        self._held = _held_state(redis_client)
        self.lease_seconds = int(lease_seconds)
        self.clock_skew_seconds = int(clock_skew_seconds)

    # -- producers ---------------------------------------------------------------------------

    def enqueue(
        self,
        msg: TaskMessage,
        *,
        process_at: int | None = None,
        unique_ttl: int | None = None,
        group: str | None = None,
        id_supplied: bool = False,
    ) -> EnqueueResult:
        """Enqueue one task (6.1 pipeline incl. ``asynq:queues``).

        ``process_at`` strictly in the future schedules the task; ``group`` makes it aggregating;
        ``unique_ttl`` takes the uniqueness lock first. ``msg`` is completed in place with what
        was stored (a generated ``id`` when empty, ``unique_key``, ``group_key``). Raises
        TaskIdConflictError or DuplicateTaskError.
        """
        request = EnqueueRequest(msg, process_at, unique_ttl, group, id_supplied)
        # The hot path of `POST /queue/add`: this thread's own connection (no pool checkout),
        # every command in one write and one read.
        outcome = self._enqueue(self._held_pipeline(checked=True), [request])[0]
        if isinstance(outcome, BrokerError):
            raise outcome
        return outcome

    def enqueue_many(self, requests: Sequence[EnqueueRequest], *, held: bool = False
                     ) -> list[EnqueueResult | BrokerError]:
        """Enqueue N tasks with one wait: one script call per queue and ``ENQUEUE_CHUNK`` tasks.

        The outcome list is in request order. Each chunk's script call is written to Redis as
        soon as it is prepared, so Redis works on it while the next one is encoded. When the
        connection drops mid-batch, every task Redis did not answer for gets a
        ``TaskOutcomeUnknownError``; a failure to connect at all raises
        ``redis.ConnectionError`` before anything is sent. ``held``: on this thread's own
        connection, as ``enqueue`` (for a thread that sends many small batches: the server's
        lean lane), instead of one from the pool.
        """
        if not requests:
            return []
        pipe = self._held_pipeline(checked=True) if held else raw_pipeline(self.redis)
        return self._enqueue(pipe, requests)

    def _enqueue(self, pipe: RawPipeline | ClusterRawPipeline,
                 requests: Sequence[EnqueueRequest]) -> list[EnqueueResult | BrokerError]:
        """``enqueue_many`` on ``pipe`` (pooled, or this thread's held connection)."""
        by_queue: dict[str, list[int]] = {}
        missing_ids = 0
        for index, request in enumerate(requests):
            _check(request)
            by_queue.setdefault(request.msg.queue, []).append(index)
            missing_ids += not request.msg.id
        now_f = _now()
        now, now_ns = int(now_f), int(now_f * 1e9)
        fresh_ids = iter(_new_task_ids(missing_ids))

        plans: list[_Plan] = [None] * len(requests)  # type: ignore[list-item]
        streamed = len(requests) > ENQUEUE_CHUNK  # one chunk: a single write at the end
        if self._wait is not None:
            pipe.confirm(*self._wait)
        chunks: list[tuple[int, list[int]]] = []
        for q, indexes in by_queue.items():
            pipe.command("SADD", keys.QUEUES, q)
            script_keys = [keys.pending(q), keys.scheduled(q), keys.groups(q)]
            for start in range(0, len(indexes), ENQUEUE_CHUNK):
                chunk = indexes[start : start + ENQUEUE_CHUNK]
                args: list[Any] = [keys.task_key_prefix(q), keys.group_prefix(q), now_ns, now]
                for i in chunk:
                    request = requests[i]
                    if not request.msg.id:
                        request.msg.id = next(fresh_ids)
                    plan = plans[i] = _plan(request, now)
                    args += plan.script_args
                chunks.append((pipe.script("enqueue", script_keys, args), chunk))
                if streamed:
                    pipe.flush()
            if any(plans[i].state == "pending" for i in indexes):
                pipe.command("PUBLISH", keys.wake_channel(q), b"")  # idle workers, at once
        replies = pipe.execute()

        outcomes: list[EnqueueResult | BrokerError] = [None] * len(plans)  # type: ignore[list-item]
        for position, chunk in chunks:
            reply = replies[position]
            if not isinstance(reply, list):
                for i in chunk:
                    outcomes[i] = _failed(plans[i], reply)
                continue
            for i, code in zip(chunk, reply, strict=True):
                plan = plans[i]
                if code == 1:
                    outcomes[i] = EnqueueResult(plan.task_id, plan.state, plan.next_process_at)
                else:
                    outcomes[i] = plan.refused(code)
        return outcomes

    # -- worker task path ----------------------------------------------------------------------

    def dequeue(self, queues: Sequence[str]) -> Dequeued | None:
        """Take the next task from the first of ``queues`` (in order) that has one.

        Paused queues are skipped. A task whose ``msg`` cannot be decoded is archived with its
        bytes unchanged and the search goes on.
        """
        for q in queues:
            while True:
                lease_at = int(_now()) + self.lease_seconds
                pipe = self._held_pipeline()
                pipe.script("dequeue", *_dequeue_call(q, lease_at))
                reply = pipe.execute()[0]
                if _lost(reply) or isinstance(reply, redis.ResponseError):
                    raise reply
                if reply is None:
                    break
                dequeued = self._taken(q, reply, lease_at)
                if dequeued is not None:
                    return dequeued
        return None

    def any_pending(self, queues: Sequence[str]) -> bool:
        """Whether any of ``queues`` has a pending task (a cheap probe, not a dequeue)."""
        pipe = self._held_pipeline()
        for q in queues:
            pipe.command("LLEN", keys.pending(q))
        replies = pipe.execute()
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return any(replies)

    def _held_pipeline(self, *, checked: bool = False) -> RawPipeline | ClusterRawPipeline:
        """A raw pipeline on this thread's own connection, for the worker's per-task calls
        and single enqueues.

        Checking a connection out of redis-py's pool and back costs more client CPU than the
        rest of a dequeue; each worker slot or server thread keeps one connection instead (on
        a Cluster, one per node it has met). ``checked``: first drop the connection if Redis
        closed it meanwhile (as the pool's checkout does), so that a write after a Redis
        restart reconnects instead of answering "outcome unknown".
        """
        if self._cluster:
            nodes = getattr(self._held, "nodes", None)
            if nodes is None:
                nodes = self._held.nodes = {}
            return ClusterRawPipeline(self.redis, nodes)
        held = getattr(self._held, "connection", None)
        if held is None:
            held = self._held.connection = _HeldConnection(self.redis.connection_pool)
        connection = held.connection
        if checked and connection._sock is not None and _closed_by_peer(connection):
            connection.disconnect()
        return RawPipeline(self.redis, connection)

    def _taken(self, q: str, reply: Sequence[bytes], lease_at: int) -> Dequeued | None:
        """The dequeue script's ``{id, msg}``; an undecodable msg is archived as is (None)."""
        task_id, raw = _text(reply[0]), reply[1]
        try:
            return Dequeued(q, decode_task(raw), lease_at)
        except MessageDecodeError as exc:
            self._archive_raw(q, task_id, raw, str(exc))
            return None

    def extend_leases(self, queue: str, task_ids: Sequence[str]) -> set[str]:
        """Push the leases of running tasks to now + the lease; returns the IDs still leased.

        ``ZADD XX`` never re-creates a lease that a recoverer removed.
        """
        if not task_ids:
            return set()
        expiry = int(_now()) + self.lease_seconds
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(keys.lease(queue), dict.fromkeys(task_ids, expiry), xx=True)
        pipe.zmscore(keys.lease(queue), list(task_ids))
        _, scores = pipe.execute()
        return {t for t, s in zip(task_ids, scores, strict=True) if s is not None and s >= expiry}

    def set_result(self, queue: str, task_id: str, result: bytes) -> bool:
        """Store the result in the task hash, only while the task is active."""
        return bool(run(self.redis, "set_result", [keys.task_key(queue, task_id)], [result]))

    def finish_many(self, finishes: Sequence[Finish], take: Mapping[str, int] | None = None
                    ) -> tuple[list[BrokerError | redis.ConnectionError | None], list[Dequeued]]:
        """End many attempts and take tasks ahead, in one round trip (wire-format.md 6.3, 6.2).

        One ``finish`` script call per queue (every key in the queue's slot: Cluster-safe) does
        each task's own transition, bumps the counters once per batch and, when ``take`` asks
        for some, dequeues up to that many of the queue's next tasks (one paused check). The
        same round trip carries the runqy-layer writes the transitions are followed by: the
        result mirror ``SET … EX`` (written ahead of the answer and brought back in line with
        the task hash when the task was NOT FOUND), ``DEL`` of a deleted task's mirror, and the
        ``runqy:done:<id>`` message to its waiting clients.

        Returns one entry per finish, None when written, else its error: TaskNotFoundError
        (another actor moved the task; nothing was written for it), BrokerError, or the
        ``redis.ConnectionError`` of a lost answer (its fate is unknown: the caller may send it
        again, a repeat of an applied finish answers NOT FOUND). Then the tasks taken, each
        under a lease; those of a lost answer are recovered through their leases.
        """
        take = dict(take or {})
        now = int(_now())
        lease_at = now + self.lease_seconds
        by_queue: dict[str, list[int]] = {}
        for index, finish in enumerate(finishes):
            by_queue.setdefault(finish.msg.queue, []).append(index)
        for q in take:
            by_queue.setdefault(q, [])
        pipe = self._held_pipeline()
        calls: dict[str, int] = {}
        for q, indexes in by_queue.items():
            args: list[Any] = [now + DAILY_COUNTER_TTL, INT64_MAX, *_minute_args(now),
                               keys.task_key_prefix(q), lease_at, take.get(q, 0),
                               now - ARCHIVE_MAX_AGE, ARCHIVE_CAP]
            for index in indexes:
                args += _finish_args(finishes[index], now)
            calls[q] = pipe.script("finish", _finish_keys(q, now), args)
        for finish in finishes:
            for command in _after_finish(finish):
                pipe.command(*command)
        replies = pipe.execute()

        errors: list[BrokerError | redis.ConnectionError | None] = [None] * len(finishes)
        taken: list[Dequeued] = []
        trimmed: list[str] = []
        refused: list[Finish] = []  # completions whose early mirror must follow the hash
        stored: list[tuple[Finish, bytes]] = []  # completions without a result sent
        for q, indexes in by_queue.items():
            reply = replies[calls[q]]
            if not isinstance(reply, list):
                for index in indexes:
                    errors[index] = reply if _lost(reply) else _script_error(
                        reply, q, finishes[index].msg.id)
                continue
            answers, cut, flat = reply
            for index, answer in zip(indexes, answers, strict=True):
                finish = finishes[index]
                if answer == 0:
                    errors[index] = TaskNotFoundError(q, finish.msg.id)
                    if finish.kind == "complete" and finish.result:
                        refused.append(finish)
                elif isinstance(answer, bytes):
                    stored.append((finish, answer))
            trimmed += [_text(t) for t in cut]
            for at in range(0, len(flat), 2):
                dequeued = self._taken(q, flat[at : at + 2], lease_at)
                if dequeued is not None:
                    taken.append(dequeued)
        for finish in refused:
            self._align_mirror(finish.msg)
        for finish, result in stored:
            self.redis.set(keys.result_mirror(finish.msg.id), result, ex=finish.msg.retention)
        self._drop_runqy_keys(trimmed)
        return errors, taken

    def _align_mirror(self, msg: TaskMessage) -> None:
        """Undo ``finish_many``'s early mirror of a refused completion to match the task."""
        state, stored = self.redis.hmget(keys.task_key(msg.queue, msg.id), "state", "result")
        if state == b"completed" and stored is not None:
            self.redis.set(keys.result_mirror(msg.id), stored, ex=msg.retention)
        else:
            self.redis.delete(keys.result_mirror(msg.id))

    def _finish_one(self, finish: Finish, take: str | None = None) -> Dequeued | None:
        """``finish_many`` for one task; raises its error. With ``take``, the next task of that
        queue comes in the same round trip; a refused finish leaves it pending."""
        errors, taken = self.finish_many([finish], {take: 1} if take else None)
        if errors[0] is not None:
            for dequeued in taken:
                self.requeue(dequeued.msg)
            raise errors[0]
        return taken[0] if taken else None

    def done(self, msg: TaskMessage) -> None:
        """Success with retention 0: delete the task, count it, release its lock; its result
        mirror goes and its waiters are told, in the same round trip."""
        self._finish_one(Finish(msg, "done"))

    def mark_complete(self, msg: TaskMessage) -> None:
        """Success with retention > 0: completed until now + retention; the mirror expires."""
        self._finish_one(Finish(msg, "complete"))

    def complete(
        self, msg: TaskMessage, result: bytes, *, next_from: str | None = None
    ) -> Dequeued | None:
        """Success with retention > 0, storing ``result`` with the completion, in one round
        trip with its mirror and done message (7.2, 6.3). Raises TaskNotFoundError, or
        ``redis.ConnectionError`` when the answer was lost (the caller may retry: a repeat of
        an applied completion answers NOT FOUND and keeps the mirror). With ``next_from``,
        the same round trip dequeues that queue's next task and returns it (None when there is
        none); a refused completion puts it back.
        """
        if msg.retention <= 0:
            raise ValueError("complete() is for retention > 0; use done() for retention 0")
        return self._finish_one(Finish(msg, "complete", result=result), next_from)

    def retry(self, msg: TaskMessage, error: str, retry_at: int, is_failure: bool = True) -> None:
        """Move an active task to retry at ``retry_at`` (the caller computes the backoff)."""
        self._finish_one(Finish(msg, "retry", error=error, retry_at=int(retry_at),
                                failure=is_failure))

    def archive(self, msg: TaskMessage, error: str) -> None:
        """Move an active task to archived (retries exhausted or non-retriable error)."""
        self._finish_one(Finish(msg, "archive", error=error))

    def _archive_raw(self, q: str, task_id: str, raw: bytes, error: str) -> None:
        """Archive a task whose message cannot be decoded, its bytes kept unchanged."""
        self._finish_one(Finish(TaskMessage(id=task_id, queue=q), "archive", error=error,
                                raw=raw))

    def _finish(self, script: str, script_keys: list[str], args: list[Any], q: str,
                task_id: str, *commands: tuple[Any, ...]) -> Any:
        """A task-path script followed by ``commands``, in one round trip on the calling
        thread's connection; the script's reply, or raises."""
        pipe = self._held_pipeline()
        at = pipe.script(script, script_keys, args)
        for command in commands:
            pipe.command(*command)
        reply = pipe.execute()[at]
        if _lost(reply):
            raise reply
        if isinstance(reply, redis.ResponseError):
            _raise_script_error(reply, q, task_id)
        return reply

    def requeue(self, msg: TaskMessage) -> None:
        """Shutdown: put an active task back at the head of pending (next to run), and wake
        the queue's idle workers."""
        q = msg.queue
        self._finish(
            "requeue",
            [keys.active(q), keys.lease(q), keys.pending(q), keys.task_key(q, msg.id)],
            [msg.id], q, msg.id, ("PUBLISH", keys.wake_channel(q), b""),
        )

    # -- background loops --------------------------------------------------------------------

    def forward_due(self, queue: str) -> int:
        """Move due scheduled, then retry, tasks to pending (or back to their group)."""
        total = 0
        for source in (keys.scheduled(queue), keys.retry(queue)):
            while True:
                now_f = _now()
                moved = run(
                    self.redis,
                    "forward",
                    [source, keys.pending(queue), keys.groups(queue)],
                    [
                        int(now_f),
                        int(now_f * 1e9),
                        keys.task_key_prefix(queue),
                        keys.group_prefix(queue),
                    ],
                )
                total += moved
                if moved == 0:
                    break
        if total:
            wake(self.redis, queue)
        return total

    def recover_expired_leases(self, queue: str) -> int:
        """Retry or archive tasks whose lease expired more than the skew ago; returns how many."""
        cutoff = int(_now()) - self.clock_skew_seconds
        flat = run(
            self.redis,
            "expired_leases",
            [keys.lease(queue), keys.active(queue)],
            [cutoff, keys.task_key_prefix(queue)],
        )
        recovered = 0
        for task_id, raw in zip(flat[::2], flat[1::2], strict=True):
            try:
                msg = decode_task(raw)
                if msg.retried >= msg.retry:
                    self.archive(msg, LEASE_EXPIRED_ERROR)
                else:
                    at = int(_now()) + retry_delay(msg.retried)
                    self.retry(msg, LEASE_EXPIRED_ERROR, at)
            except MessageDecodeError:
                self._archive_raw(queue, _text(task_id), raw, LEASE_EXPIRED_ERROR)
            except TaskNotFoundError:
                continue  # another recoverer was faster
            recovered += 1
        return recovered

    def purge_completed(self, queue: str) -> int:
        """Delete completed tasks past their retention, with their runqy keys."""
        total = 0
        while True:
            ids = run(
                self.redis,
                "purge_completed",
                [keys.completed(queue)],
                [int(_now()), JANITOR_BATCH, keys.task_key_prefix(queue)],
            )
            if not ids:
                return total
            self._drop_runqy_keys([_text(i) for i in ids])
            total += len(ids)

    def cancel(self, task_id: str) -> int:
        """Ask every worker to cancel ``task_id``; returns the number of subscribers reached."""
        return self.redis.publish(keys.CANCEL_CHANNEL, task_id)

    # -- fleet --------------------------------------------------------------------------------

    def write_server_heartbeat(
        self, server: ServerInfo, workers: Sequence[WorkerInfo], ttl: int = 10
    ) -> None:
        """asynq-native heartbeat (8.1): index entries, ServerInfo, one WorkerInfo per task."""
        server_key = keys.server_info(server.host, server.pid, server.server_id)
        workers_key = keys.server_workers(server.host, server.pid, server.server_id)
        expiry = int(_now()) + ttl
        args: list[Any] = [ttl, encode(server)]
        for worker in workers:
            args += [worker.task_id, encode(worker)]
        sp = ScriptPipeline(self.redis)
        sp.command("zadd", keys.SERVERS, {server_key: expiry})
        sp.command("zadd", keys.WORKERS, {workers_key: expiry})
        sp.script("write_server", [server_key, workers_key], args)
        for reply in sp.execute():
            if isinstance(reply, Exception):
                raise BrokerError(f"server heartbeat failed: {reply}")

    def clear_server_heartbeat(self, server: ServerInfo) -> None:
        server_key = keys.server_info(server.host, server.pid, server.server_id)
        workers_key = keys.server_workers(server.host, server.pid, server.server_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(keys.SERVERS, server_key)
        pipe.zrem(keys.WORKERS, workers_key)
        pipe.delete(server_key)
        pipe.delete(workers_key)
        pipe.execute()

    def write_worker_heartbeat(
        self,
        worker_id: str,
        fields: Mapping[str, str],
        log_lines: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """The runqy heartbeat (8.2) and log flush (8.4), in one MULTI/EXEC.

        runqy-layer keys carry no hash tag, so this is a transaction rather than a script; on a
        Cluster they live in different slots, so there it is a plain pipeline (each beat
        rewrites everything, so a half-applied beat is mended by the next one).
        ``fields`` must hold every field of 8.2; ``last_beat`` also scores the index entry.
        """
        beat_key, logs_key = keys.runqy_worker(worker_id), keys.runqy_worker_logs(worker_id)
        last_beat = int(fields.get("last_beat") or _now())
        # Packed raw: a busy worker flushes a line per task started (three commands each),
        # which redis-py's pipeline would pack command by command in Python.
        pipe = self._held_pipeline(checked=True)
        if not self._cluster:
            pipe.command("MULTI")
        pipe.command("HSET", beat_key, *(part for item in fields.items() for part in item))
        pipe.command("EXPIRE", beat_key, RUNQY_HEARTBEAT_TTL)
        pipe.command("ZADD", keys.RUNQY_WORKERS, last_beat, worker_id)
        worker_lines = [line for line in log_lines if not line.get("task_only")]
        if worker_lines:
            pipe.command("RPUSH", logs_key, *map(_log_json, worker_lines))
            pipe.command("LTRIM", logs_key, -WORKER_LOG_KEEP, -1)
        pipe.command("EXPIRE", logs_key, RUNQY_HEARTBEAT_TTL)
        _copy_task_lines(pipe, worker_id, log_lines)
        if not self._cluster:
            pipe.command("EXEC")
        for reply in pipe.execute():
            for answer in reply if isinstance(reply, list) else [reply]:  # EXEC: every answer
                if isinstance(answer, Exception):
                    raise answer

    def remove_worker(self, worker_id: str) -> None:
        """Deregister at clean shutdown; the hash and logs expire on their own."""
        self.redis.zrem(keys.RUNQY_WORKERS, worker_id)

    # -- runqy layer --------------------------------------------------------------------------

    def _drop_runqy_keys(self, task_ids: Sequence[str]) -> None:
        drop_runqy_keys(self.redis, task_ids)


def _finish_args(finish: Finish, now: int) -> list[Any]:
    """The finish script's 6 arguments for one task: kind, id, new msg, score, result, lock."""
    msg = finish.msg
    if finish.kind == "done":
        return ["d", msg.id, b"", 0, b"", msg.unique_key]
    if finish.kind == "complete":
        new = TaskMessage()
        new.CopyFrom(msg)
        new.completed_at = now
        return ["c", msg.id, encode(new), now + msg.retention, finish.result, msg.unique_key]
    if finish.raw is not None:
        raw = finish.raw
    else:
        failed = _failed_copy(msg, finish.error, now)
        if finish.kind == "retry" and finish.failure:
            failed.retried = msg.retried + 1
        raw = encode(failed)
    if finish.kind == "retry":
        return ["r" if finish.failure else "p", msg.id, raw, finish.retry_at, b"", b""]
    return ["a", msg.id, raw, now, b"", b""]


def _after_finish(finish: Finish) -> list[tuple[Any, ...]]:
    """The runqy-layer commands that follow a finish in its round trip: the result mirror and
    the done message to the task's waiting clients (none for a retry)."""
    task_id = finish.msg.id
    if finish.kind == "complete":
        told = [_told_done(task_id, "completed")]
        if finish.result:
            return [("SET", keys.result_mirror(task_id), finish.result, "EX",
                     finish.msg.retention), *told]
        return told
    if finish.kind == "done":
        return [("DEL", keys.result_mirror(task_id)), _told_done(task_id, "deleted")]
    if finish.kind == "archive":
        return [_told_done(task_id, "archived")]
    return []


def _told_done(task_id: str, state: str) -> tuple[str, str, str]:
    """The command that wakes the task's waiting clients: it finished, now ``state``."""
    return ("PUBLISH", keys.done_channel(task_id), state)


def wake(client: redis.Redis, queue: str) -> None:
    """Tell the queue's idle workers that tasks became pending (a runqy-layer channel)."""
    client.publish(keys.wake_channel(queue), b"")


# One compact encoder for every log line of a beat (json.dumps with arguments builds an
# encoder per call, and a busy worker flushes thousands of lines per beat).
_log_json = json.JSONEncoder(separators=(",", ":")).encode


def _copy_task_lines(pipe: RawPipeline | ClusterRawPipeline, worker_id: str,
                     log_lines: Sequence[Mapping[str, Any]]) -> None:
    """Each line tagged with a task also goes to that task's own capped list, with the worker
    that wrote it, so the task page shows its lines after the worker's list has moved on;
    ``task_only`` lines (an attempt starting) go there alone."""
    by_task: dict[str, list[str]] = {}
    for line in log_lines:
        task_id = line.get("task_id")
        if isinstance(task_id, str) and task_id:
            entry = {**line, "worker": worker_id}
            entry.pop("task_only", None)
            by_task.setdefault(task_id, []).append(_log_json(entry))
    for task_id, lines in by_task.items():
        key = keys.task_logs(task_id)
        pipe.command("RPUSH", key, *lines)
        pipe.command("LTRIM", key, -TASK_LOG_KEEP, -1)
        pipe.command("EXPIRE", key, TASK_LOG_TTL)


def drop_runqy_keys(client: redis.Redis, task_ids: Sequence[str]) -> None:
    """Delete the result mirror and log lines of tasks that no longer exist, and the reverse
    lookup ``asynq:t:<id>`` that the Go runqy server and earlier runqy versions wrote."""
    if task_ids:
        pipe = client.pipeline(transaction=False)
        for task_id in task_ids:  # one key per DEL: on a Cluster they are in other slots
            pipe.delete(keys.legacy_lookup(task_id))
            pipe.delete(keys.result_mirror(task_id))
            pipe.delete(keys.task_logs(task_id))
        pipe.execute()


def _failed_copy(msg: TaskMessage, error: str, now: int) -> TaskMessage:
    new = TaskMessage()
    new.CopyFrom(msg)
    new.error_msg = error.encode("utf-8", "replace").decode("utf-8")
    new.last_failed_at = now
    return new


@dataclass(slots=True)
class _Plan:
    """One enqueue request resolved against the clock: script arguments and its outcome."""

    queue: str
    task_id: str
    state: str
    next_process_at: int | None
    lock: str
    script_args: list[Any]

    def refused(self, code: int) -> BrokerError:
        """The error for a script code other than 1 (created)."""
        if code == -1:
            return DuplicateTaskError(self.queue, self.lock)
        return TaskIdConflictError(self.queue, self.task_id)


def _check(request: EnqueueRequest) -> None:
    """Refuse a request before anything of its batch is sent."""
    if not request.msg.queue or not request.msg.type.strip():
        raise ValueError("a task needs a queue and a non-blank type")


def _plan(request: EnqueueRequest, now: int) -> _Plan:
    """Resolve one checked request with an ID; fills in ``unique_key`` and ``group_key``."""
    msg, q, group = request.msg, request.msg.queue, request.group
    process_at = request.process_at
    if group:
        msg.group_key = group
        state, score, next_at = "aggregating", now, None
    elif process_at is not None and process_at > now:
        state, score, next_at = "scheduled", process_at, process_at
    else:
        state, score, next_at = "pending", now, now
    lock, lock_ttl = "", 0
    if request.unique_ttl:
        if not msg.unique_key:
            msg.unique_key = keys.unique(q, msg.type, msg.payload)
        lock = msg.unique_key
        base = process_at if state == "scheduled" else now
        lock_ttl = max(1, int(base + request.unique_ttl - now))
    args = [msg.id, encode(msg), state, score, group or "", lock, lock_ttl]
    return _Plan(q, msg.id, state, next_at, lock, args)


def _failed(plan: _Plan, reply: Exception) -> BrokerError:
    """The outcome of a task whose chunk's script call failed or went unanswered."""
    if _lost(reply):
        return TaskOutcomeUnknownError(plan.queue, plan.task_id, reply)
    return BrokerError(f"enqueue failed for task {plan.task_id!r}: {reply}")


# Per Redis client, not per Broker: code that builds a Broker per call (a script, a test harness)
# then shares its thread's connection instead of taking a new one from the pool each time, which
# ran a bounded pool out of connections.
_HELD: weakref.WeakKeyDictionary[Any, threading.local] = weakref.WeakKeyDictionary()
_HELD_LOCK = threading.Lock()


def _held_state(client: Any) -> threading.local:
    """The thread-local held connections of ``client``, shared by every Broker on it."""
    with _HELD_LOCK:
        state = _HELD.get(client)
        if state is None:
            state = _HELD[client] = threading.local()
        return state


class _HeldConnection:
    """A connection checked out of the pool for one thread's raw pipelines; it goes back to the
    pool when the thread ends (its thread-local value is dropped), so short-lived threads do not
    use up a bounded pool."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.connection = pool.get_connection()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown, a pool already closed
            self.pool.release(self.connection)


def _closed_by_peer(connection: Any) -> bool:
    """Whether an idle connection has something to read: nothing is owed on it, so that is
    Redis closing it (restart, ``timeout``, ``CLIENT KILL``)."""
    try:
        return bool(connection.can_read(0))
    except redis.ConnectionError:
        return True


def _lost(reply: Any) -> bool:
    return isinstance(reply, LOST_ERRORS)


_UUID_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _new_task_ids(count: int) -> list[str]:
    """``count`` random UUID4 strings (RFC 4122 version 4, variant 1) from one urandom read.

    Same format and entropy (122 random bits) as ``str(uuid.uuid4())`` at a third of its cost.
    """
    hexes = os.urandom(16 * count).hex()
    ids = []
    for start in range(0, 32 * count, 32):
        h = hexes[start : start + 32]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return ids
