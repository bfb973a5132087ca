"""A drain under fire: producers and two workers keep going while the test breaks Redis.

Each ``Producer`` enqueues into one queue through one server's HTTP API from a background
thread and remembers every task the server acknowledged (a 200 answer). ``Drain`` runs the
producers and two workers, and at the end says which acknowledged tasks never completed. Tasks
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

PARENT = "ha"
# Short leases, so that tasks stranded by an outage are recovered within seconds.
FAILOVER_TIMINGS = {"lease_duration": "4s", "clock_skew": "1s"}


@dataclass
class Producer:
    """Batches of short tasks into ``queue`` through ``server``, every 100 ms."""

    server: LiveServer
    queue: str
    settled: threading.Event
    batch: int = 25
    acked: list[str] = field(default_factory=list)
    refused_after_settle: list[str] = field(default_factory=list)  # the errors
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def send(self, count: int) -> None:
        payloads = [{"op": "sleep", "seconds": 0.01} for _ in range(count)]
        sent_after_settle = self.settled.is_set()
        try:
            batch = RunqyClient(self.server.base, CLIENT_KEY, timeout=10).enqueue_batch(
                self.queue, payloads)
        except RunqyError as exc:
            if sent_after_settle:
                self.refused_after_settle.append(str(exc))
            return
        self.acked.extend(batch.task_ids)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._produce, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        while not self._stop.wait(0.1):
            self.send(self.batch)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)


@dataclass
class Drain:
    """``producers`` (server, queue) feeding two workers registered with the first server."""

    redis: Any  # a client for the topology under test
    workdir: Path
    deployment_dir: Path
    targets: list[tuple[LiveServer, str]]
    settled: threading.Event = field(default_factory=threading.Event)
    producers: list[Producer] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)

    def start(self, initial: int) -> Drain:
        subs = {q.split(".", 1)[1]: 1 for _, q in self.targets}
        for server in {id(server): server for server, _ in self.targets}.values():
            server.configure(PARENT, subs, {
                "path": str(APPS / "behave"), "startup_cmd": "python main.py"})
        self.producers = [Producer(server, q, self.settled) for server, q in self.targets]
        for producer in self.producers:
            producer.send(initial)
        for name in ("ha-a", "ha-b"):  # one deployment dir: the second reuses the first's venv
            self.workers.append(WorkerProcess(
                self.targets[0][0].base, [PARENT], self.workdir, self.deployment_dir,
                concurrency=2, worker_id=name, extra={"timings": FAILOVER_TIMINGS}).start())
        for producer in self.producers:
            producer.start()
        return self

    def acked(self) -> int:
        return sum(len(p.acked) for p in self.producers)

    def completed(self) -> int:
        return sum(Inspector(self.redis).queue_stats(p.queue).completed for p in self.producers)

    def wait_completed(self, count: int, timeout: float) -> None:
        poll_until(lambda: self.completed() >= count, timeout=timeout, interval=0.2,
                   what=f"{count} tasks completed", detail=self.stderr_tail)

    def wait_acked_after_settle(self, batches: int) -> None:
        """Mark the switch as settled, then wait until every producer got ``batches`` more
        batches acknowledged."""
        self.settled.set()
        wanted = [len(p.acked) + batches * p.batch for p in self.producers]
        poll_until(lambda: all(len(p.acked) >= n for p, n in zip(self.producers, wanted,
                                                                   strict=True)),
                   timeout=30, what="enqueues acknowledged after the switch")

    def finish(self, timeout: float = 90) -> dict[str, list[str]]:
        """Stop producing, drain, and return per queue the acknowledged IDs never completed."""
        for producer in self.producers:
            producer.stop()
        admin, inspector = Admin(self.redis), Inspector(self.redis)

        def drained() -> bool:
            left = 0
            for producer in self.producers:
                admin.run_all(producer.queue, "retry")  # recovered tasks: skip the backoff
                stats = inspector.queue_stats(producer.queue)
                left += stats.pending + stats.active + stats.retry + stats.scheduled
            return left == 0

        poll_until(drained, timeout=timeout, interval=0.5, what="the queues drained",
                   detail=self.stderr_tail)
        lost = {}
        for producer in self.producers:
            done = inspector.list_tasks(producer.queue, "completed",
                                        size=len(producer.acked) + 1000)
            completed = {t.id for t in done}
            lost[producer.queue] = [t for t in producer.acked if t not in completed]
        return lost

    def refused_after_settle(self) -> list[str]:
        return [error for p in self.producers for error in p.refused_after_settle]

    def active_without_lease(self) -> set[str]:
        """Active IDs with no lease, each queue read in one MULTI so the two agree."""
        missing: set[str] = set()
        for producer in self.producers:
            pipe = self.redis.pipeline(transaction=True)
            pipe.lrange(keys.active(producer.queue), 0, -1)
            pipe.zrange(keys.lease(producer.queue), 0, -1)
            active, leased = pipe.execute()
            missing |= set(active) - set(leased)
        return missing

    def active(self) -> int:
        return sum(self.redis.llen(keys.active(p.queue)) for p in self.producers)

    def stderr_tail(self) -> str:
        return " | ".join(w.stderr()[-800:] for w in self.workers)

    def stop(self) -> None:
        for producer in self.producers:
            producer.stop()
        for worker in self.workers:
            worker.kill_all()
