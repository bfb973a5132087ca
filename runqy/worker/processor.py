"""The Redis side of the worker: dequeue, leases, outcomes, cancel and the background loops.

`Processor` is the `TaskSource` of every pool. It dequeues in the sub-queue order of
wire-format.md 5.3, keeps the tasks in flight with their in-memory leases (extended every
`lease_extend_interval`, lost once their expiry passes), writes outcomes (worker-protocol.md
7.1) retrying through Redis outages, listens on the cancel channel, and runs the forwarder,
recoverer and janitor for every served queue (wire-format.md 6.4). `RedisLink` notices lost
connections and reconnects with backoff. Outcomes are written, and tasks taken ahead for the
slots, in batches by the `Exchange` (runqy.worker.exchange).
"""

from __future__ import annotations

import collections
import contextlib
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import redis

from runqy.broker import (
    Broker,
    BrokerError,
    Dequeued,
    Finish,
    TaskMessage,
    TaskNotFoundError,
    keys,
)
from runqy.broker import queue_order as broker_queue_order
from runqy.broker import retry_delay as broker_retry_delay
from runqy.worker.exchange import LEASE_LOST_NOTE, MOVED_NOTE, Exchange, Hooks
from runqy.worker.heartbeat import LogBuffer
from runqy.worker.job import Job
from runqy.worker.process import Outcome, Verdict
from runqy.worker.settings import WorkerSettings
from runqy.worker.supervisor import CANCELLED, LEASE_LOST

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
PUBSUB_POLL = 0.5  # seconds between stop checks of the pub/sub thread
DRAINING_CHECK = 0.1  # seconds between a draining slot's checks for its pool's stop
STORED_RESULT_RETENTION = 24 * 3600
PREFETCH_HOLD = 1.0  # seconds a task taken ahead for a slot may wait before it is requeued
# A parent whose tasks take less than this here (moving average) gets tasks taken ahead for
# each slot: about PREFETCH_COVER seconds of its work (at least one task, at most
# PREFETCH_MOST), so that a slot finds its next task waiting while the next round is under
# way. Slower parents get one only for the slots whose outcomes are being written (they ask
# for their next task right away).
SOON = 0.05
PREFETCH_COVER = 0.005
PREFETCH_MOST = 8
LINGER = 0.002  # the longest a round of outcomes waits for the other slots' (short tasks)
RUN_TIME_WEIGHT = 0.2


class RedisLink:
    """Whether Redis answers; on loss, one thread reconnects with 1, 2, 4 … 30 s backoff."""

    def __init__(
        self, client: redis.Redis, settings: WorkerSettings, log: Callable[[str], None]
    ) -> None:
        self.client = client
        self.settings = settings
        self.log = log
        self.up = threading.Event()
        self.up.set()
        self.closed = threading.Event()
        self.on_reconnect: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._reconnecting = False

    def lost(self, exc: BaseException) -> None:
        with self._lock:
            self.up.clear()
            if self._reconnecting or self.closed.is_set():
                return
            self._reconnecting = True
        self.log(f"Redis connection lost ({exc}); reconnecting")
        threading.Thread(target=self._reconnect, name="redis-reconnect", daemon=True).start()

    def _reconnect(self) -> None:
        delay = 1.0
        while not self.closed.is_set():
            try:
                self.client.ping()
            except redis.AuthenticationError as exc:
                self.log(f"Redis refused the credentials: {exc}")
                self.closed.wait(30)
                continue
            except REDIS_ERRORS:
                self.closed.wait(delay)
                delay = min(delay * 2, self.settings.timings.redis_backoff_max)
                continue
            with self._lock:
                self._reconnecting = False
                self.up.set()
            self.log("Redis connection restored")
            for callback in self.on_reconnect:
                callback()
            return

    def wait_up(self, timeout: float) -> bool:
        return self.up.wait(max(0.0, timeout))

    def close(self) -> None:
        self.closed.set()


