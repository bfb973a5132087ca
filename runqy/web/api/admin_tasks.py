"""Admin task routes: listing, one task, single/batch/all actions (section 7.2), as thin views
on :mod:`runqy.core.tasks`."""

from __future__ import annotations

from typing import Any

from flask import request

from runqy.core import queues, tasks
from runqy.core.objects import ANSWERS, task_list_object, task_object
from runqy.core.values import reject_unknown
from runqy.web.api import api_bp
from runqy.web.api.common import admin_route
from runqy.web.inputs import json_body, query_int
from runqy.web.state import core


@api_bp.get("/api/queues/<queue>/tasks")
@admin_route
def list_tasks(queue: str) -> Any:
    """List a queue's tasks in one state, paged."""
    name = queues.resolve(core(), queue)
    task_state = tasks.check_state(request.args.get("state", "pending"))
    page = query_int("page", 1, 1, 10**9)
    size = query_int("size", 20, 1, 500, aliases=("limit",))
    needle = request.args.get("q")
    listed = tasks.list_tasks(core(), name, task_state, page=page, size=size, needle=needle)
    return task_list_object(name, task_state, page, size, listed, needle)


@api_bp.get("/api/queues/<queue>/tasks/<task_id>")
@admin_route
def get_queue_task(queue: str, task_id: str) -> Any:
    """One task of a queue."""
    return task_object(tasks.get_task(core(), queues.resolve(core(), queue), task_id))


@api_bp.get("/api/tasks/<task_id>")
@admin_route
def find_task(task_id: str) -> Any:
    """Find a task by ID in any queue."""
    return task_object(tasks.find_task(core(), task_id))


def _act(queue: str, task_id: str, action: str) -> dict[str, Any]:
    tasks.act(core(), queue, task_id, action)
    return {"task_id": task_id, **ANSWERS[action]}


TASK_ACTION_ROUTES = (
    ("delete", "DELETE", "", "Delete a task (any state except active)."),
    ("run", "POST", "/run", "Move a scheduled, retry, archived or completed task to pending."),
    ("archive", "POST", "/archive", "Archive a task that is not active."),
    ("cancel", "POST", "/cancel", "Ask the worker running an active task to cancel it."),
)


def _task_action_view(action: str, summary: str) -> Any:
    def view(queue: str, task_id: str) -> Any:
        return _act(queues.resolve(core(), queue), task_id, action)

    view.__name__ = f"{action}_queue_task"
    view.__doc__ = summary
    return admin_route(view)


for _action_name, _method, _suffix, _summary in TASK_ACTION_ROUTES:
    api_bp.add_url_rule(f"/api/queues/<queue>/tasks/<task_id>{_suffix}",
                        view_func=_task_action_view(_action_name, _summary),
                        methods=[_method])


def _action_body(target: str) -> tuple[dict[str, Any], str]:
    """A bulk request's body (``action`` and ``target``, nothing else) and its checked action."""
    body = json_body()
    reject_unknown(body, {"action", target})
    return body, tasks.check_action(body.get("action"))


@api_bp.post("/api/queues/<queue>/tasks/batch")
@admin_route
def batch_action(queue: str) -> Any:
    """Apply one action to up to 1,000 task IDs."""
    body, action = _action_body("task_ids")
    ids = tasks.check_ids(body.get("task_ids"))
    outcome = tasks.batch(core(), queues.resolve(core(), queue), action, ids)
    return {"action": action, "succeeded": outcome.succeeded,
            "failed": [{"task_id": f.task_id, "code": f.code, "message": f.message}
                       for f in outcome.failed]}


@api_bp.post("/api/queues/<queue>/tasks/all")
@admin_route
def all_action(queue: str) -> Any:
    """Apply one action to every task of a queue in one state."""
    body, action = _action_body("state")
    task_state = body.get("state")
    tasks.check_bulk(action, task_state)
    name = queues.resolve(core(), queue)
    count = tasks.act_all(core(), name, action, task_state)
    return {"action": action, "state": task_state, "count": count}


@api_bp.post("/api/tasks/<task_id>/cancel")
@admin_route
def cancel_task(task_id: str) -> Any:
    """Cancel an active task found by ID."""
    return _act(tasks.find_task(core(), task_id).queue, task_id, "cancel")
