"""HTTP enqueue throughput of `runqy serve`: single adds, task reads and batches.

Starts a throwaway redis-server and `runqy serve` (a real subprocess on waitress, SQLite in a
temp instance folder), configures one queue, then drives it with keep-alive clients:

    .venv/bin/python -m bench.http_enqueue [--seconds 10] [--concurrency 10] [--threads 8]
                                           [--processes 1] [--client wrk|python]
                                           [--scenarios add,get,batch]

The client is `wrk` (Debian package `wrk`) with a small Lua script for the POST bodies when it
is on PATH: it costs the shared CPUs far less than Python client threads. Without it the Python
client (keep-alive `http.client` connections in threads) runs instead, and the rates it shows
are lower because it competes with the server for the same cores.

Prints jobs/s, latency percentiles, the server's CPU time per job (user+system of all its
processes, steadier than rates on a shared machine; the system share in brackets) and its
resident memory.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.server.serve_process import CONFIG_PREFIXES
from tests.support.polling import poll_until
from tests.support.redis_server import RedisServer, free_port

API_KEY = "bench-admin-key-0123456789"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
PAYLOAD = {"prompt": "a cat on a mat", "steps": 20, "seed": 1234}
BATCH_CONCURRENCY = 4

# wrk script: every request POSTs the body file; `done` prints one JSON line for the caller.
WRK_SCRIPT = """
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = os.getenv("BENCH_METHOD")
wrk.body = f:read("*a")
if wrk.body == "" then wrk.body = nil end
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"seconds":%f,"errors":%d,"p50_ms":%f,"p99_ms":%f}\\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def start_server(redis_url: str, threads: int, processes: int,
                 folder: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    env.update(REDIS_URL=redis_url, RUNQY_API_KEY=API_KEY, PORT=str(port),
               RUNQY_THREADS=str(threads), RUNQY_INSTANCE_PATH=str(folder / "instance"),
               RUNQY_LOG_LEVEL="warning")
    runqy = str(Path(sys.executable).parent / "runqy")
    command = [runqy, "serve", "--no-ui", "--processes", str(processes)]
    process = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            return conn.getresponse().status == 200
        except OSError:
            return False

    poll_until(up, timeout=60, what="runqy serve")
    return process, port


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (the server processes of `--processes N`)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [pid]
    if children.exists():
        for child in children.read_text().split():
            found.extend(process_tree(int(child)))
    return found


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU of `pid` and its descendants, from /proc."""
    user = system = 0
    for each in process_tree(pid):
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        user += int(fields[11])
        system += int(fields[12])
    ticks = os.sysconf("SC_CLK_TCK")
    return user / ticks, system / ticks


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM summed over `pid` and its descendants."""
    values = {"VmRSS": 0, "VmHWM": 0}
    for each in process_tree(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in values:
                values[name] += int(rest.split()[0])
    return values


def drive_python(port: int, body: bytes, path: str, concurrency: int,
                 seconds: float) -> dict[str, float]:
    """`concurrency` keep-alive client threads POSTing `body` (GET without one) for `seconds`;
    latencies in ms."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop_at = time.perf_counter() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            conn.request("POST" if body else "GET", path, body or None, HEADERS)
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
    return {"requests": len(flat), "seconds": elapsed, "errors": sum(errors),
            "p50_ms": statistics.median(flat),
            "p99_ms": flat[min(len(flat) - 1, int(len(flat) * 0.99))]}


def drive_wrk(port: int, body: bytes, path: str, concurrency: int,
              seconds: float) -> dict[str, float]:
    """The same load from `wrk` (one thread per 5 connections, at most 2)."""
    with tempfile.TemporaryDirectory(prefix="runqy-bench-wrk-") as folder:
        script, body_file = Path(folder) / "post.lua", Path(folder) / "body.json"
        script.write_text(WRK_SCRIPT)
        body_file.write_bytes(body)
        env = dict(os.environ, BENCH_BODY=str(body_file), BENCH_KEY=API_KEY,
                   BENCH_METHOD="POST" if body else "GET")
        wrk_threads = max(1, min(2, concurrency // 5))
        out = subprocess.run(
            ["wrk", f"-t{wrk_threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s",
             "-s", str(script), f"http://127.0.0.1:{port}{path}"],
            env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    return json.loads(line[len("BENCH "):])


def measure(drive, pid: int, port: int, body: bytes, path: str, jobs_per_request: int,
            concurrency: int, seconds: float) -> dict[str, float]:
    user_before, system_before = cpu_seconds(pid)
    result = drive(port, body, path, concurrency, seconds)
    user, system = cpu_seconds(pid)
    jobs = max(1, result["requests"] * jobs_per_request)
    result["jobs_per_s"] = result["requests"] * jobs_per_request / result["seconds"]
    result["cpu_us_per_job"] = (user - user_before + system - system_before) / jobs * 1e6
    result["system_us_per_job"] = (system - system_before) / jobs * 1e6
    return result


def report(label: str, result: dict[str, float]) -> None:
    print(f"{label}: {result['jobs_per_s']:.0f} jobs/s, p50 {result['p50_ms']:.1f} ms, "
          f"p99 {result['p99_ms']:.1f} ms, server CPU {result['cpu_us_per_job']:.0f} µs/job "
          f"({result['system_us_per_job']:.0f} system), "
          f"errors {result['errors']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--client", choices=("wrk", "python"),
                        default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--scenarios", default="add,get,batch",
                        help="comma-separated: add (single add), get (GET /queue/<id>), batch")
    args = parser.parse_args()
    scenarios = set(args.scenarios.split(","))
    drive = drive_wrk if args.client == "wrk" else drive_python
    redis = RedisServer().start()
    folder = Path(tempfile.mkdtemp(prefix="runqy-bench-http-"))
    process, port = start_server(redis.url, args.threads, args.processes, folder)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/api/queue-configs", json.dumps({
            "name": "bench", "deployment": {"path": "/srv", "startup_cmd": "run"}}), HEADERS)
        assert conn.getresponse().status == 201
        single = json.dumps({"queue": "bench", "data": PAYLOAD}).encode()
        drive(port, single, "/queue/add", args.concurrency, 1)  # warm-up
        print(f"server: runqy serve, waitress threads={args.threads}, processes={args.processes}, "
              f"Redis {redis.version()}, {os.cpu_count()} CPUs, client {args.client}, "
              f"load average {os.getloadavg()[0]:.1f}")
        if "add" in scenarios:
            result = measure(drive, process.pid, port, single, "/queue/add", 1,
                             args.concurrency, args.seconds)
            report(f"single add, {args.concurrency} concurrent", result)
        if "get" in scenarios:
            adder = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            adder.request("POST", "/queue/add", single, HEADERS)
            task_id = json.loads(adder.getresponse().read())["info"]["id"]
            result = measure(drive, process.pid, port, b"", f"/queue/{task_id}", 1,
                             args.concurrency, args.seconds)
            report(f"GET /queue/<id>, {args.concurrency} concurrent", result)
        for size in (100, 500) if "batch" in scenarios else ():
            batch = json.dumps({"queue": "bench", "jobs": [PAYLOAD] * size}).encode()
            result = measure(drive, process.pid, port, batch, "/queue/add-batch", size,
                             BATCH_CONCURRENCY, args.seconds)
            report(f"batch of {size}, {BATCH_CONCURRENCY} concurrent", result)
        memory = memory_kib(process.pid)
        print(f"server memory: RSS {memory['VmRSS'] / 1024:.0f} MiB, "
              f"peak {memory['VmHWM'] / 1024:.0f} MiB; load average {os.getloadavg()[0]:.1f}")
    finally:
        process.terminate()
        process.wait(30)
        redis.stop()


if __name__ == "__main__":
    main()
