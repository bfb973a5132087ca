"""The worker's console tells the operator what the dashboard shows: every task-process crash,
restart, degradation and recovery at INFO, with the queue and the task ID."""

from __future__ import annotations

import json

from runqy import RunqyClient
from tests.worker.harness import APPS, poll_until
from tests.worker.live import CLIENT_KEY, WorkerProcess, start_server


def test_console_shows_crash_restart_degraded_and_recovered(tmp_path, redis_server,
                                                            redis_client, deployment_dir):
    crash_file = tmp_path / "crash-now"
    server = start_server(tmp_path / "instance", redis_server.url)
    worker = None
    try:
        server.configure("flaky", {"default": 1}, {
            "path": str(APPS / "behave"), "startup_cmd": "python main.py",
            "env": {"BEHAVE_STARTUP": "crash-while-file", "BEHAVE_CRASH_FILE": str(crash_file)}})
        worker = WorkerProcess(server.base, ["flaky"], tmp_path / "workers", deployment_dir,
                               extra={"recovery": {"initial_delay": "50ms", "max_delay": "100ms",
                                                   "probe_interval": "300ms"}}).start()

        def beat() -> dict:
            raw = redis_client.hgetall("asynq:workers:e2e-worker")
            return {k.decode(): v.decode() for k, v in raw.items()}

        poll_until(lambda: beat().get("healthy") == "true", timeout=60, what="worker healthy",
                   alive=worker.popen, detail=worker.stderr)
        crash_file.touch()  # from now on the task process cannot start again
        task = RunqyClient(server.base, CLIENT_KEY).enqueue("flaky", {"op": "kill-self"},
                                                            max_retry=0)
        poll_until(lambda: beat().get("status") == "degraded", timeout=30,
                   what="queue degraded", alive=worker.popen, detail=worker.stderr)
        crash_file.unlink()
        poll_until(lambda: json.loads(beat().get("recovery", "{}")).get("state") != "degraded"
                   and beat().get("healthy") == "true", timeout=30, what="recovered")
        poll_until(lambda: "recovered" in worker.stderr(), timeout=10, what="recovery line")
        console = worker.stderr()
        assert (f"INFO task process crashed (exit code -9) [queue=flaky task={task.task_id}]"
                in console)
        assert "INFO restarting the task process (restart 1) [queue=flaky]" in console
        assert "INFO process exited during startup (exit code 4) [queue=flaky]" in console
        assert ("INFO queue 'flaky' degraded after 5 consecutive failures; its tasks stay "
                "pending [queue=flaky]") in console
        assert "INFO probe succeeded; queue 'flaky' recovered and serves again [queue=flaky]" \
            in console
    finally:
        if worker is not None:
            worker.kill_all()
        server.stop()
