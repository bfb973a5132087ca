"""Enqueue-and-wait latency (not a test): runqy beside Celery in the same interleaved run.

The request/response path most runqy users have: a client enqueues one task and waits for
its result, at a steady 100 tasks/s, on an idle worker with concurrency 2. Measured per task:

- enqueue -> task start: the task's own clock reading when its handler starts, minus the
  client's reading just before it sent the enqueue (same host, same clock);
- enqueue -> result visible: when the client holds the result (runqy: `POST /queue/add` then
  `GET /queue/<id>?wait=true` on `runqy serve`; Celery: `apply_async` then `AsyncResult.get`).

Set-up: one throwaway redis-server; `runqy serve` and `runqy worker` as real subprocesses (DB 0);
a Celery 5 prefork worker, concurrency 2, Redis broker (DB 1) and Redis result backend (DB 2).
Rounds alternate between the two (runqy, Celery, runqy, ...), each `--tasks` tasks paced at
`--rate`. Before the rounds, the idle cost of the runqy worker: its CPU (the worker process
and its task processes) and the Redis commands it sends per second. Then `--waiters` clients
wait at once on tasks that finish only after they all wait (one `runqy serve` process, default
settings): errors and the time for all to return.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python -m bench.latency [--rounds 3] [--tasks 300] [--rate 100] [--waiters 1000]
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
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import yaml

from bench.http_enqueue import API_KEY, HEADERS, cpu_seconds, start_server
from runqy.broker import Admin
from tests.support.polling import poll_until
from tests.support.redis_server import RedisServer

STAMP_APP = """
import time
from runqy import run, task

@task
def stamp(payload):
    return time.time_ns()

if __name__ == "__main__":
    run()
"""
CELERY_APP = """
import time
from celery import Celery

app = Celery("latency", broker="{broker}", backend="{backend}")
app.conf.worker_hijack_root_logger = False
app.conf.worker_prefetch_multiplier = 1

@app.task(name="stamp")
def stamp(payload):
    return time.time_ns()
"""
_local = threading.local()


def connection(port: int) -> http.client.HTTPConnection:
    """This thread's keep-alive connection to the runqy server."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    return conn


def http_json(port: int, method: str, path: str, body: object = None) -> tuple[int, dict]:
    conn = connection(port)
    conn.request(method, path, None if body is None else json.dumps(body), HEADERS)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def runqy_one(port: int) -> tuple[float, float]:
    """(enqueue -> start, enqueue -> result visible) in ms for one task."""
    sent = time.time_ns()
    status, body = http_json(port, "POST", "/queue/add", {"queue": "lat", "data": {}})
    assert status == 200, body
    task_id = body["info"]["id"]
    status, body = http_json(port, "GET", f"/queue/{task_id}?wait=true&timeout=30")
    seen = time.time_ns()
    assert status == 200 and body["info"]["state"] == "completed", body
    return (body["info"]["result"] - sent) / 1e6, (seen - sent) / 1e6


def celery_one(stamp) -> tuple[float, float]:
    sent = time.time_ns()
    started = stamp.apply_async(({},)).get(timeout=30)
    seen = time.time_ns()
    return (started - sent) / 1e6, (seen - sent) / 1e6


def paced(one, tasks: int, rate: float) -> list[tuple[float, float]]:
    """Start `one` every 1/rate s (open loop) on a thread pool; its results in start order."""
    with ThreadPoolExecutor(64) as pool:
        futures = []
        began = time.perf_counter()
        for i in range(tasks):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one))
        return [f.result() for f in futures]


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def redis_commands(client: redis.Redis) -> int:
    return sum(v["calls"] for k, v in client.info("commandstats").items()
               if k not in ("cmdstat_info",))


def idle_cost(client: redis.Redis, worker_pid: int, seconds: float) -> tuple[float, float]:
    """(worker CPU % of one core, Redis commands/s) over `seconds` of idling."""
    cpu0, cmd0, t0 = sum(cpu_seconds(worker_pid)), redis_commands(client), time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - t0
    return ((sum(cpu_seconds(worker_pid)) - cpu0) / elapsed * 100,
            (redis_commands(client) - cmd0 - 1) / elapsed)


def start_runqy_worker(work: Path, port: int, concurrency: int) -> subprocess.Popen:
    app_dir = work / "stamp"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(STAMP_APP)
    status, body = http_json(port, "POST", "/api/queue-configs", {"name": "lat", "deployment": {
        "path": str(app_dir), "startup_cmd": "python main.py"}})
    assert status == 201, body
    config = work / "worker.yml"
    config.write_text(yaml.safe_dump({
        "server": {"url": f"http://127.0.0.1:{port}", "api_key": API_KEY},
        "worker": {"queues": ["lat"], "concurrency": concurrency, "id": "latency"},
        "deployment": {"dir": str(work / "deployment")},
    }))
    return subprocess.Popen([str(Path(sys.executable).parent / "runqy"), "worker", "--config",
                             str(config), "--log-level", "warning"], cwd=work)


