"""Tasks of a runtime queue: find, list, and the admin actions one by one, for a batch of IDs,
or for every task in a state.

Which action applies to which state is :mod:`runqy.broker.states`; every front door gets the
same outcome and the same error code for the same request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runqy.broker import (
    BrokerError,
    QueueNotFoundError,
    TaskInfo,
    TaskNotFoundError,
    TaskStateError,
)
from runqy.broker.search import TaskText
from runqy.broker.states import ACTIONS, LISTED_STATES, bulk_states
from runqy.core.errors import DomainError, InvalidInput, NotFound, TooLarge, translated
from runqy.core.runtime import Runtime
from runqy.core.values import TASK_ID_RE

BATCH_LIMIT = 1000  # task IDs per batch action (http-api.md 7.2)


def _not_found(task_id: str) -> NotFound:
    return NotFound(f"task {task_id} not found", code="task_not_found")


def _domain(exc: BrokerError) -> DomainError | BrokerError:
    return translated(exc) or exc


def get_task(rt: Runtime, queue: str, task_id: str) -> TaskInfo:
    """One task of ``queue`` (a resolved name); NotFound ``task_not_found`` otherwise."""
    if not TASK_ID_RE.fullmatch(task_id):
        raise _not_found(task_id)
    try:
        return rt.inspector.get_task(queue, task_id)
    except (TaskNotFoundError, QueueNotFoundError):
        raise _not_found(task_id) from None


def find_task(rt: Runtime, task_id: str) -> TaskInfo:
    """A task found by ID in any queue."""
    found = find_tasks(rt, [task_id])[0]
    if isinstance(found, NotFound):
        raise found
    return found


def find_tasks(rt: Runtime, task_ids: Sequence[str]) -> list[TaskInfo | NotFound]:
    """Tasks found by ID in any queue, read together (``Inspector.find_tasks``): each its
    task or its NotFound ``task_not_found``."""
    valid = [task_id for task_id in task_ids if TASK_ID_RE.fullmatch(task_id)]
    found = iter(rt.inspector.find_tasks(valid) if valid else [])
    answers: list[TaskInfo | NotFound] = []
    for task_id in task_ids:
        each = next(found) if TASK_ID_RE.fullmatch(task_id) else None
        answers.append(each if isinstance(each, TaskInfo) else _not_found(task_id))
    return answers


def check_state(state: Any, states: Sequence[str] = LISTED_STATES) -> str:
    if state not in states:
        raise InvalidInput(f"'state' must be one of {', '.join(states)}")
    return state


def check_action(action: Any) -> str:
    if action not in ACTIONS:
        raise InvalidInput(f"'action' must be one of {', '.join(ACTIONS)}")
    return action


@dataclass(frozen=True)
class TaskPage:
    tasks: list[TaskInfo]
    total: int  # tasks in the state, before the text filter


def list_tasks(rt: Runtime, queue: str, state: str, *, page: int = 1, size: int = 20,
               needle: str | None = None) -> TaskPage:
    """One page of a state's tasks (newest pending first, as asynq lists), optionally only
    those whose ID, type or payload contains ``needle`` (case-insensitive)."""
    check_state(state)
    try:
        tasks = rt.inspector.list_tasks(queue, state, page=page, size=size)
        total = getattr(rt.inspector.queue_stats(queue), state)
    except QueueNotFoundError:  # configured, never enqueued to
        return TaskPage([], 0)
    if needle:
        test = TaskText(needle, "text")
        tasks = [info for info in tasks if test.matches_task(info)]
    return TaskPage(tasks, total)


def act(rt: Runtime, queue: str, task_id: str, action: str) -> None:
    """Run, archive, delete or cancel one task; archiving an archived task is a no-op."""
    check_action(action)
    get_task(rt, queue, task_id)
    admin = rt.admin
    operation = {"run": admin.run_task, "archive": admin.archive_task,
                 "delete": admin.delete_task, "cancel": admin.cancel_task}[action]
    try:
        operation(queue, task_id)
    except TaskStateError as exc:
        if not (action == "archive" and exc.state == "archived"):  # http-api.md 7.2
            raise _domain(exc) from exc
    except BrokerError as exc:
        raise _domain(exc) from exc


@dataclass(frozen=True)
class Failure:
    task_id: str
    code: str
    message: str


@dataclass
class BatchOutcome:
    action: str
    succeeded: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)


def check_ids(ids: Any) -> list[str]:
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise InvalidInput("'task_ids' must be a non-empty list of strings")
    if len(ids) > BATCH_LIMIT:
        raise TooLarge(f"{len(ids)} IDs; the limit is {BATCH_LIMIT}", code="batch_too_large")
    return ids


def batch(rt: Runtime, queue: str, action: str, ids: Any) -> BatchOutcome:
    """Apply one action to up to ``BATCH_LIMIT`` IDs; one outcome per ID."""
    outcome = BatchOutcome(check_action(action))
    for task_id in check_ids(ids):
        try:
            act(rt, queue, task_id, action)
        except DomainError as exc:
            outcome.failed.append(Failure(task_id, exc.code, exc.messages[0]))
        else:
            outcome.succeeded.append(task_id)
    return outcome


def check_bulk(action: Any, state: Any, states: Sequence[str] = LISTED_STATES) -> None:
    """InvalidInput unless ``action`` applies in bulk to ``state``."""
    allowed = bulk_states(check_action(action), states)
    if state not in allowed:
        raise InvalidInput(f"'{action}' applies to states: {', '.join(allowed)}")


def act_all(rt: Runtime, queue: str, action: str, state: Any, *, group: str | None = None,
            states: Sequence[str] = LISTED_STATES) -> int:
    """Apply one action to every task of a state (aggregating: of one group, or all groups);
    returns how many tasks it reached."""
    check_bulk(action, state, states)
    admin = rt.admin
    try:
        if action == "cancel":
            return admin.cancel_all(queue)
        operation = {"run": admin.run_all, "archive": admin.archive_all,
                     "delete": admin.delete_all}[action]
        return operation(queue, state, group)
    except QueueNotFoundError:  # configured, never enqueued to: nothing to act on
        return 0


def group_sizes(rt: Runtime, queue: str) -> dict[str, int]:
    """Aggregating tasks per group of ``queue``, by group name (sorted)."""
    return rt.inspector.group_sizes(queue, rt.inspector.groups(queue))


def since(rt: Runtime, queue: str, state: str, listed: Sequence[TaskInfo]) -> dict[str, int]:
    """Unix seconds since each listed task waits (pending: its ``pending_since``) or runs
    (active: the start time in its worker's asynq WorkerInfo, 8.1); tasks without one are left
    out. Only the listed tasks are read, so the cost does not grow with the queue."""
    if state == "pending":
        return rt.inspector.pending_since(queue, [t.id for t in listed])
    if state == "active":
        wanted = {t.id for t in listed}
        return {w.task_id: w.start_time.seconds for server in rt.inspector.servers()
                for w in server.workers if w.task_id in wanted and w.start_time.seconds}
    return {}
