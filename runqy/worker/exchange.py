"""Batched acknowledgements and prefetch: outcomes go out and tasks come in, in one round trip.

A slot's outcome is handed to the `Exchange` and the slot asks for its next task at once. One
thread writes every outcome handed over since its last round in one round trip
(`Broker.finish_many`: one script per queue), and the same round trip takes the tasks the
parents' slots will ask for next; those wait here, leased, until a slot takes them.

The guarantees of worker-protocol.md 8 hold unchanged (bench/README.md, "Batched
acknowledgements"): a task stays in flight until its outcome is written, so its lease is
extended and shutdown waits for it; an outcome whose lease expired before it could be written
is dropped and the recoverer re-runs the task; an outcome whose answer was lost is sent again
(a repeat answers NOT FOUND); at shutdown the thread writes what is left within the budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import redis

from runqy.broker import Broker, BrokerError, Dequeued, Finish, TaskNotFoundError
from runqy.worker.job import Job

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
ASK_WAIT = 1.0  # longest wait of a slot for the round that writes its parent's outcomes
# Task log lines of a write for a task that was not made (here and in the processor's requeue).
LEASE_LOST_NOTE = "lease lost before the outcome was written; it is dropped"
MOVED_NOTE = "the task was moved by another actor; outcome not written"


@dataclass
class Hooks:
    """What the exchange needs from the processor."""

    broker: Broker
    plan: Callable[[Mapping[str, int], Mapping[str, int]], dict[str, int]]
    """(outcomes per parent in this round, tasks waiting per parent) -> tasks to take per
    queue."""
    hold: Callable[[Dequeued], Job | None]
    """Turn a taken task into a job of its parent (None: not wanted any more, requeued)."""
    forget: Callable[[Job], None]
    lose: Callable[[Job], None]
    note: Callable[[Job, str], None]
    """A line about a task for the logs."""
    warn: Callable[[str], None]
    link_lost: Callable[[BaseException], None]
    wait_up: Callable[[float], bool]
    link_up: Callable[[], bool]
    held: Callable[[], int]
    """How many tasks this worker holds (running, waiting here, or with an outcome owed)."""
    slots: int
    """How many slots the worker has (all parents)."""
    linger: Callable[[], float]
    """How long a round may wait for the outcomes of the tasks still running (0: none)."""


@dataclass
class _State:
    queued: list[tuple[Job, Finish]] = field(default_factory=list)
    writing: dict[str, int] = field(default_factory=dict)  # parent -> outcomes in this round
    ready: dict[str, list[Job]] = field(default_factory=dict)  # parent -> taken ahead
    give_up: float | None = None  # monotonic; set when closing
    unwritten: bool = False  # closing left outcomes unwritten


class Exchange:
    """Outcomes waiting to be written, tasks taken ahead, and the thread moving both."""

    def __init__(self, hooks: Hooks) -> None:
        self.hooks = hooks
        # One lock, two wait lists: slots wait on ``_cond`` (tasks taken ahead, the end of a
        # round), the writing thread on ``_work``, so a slot's outcome wakes only the writing
        # thread, and only once the round it is gathering is complete (``_wanted``).
        lock = threading.Lock()
        self._cond = threading.Condition(lock)
        self._work = threading.Condition(lock)
        self._wanted = 1  # outcomes queued at which the writing thread wants to wake
        self._state = _State()
        self._thread: threading.Thread | None = None
        # The last round got every task it asked for: the queue has a backlog, so the next
        # round may wait for the busy slots' outcomes (never when tasks come one by one: their
        # latency would pay for it).
        self._backlog = False

    # -- slots -----------------------------------------------------------------------------

    def put(self, job: Job, finish: Finish) -> None:
        """Queue the outcome of ``job``; it is written by the next round."""
        with self._cond:
            queued = self._state.queued
            queued.append((job, finish))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="acks", daemon=True)
                self._thread.start()
            if len(queued) >= self._wanted:
                self._work.notify()

    def take(self, parent: str) -> Job | None:
        """A task taken ahead for ``parent``. While outcomes of the parent are queued or being
        written, wait for that round (it takes the tasks their slots need next)."""
        state = self._state
        with self._cond:
            self._cond.wait_for(lambda: state.ready.get(parent)
                                or not self._owed(parent), ASK_WAIT)
            return self._pop(parent)

    def take_waiting(self, parent: str) -> Job | None:
        """A task taken ahead for ``parent`` if one waits now; never waits."""
        with self._cond:
            return self._pop(parent)

    def _pop(self, parent: str) -> Job | None:
        waiting = self._state.ready.get(parent)
        return waiting.pop(0) if waiting else None

    def _owed(self, parent: str) -> bool:
        return parent in self._state.writing or any(
            job.parent == parent for job, _ in self._state.queued)

    def withdraw(self, task_id: str) -> Job | None:
        """Take a task back that waits for a slot (cancelled before it ran)."""
        with self._cond:
            for jobs in self._state.ready.values():
                for job in jobs:
                    if job.task_id == task_id:
                        jobs.remove(job)
                        return job
        return None

    def unclaimed(self, parent: str | None = None, older_than: float = 0.0) -> list[Job]:
        """Remove and return the tasks taken ahead that no slot took (of ``parent``, or all)
        and that waited at least ``older_than`` seconds."""
        limit = time.time() - older_than
        with self._cond:
            stale = [job for p, jobs in self._state.ready.items() if parent in (None, p)
                     for job in jobs if job.started_at <= limit]
            for jobs in self._state.ready.values():
                jobs[:] = [job for job in jobs if job not in stale]
        return stale

    def close(self, give_up: float) -> bool:
        """Write what is left, trying until ``give_up`` (monotonic) if Redis is down; False
        when outcomes were left unwritten (their tasks are left to their leases)."""
        with self._cond:
            self._state.give_up = give_up
            thread = self._thread
            self._work.notify()
            self._cond.notify_all()
        if thread is not None:
            thread.join(max(0.0, give_up - time.monotonic()) + 1.0)
        with self._cond:
            return not (self._state.unwritten or self._state.queued)

    # -- the writing thread ------------------------------------------------------------------

    def _run(self) -> None:
        state = self._state
        while True:
            with self._work:
                self._wanted = 1
                self._work.wait_for(lambda: state.queued or state.give_up is not None)
                if not state.queued:
                    return
                if self._backlog:
                    self._gather()
                batch, state.queued = state.queued, []
                for job, _ in batch:
                    state.writing[job.parent] = state.writing.get(job.parent, 0) + 1
                ready = {p: len(jobs) for p, jobs in state.ready.items()}
                closing = state.give_up is not None
            try:
                take = {} if closing else self.hooks.plan(dict(state.writing), ready)
                self._write(batch, take)
            finally:
                with self._cond:
                    state.writing.clear()
                    self._cond.notify_all()

    def _gather(self) -> None:
        """Let the round wait (at most ``linger``) for the outcomes of the tasks running when
        it began, so that it carries one or two outcomes per slot instead of one; it never
        waits when no other task runs."""
        state = self._state
        linger = self.hooks.linger()
        if linger <= 0:
            return
        until = time.monotonic() + linger
        waiting = sum(len(jobs) for jobs in state.ready.values())
        # one outcome per busy slot: those queued, and the tasks running now
        expected = min(2 * self.hooks.slots, self.hooks.held() - waiting)
        self._wanted = expected
        while state.give_up is None and len(state.queued) < expected:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._work.wait(left)

    def _write(self, batch: list[tuple[Job, Finish]], take: dict[str, int]) -> None:
        """Write ``batch`` (retrying through Redis outages while each lease holds) and take
        ``take`` tasks ahead in its first round trip."""
        hooks = self.hooks
        while True:
            batch = [(job, finish) for job, finish in batch if self._in_time(job)]
            if not batch and not take:
                return
            give_up = self._state.give_up
            if give_up is not None and time.monotonic() >= give_up:
                self._abandon(batch)
                return
            if not hooks.link_up():
                take = {}
                hooks.wait_up(self._patience(batch))
                continue
            try:
                errors, taken = hooks.broker.finish_many([f for _, f in batch], take)
            except REDIS_ERRORS as exc:  # nothing was sent
                hooks.link_lost(exc)
                continue
            except (BrokerError, redis.RedisError) as exc:
                hooks.warn(f"writing {len(batch)} outcomes failed: {exc}")
                for job, _ in batch:
                    hooks.forget(job)
                return
            if take:
                self._backlog = len(taken) >= sum(take.values())
            take = {}
            self._deliver(taken)
            again = self._settle(batch, errors)
            if not again:
                return
            batch = again
            hooks.wait_up(self._patience(batch))

    def _settle(self, batch: Sequence[tuple[Job, Finish]],
                errors: Sequence[BaseException | None]) -> list[tuple[Job, Finish]]:
        """Forget the tasks whose outcome is settled; those whose answer was lost come back."""
        hooks = self.hooks
        again = []
        for (job, finish), error in zip(batch, errors, strict=True):
            if isinstance(error, REDIS_ERRORS):
                again.append((job, finish))
                continue
            if isinstance(error, TaskNotFoundError):
                hooks.note(job, MOVED_NOTE)
            elif error is not None:
                hooks.warn(f"writing the outcome of task {job.task_id} failed: {error}")
            hooks.forget(job)
        if again:
            lost = next(e for e in errors if isinstance(e, REDIS_ERRORS))
            assert lost is not None
            hooks.link_lost(lost)
        return again

    def _deliver(self, taken: Sequence[Dequeued]) -> None:
        held = [job for job in map(self.hooks.hold, taken) if job is not None]
        if held:
            with self._cond:
                for job in held:
                    self._state.ready.setdefault(job.parent, []).append(job)
                self._cond.notify_all()

    def _in_time(self, job: Job) -> bool:
        """Whether the outcome may still be written: the lease this worker confirmed holds."""
        if job.lease_holds():
            return True
        self.hooks.lose(job)
        self.hooks.note(job, LEASE_LOST_NOTE)
        self.hooks.forget(job)
        return False

    def _patience(self, batch: Sequence[tuple[Job, Finish]]) -> float:
        """How long to wait for Redis before looking at the leases (or the budget) again."""
        wait = min([1.0] + [job.lease_expires_at - time.time() for job, _ in batch])
        if self._state.give_up is not None:
            wait = min(wait, self._state.give_up - time.monotonic())
        return max(0.05, wait)

    def _abandon(self, batch: Sequence[tuple[Job, Finish]]) -> None:
        for job, _ in batch:
            self.hooks.note(job, "Redis unreachable at shutdown; the outcome is left to the "
                            "task's lease")
            self.hooks.forget(job)
        if batch:
            with self._cond:
                self._state.unwritten = True
