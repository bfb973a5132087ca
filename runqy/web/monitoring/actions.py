"""Dashboard mutations (POST only): queue pause/resume/delete and task run/archive/delete/cancel,
one by one, for selected rows, or for every task in a state (or in one aggregation group).

Each action flashes what happened and sends the browser back to the page it came from: an
`HX-Redirect` for HTMX buttons, a 303 for plain form posts.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from runqy.broker.states import ACTIONS, TASK_STATES
from runqy.core import queues, tasks
from runqy.core.errors import DomainError
from runqy.web.monitoring.auth import safe_next
from runqy.web.monitoring.blueprint import bp
from runqy.web.state import core

PAST_TENSE = {"run": "queued to run", "archive": "archived", "delete": "deleted",
              "cancel": "asked to cancel"}


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
    name = queues.set_paused(core(), queue, True)
    flash(f"Queue {name} paused.", "ok")
    return back_to(url_for("monitoring.queues"))


@bp.post("/queues/<queue>/resume")
def resume_queue(queue: str) -> BaseResponse:
    name = queues.set_paused(core(), queue, False)
    flash(f"Queue {name} resumed.", "ok")
    return back_to(url_for("monitoring.queues"))


@bp.post("/queues/<queue>/delete")
def delete_queue(queue: str) -> BaseResponse:
    force = request.form.get("force") == "true"
    try:
        deleted = queues.delete_queue(core(), queue, force=force)
    except DomainError as exc:
        if exc.code == "queue_not_found":
            raise
        flash(f"Queue {queue} not deleted: {exc}", "error")
        return back_to(url_for("monitoring.queues"))
    disabled = " and its configuration disabled" if deleted.config_disabled else ""
    flash(f"Queue {deleted.name} deleted{disabled}.", "ok")
    # The queue page no longer exists, so go to the list rather than back.
    return go(url_for("monitoring.queues"))


@bp.post("/queues/<queue>/tasks/<task_id>/<action>")
def task_action(queue: str, task_id: str, action: str) -> BaseResponse:
    if action not in ACTIONS:
        abort(404)
    rt = core()
    try:
        tasks.act(rt, queues.resolve(rt, queue), task_id, action)
    except DomainError as exc:
        flash(f"Task {task_id} not {PAST_TENSE[action]}: {exc}", "error")
    else:
        flash(f"Task {task_id} {PAST_TENSE[action]}.", "ok")
    return back_to(queue_page(queue))


@bp.post("/queues/<queue>/batch")
def batch_action(queue: str) -> BaseResponse:
    action = request.form.get("action", "")
    rt = core()
    try:
        outcome = tasks.batch(rt, queues.resolve(rt, queue), action, request.form.getlist("ids"))
    except DomainError as exc:
        if exc.code == "queue_not_found":
            raise
        flash(f"Choose an action and 1-{tasks.BATCH_LIMIT} tasks ({exc}).", "error")
        return back_to(queue_page(queue))
    if outcome.succeeded:
        flash(f"{len(outcome.succeeded)} task(s) {PAST_TENSE[action]}.", "ok")
    if outcome.failed:
        first = outcome.failed[0]
        flash(f"{len(outcome.failed)} task(s) not {PAST_TENSE[action]} "
              f"(for example {first.task_id}: {first.message}).", "error")
    return back_to(queue_page(queue))


@bp.post("/queues/<queue>/all")
def all_in_state(queue: str) -> BaseResponse:
    action = request.form.get("action", "")
    state = request.form.get("state", "")
    # Aggregating tasks are acted on one group at a time: the group the page shows.
    group = request.form.get("group") if state == "aggregating" else None
    if state == "aggregating" and not group:
        flash("Choose a group.", "error")
        return back_to(queue_page(queue))
    rt = core()
    try:
        count = tasks.act_all(rt, queues.resolve(rt, queue), action, state, group=group,
                              states=TASK_STATES)
    except DomainError as exc:
        if exc.code == "queue_not_found":
            raise
        flash(f"Cannot {action or 'do that to'} every {state or 'unknown'} task: {exc}",
              "error")
        return back_to(queue_page(queue))
    where = f" in group {group}" if group else ""
    flash(f"{count} {state} task(s){where} {PAST_TENSE[action]}.", "ok")
    return back_to(queue_page(queue))