class WakeSignal:
    """Idle slots of one parent sleep here until a wake-up or their fallback poll is due.

    A generation counter instead of a flag: a slot remembers the generation before its empty
    dequeue and sleeps only if no wake-up came since, so one sent in between is never lost.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0

    def notify(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Sleep until a wake-up after generation ``seen`` (True) or the timeout (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.generation != seen, timeout)


class Processor:
    """Tasks in flight and every Redis write made for them."""

    def __init__(
        self,
        client: redis.Redis,
        settings: WorkerSettings,
        priorities: Mapping[str, Mapping[str, int]],
        logs: LogBuffer,
        warn: Callable[[str], None],
    ) -> None:
        self.client = client
        timings = settings.timings
        self.broker = Broker(client, lease_seconds=max(1, math.ceil(timings.lease_duration)),
                             clock_skew_seconds=math.ceil(timings.clock_skew))
        self.settings = settings
        self.timings = settings.timings
        self.priorities = {p: dict(q) for p, q in priorities.items()}
        self.redis_storage: dict[str, bool] = {}
        self.logs = logs
        self.warn = warn
        self.link = RedisLink(client, settings, warn)
        self.draining = threading.Event()
        self.stopped = threading.Event()
        self.requeue_failed = False
        self._lock = threading.Lock()
        self._in_flight: dict[str, Job] = {}
        self._run_time: dict[str, float] = {}  # parent -> moving average of a task's time
        self._parent_of = {q: parent for parent, queues in self.priorities.items()
                           for q in queues}
        self.exchange = Exchange(Hooks(
            broker=self.broker, plan=self._plan_takes, hold=self._hold_taken,
            forget=self._forget, lose=self._lose, note=self._note, warn=warn,
            link_lost=self.link.lost, wait_up=self.link.wait_up, link_up=self.link.up.is_set,
            held=self._held_count, linger=self._linger,
            slots=settings.concurrency * len(self.priorities)))
        self._wakes = {parent: WakeSignal() for parent in self.priorities}
        self._polling: dict[str, bool] = {}  # parent -> idle, its next dequeue a fallback poll
        self._wake_channels = {keys.wake_channel(q): parent for parent, queues
                               in self.priorities.items() for q in queues}
        self._threads: list[threading.Thread] = []

    # -- queues --------------------------------------------------------------------------------

    @property
    def strict(self) -> bool:
        return self.settings.priority_mode == "strict"

    def all_priorities(self) -> dict[str, int]:
        merged: dict[str, int] = {}
        for queues in self.priorities.values():
            merged.update(queues)
        return merged

    def queues_in_order(self) -> list[str]:
        return broker_queue_order(self.all_priorities(), strict=True)

    def in_flight(self) -> list[Job]:
        with self._lock:
            return list(self._in_flight.values())

    # -- TaskSource ----------------------------------------------------------------------------

    def next_task(self, parent: str) -> Job | None:
        wake = self._wakes[parent]
        # Read before the draining check: a drain from here on (it wakes every parent) ends
        # the sleep below at once, even one that comes while the exchange is asked.
        seen = wake.generation
        if self.draining.is_set():
            self._return_prefetched(parent)
            self.stopped.wait(min(self.timings.idle_sleep, DRAINING_CHECK))
            return None
        job = self.exchange.take(parent)
        if job is not None:
            return job
        if not self.link.up.is_set():
            self.link.wait_up(self.timings.idle_sleep)
            return None
        order = broker_queue_order(self.priorities[parent], strict=self.strict)
        try:
            # A fallback poll (no wake-up came) first asks whether anything is pending: one
            # LLEN per queue instead of the dequeue script's three commands.
            if self._polling.get(parent) and not self.broker.any_pending(order):
                dequeued = None
            else:
                dequeued = self.broker.dequeue(order)
        except REDIS_ERRORS as exc:
            self.link.lost(exc)
            return None
        except (redis.RedisError, BrokerError) as exc:
            self.warn(f"dequeue failed: {exc}")
            self.draining.wait(self.timings.idle_sleep)
            return None
        if dequeued is None:
            # Sleep until a wake-up (every runqy enqueue path sends one). The fallback poll
            # finds tasks that came without one (Go producers): about one dequeue per
            # idle_sleep per parent, as asynq, with jitter so workers do not poll in lockstep.
            slots = self.settings.concurrency
            woken = wake.wait(seen, self.timings.idle_sleep * slots * random.uniform(0.5, 1.5))
            self._polling[parent] = not woken
            return None
        self._polling[parent] = False
        return self._hold(dequeued, parent)

    def waiting_task(self, parent: str) -> Job | None:
        """A task already taken ahead for ``parent``, without waiting or asking Redis."""
        return None if self.draining.is_set() else self.exchange.take_waiting(parent)

    def drain(self) -> None:
        """Stop dequeuing (shutdown); idle slots wake up to notice."""
        self.draining.set()
        self._wake_all()

    def _wake_all(self) -> None:
        for wake in self._wakes.values():
            wake.notify()

    def _hold(self, dequeued: Dequeued, parent: str) -> Job:
        job = Job.from_dequeued(dequeued, parent, self.timings.default_time_limit)
        job.lease_expires_at = min(job.lease_expires_at,
                                   job.started_at + self.timings.lease_duration)
        with self._lock:
            self._in_flight[job.task_id] = job
        return job

    def _hold_taken(self, dequeued: Dequeued) -> Job | None:
        """A task the exchange took ahead: held for its parent's slots, who are woken to take
        it; put back at once when the worker drains meanwhile."""
        parent = self._parent_of[dequeued.queue]
        job = self._hold(dequeued, parent)
        if self.draining.is_set():
            self.requeue(job)
            return None
        self._wakes[parent].notify()
        return job

    def _plan_takes(self, outcomes: Mapping[str, int], ready: Mapping[str, int]
                    ) -> dict[str, int]:
        """How many tasks to take ahead per queue, in the round that writes ``outcomes`` (per
        parent), from the queue the parent's next dequeue would try first (strict or weighted
        order; a paused queue gives none). Never more than the parent's slots start soon: for
        short tasks (SOON) about PREFETCH_COVER of work waiting per slot beyond the task it
        runs (1 to PREFETCH_MOST tasks), so that a slot finds its next task there while the
        next round is under way; otherwise one per slot whose outcome is in this round (that
        slot asks right away)."""
        take: dict[str, int] = {}
        if self.draining.is_set():
            return take
        slots = self.settings.concurrency
        with self._lock:
            held = collections.Counter(job.parent for job in self._in_flight.values())
        for parent, count in outcomes.items():
            run_time = self._run_time.get(parent, SOON)
            if run_time < SOON:
                ahead = min(PREFETCH_MOST, math.ceil(PREFETCH_COVER / max(run_time, 1e-6)))
                want = (1 + ahead) * slots - (held[parent] - count)
            else:
                want = min(slots, count) - ready.get(parent, 0)
            order = broker_queue_order(self.priorities[parent], strict=self.strict)
            if want > 0 and order:
                take[order[0]] = take.get(order[0], 0) + want
        return take

    def _held_count(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def _linger(self) -> float:
        """A round waits for the other slots' outcomes only while tasks are short."""
        return LINGER if any(t < SOON for t in list(self._run_time.values())) else 0.0

    def _return_prefetched(self, parent: str | None = None, older_than: float = 0.0) -> None:
        """Requeue prefetched tasks no slot took (draining, or the parent stopped asking)."""
        for job in self.exchange.unclaimed(parent, older_than):
            self.requeue(job)

    def finish(self, job: Job, outcome: Outcome) -> None:
        """Hand the outcome to the exchange, which writes it with others in one round trip.
        A task that ran counts in its parent's moving average of the time a task takes
        (from the request to the reply: the time it waited here taken ahead does not count)."""
        if job.sent_at is not None:
            spent = time.monotonic() - job.sent_at
            average = self._run_time.get(job.parent)
            self._run_time[job.parent] = spent if average is None else (
                average + RUN_TIME_WEIGHT * (spent - average))
        self.exchange.put(job, self._finish_of(job, outcome))

    def requeue(self, job: Job) -> None:
        budget = self.timings.shutdown_redis_budget if self.draining.is_set() else None
        if not self._write(job, lambda: self.broker.requeue(job.msg), budget=budget):
            self.requeue_failed = self.requeue_failed or self.draining.is_set()

    def drop(self, job: Job) -> None:
        self._note(job, "lease lost: the outcome is dropped and a recoverer will retry the task")
        self._forget(job)

    def _note(self, job: Job, text: str) -> None:
        self.logs.add("worker", text, job.queue, job.task_id)

    def _forget(self, job: Job) -> None:
        with self._lock:
            self._in_flight.pop(job.task_id, None)

    def _write(self, job: Job, action: Callable[[], None], budget: float | None = None) -> bool:
        """Run a write for the task (a requeue), retrying through Redis outages while the lease
        holds."""
        give_up = None if budget is None else time.monotonic() + budget
        try:
            while True:
                if not job.lease_holds():
                    self._lose(job)
                    self._note(job, LEASE_LOST_NOTE)
                    return False
                try:
                    action()
                    return True
                except TaskNotFoundError:
                    self._note(job, MOVED_NOTE)
                    return False
                except (BrokerError, redis.ResponseError) as exc:
                    self.warn(f"writing the outcome of task {job.task_id} failed: {exc}")
                    return False
                except REDIS_ERRORS as exc:
                    self.link.lost(exc)
                if give_up is not None and time.monotonic() >= give_up:
                    return False
                self.link.wait_up(min(1.0, max(0.05, job.lease_expires_at - time.time())))
        finally:
            self._forget(job)

    def _finish_of(self, job: Job, outcome: Outcome) -> Finish:
        """The broker's finish for an outcome (worker-protocol.md 7.1)."""
        msg = job.msg
        if outcome.verdict is Verdict.SUCCESS:
            retention = msg.retention
            if retention <= 0 and self.redis_storage.get(job.parent):
                retention = STORED_RESULT_RETENTION
            if retention <= 0:
                return Finish(msg, "done")
            if retention != msg.retention:
                msg = TaskMessage()
                msg.CopyFrom(job.msg)
                msg.retention = retention
            return Finish(msg, "complete", result=outcome.result or b"null")
        if outcome.verdict is Verdict.RETRY and msg.retried < msg.retry:
            return Finish(msg, "retry", error=outcome.error,
                          retry_at=int(time.time()) + broker_retry_delay(msg.retried))
        return Finish(msg, "archive", error=outcome.error)

    # -- leases and cancel -----------------------------------------------------------------------

    def _lose(self, job: Job) -> None:
        with job.lock:
            if job.lost:
                return
            job.lost = True
            job.abort_reason = LEASE_LOST
        if job.process is not None:
            job.process.abort(job.task_id, LEASE_LOST)

    def extend_leases(self) -> None:
        jobs = [j for j in self.in_flight() if not j.lost]
        by_queue: dict[str, list[Job]] = {}
        for job in jobs:
            by_queue.setdefault(job.queue, []).append(job)
        if self.link.up.is_set():
            for queue, queued in by_queue.items():
                now = time.time()
                try:
                    alive = self.broker.extend_leases(queue, [j.task_id for j in queued])
                except REDIS_ERRORS as exc:
                    self.link.lost(exc)
                    break
                except redis.RedisError as exc:
                    self.warn(f"lease extension failed: {exc}")
                    continue
                for job in queued:
                    if job.task_id in alive:
                        job.lease_expires_at = now + self.timings.lease_duration
                    elif job.task_id in self._ids():
                        self._lose(job)
        now = time.time()
        for job in jobs:
            if not job.lost and now >= job.lease_expires_at:
                self.warn(f"lease of task {job.task_id} expired; its outcome will be dropped")
                self._lose(job)

    def _ids(self) -> set[str]:
        with self._lock:
            return set(self._in_flight)

    def cancel(self, task_id: str) -> bool:
        waiting = self.exchange.withdraw(task_id)
        if waiting is not None:  # taken ahead, not started: it never runs
            self.finish(waiting, Outcome(Verdict.PERMANENT, error=CANCELLED))
            return True
        with self._lock:
            job = self._in_flight.get(task_id)
        if job is None or job.lost:
            return False
        job.abort_reason = CANCELLED
        if job.process is not None:
            job.process.abort(task_id, CANCELLED)
        return True

    def abort_all(self, reason: str) -> int:
        jobs = self.in_flight()
        for job in jobs:
            if job.abort_reason is None:
                job.abort_reason = reason
            if job.process is not None:
                job.process.abort(job.task_id, reason)
        return len(jobs)

    # -- loops ---------------------------------------------------------------------------------

    def start_loops(self) -> None:
        for name, target in (("leases", self._lease_loop), ("pubsub", self._pubsub_loop),
                             ("maintenance", self._maintenance_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_loops(self, give_up: float | None = None) -> None:
        """Write the outcomes still owed (trying until ``give_up``, monotonic, when Redis is
        down; by default the shutdown budget from now), then stop the loops. Outcomes left
        unwritten set ``requeue_failed``: the worker then exits 1."""
        if give_up is None:
            give_up = time.monotonic() + self.timings.shutdown_redis_budget
        if not self.exchange.close(give_up):
            self.requeue_failed = True
        self.stopped.set()
        for thread in self._threads:
            thread.join(5)
        self.link.close()

    def _lease_loop(self) -> None:
        while not self.stopped.wait(self.timings.lease_extend_interval):
            # A slot takes its prefetched task within microseconds unless its pool stopped
            # asking (degraded, restarting): then the task goes back to the queue.
            self._return_prefetched(older_than=PREFETCH_HOLD)
            self.extend_leases()

    def _pubsub_loop(self) -> None:
        """Cancels for tasks running here, and wake-ups for idle slots (one connection)."""
        while not self.stopped.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(keys.CANCEL_CHANNEL, *self._wake_channels)
                self._wake_all()  # wake-ups sent while not subscribed are not delivered
                while not self.stopped.is_set():
                    message = pubsub.get_message(timeout=PUBSUB_POLL)
                    if message and message.get("type") == "message":
                        self._on_message(_text(message["channel"]), message["data"])
            except REDIS_ERRORS:
                self.stopped.wait(1.0)
            finally:
                with contextlib.suppress(*REDIS_ERRORS):
                    pubsub.close()

    def _on_message(self, channel: str, data: bytes | str) -> None:
        parent = self._wake_channels.get(channel)
        if parent is not None:
            self._wakes[parent].notify()
        elif channel == keys.CANCEL_CHANNEL:
            self.cancel(_text(data))

    def _maintenance_loop(self) -> None:
        t = self.timings
        jobs: Sequence[tuple[float, Callable[[str], int]]] = (
            (t.forwarder_interval, self.broker.forward_due),
            (t.recoverer_interval, self.broker.recover_expired_leases),
            (t.janitor_interval, self.broker.purge_completed),
        )
        due = [0.0] * len(jobs)  # the recoverer also runs at start
        while not self.stopped.is_set():
            now = time.monotonic()
            if self.link.up.is_set():
                for index, (interval, step) in enumerate(jobs):
                    if now < due[index]:
                        continue
                    try:
                        for queue in self.all_priorities():
                            step(queue)
                        due[index] = now + interval
                    except REDIS_ERRORS as exc:
                        self.link.lost(exc)
                    except (BrokerError, redis.RedisError) as exc:
                        self.warn(f"background loop failed: {exc}")
                        due[index] = now + interval
            floor = 0.05 if self.link.up.is_set() else 0.5
            self.stopped.wait(max(floor, min(due) - time.monotonic()))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