def start_celery(work: Path, url: str, concurrency: int):
    base = url.rsplit("/", 1)[0]
    (work / "celery_latency.py").write_text(textwrap.dedent(CELERY_APP.format(
        broker=f"{base}/1", backend=f"{base}/2")))
    sys.path.insert(0, str(work))
    import celery_latency  # type: ignore[import-not-found]

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_latency", "worker", "--pool=prefork",
         f"--concurrency={concurrency}", "--loglevel=WARNING", "--without-gossip",
         "--without-mingle", "--without-heartbeat"], cwd=work,
        env={**os.environ, "PYTHONPATH": str(work)})
    return worker, celery_latency.stamp


def many_waiters(port: int, admin: Admin, count: int) -> dict[str, float]:
    """`count` clients wait at once on tasks held back until all wait; then the tasks run.

    The queue is paused and resumed through Redis, not the server: its connection cap
    (MAX_CONNECTIONS, 1,000) is taken by the waiters."""
    admin.pause_queue("lat.default")
    ids = []
    for _ in range(count):
        status, body = http_json(port, "POST", "/queue/add", {"queue": "lat", "data": {}})
        ids.append(body["info"]["id"])
    results: list[int] = []
    errors: list[str] = []

    def wait(task_id: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request("GET", f"/queue/{task_id}?wait=true&timeout=120", None, HEADERS)
            response = conn.getresponse()
            response.read()
            results.append(response.status)
        except OSError as exc:
            errors.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=wait, args=(t,)) for t in ids]
    for thread in threads:
        thread.start()
    time.sleep(3)  # every client has sent its request by now (they are local threads)
    waiting = count - len(results) - len(errors)
    began = time.perf_counter()
    admin.unpause_queue("lat.default")
    for thread in threads:
        thread.join(180)
    return {"waiting": waiting, "ok": results.count(200), "errors": len(errors) + sum(
        1 for s in results if s != 200), "seconds": time.perf_counter() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=300, help="tasks per round")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--redis-server-bin", default=None)
    args = parser.parse_args()
    server = RedisServer(binary=args.redis_server_bin).start()
    procs: list[subprocess.Popen] = []
    try:
        with tempfile.TemporaryDirectory(prefix="runqy-latency-") as tmp:
            work = Path(tmp)
            api, port = start_server(server.url, 32, 1, work)
            procs.append(api)
            client = redis.Redis.from_url(server.url)
            server_cpu, server_cmds = idle_cost(client, api.pid, args.idle_seconds)
            worker = start_runqy_worker(work, port, args.concurrency)
            procs.append(worker)
            poll_until(lambda: client.hget("asynq:workers:latency", "status") == b"running",
                       timeout=120, what="runqy worker running")
            time.sleep(2)
            worker_cpu, all_cmds = idle_cost(client, worker.pid, args.idle_seconds)
            celery, stamp = start_celery(work, server.url, args.concurrency)
            procs.append(celery)
            stamp.apply_async(({},)).get(timeout=60)  # Celery is up
            runqy_one(port)
            samples: dict[str, list[tuple[float, float]]] = {"runqy": [], "Celery": []}
            for _ in range(args.rounds):
                samples["runqy"] += paced(lambda: runqy_one(port), args.tasks, args.rate)
                samples["Celery"] += paced(lambda: celery_one(stamp), args.tasks, args.rate)
            waiters = many_waiters(port, Admin(client), args.waiters) if args.waiters else None
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(30)
        server.stop()
    print(f"{args.rounds} interleaved rounds of {args.tasks} tasks at {args.rate:g}/s, "
          f"concurrency {args.concurrency}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}")
    print()
    print("| from enqueue to ... | " + " | ".join(samples) + " |")
    print("|---|" + "---|" * len(samples))
    for index, label in ((0, "task start, p50 / p99"), (1, "result visible, p50 / p99")):
        cells = []
        for values in samples.values():
            p50, p99 = percentiles([v[index] for v in values])
            cells.append(f"{p50:.1f} ms / {p99:.1f} ms")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print(f"idle runqy worker: {worker_cpu:.2f} % of a core (with its task processes), "
          f"{all_cmds - server_cmds:.1f} Redis commands/s (the idle server before it: "
          f"{server_cpu:.2f} %, {server_cmds:.1f} commands/s)")
    if waiters:
        print(f"{args.waiters} concurrent waiters on one `runqy serve` process: "
              f"{waiters['waiting']} waiting at once, {waiters['ok']} answered 200, "
              f"{waiters['errors']} errors, all answered {waiters['seconds']:.1f} s after the "
              "tasks were released")


if __name__ == "__main__":
    main()
