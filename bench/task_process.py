"""Task-process round trip benchmark (not a test): the worker side of the line protocol alone.

Starts ``--concurrency`` task processes running the SDK's ``run()`` with a no-op handler and
sends each ``--tasks`` request lines from its own thread, one at a time, the way slots do
(`TaskProcess.run_task`), without Redis. Prints tasks/s, this process's CPU per task (the
worker's share: request write, reading and classifying the reply, thread hand-offs) and the
task processes' CPU per task (the SDK loop), then the cost of the per-task encoding steps.

``--code DIR`` imports runqy from another checkout (for example the code before a change), for
the worker and the task processes alike, so two versions run the same script:

    python bench/task_process.py --tasks 5000 --concurrency 2
    python bench/task_process.py --tasks 5000 --concurrency 2 --code /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
import timeit
from pathlib import Path

NOOP_APP = """
from runqy import run, task


@task
def handle(payload):
    return None


run()
"""
REQUEST = (b'{"task_id":"%s","type":"bench.default","queue":"bench.default","retried":0,'
           b'"max_retry":3,"retry_count":0,"deadline":1764331800.0,"payload":{"n":1}}\n')


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def round_trips(code: Path, tasks: int, concurrency: int) -> dict[str, float]:
    from runqy.worker.process import ReplyKind, TaskProcess

    app = Path(tempfile.mkdtemp(prefix="bench-task-process-"))
    (app / "main.py").write_text(NOOP_APP)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(code)}
    processes = [TaskProcess([sys.executable, "main.py"], cwd=str(app), env=env,
                             max_line=1 << 25, on_log=lambda *line: None)
                 for _ in range(concurrency)]
    for process in processes:
        process.start()
    for process in processes:
        process.wait_ready(30)
    children_before = children_cpu()

    def serve(process: TaskProcess, slot: int) -> None:
        for n in range(tasks):
            task_id = f"{slot:04d}-{n:08d}-0000-0000-000000000000"
            reply = process.run_task(task_id, REQUEST % task_id.encode(), 30)
            assert reply.kind is ReplyKind.RESPONSE, reply

    threads = [threading.Thread(target=serve, args=(p, i)) for i, p in enumerate(processes)]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    for process in processes:
        process.stop()  # its exit makes its CPU count in RUSAGE_CHILDREN
    total = tasks * concurrency
    return {"rate": total / elapsed, "worker_us": cpu / total * 1e6,
            "children_us": (children_cpu() - children_before) / total * 1e6}


def encoding_steps() -> list[tuple[str, float]]:
    """Per-call cost of the encoding steps of one task, in µs (what is there to measure in
    this checkout)."""
    from runqy.broker import TaskMessage
    from runqy.worker import process as proto
    from runqy.worker.job import Job

    msg = TaskMessage(type="bench.default", payload=b'{"n":1}', id="0" * 36,
                      queue="bench.default", retry=3, timeout=1800)
    job = Job("bench.default", "bench", msg, 0.0, 0.0, 1764331800.0)
    rows = [("build a request line", _per_call(lambda: job.request_line(1 << 25)))]
    big = {f"k{i}": [i, "v" * 20, 1.5] for i in range(300)}
    for name, result in (("null result", None), ("12 kB result", big)):
        line = json.dumps({"task_id": "t", "result": result, "error": None, "retry": False},
                          separators=(",", ":")).encode()
        rows.append((f"classify a success response, {name}, general path (json.loads, "
                     "encode result)",
                     _per_call(lambda line=line: proto.outcome_from_response(json.loads(line)))))
        if hasattr(proto, "spliced_success"):
            rest = line[len(b'{"task_id":"t","result":'):]
            rows.append((f"classify a success response, {name}, spliced",
                         _per_call(lambda rest=rest: proto.spliced_success(rest))))
    return rows


def _per_call(fn) -> float:
    calls = 2000
    return min(timeit.repeat(fn, number=calls, repeat=5)) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000, help="tasks per process")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose runqy is measured")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code))
    result = round_trips(args.code, args.tasks, args.concurrency)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"code {args.code}, load {load}")
    print("| concurrency | tasks/s | worker CPU per task | task process CPU per task |")
    print(f"| {args.concurrency} | {result['rate']:,.0f} | {result['worker_us']:.0f} µs "
          f"| {result['children_us']:.0f} µs |")
    for name, micros in encoding_steps():
        print(f"  {name}: {micros:.1f} µs")


if __name__ == "__main__":
    main()
