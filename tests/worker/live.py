"""End-to-end pieces: a real runqy server (waitress in a thread) and `runqy worker` processes.

`LiveServer` configures queues through the admin API; `WorkerProcess` runs the real
`runqy worker` console script with a config file whose `timings:` section shortens intervals.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from waitress.server import create_server

from runqy.config import Settings
from runqy.web import create_app
from runqy.web.state import state_of
from tests.support.waitress_thread import ServingThread

ADMIN_KEY = "e2e-admin-key-0123456789abcdef"
WORKER_KEY = "e2e-worker-key-0123456789abcdef"
CLIENT_KEY = "e2e-client-key-0123456789abcdef"
RUNQY = str(Path(sys.executable).parent / "runqy")
E2E_TIMINGS = {
    "lease_extend_interval": "500ms", "heartbeat_interval": "300ms", "forwarder_interval": "300ms",
    "recoverer_interval": "500ms", "janitor_interval": "500ms", "idle_sleep": "50ms",
    "stop_grace": "2s",
}


@dataclass
class LiveServer:
    base: str
    _serving: ServingThread | None = None
    app: Flask | None = None

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - loopback test server
            self.base + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())

    def configure(self, name: str, subs: dict[str, int], deployment: dict[str, Any],
                  task_defaults: dict[str, int] | None = None) -> None:
        doc = {"name": name, "deployment": deployment,
               "sub_queues": [{"name": s, "priority": p} for s, p in subs.items()]}
        if task_defaults:
            doc["task_defaults"] = task_defaults
        self.admin("POST", "/api/queue-configs?force=true", doc)

    def stop(self) -> None:
        assert self._serving is not None and self.app is not None
        self._serving.stop()
        state_of(self.app).close()


def start_server(instance: Path, redis_url: str, port: int = 0, **settings: Any) -> LiveServer:
    """``settings``: more Settings fields (e.g. ``redis_wait_replicas``)."""
    app = create_app(Settings(instance_path=instance, api_key=ADMIN_KEY,
                              worker_api_key=WORKER_KEY, client_api_key=CLIENT_KEY,
                              redis_url=redis_url, **settings))
    serving = ServingThread(create_server(app, host="127.0.0.1", port=port, threads=8))
    return LiveServer(serving.base_url, serving, app)


@dataclass
class WorkerProcess:
    """`runqy worker` as a child process; its stderr goes to a file for failure messages."""

    server_url: str
    queues: list[str]
    workdir: Path
    deployment_dir: Path
    concurrency: int = 1
    worker_id: str = "e2e-worker"
    extra: dict[str, Any] = field(default_factory=dict)
    api_key: str = WORKER_KEY
    popen: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "server": {"url": self.server_url, "api_key": self.api_key},
            "worker": {"queues": self.queues, "concurrency": self.concurrency,
                       "id": self.worker_id, "shutdown_timeout": "2s"},
            "deployment": {"dir": str(self.deployment_dir)},
            "bootstrap": {"retries": 3, "retry_delay": "200ms"},
            "timings": dict(E2E_TIMINGS),  # `extra` must not change the shared defaults
        }
        for section, values in self.extra.items():
            config.setdefault(section, {}).update(values)
        path = self.workdir / f"{self.worker_id}.yml"
        path.write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNQY_")}
        self.stderr_path = self.workdir / f"{self.worker_id}.stderr"
        self.popen = subprocess.Popen(
            [RUNQY, "worker", "--config", str(path)], cwd=self.workdir, env=env,
            stdout=subprocess.DEVNULL, stderr=self.stderr_path.open("wb"),
        )
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid  # type: ignore[union-attr]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def children(self) -> list[int]:
        """PIDs of the task processes (direct children of the worker)."""
        found: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                text = (task / "children").read_text().split()
            except FileNotFoundError:
                continue  # a thread that ended since the listing (its children pass to another)
            found.extend(int(pid) for pid in text)
        return found

    def signal(self, sig: signal.Signals) -> None:
        self.popen.send_signal(sig)  # type: ignore[union-attr]

    def wait(self, timeout: float = 30) -> int:
        return self.popen.wait(timeout)  # type: ignore[union-attr]

    def kill_all(self) -> None:
        """SIGKILL the worker and every task process it started (they run in own sessions)."""
        pids = self.children() if self.popen and self.popen.poll() is None else []
        if self.popen and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
