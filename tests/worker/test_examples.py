"""The examples/README.md quick start, run as written: `runqy serve`, `runqy worker`, enqueue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.redis_server import free_port
from tests.worker.harness import poll_until

ROOT = Path(__file__).resolve().parents[2]
RUNQY = str(Path(sys.executable).parent / "runqy")


def test_quick_start_end_to_end(tmp_path, redis_server, redis_client, deployment_dir):
    port = free_port()
    key = "quick-start-admin-key-0123456789"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNQY_", "REDIS_"))}
    env |= {"RUNQY_API_KEY": key, "RUNQY_SERVER_URL": f"http://127.0.0.1:{port}"}
    server_log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [RUNQY, "serve", "--config", "examples/queues", "--port", str(port)], cwd=ROOT,
        env=env | {"REDIS_URL": redis_server.url, "RUNQY_INSTANCE_PATH": str(tmp_path / "inst")},
        stdout=server_log, stderr=subprocess.STDOUT)
    worker_log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [RUNQY, "worker", "--config", "examples/worker.yml"], cwd=ROOT,
        env=env | {"RUNQY_DEPLOYMENT_DIR": str(deployment_dir),
                   "RUNQY_BOOTSTRAP_RETRY_DELAY": "500ms", "RUNQY_BOOTSTRAP_RETRIES": "10"},
        stdout=subprocess.DEVNULL, stderr=worker_log.open("wb"))
    try:
        poll_until(lambda: b"serving hello" in worker_log.read_bytes(), timeout=60,
                   what="worker serving the example queues", alive=worker,
                   detail=lambda: worker_log.read_text() + (tmp_path / "server.log").read_text())
        done = subprocess.run([sys.executable, "examples/enqueue.py"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stderr
        hello, thumb = (json.loads(line) for line in done.stdout.splitlines())
        assert hello["state"] == "completed"
        assert hello["result"]["message"] == "Hello, Ada!"
        assert thumb == {"queue": "thumbs.default", "state": "completed",
                         "result": {"width": 128, "height": 72}}
        worker.send_signal(signal.SIGINT)
        assert worker.wait(30) == 0
    finally:
        for process in (worker, server):
            if process.poll() is None:
                process.terminate()
                process.wait(15)
