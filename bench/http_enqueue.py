"""HTTP enqueue throughput of `runqy serve`: single adds at 10 concurrent, batches of 100 and 500.

Starts a throwaway redis-server and `runqy serve` (a real subprocess on waitress, SQLite in a
temp instance folder), configures one queue, then drives it with keep-alive clients in threads:

    .venv/bin/python -m bench.http_enqueue [--seconds 10] [--concurrency 10] [--threads 32]

Prints jobs/s, latency percentiles and the server's resident memory (VmRSS, peak VmHWM).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.server.serve_process import CONFIG_PREFIXES, poll
from tests.support.redis_server import RedisServer, free_port

API_KEY = "bench-admin-key-0123456789"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


def start_server(redis_url: str, threads: int, folder: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    env.update(REDIS_URL=redis_url, RUNQY_API_KEY=API_KEY, PORT=str(port),
               RUNQY_THREADS=str(threads), RUNQY_INSTANCE_PATH=str(folder / "instance"),
               RUNQY_LOG_LEVEL="warning")
    runqy = str(Path(sys.executable).parent / "runqy")
    process = subprocess.Popen([runqy, "serve", "--no-ui"], env=env, cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            return conn.getresponse().status == 200
        except OSError:
            return False

    poll(up, 60, 0.1, "runqy serve")
    return process, port


def memory_kib(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def drive(port: int, body: bytes, jobs_per_request: int, concurrency: int,
          seconds: float) -> dict[str, float]:
    """`concurrency` keep-alive clients POSTing `body` for `seconds`; latencies in ms."""
    path = "/queue/add" if jobs_per_request == 1 else "/queue/add-batch"
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop_at = time.perf_counter() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            conn.request("POST", path, body, HEADERS)
            response = conn.getresponse()
            response.read()
            latencies[index].append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                errors[index] += 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = sorted(x for per in latencies for x in per)
    requests = len(flat)
    return {
        "requests": requests,
        "errors": sum(errors),
        "jobs_per_s": requests * jobs_per_request / elapsed,
        "p50_ms": statistics.median(flat),
        "p99_ms": flat[min(requests - 1, int(requests * 0.99))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    redis = RedisServer().start()
    folder = Path(tempfile.mkdtemp(prefix="runqy-bench-http-"))
    process, port = start_server(redis.url, args.threads, folder)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/api/queue-configs", json.dumps({
            "name": "bench", "deployment": {"path": "/srv", "startup_cmd": "run"}}), HEADERS)
        assert conn.getresponse().status == 201
        payload = {"prompt": "a cat on a mat", "steps": 20, "seed": 1234}
        single = json.dumps({"queue": "bench", "data": payload}).encode()
        drive(port, single, 1, args.concurrency, 1)  # warm-up
        print(f"server: runqy serve, waitress threads={args.threads}, Redis "
              f"{redis.version()}, {os.cpu_count()} CPUs")
        result = drive(port, single, 1, args.concurrency, args.seconds)
        print(f"single add, {args.concurrency} concurrent: {result['jobs_per_s']:.0f} jobs/s, "
              f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
              f"errors {result['errors']}")
        for size in (100, 500):
            batch = json.dumps({"queue": "bench", "jobs": [payload] * size}).encode()
            concurrency = 4
            result = drive(port, batch, size, concurrency, args.seconds)
            print(f"batch of {size}, {concurrency} concurrent: {result['jobs_per_s']:.0f} jobs/s,"
                  f" p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
                  f"errors {result['errors']}")
        memory = memory_kib(process.pid)
        print(f"server memory: RSS {memory['VmRSS'] / 1024:.0f} MiB, "
              f"peak {memory['VmHWM'] / 1024:.0f} MiB")
    finally:
        process.terminate()
        process.wait(30)
        redis.stop()


if __name__ == "__main__":
    main()
