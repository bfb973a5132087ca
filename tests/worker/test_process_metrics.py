"""The heartbeat's CPU and memory are the worker's own and its task processes' (children
included), not the host's."""

from __future__ import annotations

import subprocess
import sys

from runqy.worker.heartbeat import ProcessMetrics
from tests.support.polling import poll_until

# A task process that starts a child holding 300 MB and burning CPU.
HUNGRY = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c",
    "b = bytearray(300 * 2**20)\\nfor i in range(0, len(b), 4096): b[i] = 1\\n"
    "print('ready', flush=True)\\nwhile True: pass"], stdout=sys.stdout)
child.wait()
"""


def test_metrics_cover_the_worker_and_its_task_process_tree():
    # This pytest process stands in for the worker; in a full run it already has children of its
    # own (the session's Redis servers), so the task tree is measured against that baseline.
    metrics = ProcessMetrics()
    alone = metrics.sample()
    assert alone["processes"] >= 1
    task = subprocess.Popen([sys.executable, "-c", HUNGRY], stdout=subprocess.PIPE)
    try:
        assert task.stdout.readline() == b"ready\n"
        with_task = poll_until(lambda: (s := metrics.sample())["cpu_percent"] >= 20 and s,
                               timeout=10, what="the task tree's CPU")
        assert with_task["processes"] == alone["processes"] + 2  # the task process, its child
        assert with_task["memory_used_bytes"] - alone["memory_used_bytes"] >= 290 * 2**20
        assert with_task["memory_total_bytes"] > with_task["memory_used_bytes"]
    finally:
        subprocess.run(["pkill", "-KILL", "-P", str(task.pid)], check=False)
        task.kill()
        task.wait()
