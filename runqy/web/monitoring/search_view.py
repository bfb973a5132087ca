"""Search page: find tasks by error text, type, ID or payload text across queues and states, at
any scale, and act on the matches.

The page holds the form; each `/search/step` request runs the broker's bounded search
(`runqy.broker.search`) for a fraction of a second from a cursor, returns the matching rows it
found, an out-of-band progress line and (unless the search is done) a sentinel row that HTMX
loads at once to continue: matches stream into the table while the scan goes on. After
`PAGE_MATCHES` matches the sentinel waits for a click ("Continue"). Actions on ticked matches
go through the core's batch action, one batch per queue.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flask import flash, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from runqy.broker.search import FIELDS, SEARCHABLE_STATES, SearchCursor, search
from runqy.core import queues as core_queues
from runqy.core import tasks
from runqy.core.errors import DomainError
from runqy.web.monitoring.actions import PAST_TENSE, back_to
from runqy.web.monitoring.blueprint import bp
from runqy.web.state import core, runqy_state

FAILED = "failed"  # retry and archived together
SCOPES = (FAILED, *SEARCHABLE_STATES)
ALL_QUEUES = ""
STEP_BUDGET = 0.5  # seconds of scanning per step request
PAGE_MATCHES = 500  # matches shown before the scan waits for "Continue"
NEEDLE_MAX = 200
SEARCH_ACTIONS = ("run", "archive", "delete")


@dataclass(frozen=True)
class SearchForm:
    """The search as the URL states it (every choice checked against what exists)."""

    needle: str
    field: str
    scope: str
    queue: str

    @classmethod
    def from_args(cls, known_queues: list[str]) -> SearchForm:
        args = request.args
        field = args.get("field", "any")
        scope = args.get("scope", FAILED)
        queue = args.get("queue", ALL_QUEUES)
        return cls(args.get("q", "").strip()[:NEEDLE_MAX],
                   field if field in FIELDS else "any",
                   scope if scope in SCOPES else FAILED,
                   queue if queue in known_queues else ALL_QUEUES)

    @property
    def states(self) -> tuple[str, ...]:
        return ("retry", "archived") if self.scope == FAILED else (self.scope,)

    def queues(self, known_queues: list[str]) -> list[str]:
        return [self.queue] if self.queue else known_queues

    def args(self, **extra: object) -> dict[str, object]:
        return {"q": self.needle, "field": self.field, "scope": self.scope,
                "queue": self.queue or None, **extra}


@bp.get("/search")
def search_page() -> str:
    known = runqy_state().inspector.queue_names()
    form = SearchForm.from_args(known)
    return render_template("monitoring/search.html", title="Search", form=form, queues=known,
                           fields=FIELDS, scopes=SCOPES, actions=SEARCH_ACTIONS)


@bp.get("/search/step")
def search_step() -> str:
    known = runqy_state().inspector.queue_names()
    form = SearchForm.from_args(known)
    cursor = SearchCursor.parse(request.args.get("cursor"))
    raw_shown = request.args.get("shown", "")
    shown = int(raw_shown) if raw_shown.isdigit() and len(raw_shown) < 10 else 0
    step = search(runqy_state().inspector, form.queues(known), form.states, form.needle,
                  form.field, cursor, budget=STEP_BUDGET, max_matches=PAGE_MATCHES)
    before, shown = shown, shown + len(step.matches)
    return render_template(
        "monitoring/partials/search_step.html", form=form, step=step, shown=shown,
        # every PAGE_MATCHES matches the scan waits for a click on "Continue"
        waiting=before // PAGE_MATCHES < shown // PAGE_MATCHES,
        next_url=url_for("monitoring.search_step",
                         **form.args(cursor=step.cursor.token(), shown=shown)))


@bp.post("/search/act")
def search_act() -> BaseResponse:
    """Run, archive or delete the ticked matches (``ids``: ``queue/task_id``)."""
    action = request.form.get("action", "")
    by_queue: dict[str, list[str]] = defaultdict(list)
    for value in request.form.getlist("ids"):
        queue, _, task_id = value.rpartition("/")  # task IDs never hold "/"
        if queue:
            by_queue[queue].append(task_id)
    fallback = url_for("monitoring.search_page")
    if action not in SEARCH_ACTIONS or not by_queue:
        flash("Choose an action and tick at least one task.", "error")
        return back_to(fallback)
    rt = core()
    done = failed = 0
    first_failure = ""
    for queue, ids in by_queue.items():
        try:
            outcome = tasks.batch(rt, core_queues.resolve(rt, queue), action, ids)
        except DomainError as exc:
            failed += len(ids)
            first_failure = first_failure or f"{queue}: {exc}"
            continue
        done += len(outcome.succeeded)
        failed += len(outcome.failed)
        if outcome.failed and not first_failure:
            first_failure = f"{outcome.failed[0].task_id}: {outcome.failed[0].message}"
    if done:
        flash(f"{done} task(s) {PAST_TENSE[action]}.", "ok")
    if failed:
        flash(f"{failed} task(s) not {PAST_TENSE[action]} (for example {first_failure}).",
              "error")
    return back_to(fallback)
