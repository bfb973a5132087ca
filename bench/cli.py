"""Operator CLI: how long a command takes, and a 10,000-line `task enqueue --file`.

Starts its own `runqy serve` (embedded Redis on free ports, SQLite) in a temporary folder and
runs, interleaved so load changes hit every variant alike:

- `runqy -s URL queue list` (start-up plus one API call), and the same in local mode;
- `runqy task enqueue --file tasks.jsonl` of 10,000 lines, remote and local;
- the peer: the same 10,000 jobs POSTed to /queue/add-batch 500 at a time by a plain Python
  loop (urllib), which is what a hand-written script does without the CLI.

Wall time is per run; CPU is the child process's user+system time (`os.wait4`), so it does not
depend on how often the process got a core. Usage: python bench/cli.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RUNQY = shutil.which("runqy", path=str(Path(sys.executable).parent)) or "runqy"
LINES = 10_000
CHUNK = 500
YAML = """queues:
  bench:
    deployment: {path: /srv/code, startup_cmd: python main.py}
    sub_queues: [{name: a, priority: 1}]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one command, which must succeed."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                 stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{args} failed: {errors.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def peer_batches(url: str, key: str, path: Path) -> tuple[float, float]:
    """The same jobs through /queue/add-batch in this process (CPU: this process's)."""
    started, cpu = time.perf_counter(), time.process_time()
    lines = path.read_text().splitlines()
    for start in range(0, len(lines), CHUNK):
        body = {"queue": "bench.a", "jobs": [json.loads(line) for line in
                                             lines[start:start + CHUNK]]}
        request = urllib.request.Request(  # noqa: S310 - loopback
            url + "/queue/add-batch", data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            assert json.loads(response.read())["enqueued"] == len(body["jobs"])
    return time.perf_counter() - started, time.process_time() - cpu


def summary(name: str, runs: list[tuple[float, float]]) -> str:
    walls = sorted(w for w, _ in runs)
    cpus = [c for _, c in runs]
    return (f"| {name} | {statistics.median(walls):.2f} s | {walls[-1]:.2f} s | "
            f"{statistics.median(cpus):.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    folder = Path(tempfile.mkdtemp(prefix="runqy-bench-cli-"))
    port, redis_port = free_port(), free_port()
    (folder / "queues").mkdir()
    (folder / "queues" / "bench.yaml").write_text(YAML)
    (folder / ".env").write_text(f"RUNQY_EMBEDDED_REDIS_PORT={redis_port}\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RUNQY_", "REDIS_", "DATABASE_", "QUEUE_"))}
    env.update(HOME=str(folder), PORT=str(port))
    server = subprocess.Popen([RUNQY, "serve", "--config", "queues"], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not (folder / "instance" / "admin-api-key").exists() or not _up(url):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("runqy serve did not start")
            time.sleep(0.2)
        key = (folder / "instance" / "admin-api-key").read_text().strip()
        jobs = folder / "tasks.jsonl"
        jobs.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(LINES)))
        remote = [RUNQY, "-s", url, "-k", key]
        variants = {
            "`runqy -s URL queue list`": lambda: timed([*remote, "queue", "list"], folder, env),
            "`runqy queue list` (local)": lambda: timed([RUNQY, "queue", "list"], folder, env),
            "`task enqueue --file` 10,000 lines": lambda: timed(
                [*remote, "task", "enqueue", "-q", "bench.a", "--file", str(jobs)], folder, env),
            "same, local mode": lambda: timed(
                [RUNQY, "task", "enqueue", "-q", "bench.a", "--file", str(jobs)], folder, env),
            "peer: urllib loop, add-batch x500": lambda: peer_batches(url, key, jobs),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(runs):
            for name, run in variants.items():
                results[name].append(run())
        print(f"load average {os.getloadavg()[0]:.1f}, {runs} runs each, interleaved")
        print("| command | median wall | max wall | median CPU |")
        print("|---|---|---|---|")
        for name, measured in results.items():
            print(summary(name, measured))
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2):  # noqa: S310 - loopback
            return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
