"""Client routes: `POST /queue/add`, `POST /queue/add-batch`, `GET /queue/<id>` (section 5),
as thin views on :mod:`runqy.core.enqueue` and :mod:`runqy.web.waiters`."""

from __future__ import annotations

from typing import Any

from flask import request

from runqy.core import tasks
from runqy.core.objects import added_object, batch_object, task_object
from runqy.web.api import api_bp
from runqy.web.auth import CLIENT, require_role
from runqy.web.inputs import json_body, query_bool, query_int
from runqy.web.state import RunqyState, core, runqy_state


def added(state: RunqyState, body: dict[str, Any]) -> dict[str, Any]:
    """Enqueue one task; the answer of `POST /queue/add` (also served by runqy.web.lean_routes)."""
    return added_object(state.enqueuer.add(body))


def task_answer(state: RunqyState, task_id: str) -> dict[str, Any]:
    """The answer of `GET /queue/<id>` without waiting (also served by runqy.web.lean_routes)."""
    answer = task_answers(state, [task_id])[0]
    if isinstance(answer, Exception):
        raise answer
    return answer


def task_answers(state: RunqyState, task_ids: list[str]) -> list[dict[str, Any] | Exception]:
    """The answers of several `GET /queue/<id>`, their tasks read together (the lean lane):
    each its body or the exception its request answers (NotFound; Redis failing: all)."""
    try:
        found = tasks.find_tasks(state.core, task_ids)
    except Exception as exc:  # noqa: BLE001 - each request answers it (Flask's handlers)
        return [exc] * len(task_ids)
    answers: list[dict[str, Any] | Exception] = []
    for each in found:
        try:
            answers.append(each if isinstance(each, Exception) else {"info": task_object(each)})
        except Exception as exc:  # noqa: BLE001 - this request answers it (Flask's handlers)
            answers.append(exc)
    return answers


@api_bp.post("/queue/add")
@require_role(CLIENT)
def add_task() -> Any:
    """Enqueue one task (nested form with `data` and options, or flat form)."""
    return added(runqy_state(), json_body())


@api_bp.post("/queue/add-batch")
@require_role(CLIENT)
def add_batch() -> Any:
    """Enqueue many tasks in one request and one Redis round trip."""
    return batch_object(runqy_state().enqueuer.add_batch(json_body()))


@api_bp.get("/queue/<task_id>")
@require_role(CLIENT)
def get_task(task_id: str) -> Any:
    """Read a task's status and result; `?wait=true&timeout=N` long-polls."""
    if not query_bool("wait"):
        return task_answer(runqy_state(), task_id)
    timeout = query_int("timeout", 30, 1, 120)
    info = runqy_state().waiters.wait(core(), task_id, timeout, request.environ)
    if info is None:
        return {}  # parked: this answer is never sent, the request runs again later
    return {"info": task_object(info)}
