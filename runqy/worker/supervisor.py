"""Per-parent pools of task processes: slots, restarts with backoff, the circuit breaker.

A `ParentPool` owns `concurrency` slots (worker-protocol.md 5.2-5.3). Each slot is a thread that
keeps its process alive (long_running) or starts one per task (one_shot), takes tasks from the
`TaskSource` only when its process is ready and idle, and turns every way an attempt can end
into an `Outcome` (7.1-7.3). `Recovery` is the restart backoff and breaker of 7.2.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Protocol

from runqy.descriptors import open_files_limit, raise_open_files_limit
from runqy.worker.deployment import PreparedDeployment
from runqy.worker.heartbeat import LogBuffer
from runqy.worker.job import Job, RequestTooLarge
from runqy.worker.process import (
    DESCRIPTORS,
    Outcome,
    Reply,
    ReplyKind,
    StartupError,
    TaskProcess,
    Verdict,
    describe_exit,
)
from runqy.worker.settings import WorkerSettings

log = logging.getLogger("runqy.worker")
CANCELLED = "cancelled"
LEASE_LOST = "lease lost"
SHUTDOWN = "shutdown"


class TaskSource(Protocol):
    """Where slots get tasks and hand back their outcomes (the processor)."""

    def next_task(self, parent: str) -> Job | None: ...

    def waiting_task(self, parent: str) -> Job | None: ...

    def finish(self, job: Job, outcome: Outcome) -> None: ...

    def requeue(self, job: Job) -> None: ...

    def drop(self, job: Job) -> None: ...


class Recovery:
    """Consecutive failures of one parent, the restart delay and the degraded state."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.consecutive_fails = 0
        self.total_restarts = 0
        self.degraded = False

    @property
    def state(self) -> str:
        if self.degraded:
            return "degraded"
        return "recovering" if self.consecutive_fails else "idle"

    def failure(self) -> bool:
        """Count one failure; True when it opened the breaker."""
        with self.lock:
            if self.degraded:
                return False  # a start racing the breaker, or a failed probe
            self.consecutive_fails += 1
            limit = self.settings.max_restarts if self.settings.recovery_enabled else 1
            self.degraded = self.consecutive_fails >= limit
            return self.degraded

    def success(self) -> None:
        with self.lock:
            if not self.degraded:
                self.consecutive_fails = 0

    def reset(self) -> None:
        with self.lock:
            self.degraded = False
            self.consecutive_fails = 0

    def restart_delay(self) -> float:
        s = self.settings
        k = max(1, self.consecutive_fails)
        return min(s.max_delay, s.initial_delay * s.backoff_factor ** (k - 1))

    def snapshot(self) -> dict[str, object]:
        return {"state": self.state, "consecutive_fails": self.consecutive_fails,
                "total_restarts": self.total_restarts}


class ParentPool:
    """The slots and processes of one parent queue."""

    def __init__(
        self,
        deployment: PreparedDeployment,
        settings: WorkerSettings,
        source: TaskSource,
        logs: LogBuffer,
    ) -> None:
        self.deployment = deployment
        self.parent = deployment.parent
        self.settings = settings
        self.source = source
        self.logs = logs
        self.one_shot = deployment.mode == "one_shot"
        self.recovery = Recovery(settings)
        self.changed = threading.Condition()
        self.stopping = False
        self.next_probe_at = 0.0
        self.slots = [Slot(self, i) for i in range(settings.concurrency)]

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        raise_open_files_limit(open_files_limit() + DESCRIPTORS * len(self.slots))
        for slot in self.slots:
            slot.thread.start()

    def wait_started(self, stop: threading.Event) -> None:
        """Block until every slot's first start attempt is over, ready or failed (4.5), or
        until ``stop`` is set (a shutdown must not wait out a slow start)."""
        for slot in self.slots:
            while not slot.first_start.wait(0.05):
                if stop.is_set():
                    return

    def stop(self) -> None:
        """Stop every slot after its current attempt, then its process (5.4)."""
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        for slot in self.slots:
            starting = slot.starting
            if starting is not None:
                starting.stop()  # do not wait out a start-up timeout
        for slot in self.slots:
            slot.thread.join()

    def wait(self, timeout: float) -> None:
        with self.changed:
            if not self.stopping and timeout > 0:
                self.changed.wait(timeout)

    @property
    def healthy(self) -> bool:
        if self.recovery.degraded:
            return False
        if self.one_shot:
            return self.recovery.consecutive_fails == 0
        return all(slot.process is not None and slot.process.ready for slot in self.slots)

    def running_processes(self) -> list[TaskProcess]:
        return [s.process for s in self.slots if s.process is not None and not s.process.exited]

    # -- helpers used by slots ---------------------------------------------------------------

    def log(self, src: str, text: str, task_id: str | None = None) -> None:
        self.logs.add(src, text, self.parent, task_id)

    def announce(self, text: str, task_id: str | None = None) -> None:
        """A crash, restart, degradation or recovery: on the console at INFO, with the queue
        and task IDs, and in the dashboard log."""
        log.info("%s [queue=%s%s]", text, self.parent, f" task={task_id}" if task_id else "")
        self.log("worker", text, task_id)

    def new_process(self) -> TaskProcess:
        d = self.deployment
        return TaskProcess(
            d.argv, cwd=str(d.code_dir), env=d.env, max_line=self.settings.max_message_size,
            on_log=self.log, on_exit=self._process_exited,
            stop_grace=self.settings.timings.stop_grace,
        )

    def _process_exited(self, process: TaskProcess) -> None:
        with self.changed:
            self.changed.notify_all()

    def process_failed(self, reason: str, task_id: str | None = None) -> None:
        self.announce(reason, task_id)
        if self.recovery.failure():
            self.announce(f"queue '{self.parent}' degraded after "
                     f"{self.recovery.consecutive_fails} consecutive failures; its tasks stay "
                     "pending")
            self.next_probe_at = time.monotonic() + self.settings.probe_interval
            with self.changed:
                self.changed.notify_all()

    def probe_due(self) -> bool:
        return self.settings.recovery_enabled and time.monotonic() >= self.next_probe_at

    def probe_result(self, ready: bool) -> None:
        if ready:
            self.recovery.reset()
            self.announce(f"probe succeeded; queue '{self.parent}' recovered and serves again")
            with self.changed:
                self.changed.notify_all()
        else:
            self.next_probe_at = time.monotonic() + self.settings.probe_interval


