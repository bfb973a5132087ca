"""Dashboard pages (GET only): each view returns the full page, or just its live partial when
HTMX polls it (HX-Request header), so one template serves both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from flask import render_template, request
from werkzeug.wrappers import Response as BaseResponse

from runqy.broker import BrokerError, Inspector, QueueStats, TaskInfo
from runqy.broker.search import SearchCursor, SearchStep, search
from runqy.broker.states import BULK_ACTIONS, LISTED_STATES, TASK_ACTIONS, TASK_STATES
from runqy.core import queues as queues_core
from runqy.core import tasks, workers
from runqy.core.system import stored_counts, system_info
from runqy.web.extensions import db
from runqy.web.models import AdminUser
from runqy.web.monitoring.blueprint import bp
from runqy.web.monitoring.charts import DayCount, history_chart
from runqy.web.monitoring.history import prometheus_history
from runqy.web.monitoring.live_rates import LiveRates
from runqy.web.monitoring.state import dashboard_state
from runqy.web.monitoring.task_story import TaskStory
from runqy.web.state import core, runqy_state

# Tasks waiting in an aggregation group (wire-format.md 6.6): a tab only when the queue has some.
AGGREGATING = "aggregating"
HISTORY_RANGES = {"today": 1, "7d": 7, "30d": 30}
PAGE_SIZE = 20
# A filtered page reads the state for at most this long, then offers to read on from there.
FILTER_BUDGET = 0.3


def wants_partial() -> bool:
    """A poll or filter request from HTMX gets the fragment; a boosted navigation the page."""
    return request.headers.get("HX-Request") == "true" and "HX-Boosted" not in request.headers


def render_live(partial: str, *, title: str, section: str | None = None,
                page_template: str = "monitoring/base.html", **context: object) -> str:
    if wants_partial():
        return render_template(partial, **context)
    return render_template(page_template, partial=partial, title=title, section=section,
                           **context)


def split_stats(results: Iterable[QueueStats | BrokerError]) -> tuple[list[QueueStats], list[str]]:
    """Readable queues, and one message per queue whose stats failed (shown, not fatal)."""
    good: list[QueueStats] = []
    broken: list[str] = []
    for item in results:
        if isinstance(item, QueueStats):
            good.append(item)
        else:
            broken.append(str(item))
    return good, broken


# QueueStats fields the Overview cards sum over every queue.
TOTAL_FIELDS = ("pending", "active", "scheduled", "retry", "archived", "completed", "processed",
                "failed")


def totals_of(stats: Sequence[QueueStats]) -> dict[str, int]:
    totals = {name: sum(getattr(s, name) for s in stats) for name in TOTAL_FIELDS}
    totals["queues"] = len(stats)
    return totals


def chart_history(inspector: Inspector, stats: Sequence[QueueStats],
                  days: int) -> tuple[list[DayCount], str | None, str]:
    """(buckets, notice, source): Prometheus when configured and answering, else Redis."""
    address = runqy_state().settings.prometheus_address
    notice = None
    if address:
        buckets, notice = prometheus_history(address, days)
        if notice is None:
            return buckets, None, "Prometheus"
    return dashboard_state().history.history(inspector, stats, days), notice, "Redis"


@bp.get("/")
def overview() -> str:
    range_key = request.args.get("range", "7d")
    if range_key not in HISTORY_RANGES:
        range_key = "7d"
    inspector = runqy_state().inspector
    stats, broken = split_stats(inspector.all_queue_stats())
    days, notice, source = chart_history(inspector, stats, HISTORY_RANGES[range_key])
    return render_live(
        "monitoring/partials/overview.html", title="Overview", stats=stats, broken=broken,
        totals=totals_of(stats), fleet=workers.fleet(core()),
        servers=inspector.servers(), range_key=range_key, ranges=HISTORY_RANGES,
        chart=history_chart(days, unit="hour" if range_key == "today" else "day"),
        history_source=source, history_notice=notice,
        history_processed=sum(d.processed for d in days),
        history_failed=sum(d.failed for d in days),
        rates=LiveRates.read(inspector, [s.queue for s in stats]),
    )


@dataclass
class QueueGroup:
    """A parent queue and its sub-queues (highest priority first) for the Queues page."""

    parent: str
    rows: list[tuple[QueueStats, int | None]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(s.size for s, _ in self.rows)


def group_queues(stats: Sequence[QueueStats], priorities: dict[str, int]) -> list[QueueGroup]:
    groups: dict[str, QueueGroup] = {}
    for s in stats:
        parent = s.queue.split(".", 1)[0]
        groups.setdefault(parent, QueueGroup(parent)).rows.append((s, priorities.get(s.queue)))
    for group in groups.values():
        group.rows.sort(key=lambda row: (-(row[1] or 0), row[0].queue))
    return [groups[name] for name in sorted(groups)]


@bp.get("/queues")
def queues() -> str:
    stats, broken = split_stats(runqy_state().inspector.all_queue_stats())
    return render_live("monitoring/partials/queues.html", title="Queues",
                       groups=group_queues(stats, queues_core.priorities(core())), broken=broken)


@dataclass
class TaskPage:
    tasks: list[TaskInfo]
    page: int
    pages: int
    filtered: SearchStep | None = None  # set when a text filter is active


def filtered_page(inspector: Inspector, queue: str, state: str, needle: str,
                  group: str | None = None) -> TaskPage:
    """The next PAGE_SIZE tasks of the state (of the group, for aggregating) whose ID, type or
    payload contains `needle`, newest first, read with the search's cursor from the `after`
    argument on: each page reads for FILTER_BUDGET at most and links to the next one, so a
    million-task state is filtered page by page, never cut short."""
    step = search(inspector, [queue], [state], needle, "text",
                  SearchCursor.parse(request.args.get("after")), budget=FILTER_BUDGET,
                  max_matches=PAGE_SIZE, group=group)
    return TaskPage(step.matches, 1, 1, step)


def page_argument() -> int:
    raw = request.args.get("page", "1")
    return max(1, min(int(raw), 10**9)) if raw.isdigit() else 1


@dataclass
class GroupChoice:
    """The aggregation groups of a queue and the one the Aggregating tab shows."""

    sizes: dict[str, int]
    current: str | None

    @classmethod
    def read(cls, queue: str, wanted: str | None) -> GroupChoice:
        sizes = tasks.group_sizes(core(), queue)
        current = wanted if wanted in sizes else next(iter(sizes), None)
        return cls(sizes, current)


@bp.get("/queues/<queue>")
def queue_detail(queue: str) -> str:
    inspector = runqy_state().inspector
    stats = inspector.queue_stats(queue)
    state = request.args.get("state", "pending")
    # The tab shows while the queue has aggregating tasks, and stays while it is open.
    states = TASK_STATES if stats.aggregating or state == AGGREGATING else LISTED_STATES
    if state not in states:
        state = "pending"
    groups = None
    if state == AGGREGATING:
        groups = GroupChoice.read(queue, request.args.get("group"))
        count = groups.sizes.get(groups.current, 0) if groups.current else 0
    else:
        count = getattr(stats, state)
    group = groups.current if groups else None
    needle = request.args.get("q", "").strip()[:200]
    if state == AGGREGATING and group is None:
        listing = TaskPage([], 1, 1)  # every group was emptied: nothing to list or filter
    elif needle:
        listing = filtered_page(inspector, queue, state, needle, group)
    else:
        pages = max(1, math.ceil(count / PAGE_SIZE))
        page = min(page_argument(), pages)
        listing = TaskPage(inspector.list_tasks(queue, state, page, PAGE_SIZE, group=group),
                           page, pages)
    return render_live("monitoring/partials/queue_detail.html", title=f"Queue {queue}",
                       section="monitoring.queues", page_template="monitoring/queue_detail.html",
                       queue=queue, stats=stats, state=state, states=states, needle=needle,
                       listing=listing, count=count, row_actions=TASK_ACTIONS[state],
                       bulk_actions=BULK_ACTIONS[state], groups=groups, group=group,
                       workers=workers.fleet(core()).workers,
                       since=tasks.since(core(), queue, state, listing.tasks),
                       rates=LiveRates.read(inspector, [queue]))


def render_task(task: TaskInfo) -> str:
    return render_live("monitoring/partials/task.html", title=f"Task {task.id}",
                       section="monitoring.queues", task=task,
                       row_actions=TASK_ACTIONS.get(task.state, ()),
                       story=TaskStory.read(runqy_state().inspector, task))


@bp.get("/tasks/<task_id>")
def task_permalink(task_id: str) -> str:
    return render_task(tasks.find_task(core(), task_id))


@bp.get("/queues/<queue>/tasks/<task_id>")
def task_detail(queue: str, task_id: str) -> str:
    return render_task(tasks.get_task(core(), queue, task_id))


@bp.get("/workers", endpoint="workers")
def workers_page() -> str:
    return render_live("monitoring/partials/workers.html", title="Workers",
                       fleet=workers.fleet(core()), servers=runqy_state().inspector.servers())


@bp.get("/workers/<worker_id>")
def worker_detail(worker_id: str) -> str:
    rt = core()
    return render_live("monitoring/partials/worker.html", title=f"Worker {worker_id}",
                       section="monitoring.workers", worker=workers.worker_record(rt, worker_id),
                       logs=workers.worker_logs(rt, worker_id))


@bp.get("/system")
def system() -> str | BaseResponse:
    info = system_info(core(), runqy_state().settings)
    database = {**info.database, **stored_counts(core()),
                "admins": db.session.query(AdminUser).count()}
    return render_live("monitoring/partials/system.html", title="System", info=info.redis,
                       database=database, version=info.version, redis_url=info.redis_url)
