"""Worker benchmark (not a test): drain N no-op tasks with one `runqy worker`, then with Celery.

Both run against the same throwaway redis-server (a separate DB each), with the same number of
processes, and drain a queue that was filled before the worker started; the clock runs from the
worker's start to the last task's outcome, so start-up (registration, venv, process handshake)
is included for runqy and the equivalent for Celery. For runqy the steady state (first to last
completion: tasks/s, and CPU per task of the main process and of the task processes) is
printed beside it. Worker RSS is sampled at the end.

    pip install '.[bench]'
    python bench/worker.py [--tasks 10000] [--concurrency 2] [--redis-server-bin PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import redis
import yaml
from waitress.server import create_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runqy.broker import Broker, EnqueueRequest, TaskMessage, keys  # noqa: E402
from runqy.config import Settings  # noqa: E402
from runqy.web import create_app  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.waitress_thread import ServingThread  # noqa: E402

ADMIN_KEY = "bench-admin-key-0123456789abcdef"
NOOP_APP = """
from runqy import run, task

@task
def noop(payload):
    return None

if __name__ == "__main__":
    run()
"""
CELERY_APP = """
from celery import Celery

app = Celery("bench", broker="{broker}", backend="{backend}")
app.conf.worker_hijack_root_logger = False

@app.task(name="noop")
def noop(payload):
    return None
