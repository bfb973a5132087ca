"""`runqy worker list|info`, and the `runqy worker` group that still runs a worker process
(runqy/worker/cli.py) when no subcommand is given."""

from __future__ import annotations

from typing import Any

import click

from runqy.operator.context import emit, failures, global_options, options
from runqy.operator.output import parse_time, print_fields, print_table, relative, when

LOG_LINES = 10  # recent log lines `worker info` shows


def _queues(w: dict[str, Any]) -> str:
    return ",".join(q["name"] for q in w.get("queues") or [])


def _beat(w: dict[str, Any]) -> str:
    moment = parse_time(w.get("last_beat"))
    return relative(moment) if moment else "-"


@click.command("list")
@global_options
def list_workers() -> None:
    """Every worker with its status and last heartbeat."""
    with failures():
        data = options().backend().list_workers()
    emit(data, lambda d: print_table(
        ["WORKER_ID", "STATUS", "QUEUES", "CONCURRENCY", "LAST_BEAT", "STALE"],
        [[w["worker_id"], w.get("status"), _queues(w), w.get("concurrency"), _beat(w),
          w.get("stale")] for w in d["workers"]], "No workers found."))


def _render_info(data: dict[str, Any]) -> None:
    w = data["worker"]
    recovery = w.get("recovery") or {}
    print_fields([
        ("Worker ID", w["worker_id"]), ("Status", w.get("status")),
        ("Healthy", w.get("healthy")), ("Stale", w.get("stale")),
        ("Host", f"{w.get('hostname') or '-'} (pid {w.get('pid') or '-'})"),
        ("Version", w.get("version")), ("Queues", _queues(w)),
        ("Concurrency", w.get("concurrency")), ("Started", when(w.get("started_at"))),
        ("Last beat", when(w.get("last_beat"))),
        ("Recovery", recovery.get("state") if recovery else None),
        ("Active tasks", ", ".join(w.get("active_tasks") or []) or "none"),
    ])
    click.echo()
    print_table(["TIME", "SOURCE", "TASK", "LINE"],
                [[when(line.get("ts", 0) / 1000 if line.get("ts") else None), line.get("src"),
                  line.get("task_id"), line.get("text")] for line in data["logs"]],
                "No recent log lines.")


@click.command("info")
@click.argument("worker_id", metavar="ID")
@click.option("-n", "--lines", type=click.IntRange(1, 500), default=LOG_LINES,
              show_default=True, help="Recent log lines to show.")
@global_options
def info(worker_id: str, lines: int) -> None:
    """One worker: status, health, started, active tasks and its recent log lines."""
    backend = options().backend()
    with failures():
        data = {"worker": backend.worker(worker_id),
                "logs": backend.worker_logs(worker_id, lines)["lines"]}
    emit(data, _render_info)


def worker_group() -> click.Group:
    """`runqy worker`: without a subcommand it runs a worker process, exactly as before (its
    options are the worker's own); `list` and `info` are the operator's."""
    from runqy.worker.cli import worker as run_worker

    @click.pass_context
    def callback(ctx: click.Context, **flags: Any) -> None:
        if ctx.invoked_subcommand is None:
            run_worker.callback(**flags)

    group = click.Group("worker", params=list(run_worker.params), callback=callback,
                        invoke_without_command=True, help=run_worker.help,
                        short_help="Run a worker process, or list and inspect workers.",
                        commands=[list_workers, info])
    return group
