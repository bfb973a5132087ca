"""A drain under fire: producers and two workers keep going while the test breaks Redis.

``Drain`` enqueues through the real HTTP API from a background thread, remembers every task the
server acknowledged (a 200 answer), and at the end says which of them never completed. Tasks
sent back to ``retry`` by the lease recoverer (their worker lost its lease during the outage)
are run at once instead of after asynq's backoff, so the drain ends in seconds; they are
recovered, not lost.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runqy import RunqyClient
from runqy.broker import Admin, Inspector, keys
from runqy.sdk.client import RunqyError
from tests.support.polling import poll_until
from tests.worker.harness import APPS
from tests.worker.live import CLIENT_KEY, LiveServer, WorkerProcess

QUEUE = "ha.default"
# Short leases, so that tasks stranded by an outage are recovered within seconds.
FAILOVER_TIMINGS = {"lease_duration": "4s", "clock_skew": "1s"}


@dataclass
class Drain:
    server: LiveServer
    redis: Any  # a client for the topology under test
    workdir: Path
    deployment_dir: Path
    batch: int = 25
    acked: list[str] = field(default_factory=list)
    refused: int = 0
    refused_after_settle: list[str] = field(default_factory=list)  # the errors
    settled: threading.Event = field(default_factory=threading.Event)
    workers: list[WorkerProcess] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, initial: int) -> Drain:
        self.server.configure("ha", {"default": 1}, {
            "path": str(APPS / "behave"), "startup_cmd": "python main.py"})
        self.client = RunqyClient(self.server.base, CLIENT_KEY, timeout=10)
        self.send(initial)
        for name in ("ha-a", "ha-b"):
            self.workers.append(WorkerProcess(
                self.server.base, ["ha"], self.workdir, self.deployment_dir, concurrency=2,
                worker_id=name, extra={"timings": FAILOVER_TIMINGS}).start())
        self._thread = threading.Thread(target=self._produce, daemon=True)
        self._thread.start()
        return self

    def send(self, count: int) -> None:
        payloads = [{"op": "sleep", "seconds": 0.01} for _ in range(count)]
        sent_after_settle = self.settled.is_set()
        try:
            batch = self.client.enqueue_batch(QUEUE, payloads)
        except RunqyError as exc:
            self.refused += 1
            if sent_after_settle:
                self.refused_after_settle.append(str(exc))
            return
        self.acked.extend(batch.task_ids)

    def _produce(self) -> None:
        while not self._stop.wait(0.1):
            self.send(self.batch)

    def stop_producing(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def completed(self) -> int:
        return Inspector(self.redis).queue_stats(QUEUE).completed

    def wait_completed(self, count: int, timeout: float) -> None:
        poll_until(lambda: self.completed() >= count, timeout=timeout, interval=0.2,
                   what=f"{count} tasks completed", detail=self.stderr_tail)

    def finish(self, timeout: float = 90) -> list[str]:
        """Stop producing, drain, and return the acknowledged task IDs that never completed."""
        self.stop_producing()
        admin = Admin(self.redis)

        def drained() -> bool:
            admin.run_all(QUEUE, "retry")  # recovered tasks: skip asynq's backoff
            stats = Inspector(self.redis).queue_stats(QUEUE)
            return stats.pending + stats.active + stats.retry + stats.scheduled == 0

        poll_until(drained, timeout=timeout, interval=0.5, what="the queue drained",
                   detail=self.stderr_tail)
        done = Inspector(self.redis).list_tasks(QUEUE, "completed", size=len(self.acked) + 1000)
        completed = {t.id for t in done}
        return [t for t in self.acked if t not in completed]

    def active_without_lease(self) -> set[str]:
        """Active IDs with no lease, read in one MULTI so the two containers agree."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.lrange(keys.active(QUEUE), 0, -1)
        pipe.zrange(keys.lease(QUEUE), 0, -1)
        active, leased = pipe.execute()
        return set(active) - set(leased)

    def stderr_tail(self) -> str:
        return " | ".join(w.stderr()[-800:] for w in self.workers)

    def stop(self) -> None:
        self.stop_producing()
        for worker in self.workers:
            worker.kill_all()