class Slot:
    """One task at a time: a thread with its own process (long_running) or one per task."""

    def __init__(self, pool: ParentPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.process: TaskProcess | None = None
        self.starting: TaskProcess | None = None
        self.restart_at = 0.0
        # Set once the first process of a long_running slot is ready or has failed to start;
        # a one_shot slot starts nothing up front.
        self.first_start = threading.Event()
        if pool.one_shot:
            self.first_start.set()
        self.thread = threading.Thread(
            target=self._run, name=f"slot-{pool.parent}-{index}", daemon=True
        )

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        pool = self.pool
        try:
            while not pool.stopping:
                try:
                    if pool.recovery.degraded:
                        self._while_degraded()
                    elif pool.one_shot:
                        self._one_shot_round()
                    else:
                        self._long_running_round()
                except Exception as exc:  # a slot must outlive any bug in one round
                    log.exception("slot %s of '%s' failed", self.index, pool.parent)
                    pool.log("worker", f"internal error in a slot: {exc!r}")
                    if self.process is not None:
                        self.process.give_back_pipes()  # the idle watch reads while it waits
                    pool.wait(1.0)
        finally:
            self.first_start.set()
            self._stop_process()

    def _while_degraded(self) -> None:
        pool = self.pool
        self._stop_process()
        if self.index == 0 and pool.probe_due():
            pool.recovery.total_restarts += 1
            process = self._start_process()
            pool.probe_result(process is not None)
            if process is not None and pool.one_shot:
                process.stop()
            elif process is not None:
                self.process = process
            return
        wait = pool.next_probe_at - time.monotonic() if self.index == 0 else 5.0
        pool.wait(max(0.05, wait))

    def _long_running_round(self) -> None:
        pool = self.pool
        process = self.process
        if process is not None and process.exited:
            self.process = None
            if not process.stopping:
                code = process.exit_code
                pool.process_failed(f"task process exited unexpectedly ({describe_exit(code)})")
                self.restart_at = time.monotonic() + pool.recovery.restart_delay()
            return
        if process is None:
            left = self.restart_at - time.monotonic()
            if left > 0:
                pool.wait(left)
                return
            if self.restart_at:
                pool.recovery.total_restarts += 1
                pool.announce(f"restarting the task process (restart "
                              f"{pool.recovery.total_restarts})")
            self.process = self._start_process()
            self.first_start.set()
            return
        if pool.recovery.consecutive_fails and (
            time.monotonic() - process.started_at >= pool.settings.cooldown_period
        ):
            pool.recovery.success()
        job = self._waiting_task(process) or pool.source.next_task(pool.parent)
        if job is not None:
            with self._holding(job):
                line = self._refused_before_start(job)
                if line is not None:
                    self._attempt(job, process, line)

    def _one_shot_round(self) -> None:
        pool = self.pool
        left = self.restart_at - time.monotonic()
        if left > 0:
            pool.wait(left)
            return
        job = pool.source.next_task(pool.parent)
        if job is None:
            return
        with self._holding(job):
            line = self._refused_before_start(job)
            if line is None:
                return
            process = self._start_process()
            if process is None:
                pool.source.requeue(job)
                return
            self.process = process
            try:
                self._attempt(job, process, line)
            finally:
                self.process = None
                process.stop()

    def _waiting_task(self, process: TaskProcess) -> Job | None:
        """Right after a response the slot still reads its process's pipes: a task already
        waiting here goes straight on; otherwise the pipes go back to the idle watch before
        the slot waits for one."""
        job = None if self.pool.stopping else self.pool.source.waiting_task(self.pool.parent)
        if job is None:
            process.give_back_pipes()
        return job

    # -- processes -----------------------------------------------------------------------------

    def _start_process(self) -> TaskProcess | None:
        pool = self.pool
        process = self.starting = pool.new_process()
        try:
            process.start()
            process.wait_ready(pool.deployment.startup_timeout)
        except StartupError as exc:
            if not pool.stopping:
                pool.process_failed(str(exc))
                self.restart_at = time.monotonic() + pool.recovery.restart_delay()
            return None
        finally:
            self.starting = None
        self.restart_at = 0.0
        return process

    def _stop_process(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.stop()

    # -- attempts ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _holding(self, job: Job) -> Iterator[None]:
        """Any failure while this slot holds ``job`` ends the task (retried, or archived once
        its retries are used up, with the error), so it is never left active with its lease
        renewed; the error then reaches the slot loop's log."""
        try:
            yield
        except Exception as exc:
            if job.process is not None:
                self._restart_on_purpose(job.process)
            try:
                self.pool.source.finish(job, Outcome(Verdict.RETRY, error=f"worker error: {exc!r}"))
            except Exception:  # the outcome write itself failed: the lease recoverer decides
                log.exception("could not end task %s after a slot error", job.task_id)
                self.pool.source.drop(job)
            raise

    def _refused_before_start(self, job: Job) -> bytes | None:
        """Fail a task that must not be sent (6.5, 7.3); None when it was refused."""
        if job.deadline_passed_at_start:
            self.pool.source.finish(
                job, Outcome(Verdict.PERMANENT, error="deadline exceeded before start")
            )
            return None
        try:
            return job.request_line(self.pool.settings.max_message_size)
        except RequestTooLarge as exc:
            self.pool.source.finish(job, Outcome(Verdict.PERMANENT, error=str(exc)))
            return None

    def _attempt(self, job: Job, process: TaskProcess, line: bytes) -> None:
        job.process = process
        self.pool.logs.add("worker", f"attempt {job.msg.retried + 1} of {job.msg.retry + 1} "
                           f"started", self.pool.parent, job.task_id, task_only=True)
        if job.abort_reason is not None:
            reply = Reply(ReplyKind.ABORTED, reason=job.abort_reason)
        else:
            job.sent_at = time.monotonic()
            reply = process.run_task(
                job.task_id, line, max(0.0, job.deadline - time.time()),
                close_stdin=self.pool.one_shot, keep_pipes=not self.pool.one_shot,
            )
        self._settle(job, process, reply)

    def _settle(self, job: Job, process: TaskProcess, reply: Reply) -> None:
        pool = self.pool
        source = pool.source
        if reply.kind is ReplyKind.NOT_SENT:
            # It died while idle: the task never reached it, so it goes back unharmed; the
            # exit is a failure of the process (restarted by the next round, or here).
            source.requeue(job)
            if pool.one_shot:
                pool.process_failed(f"task process exited unexpectedly "
                                    f"({describe_exit(reply.exit_code)})", job.task_id)
                self.restart_at = time.monotonic() + pool.recovery.restart_delay()
            return
        if reply.kind in (ReplyKind.RESPONSE, ReplyKind.OVERSIZE):
            assert reply.outcome is not None
            outcome = reply.outcome
            if pool.one_shot and reply.kind is ReplyKind.RESPONSE:
                self._await_one_shot_exit(process, job)
        elif reply.kind is ReplyKind.EXITED:
            outcome = Outcome(Verdict.RETRY, error=self._exit_text(reply.exit_code))
            if pool.one_shot:
                pool.process_failed(outcome.error, job.task_id)
                self.restart_at = time.monotonic() + pool.recovery.restart_delay()
            else:
                pool.announce(outcome.error, job.task_id)
        elif reply.kind is ReplyKind.TIMEOUT:
            self._restart_on_purpose(process)
            outcome = Outcome(Verdict.RETRY, error=job.time_limit_text())
        else:
            self._restart_on_purpose(process)
            if reply.reason == LEASE_LOST:
                source.drop(job)
                return
            if reply.reason == SHUTDOWN:
                source.requeue(job)
                return
            outcome = Outcome(Verdict.PERMANENT, error=CANCELLED)
        if outcome.verdict is Verdict.SUCCESS or reply.kind is ReplyKind.RESPONSE:
            pool.recovery.success()
        source.finish(job, outcome)

    def _exit_text(self, code: int | None) -> str:
        if self.pool.one_shot:
            return f"process exited without a response (exit code {code})"
        if code == 0:
            return "task process exited unexpectedly (exit code 0)"
        return f"task process crashed (exit code {code})"

    def _restart_on_purpose(self, process: TaskProcess) -> None:
        """Stops the worker makes itself are not failures; long_running restarts at once."""
        process.stop()
        if self.process is process:
            self.process = None
            self.restart_at = 0.0

    def _await_one_shot_exit(self, process: TaskProcess, job: Job) -> None:
        if not process.wait_exit(self.pool.settings.timings.one_shot_exit_wait):
            return
        if process.exit_code:
            exit_text = describe_exit(process.exit_code)
            self.pool.log("worker", f"one_shot process exited with {exit_text} after a valid "
                          "response", job.task_id)
