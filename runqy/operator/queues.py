"""`runqy queue list|inspect|pause|unpause|delete`."""

from __future__ import annotations

from typing import Any

import click

from runqy.operator.context import OperatorGroup, emit, options
from runqy.operator.output import print_fields, print_table, when

STATE_COLUMNS = ("pending", "active", "scheduled", "retry", "archived", "completed")


@click.group(cls=OperatorGroup)
def queue() -> None:
    """List, inspect, pause and delete runtime queues."""


def _row(q: dict[str, Any]) -> list[Any]:
    return [q["queue"], *(q.get(state) for state in STATE_COLUMNS), q.get("paused")]


@queue.command("list")
def list_queues() -> None:
    """Every queue with its task counts."""
    emit(options().backend().list_queues(), lambda data: print_table(
        ["QUEUE", *(s.upper() for s in STATE_COLUMNS), "PAUSED"],
        [_row(q) for q in data["queues"]], "No queues found."))


def _render_inspect(data: dict[str, Any]) -> None:
    q = data["queue"]
    print_fields([
        ("Queue", q["queue"]), ("Configured", q.get("configured")), ("Paused", q.get("paused")),
        ("Size", q.get("size")),
        *((state.capitalize(), q.get(state)) for state in STATE_COLUMNS),
        ("Memory", f"{q.get('memory_bytes', 0)} bytes"),
        ("Latency", f"{q.get('latency_ms', 0)} ms (age of the oldest pending task)"),
        ("Today", f"processed {q.get('processed_today')}, failed {q.get('failed_today')}, "
                  f"succeeded {q.get('succeeded_today')}"),
        ("All time", f"processed {q.get('processed_total')}, failed {q.get('failed_total')}"),
        ("Read at", when(q.get("timestamp"))),
    ])
    click.echo()
    print_table(["DATE", "PROCESSED", "FAILED", "SUCCEEDED"],
                [[d["date"], d["processed"], d["failed"], d["succeeded"]]
                 for d in data["history"]], "No history yet.")


@queue.command("inspect")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--days", type=click.IntRange(1, 90), default=7, show_default=True,
              help="Days of history.")
def inspect(queue_name: str, days: int) -> None:
    """A queue's counts, memory, latency, and its daily history."""
    emit(options().backend().queue(queue_name, days), _render_inspect)


def _paused(queue_name: str, paused: bool) -> None:
    emit(options().backend().set_paused(queue_name, paused), lambda data: click.echo(
        f"Queue {data['queue']} {'paused' if data['paused'] else 'resumed'}."))


@queue.command("pause")
@click.argument("queue_name", metavar="QUEUE")
def pause(queue_name: str) -> None:
    """Stop workers from taking tasks from QUEUE (idempotent)."""
    _paused(queue_name, True)


@queue.command("unpause")
@click.argument("queue_name", metavar="QUEUE")
def unpause(queue_name: str) -> None:
    """Let workers take tasks from QUEUE again (idempotent)."""
    _paused(queue_name, False)


@queue.command("delete")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--force", is_flag=True, help="Delete even when tasks are waiting.")
def delete(queue_name: str, force: bool) -> None:
    """Delete QUEUE's tasks and disable its configuration."""
    emit(options().backend().delete_queue(queue_name, force), lambda data: click.echo(
        f"Queue {data['queue']} deleted"
        + (" and its configuration disabled." if data.get("config_disabled") else ".")))