"""
PAYLOAD = b'{"n":1}'


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return children


def tree_rss_kib(pid: int) -> tuple[int, int]:
    """(the process alone, the process plus its children) in KiB."""
    own = rss_kib(pid)
    return own, own + sum(rss_kib(c) for c in _children(pid))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_counters(client: redis.Redis) -> tuple[float, int, int]:
    """(CPU seconds, commands including those run inside scripts, socket reads) of Redis."""
    cpu = client.info("cpu")
    stats = client.info("stats")
    commands = sum(v["calls"] for v in client.info("commandstats").values())
    return (cpu["used_cpu_user"] + cpu["used_cpu_sys"], commands,
            stats.get("total_reads_processed", 0))


def redis_per_task(client: redis.Redis, before: tuple[float, int, int],
                   tasks: int) -> dict[str, float]:
    cpu, commands, reads = (b - a for a, b in zip(before, redis_counters(client), strict=True))
    return {"redis_cpu_us": cpu / tasks * 1e6, "commands": commands / tasks,
            "reads": reads / tasks}


def wait_until(condition, timeout: float, what: str) -> None:
    limit = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > limit:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def bench_runqy(url: str, work: Path, tasks: int, concurrency: int,
                processes: int = 1) -> dict[str, float]:
    client = redis.Redis.from_url(url)
    client.flushdb()
    app_dir = work / "noop"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(NOOP_APP)
    app = create_app(Settings(instance_path=work / "instance", api_key=ADMIN_KEY, redis_url=url))
    serving = ServingThread(create_server(app, host="127.0.0.1", port=0, threads=4))
    base = serving.base_url
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/api/queue-configs", method="POST", headers={
            "Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
        data=json.dumps({"name": "bench", "deployment": {
            "path": str(app_dir), "startup_cmd": "python main.py"}}).encode())
    urllib.request.urlopen(request, timeout=10).read()  # noqa: S310
    queue = "bench.default"
    broker = Broker(client)
    for start in range(0, tasks, 1000):
        broker.enqueue_many([
            EnqueueRequest(TaskMessage(type=queue, payload=PAYLOAD, queue=queue, retry=3,
                                       timeout=1800, retention=86400))
            for _ in range(start, min(tasks, start + 1000))])
    config = work / "worker.yml"
    config.write_text(yaml.safe_dump({
        "server": {"url": base, "api_key": ADMIN_KEY},
        "worker": {"queues": ["bench"], "concurrency": concurrency, "id": "bench",
                   "processes": processes},
        "deployment": {"dir": str(work / "deployment")},
    }))
    before = redis_counters(client)
    started = time.perf_counter()
    worker = subprocess.Popen([str(Path(sys.executable).parent / "runqy"), "worker", "--config",
                               str(config), "--log-level", "warning"], cwd=work)
    processed = keys.processed_total(queue)

    def worker_cpu() -> float:
        workers = [worker.pid, *_children(worker.pid)] if processes > 1 else [worker.pid]
        return sum(cpu_seconds(pid) for pid in workers)

    def task_process_cpu() -> float:
        workers = _children(worker.pid) if processes > 1 else [worker.pid]
        return sum(cpu_seconds(pid) for w in workers for pid in _children(w))

    # The steady state runs from the first completion seen (polled every 2 ms) to the last:
    # start-up (registration, venv check, handshake) stays in the drain figure only.
    first_count = 0
    while not first_count:
        first_count = int(client.get(processed) or 0)
        if not first_count:
            time.sleep(0.002)
    first_at, first_cpu, first_tasks_cpu = time.perf_counter(), worker_cpu(), task_process_cpu()
    wait_until(lambda: int(client.get(processed) or 0) >= tasks, 600, "runqy drain")
    ended = time.perf_counter()
    on_redis = redis_per_task(client, before, tasks)
    own, total = tree_rss_kib(worker.pid)
    cpu, tasks_cpu = worker_cpu(), task_process_cpu()
    worker.terminate()
    worker.wait(60)
    serving.stop()
    steady = tasks - first_count
    return {"seconds": ended - started, "rate": tasks / (ended - started),
            "steady_rate": steady / (ended - first_at) if steady else 0.0,
            "rss_worker_kib": own, "rss_total_kib": total, "cpu_us": cpu / tasks * 1e6,
            "steady_cpu_us": (cpu - first_cpu) / steady * 1e6 if steady else 0.0,
            "steady_task_process_cpu_us": (tasks_cpu - first_tasks_cpu) / steady * 1e6
            if steady else 0.0, **on_redis}


def bench_celery(url: str, work: Path, tasks: int, concurrency: int) -> dict[str, float]:
    base = url.rsplit("/", 1)[0]
    broker_url, backend_url = f"{base}/1", f"{base}/2"
    redis.Redis.from_url(broker_url).flushdb()
    backend = redis.Redis.from_url(backend_url)
    backend.flushdb()
    module = work / "celery_bench.py"
    module.write_text(textwrap.dedent(CELERY_APP.format(broker=broker_url, backend=backend_url)))
    sys.path.insert(0, str(work))
    import celery_bench  # type: ignore[import-not-found]

    with celery_bench.app.connection_for_write() as connection, \
            celery_bench.app.producer_pool.acquire(block=True) as producer:
        for _ in range(tasks):
            celery_bench.noop.apply_async(({"n": 1},), connection=connection,
                                          producer=producer)
    before = redis_counters(backend)
    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_bench", "worker", "--pool=prefork",
         f"--concurrency={concurrency}", "--loglevel=WARNING", "--without-gossip",
         "--without-mingle", "--without-heartbeat"], cwd=work,
        env={**os.environ, "PYTHONPATH": str(work)})
    wait_until(lambda: backend.dbsize() >= tasks, 600, "celery drain")
    elapsed = time.perf_counter() - started
    on_redis = redis_per_task(backend, before, tasks)
    own, total = tree_rss_kib(worker.pid)
    cpu = cpu_seconds(worker.pid)
    worker.terminate()
    worker.wait(60)
    return {"seconds": elapsed, "rate": tasks / elapsed, "rss_worker_kib": own,
            "rss_total_kib": total, "cpu_us": cpu / tasks * 1e6, **on_redis}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--redis-server-bin", default=None)
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--processes", type=int, default=1,
                        help="runqy worker processes (worker.processes), each with the slots")
    args = parser.parse_args()
    server = RedisServer(binary=args.redis_server_bin).start()
    try:
        with tempfile.TemporaryDirectory(prefix="runqy-bench-") as tmp:
            work = Path(tmp)
            (work / "runqy").mkdir()
            results = {"runqy worker": bench_runqy(server.url, work / "runqy", args.tasks,
                                                   args.concurrency, args.processes)}
            if not args.skip_celery:
                (work / "celery").mkdir()
                results["Celery 5 (prefork, Redis broker + backend)"] = bench_celery(
                    server.url, work / "celery", args.tasks, args.concurrency)
    finally:
        server.stop()
    print(f"{args.tasks:,} no-op tasks, concurrency {args.concurrency}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print()
    print("| worker | drain time | tasks/s | steady tasks/s | main process CPU per task |"
          " steady: main process, task processes CPU per task | Redis CPU per task |"
          " Redis commands per task | Redis socket reads per task | worker RSS |"
          " with its processes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        steady = (f"{r['steady_rate']:,.0f} | ", f"{r['steady_cpu_us']:.0f} µs, "
                  f"{r['steady_task_process_cpu_us']:.0f} µs | ") if "steady_rate" in r else (
            "– | ", "– | ")
        print(f"| {name} | {r['seconds']:.1f} s | {r['rate']:,.0f} | {steady[0]}"
              f"{r['cpu_us']:.0f} µs | {steady[1]}"
              f"{r['redis_cpu_us']:.0f} µs | {r['commands']:.1f} | {r['reads']:.2f} | "
              f"{r['rss_worker_kib'] / 1024:.0f} MiB | {r['rss_total_kib'] / 1024:.0f} MiB |")


if __name__ == "__main__":
    main()
