"""`runqy task enqueue|list|get|cancel|delete|run|archive|wait`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

import click

from runqy.operator.context import OperatorGroup, emit, options
from runqy.operator.errors import OperatorError
from runqy.operator.output import console, notice, print_fields, print_table, short, when

STATES = ("pending", "active", "scheduled", "retry", "archived", "completed")
FINAL_STATES = ("completed", "archived")
CHUNK = 500  # jobs per add-batch request: progress every 500 tasks, small request bodies
WAIT_POLL_SECONDS = 0.5


@click.group(cls=OperatorGroup)
def task() -> None:
    """Enqueue, list, inspect and act on tasks."""


def _json_payload(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON ({exc})") from None


@task.command("enqueue")
@click.option("-q", "--queue", "queue_name", required=True, metavar="QUEUE",
              help="Queue (`parent` means `parent.default`).")
@click.option("-p", "--payload", callback=_json_payload, metavar="JSON",
              help="The task's payload, as JSON.")
@click.option("-t", "--timeout", type=click.IntRange(min=0), metavar="SECONDS",
              help="Seconds per attempt (default: the queue's, else the server's).")
@click.option("--file", "jobs_file", type=click.File("r", encoding="utf-8"), metavar="PATH",
              help="A JSON-lines file, one task per line ('-' for stdin), sent in batches.")
def enqueue(queue_name: str, payload: Any, timeout: int | None, jobs_file: IO[str] | None) -> None:
    """Enqueue one task (-p JSON) or every line of a JSON-lines file (--file)."""
    if (payload is None) == (jobs_file is None):
        raise click.UsageError("give exactly one of -p/--payload and --file")
    backend = options().backend()
    if jobs_file is None:
        body = {"queue": queue_name, "data": payload, **({"timeout": timeout} if timeout else {})}
        emit(backend.enqueue(body), lambda data: click.echo(
            f"Enqueued task {data['info']['id']} in {data['info']['queue']} "
            f"({data['info']['state']})."))
        return
    outcome = _enqueue_file(backend, queue_name, jobs_file, timeout)
    emit(outcome, lambda data: click.echo(
        f"Enqueued {data['enqueued']} tasks in {queue_name}; {data['failed']} failed."))
    for error in outcome["errors"][:20]:
        notice(f"line {error['line']}: {error['message']} ({error['code']})")
    if outcome["failed"]:
        raise OperatorError(f"{outcome['failed']} of {outcome['lines']} tasks were not enqueued")


def _chunks(lines: IO[str]) -> Iterator[tuple[list[int], list[Any]]]:
    """(line numbers, jobs) per CHUNK non-blank lines; a bad line stops the stream."""
    numbers: list[int] = []
    jobs: list[Any] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            jobs.append(json.loads(line))
        except ValueError as exc:
            raise OperatorError(f"{getattr(lines, 'name', 'input')} line {number}: not valid "
                                f"JSON ({exc})") from None
        numbers.append(number)
        if len(jobs) == CHUNK:
            yield numbers, jobs
            numbers, jobs = [], []
    if jobs:
        yield numbers, jobs


class _Progress:
    """A progress bar on a terminal; in a log, one line per batch."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.done = 0
        self.bar: Any = None
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.bar = Progress("enqueueing", BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=console(stderr=True))
            self.task_id = self.bar.add_task("enqueue", total=total)

    def context(self) -> AbstractContextManager[Any]:
        return self.bar if self.bar is not None else nullcontext()

    def advance(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(self.task_id, completed=self.done)
        else:
            of = f"/{self.total}" if self.total else ""
            notice(f"enqueued {self.done}{of}")


def _line_count(jobs_file: IO[str]) -> int | None:
    """Lines in a regular file (for the bar's total), without reading it into memory."""
    if not Path(getattr(jobs_file, "name", "")).is_file():
        return None
    with open(jobs_file.name, encoding="utf-8") as counting:
        return sum(1 for line in counting if line.strip())


def _enqueue_file(backend: Any, queue_name: str, jobs_file: IO[str],
                  timeout: int | None) -> dict[str, Any]:
    progress = _Progress(_line_count(jobs_file))
    outcome: dict[str, Any] = {"queue": queue_name, "lines": 0, "enqueued": 0, "failed": 0,
                               "task_ids": [], "errors": []}
    with progress.context():
        for numbers, jobs in _chunks(jobs_file):
            try:
                answer = backend.enqueue_batch({"queue": queue_name, "jobs": jobs,
                                                **({"timeout": timeout} if timeout else {})})
            except OperatorError as exc:
                if outcome["enqueued"]:
                    exc.message += (f"; the first {outcome['enqueued']} tasks (up to line "
                                    f"{numbers[0] - 1}) were enqueued")
                raise
            outcome["lines"] += len(jobs)
            outcome["enqueued"] += answer["enqueued"]
            outcome["failed"] += answer["failed"]
            outcome["task_ids"].extend(answer["task_ids"])
            outcome["errors"].extend({"line": numbers[e["index"]], "code": e["code"],
                                      "message": e["message"]} for e in answer["errors"])
            progress.advance(len(jobs))
    return outcome


def _task_rows(tasks: list[dict[str, Any]]) -> list[list[Any]]:
    return [[t["id"], t["state"], f"{t.get('retried', 0)}/{t.get('max_retry', 0)}",
             when(t.get("next_process_at") or t.get("completed_at")),
             short(t.get("last_err"), 40), short(t.get("payload"), 40)] for t in tasks]


@task.command("list")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--state", type=click.Choice(STATES), default="pending", show_default=True)
@click.option("-l", "--limit", type=click.IntRange(1, 500), default=20, show_default=True,
              help="How many tasks to show.")
def list_tasks(queue_name: str, state: str, limit: int) -> None:
    """The first tasks of QUEUE in one state."""

    def render(data: dict[str, Any]) -> None:
        print_table(["ID", "STATE", "RETRIED", "NEXT/DONE", "LAST_ERROR", "PAYLOAD"],
                    _task_rows(data["tasks"]),
                    f"No {state} tasks in {data['queue']}.")
        if data["tasks"]:
            click.echo(f"({len(data['tasks'])} of {data['total']} {state} tasks)")

    emit(options().backend().list_tasks(queue_name, state, limit), render)


def render_task(t: dict[str, Any]) -> None:
    print_fields([
        ("ID", t["id"]), ("Queue", t["queue"]), ("Type", t.get("type")), ("State", t["state"]),
        ("Payload", t.get("payload")), ("Retried", f"{t.get('retried')} of {t.get('max_retry')}"),
        ("Last error", t.get("last_err")), ("Last failed", when(t.get("last_failed_at"))),
        ("Next process", when(t.get("next_process_at"))),
        ("Completed", when(t.get("completed_at"))), ("Timeout", f"{t.get('timeout')} s"),
        ("Deadline", when(t.get("deadline"))), ("Retention", f"{t.get('retention')} s"),
        ("Result", t.get("result")),
    ])


@task.command("get")
@click.argument("queue_name", metavar="QUEUE")
@click.argument("task_id", metavar="ID")
def get(queue_name: str, task_id: str) -> None:
    """One task of QUEUE: state, payload, retries, times and result."""
    emit(options().backend().get_task(queue_name, task_id), render_task)


@task.command("cancel")
@click.argument("task_id", metavar="ID")
def cancel(task_id: str) -> None:
    """Ask the worker running task ID to stop it (it is then archived as cancelled)."""
    emit(options().backend().cancel_task(task_id),
         lambda data: click.echo(f"Cancel requested for task {task_id}."))


ACTION_DONE = {"delete": "deleted", "run": "moved to pending", "archive": "archived"}


def _action_command(action: str, summary: str) -> None:
    @task.command(action, help=summary)
    @click.argument("queue_name", metavar="QUEUE")
    @click.argument("task_id", metavar="ID")
    def command(queue_name: str, task_id: str) -> None:
        emit(options().backend().task_action(queue_name, task_id, action),
             lambda data: click.echo(f"Task {task_id} {ACTION_DONE[action]}."))


_action_command("delete", "Delete task ID of QUEUE (any state but active).")
_action_command("run", "Run task ID of QUEUE now (scheduled, retry, archived or completed).")
_action_command("archive", "Archive task ID of QUEUE (not while it is active).")


@task.command("wait")
@click.argument("task_id", metavar="ID")
@click.option("--timeout", type=click.IntRange(min=0), default=300, show_default=True,
              metavar="SECONDS", help="Give up after this long (0: wait forever).")
def wait(task_id: str, timeout: int) -> None:
    """Wait until task ID is completed (exit 0) or archived (exit 1)."""
    backend = options().backend()
    deadline = time.monotonic() + timeout
    while True:
        info = backend.find_task(task_id)
        if info["state"] in FINAL_STATES:
            break
        if timeout and time.monotonic() >= deadline:
            raise OperatorError(f"task {task_id} is still {info['state']} after {timeout} s",
                                None, "wait_timeout")
        time.sleep(WAIT_POLL_SECONDS)
    emit(info, render_task)
    if info["state"] == "archived":
        raise OperatorError(f"task {task_id} was archived: {info.get('last_err') or 'failed'}")
