"""Test harness for the worker: fast settings, registrations for path deployments, enqueueing
through the real broker, and a Worker running in a background thread of the test process."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis

from runqy.broker import Broker, Inspector, TaskMessage
from runqy.worker.registration import DeploymentSpec, Registration
from runqy.worker.runner import Worker
from runqy.worker.settings import Timings, WorkerSettings
from tests.support.polling import poll_until

APPS = Path(__file__).parent / "apps"
FAST = Timings(
    lease_extend_interval=0.5, heartbeat_interval=0.3, forwarder_interval=0.3,
    recoverer_interval=0.5, janitor_interval=0.5, idle_sleep=0.05, stop_grace=2.0,
    one_shot_exit_wait=2.0, redis_backoff_max=1.0, shutdown_redis_budget=1.0,
)

__all__ = ["APPS", "FAST", "enqueue", "fast_settings", "poll_until", "registration",
           "restart_redis_keeping_data", "running_worker", "stop_redis_keeping_data",
           "task_info"]


def fast_settings(deployment_dir: Path, **changes: Any) -> WorkerSettings:
    base = WorkerSettings(
        server_url="http://127.0.0.1:9", api_key="test-key", queues=("app",),
        worker_id=f"test-{uuid.uuid4().hex[:8]}", deployment_dir=deployment_dir,
        initial_delay=0.2, max_delay=1.0, probe_interval=1.0, shutdown_timeout=5.0,
        timings=FAST,
    )
    return replace(base, **changes)


def registration(
    redis_url: str,
    parent: str = "app",
    subs: Mapping[str, int] | None = None,
    app: str = "behave",
    **deployment: Any,
) -> Registration:
    subs = subs or {f"{parent}.default": 1}
    spec = DeploymentSpec(startup_cmd="python main.py", path=str(APPS / app),
                          startup_timeout_secs=deployment.pop("startup_timeout_secs", 20),
                          **deployment)
    ordered = tuple(sorted(subs.items(), key=lambda kv: (-kv[1], kv[0])))
    return Registration(parent, redis_url, ordered, spec, {})


def enqueue(client: redis.Redis, queue: str, payload: Any, **fields: Any) -> str:
    import json

    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    msg = TaskMessage(type=queue, payload=raw, id=fields.pop("id", str(uuid.uuid4())),
                      queue=queue, retry=fields.pop("retry", 3),
                      timeout=fields.pop("timeout", 1800), retention=fields.pop("retention", 3600),
                      **fields)
    Broker(client).enqueue(msg)
    return msg.id


def task_info(client: redis.Redis, queue: str, task_id: str):
    return Inspector(client).get_task(queue, task_id)


def stop_redis_keeping_data(server) -> None:
    """Stop the real redis-server with SHUTDOWN SAVE, so a later start() has every write."""
    with contextlib.suppress(redis.ConnectionError):
        server.client().shutdown(save=True)
    server.process.wait(10)
    server.process = None


def restart_redis_keeping_data(server) -> None:
    stop_redis_keeping_data(server)
    server.start()


class WorkerThread:
    """A Worker bootstrapped and served in a thread; `stop()` runs its real shutdown."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.exit_code: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            self.exit_code = self.worker.run()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
            raise

    def start(self) -> WorkerThread:
        self.thread.start()
        poll_until(lambda: self.worker.status != "bootstrapping" or not self.thread.is_alive(),
                   timeout=60, what="worker bootstrap")
        if not self.thread.is_alive():
            raise AssertionError(f"worker exited during bootstrap ({self.exit_code})")
        return self

    def stop(self, timeout: float = 30) -> int | None:
        self.worker.request_stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker did not stop"
        if self.error:
            raise self.error
        return self.exit_code


@contextmanager
def running_worker(
    settings: WorkerSettings, *registrations: Registration
) -> Iterator[WorkerThread]:
    runner = WorkerThread(Worker(settings, list(registrations))).start()
    try:
        yield runner
    finally:
        if runner.thread.is_alive():
            runner.stop()
