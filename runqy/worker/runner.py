"""The `runqy worker` life cycle: bootstrap, serve, heartbeat and graceful shutdown.

`Worker.bootstrap` groups the configured queues by parent (worker-protocol.md 4.1), registers
each parent (or takes ready `Registration`s, as tests do), connects to Redis, deploys the code
and starts one `ParentPool` per parent. `Worker.serve` then beats every `heartbeat_interval`
until `request_stop`; `Worker.shutdown` drains, requeues and deregisters (8.3).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence

from runqy.broker import ServerInfo, WorkerInfo
from runqy.redis_connection import RedisClient
from runqy.redis_connection import connect as connect_redis
from runqy.worker.deployment import DeploymentError, prepare
from runqy.worker.heartbeat import LogBuffer, ProcessMetrics, worker_fields
from runqy.worker.processor import REDIS_ERRORS, Processor
from runqy.worker.registration import Registration, RegistrationError, register
from runqy.worker.settings import WorkerSettings
from runqy.worker.supervisor import SHUTDOWN, ParentPool

log = logging.getLogger("runqy.worker")
_RECOVERY_RANK = {"idle": 0, "recovering": 1, "degraded": 2}


class WorkerStartupError(Exception):
    """Start-up cannot continue; the worker exits 1 with this message."""


def group_queues(names: Sequence[str]) -> dict[str, set[str] | None]:
    """Parent → explicit full sub-queue names, or None for "every sub-queue" (4.1)."""
    groups: dict[str, set[str] | None] = {}
    for name in names:
        parent = name.split(".", 1)[0]
        if "." not in name:
            groups[parent] = None
        elif parent not in groups or groups[parent] is not None:
            groups.setdefault(parent, set()).add(name)  # type: ignore[union-attr]
    return dict(sorted(groups.items()))


class Worker:
    """One `runqy worker` process."""

    def __init__(
        self, settings: WorkerSettings, registrations: Sequence[Registration] | None = None
    ) -> None:
        self.settings = settings
        self.given_registrations = list(registrations) if registrations is not None else None
        self.logs = LogBuffer()
        self.metrics = ProcessMetrics()
        self.started_at = time.time()
        self.server_id = str(uuid.uuid4())
        self.host = socket.gethostname()
        self.status = "bootstrapping"
        self.processor: Processor | None = None
        self.pools: list[ParentPool] = []
        self.stop_requested = threading.Event()
        self.force_stop = threading.Event()
        self._beat_lock = threading.Lock()
        self._beat_thread: threading.Thread | None = None
        self._beats_stopped = threading.Event()

    # -- logging -------------------------------------------------------------------------------

    def warn(self, message: str) -> None:
        log.warning(message)
        self.logs.add("worker", message)

    # -- bootstrap -----------------------------------------------------------------------------

    def registrations(self) -> list[Registration]:
        groups = group_queues(self.settings.queues)
        if self.given_registrations is not None:
            found = [r for r in self.given_registrations if r.parent in groups]
        else:
            s = self.settings
            found = [
                register(s.server_url, s.api_key, parent, s.worker_id,
                         retries=s.bootstrap_retries, retry_delay=s.bootstrap_retry_delay,
                         warn=self.warn)
                for parent in groups
            ]
        urls = {r.redis_url for r in found}
        if len(urls) > 1:
            first = found[0]
            other = next(r.parent for r in found if r.redis_url != first.redis_url)
            raise WorkerStartupError(
                f"parents '{first.parent}' and '{other}' use different Redis servers"
            )
        return found

    def _served(self, registration: Registration) -> dict[str, int]:
        wanted = group_queues(self.settings.queues).get(registration.parent)
        offered = dict(registration.sub_queues)
        if wanted is None:
            served = offered
        else:
            for name in sorted(wanted - offered.keys()):
                self.warn(f"the server does not offer '{name}'; it is not served")
            served = {q: p for q, p in offered.items() if q in wanted}
        if not served:
            raise WorkerStartupError(f"nothing to serve for queue '{registration.parent}'")
        return served

    def connect(self, url: str) -> RedisClient:
        client = connect_redis(url, socket_timeout=10, socket_connect_timeout=5)
        delay = 1.0
        for attempt in range(1, self.settings.bootstrap_retries + 1):
            try:
                client.ping()
                return client
            except REDIS_ERRORS as exc:
                if attempt == self.settings.bootstrap_retries:
                    raise WorkerStartupError(f"cannot connect to Redis: {exc}") from None
                self.warn(f"cannot connect to Redis ({exc}); retrying in {delay:g} s")
                time.sleep(delay)
                delay = min(delay * 2, self.settings.timings.redis_backoff_max)
        raise WorkerStartupError("cannot connect to Redis")

    def bootstrap(self) -> None:
        """Register, connect, deploy and start the pools; raises on a fatal problem."""
        registrations = self.registrations()
        if not registrations:
            raise WorkerStartupError("no queue to serve")
        priorities = {r.parent: self._served(r) for r in registrations}
        client = self.connect(registrations[0].redis_url)
        self.processor = Processor(client, self.settings, priorities, self.logs, self.warn)
        self.processor.link.on_reconnect.append(self.beat)
        self._start_beats()
        for registration in registrations:
            deployment = prepare(registration.parent, registration.deployment,
                                 registration.vaults, self.settings, self.warn)
            self.processor.redis_storage[registration.parent] = deployment.redis_storage
            self.pools.append(ParentPool(deployment, self.settings, self.processor, self.logs))
        self.processor.start_loops()
        for pool in self.pools:
            pool.start()
        # Beats say "bootstrapping" until the first processes are up (worker-protocol.md 4.5),
        # so a normal start never shows "running" with healthy=false.
        for pool in self.pools:
            pool.wait_started(self.stop_requested)
        self.status = "running"
        self.beat()

    # -- heartbeat -------------------------------------------------------------------------------

    def _start_beats(self) -> None:
        self._beat_thread = threading.Thread(target=self._beat_loop, name="heartbeat",
                                             daemon=True)
        self._beat_thread.start()

    def _beat_loop(self) -> None:
        while True:
            self.beat()
            if self._beats_stopped.wait(self.settings.timings.heartbeat_interval):
                return

    def current_status(self) -> str:
        if self.status == "running" and any(p.recovery.degraded for p in self.pools):
            return "degraded"
        return self.status

    def healthy(self) -> bool:
        return (self.status == "running" and bool(self.pools)
                and all(p.healthy for p in self.pools))

    def recovery(self) -> dict[str, object]:
        recoveries = [p.recovery for p in self.pools]
        worst = max((r.state for r in recoveries), key=_RECOVERY_RANK.__getitem__, default="idle")
        return {
            "state": worst,
            "consecutive_fails": max((r.consecutive_fails for r in recoveries), default=0),
            "total_restarts": sum(r.total_restarts for r in recoveries),
            "parents": {p.parent: p.recovery.snapshot() for p in self.pools},
        }

    def _server_info(self, status: str) -> tuple[ServerInfo, list[WorkerInfo]]:
        assert self.processor is not None
        jobs = self.processor.in_flight()
        info = ServerInfo(
            host=self.host, pid=os.getpid(), server_id=self.server_id,
            concurrency=self.settings.concurrency * max(1, len(self.processor.priorities)),
            strict_priority=self.processor.strict, status=status,
            active_worker_count=len(jobs),
        )
        info.queues.update(self.processor.all_priorities())
        info.start_time.seconds = int(self.started_at)
        workers = []
        for job in jobs:
            worker = WorkerInfo(
                host=self.host, pid=os.getpid(), server_id=self.server_id, task_id=job.task_id,
                task_type=job.msg.type, task_payload=job.msg.payload, queue=job.queue,
            )
            worker.start_time.seconds = int(job.started_at)
            worker.deadline.seconds = int(job.deadline)
            workers.append(worker)
        return info, workers

    def beat(self) -> None:
        """Write the asynq-native and the runqy heartbeat, and flush the logs (8.1, 8.2)."""
        processor = self.processor
        if processor is None or not processor.link.up.is_set():
            return
        with self._beat_lock:
            status = self.current_status()
            stopped = status == "stopped"
            jobs = [] if stopped else processor.in_flight()
            fields = worker_fields(
                worker_id=self.settings.worker_id, started_at=self.started_at,
                healthy=self.healthy(), status=status,
                queues_in_order=processor.queues_in_order(),
                priorities=processor.all_priorities(),
                active_tasks=[j.task_id for j in jobs],
                concurrency=self.settings.concurrency, metrics=self.metrics.sample(),
                recovery=self.recovery(),
            )
            lines = self.logs.take()
            try:
                if status != "bootstrapping" and not stopped:
                    server_status = "stopped" if status == "stopping" else "active"
                    info, workers = self._server_info(server_status)
                    processor.broker.write_server_heartbeat(
                        info, workers, ttl=int(self.settings.timings.server_heartbeat_ttl))
                processor.broker.write_worker_heartbeat(self.settings.worker_id, fields, lines)
            except REDIS_ERRORS as exc:
                self.logs.put_back(lines)
                processor.link.lost(exc)

    # -- running and stopping ----------------------------------------------------------------

    def request_stop(self) -> None:
        """First call: graceful shutdown. Second call: skip the wait for running tasks."""
        if self.stop_requested.is_set():
            self.force_stop.set()
        self.stop_requested.set()

    def serve(self) -> None:
        self.stop_requested.wait()

    def shutdown(self) -> int:
        """Drain, requeue, stop the processes, deregister; the exit code (8.3).

        Every Redis write from the requeue on shares one budget (``shutdown_redis_budget``,
        5 s): with Redis down the worker keeps trying that long, then exits 1 and leaves the
        unfinished tasks to their leases.
        """
        processor = self.processor
        if processor is None:
            return 0
        self.status = "stopping"
        processor.drain()
        threading.Thread(target=self.beat, name="stopping-beat", daemon=True).start()
        limit = time.monotonic() + self.settings.shutdown_timeout
        while processor.in_flight() and time.monotonic() < limit:
            if self.force_stop.wait(min(0.05, max(0.0, limit - time.monotonic()))):
                break
        give_up = time.monotonic() + self.settings.timings.shutdown_redis_budget
        if processor.abort_all(SHUTDOWN):
            self.warn("shutdown timeout reached; requeueing the unfinished tasks")
        for pool in self.pools:
            pool.stop()
        processor.stop_loops(give_up)
        self.status = "stopped"
        self._beats_stopped.set()
        if self._beat_thread is not None:
            self._beat_thread.join(max(0.0, give_up - time.monotonic()))
        deregistered = self._deregister(give_up)
        return 1 if processor.requeue_failed or not deregistered else 0

    def _deregister(self, give_up: float) -> bool:
        """Last beat, then leave both worker lists; retried until ``give_up`` (monotonic).

        Runs in its own thread so that no Redis call (connect timeouts, client retries) can
        hold the exit past the budget. True when it was written.
        """
        done = threading.Event()

        def attempt() -> None:
            processor = self.processor
            assert processor is not None
            while True:
                try:
                    processor.link.up.set()  # a final attempt even if the last call failed
                    self.beat()
                    info, _ = self._server_info("stopped")
                    processor.broker.clear_server_heartbeat(info)
                    processor.broker.remove_worker(self.settings.worker_id)
                    done.set()
                    return
                except REDIS_ERRORS as exc:
                    if time.monotonic() + 0.2 >= give_up:
                        log.error("could not deregister from Redis: %s", exc)
                        return
                    time.sleep(0.2)

        threading.Thread(target=attempt, name="deregister", daemon=True).start()
        if not done.wait(max(0.0, give_up - time.monotonic())):
            log.error("Redis unreachable at shutdown; exiting with the tasks left to their "
                      "leases")
            return False
        return True

    def run(self) -> int:
        """Bootstrap, serve until stopped, shut down; the process exit code."""
        try:
            self.bootstrap()
        except (RegistrationError, DeploymentError, WorkerStartupError) as exc:
            log.error("%s", exc)
            self.logs.add("worker", str(exc))
            self._abort_bootstrap()
            return 1
        log.info("worker %s serving %s", self.settings.worker_id,
                 ", ".join(self.processor.queues_in_order()))  # type: ignore[union-attr]
        self.serve()
        return self.shutdown()

    def _abort_bootstrap(self) -> None:
        if self.processor is not None:
            self.processor.drain()
        for pool in self.pools:
            pool.stop()
        if self.processor is not None:
            self.processor.stop_loops()
            self.status = "stopped"
            self._beats_stopped.set()
            self._deregister(time.monotonic() + self.settings.timings.shutdown_redis_budget)
