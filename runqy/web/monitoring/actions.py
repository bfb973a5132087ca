"""Dashboard mutations (POST only): queue pause/resume/delete and task run/archive/delete/cancel,
one by one, for selected rows, or for every task in a state (or in one aggregation group).

Each action flashes what happened and sends the browser back to the page it came from: an
`HX-Redirect` for HTMX buttons, a 303 for plain form posts.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from flask import Response, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from runqy.broker import (
    BrokerError,
    QueueAlreadyPausedError,
    QueueNotPausedError,
)
from runqy.web.monitoring import sources
from runqy.web.monitoring.auth import safe_next
from runqy.web.monitoring.blueprint import bp

TASK_ACTIONS = ("run", "archive", "delete", "cancel")
# Per state, the all-in-state actions the inspector supports (wire-format.md 6.6, bulk).
BULK_ACTIONS = {
    "pending": ("archive", "delete"),
    "active": ("cancel",),
    "scheduled": ("run", "archive", "delete"),
    "retry": ("run", "archive", "delete"),
    "archived": ("run", "delete"),
    "completed": ("delete",),
    "aggregating": ("run", "archive", "delete"),
}
# Per state, the single-task / selected-task actions a row offers: the same, except that one
# completed task can also be run again or archived.
ROW_ACTIONS = {**BULK_ACTIONS, "completed": ("run", "archive", "delete")}
PAST_TENSE = {"run": "queued to run", "archive": "archived", "delete": "deleted",
              "cancel": "asked to cancel"}
MAX_BATCH_IDS = 1000


def go(destination: str) -> BaseResponse:
    if request.headers.get("HX-Request"):
        response = Response(status=204)
        response.headers["HX-Redirect"] = destination
        return response
    return redirect(destination, code=303)


def back_to(fallback: str) -> BaseResponse:
    """Return to the page that asked: the form's `next`, else HTMX's current URL, else
    `fallback`; only paths inside the dashboard are followed."""
    target = request.form.get("next") or request.headers.get("HX-Current-URL") or ""
    parts = urlsplit(target)
    if not target or (parts.netloc and parts.netloc != request.host):
        destination = fallback
    else:
        destination = safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    return go(destination)


def queue_page(queue: str) -> str:
    return url_for("monitoring.queue_detail", queue=queue)


@bp.post("/queues/<queue>/pause")
def pause_queue(queue: str) -> BaseResponse:
    sources.inspector().queue_stats(queue)  # 404 page for an unknown queue
    with contextlib.suppress(QueueAlreadyPausedError):  # the goal (paused) holds either way
        sources.broker().pause_queue(queue)
    flash(f"Queue {queue} paused.", "ok")
    return back_to(url_for("monitoring.queues"))


@bp.post("/queues/<queue>/resume")
def resume_queue(queue: str) -> BaseResponse:
    sources.inspector().queue_stats(queue)
    with contextlib.suppress(QueueNotPausedError):
        sources.broker().unpause_queue(queue)
    flash(f"Queue {queue} resumed.", "ok")
    return back_to(url_for("monitoring.queues"))


@bp.post("/queues/<queue>/delete")
def delete_queue(queue: str) -> BaseResponse:
    force = request.form.get("force") == "true"
    sources.inspector().queue_stats(queue)
    try:
        sources.broker().delete_queue(queue, force=force)
    except BrokerError as exc:
        flash(f"Queue {queue} not deleted: {exc}", "error")
        return back_to(url_for("monitoring.queues"))
    flash(f"Queue {queue} deleted.", "ok")
    # The queue page no longer exists, so go to the list rather than back.
    return go(url_for("monitoring.queues"))


@bp.post("/queues/<queue>/tasks/<task_id>/<action>")
def task_action(queue: str, task_id: str, action: str) -> BaseResponse:
    if action not in TASK_ACTIONS:
        abort(404)
    inspector = sources.inspector()
    operation = {"run": inspector.run_task, "archive": inspector.archive_task,
                 "delete": inspector.delete_task, "cancel": inspector.cancel_task}[action]
    try:
        operation(queue, task_id)
    except BrokerError as exc:
        flash(f"Task {task_id} not {PAST_TENSE[action]}: {exc}", "error")
    else:
        flash(f"Task {task_id} {PAST_TENSE[action]}.", "ok")
    return back_to(queue_page(queue))


@bp.post("/queues/<queue>/batch")
def batch_action(queue: str) -> BaseResponse:
    action = request.form.get("action", "")
    ids = request.form.getlist("ids")
    if action not in TASK_ACTIONS or not ids or len(ids) > MAX_BATCH_IDS:
        flash(f"Choose an action and 1-{MAX_BATCH_IDS} tasks.", "error")
        return back_to(queue_page(queue))
    result = sources.inspector().batch(queue, action, ids)
    if result.succeeded:
        flash(f"{len(result.succeeded)} task(s) {PAST_TENSE[action]}.", "ok")
    if result.failed:
        first_id, first_error = next(iter(result.failed.items()))
        flash(f"{len(result.failed)} task(s) not {PAST_TENSE[action]} "
              f"(for example {first_id}: {first_error}).", "error")
    return back_to(queue_page(queue))


@bp.post("/queues/<queue>/all")
def all_in_state(queue: str) -> BaseResponse:
    action = request.form.get("action", "")
    state = request.form.get("state", "")
    if action not in BULK_ACTIONS.get(state, ()):
        flash(f"Cannot {action or 'do that to'} every {state or 'unknown'} task.", "error")
        return back_to(queue_page(queue))
    # Aggregating tasks are acted on one group at a time: the group the page shows.
    group = request.form.get("group") if state == "aggregating" else None
    if state == "aggregating" and not group:
        flash("Choose a group.", "error")
        return back_to(queue_page(queue))
    inspector = sources.inspector()
    if action == "cancel":
        count = inspector.cancel_all(queue)
    else:
        operation = {"run": inspector.run_all, "archive": inspector.archive_all,
                     "delete": inspector.delete_all}[action]
        count = operation(queue, state, group)
    where = f" in group {group}" if group else ""
    flash(f"{count} {state} task(s){where} {PAST_TENSE[action]}.", "ok")
    return back_to(queue_page(queue))
