"""Admin task routes: listing, one task, single/batch/all actions (section 7.2)."""

from __future__ import annotations

from typing import Any

from flask import request

from runqy.broker.errors import (
    BrokerError,
    QueueNotFoundError,
    TaskNotFoundError,
    TaskStateError,
)
from runqy.web.api import api_bp
from runqy.web.api.admin_queues import resolve_admin_queue
from runqy.web.api.common import admin_route, state, task_object
from runqy.web.errors import ApiError, broker_error_status, invalid_request
from runqy.web.inputs import (
    TASK_ID_RE,
    json_body,
    query_int,
    reject_unknown,
)

TASK_STATES = ("pending", "active", "scheduled", "retry", "archived", "completed")
ACTIONS = ("delete", "run", "archive", "cancel")
ALL_PAIRS = {
    "delete": {"pending", "scheduled", "retry", "archived", "completed"},
    "run": {"scheduled", "retry", "archived"},
    "archive": {"pending", "scheduled", "retry"},
    "cancel": {"active"},
}
BATCH_LIMIT = 1000


def _task_not_found(task_id: str) -> ApiError:
    return ApiError(404, "task_not_found", f"task {task_id} not found")


def _get_task(queue: str, task_id: str) -> Any:
    if not TASK_ID_RE.fullmatch(task_id):
        raise _task_not_found(task_id)
    try:
        return state().inspector.get_task(queue, task_id)
    except (TaskNotFoundError, QueueNotFoundError):
        raise _task_not_found(task_id) from None


@api_bp.get("/api/queues/<queue>/tasks")
@admin_route
def list_tasks(queue: str) -> Any:
    """List a queue's tasks in one state, paged."""
    name = resolve_admin_queue(queue)
    task_state = request.args.get("state", "pending")
    if task_state not in TASK_STATES:
        raise invalid_request(f"'state' must be one of {', '.join(TASK_STATES)}")
    page = query_int("page", 1, 1, 10**9)
    size = query_int("size", 20, 1, 500, aliases=("limit",))
    needle = request.args.get("q")
    try:
        tasks = state().inspector.list_tasks(name, task_state, page=page, size=size)
        total = getattr(state().inspector.queue_stats(name), task_state)
    except QueueNotFoundError:
        tasks, total = [], 0
    objects = [task_object(info) for info in tasks]
    if needle:
        lowered = needle.lower()
        objects = [obj for obj, info in zip(objects, tasks, strict=True)
                   if lowered in info.id.lower() or lowered in info.type.lower()
                   or lowered in info.payload.decode("utf-8", "replace").lower()]
    return {"queue": name, "state": task_state, "page": page, "size": size, "total": total,
            "q": needle, "tasks": objects}


@api_bp.get("/api/queues/<queue>/tasks/<task_id>")
@admin_route
def get_queue_task(queue: str, task_id: str) -> Any:
    """One task of a queue."""
    return task_object(_get_task(resolve_admin_queue(queue), task_id))


def _act(queue: str, task_id: str, action: str) -> dict[str, Any]:
    _get_task(queue, task_id)
    inspector = state().inspector
    if action == "delete":
        inspector.delete_task(queue, task_id)
        return {"task_id": task_id, "deleted": True}
    if action == "run":
        inspector.run_task(queue, task_id)
        return {"task_id": task_id, "state": "pending"}
    if action == "archive":
        try:
            inspector.archive_task(queue, task_id)
        except TaskStateError as exc:
            if exc.state != "archived":  # already archived is a no-op (http-api.md 7.2)
                raise
        return {"task_id": task_id, "state": "archived"}
    inspector.cancel_task(queue, task_id)
    return {"task_id": task_id, "cancel_requested": True}


TASK_ACTION_ROUTES = (
    ("delete", "DELETE", "", "Delete a task (any state except active)."),
    ("run", "POST", "/run", "Move a scheduled, retry, archived or completed task to pending."),
    ("archive", "POST", "/archive", "Archive a task that is not active."),
    ("cancel", "POST", "/cancel", "Ask the worker running an active task to cancel it."),
)


def _task_action_view(action: str, summary: str) -> Any:
    def view(queue: str, task_id: str) -> Any:
        return _act(resolve_admin_queue(queue), task_id, action)

    view.__name__ = f"{action}_queue_task"
    view.__doc__ = summary
    return admin_route(view)


for _action_name, _method, _suffix, _summary in TASK_ACTION_ROUTES:
    api_bp.add_url_rule(f"/api/queues/<queue>/tasks/<task_id>{_suffix}",
                        view_func=_task_action_view(_action_name, _summary),
                        methods=[_method])


def _action(body: dict[str, Any]) -> str:
    action = body.get("action")
    if action not in ACTIONS:
        raise invalid_request(f"'action' must be one of {', '.join(ACTIONS)}")
    return action


@api_bp.post("/api/queues/<queue>/tasks/batch")
@admin_route
def batch_action(queue: str) -> Any:
    """Apply one action to up to 1,000 task IDs."""
    body = json_body()
    reject_unknown(body, {"action", "task_ids"})
    action = _action(body)
    ids = body.get("task_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise invalid_request("'task_ids' must be a non-empty list of strings")
    if len(ids) > BATCH_LIMIT:
        raise ApiError(413, "batch_too_large", f"{len(ids)} IDs; the limit is {BATCH_LIMIT}")
    name = resolve_admin_queue(queue)
    succeeded, failed = [], []
    for task_id in ids:
        try:
            _act(name, task_id, action)
            succeeded.append(task_id)
        except ApiError as exc:
            failed.append({"task_id": task_id, "code": exc.code, "message": exc.messages[0]})
        except BrokerError as exc:
            _, code = broker_error_status(exc)
            failed.append({"task_id": task_id, "code": code, "message": str(exc)})
    return {"action": action, "succeeded": succeeded, "failed": failed}


@api_bp.post("/api/queues/<queue>/tasks/all")
@admin_route
def all_action(queue: str) -> Any:
    """Apply one action to every task of a queue in one state."""
    body = json_body()
    reject_unknown(body, {"action", "state"})
    action = _action(body)
    task_state = body.get("state")
    if task_state not in ALL_PAIRS[action]:
        raise invalid_request(f"'{action}' applies to states: "
                              f"{', '.join(sorted(ALL_PAIRS[action]))}")
    name = resolve_admin_queue(queue)
    inspector = state().inspector
    try:
        if action == "delete":
            count = inspector.delete_all(name, task_state)
        elif action == "run":
            count = inspector.run_all(name, task_state)
        elif action == "archive":
            count = inspector.archive_all(name, task_state)
        else:
            count = inspector.cancel_all(name)
    except QueueNotFoundError:
        count = 0
    return {"action": action, "state": task_state, "count": count}


def _find_any(task_id: str) -> Any:
    if not TASK_ID_RE.fullmatch(task_id):
        raise _task_not_found(task_id)
    try:
        return state().inspector.find_task(task_id)
    except TaskNotFoundError:
        raise _task_not_found(task_id) from None


@api_bp.get("/api/tasks/<task_id>")
@admin_route
def find_task(task_id: str) -> Any:
    """Find a task by ID in any queue."""
    return task_object(_find_any(task_id))


@api_bp.post("/api/tasks/<task_id>/cancel")
@admin_route
def cancel_task(task_id: str) -> Any:
    """Cancel an active task found by ID."""
    return _act(_find_any(task_id).queue, task_id, "cancel")
