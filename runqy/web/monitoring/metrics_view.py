"""The Metrics page (/monitoring/metrics): Prometheus time series per queue over a chosen range.

With PROMETHEUS_ADDRESS set it draws processed/s, failed/s, error rate, queue depth and latency
from `runqy.metrics.prometheus_api.load_charts` as server-rendered line charts. Without it, or
while Prometheus does not answer, the page says so and shows the Redis daily counters instead,
so it always renders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import request
from markupsafe import Markup

from runqy.metrics.prometheus_api import (
    DEFAULT_RANGE,
    RANGES,
    MetricsCharts,
    PrometheusClient,
    Series,
    load_charts,
)
from runqy.web.monitoring.blueprint import bp
from runqy.web.monitoring.charts import (
    Line,
    axis_duration,
    history_chart,
    line_chart,
    nice_duration,
    nice_span,
    plain_number,
)
from runqy.web.monitoring.state import dashboard_state
from runqy.web.monitoring.views import render_live, split_stats
from runqy.web.state import runqy_state

# Prometheus range -> days of Redis daily counters shown when Prometheus is not there.
REDIS_DAYS = {"1h": 1, "6h": 1, "24h": 1, "7d": 7, "30d": 30}
# Ranges up to a day label the time axis by hour, longer ones by day.
HOURLY_UP_TO = 86400


@dataclass(frozen=True)
class ChartSpec:
    """One chart of the page: which MetricsCharts field, its heading and value format."""

    key: str
    title: str
    fmt: Callable[[float], str]
    ceiling: Callable[[float], float] = nice_span


def per_second(value: float) -> str:
    return f"{plain_number(value)}/s"


def share(value: float) -> str:
    return f"{value * 100:.3g}%"


CHARTS = (
    ChartSpec("processed", "Processed per second", per_second),
    ChartSpec("failed", "Failed per second", per_second),
    ChartSpec("error_rate", "Error rate", share),
    ChartSpec("queue_depth", "Queue depth (pending)", plain_number),
    ChartSpec("latency", "Latency (oldest pending task)", axis_duration, nice_duration),
)


@dataclass(frozen=True)
class DrawnChart:
    key: str
    title: str
    svg: Markup


def to_lines(series: Sequence[Series]) -> list[Line]:
    """One line per queue, sorted by queue name (a series without the label is 'all')."""
    lines = [Line(s.labels.get("queue", "all"), s.points) for s in series]
    return sorted(lines, key=lambda line: line.label)


def draw(charts: MetricsCharts, range_name: str) -> list[DrawnChart]:
    time_format = "%H:%M" if RANGES[range_name] <= HOURLY_UP_TO else "%m-%d"
    return [
        DrawnChart(spec.key, spec.title,
                   line_chart(to_lines(getattr(charts, spec.key)), start=charts.range.start,
                              end=charts.range.end, title=spec.title, fmt=spec.fmt,
                              ceiling=spec.ceiling, time_format=time_format))
        for spec in CHARTS
    ]


def prometheus_charts(address: str, range_name: str,
                      queue: str | None) -> tuple[list[DrawnChart], str | None]:
    """The drawn charts, or [] and the notice to show instead."""
    try:
        client = PrometheusClient(address)
    except ValueError as exc:
        return [], str(exc)
    charts = load_charts(client, range_name, queue)
    if charts.notice is not None:
        return [], charts.notice
    return draw(charts, range_name), None


@bp.get("/metrics")
def metrics() -> str:
    range_name = request.args.get("range", DEFAULT_RANGE)
    if range_name not in RANGES:
        range_name = DEFAULT_RANGE
    inspector = runqy_state().inspector
    stats, broken = split_stats(inspector.all_queue_stats())
    queue_names = [s.queue for s in stats]
    queue = request.args.get("queue") or None
    if queue not in queue_names:
        queue = None
    address = runqy_state().settings.prometheus_address
    charts: list[DrawnChart] = []
    notice = None
    if address:
        charts, notice = prometheus_charts(address, range_name, queue)
    history = None
    if not charts:
        chosen = [s for s in stats if queue is None or s.queue == queue]
        day_count = REDIS_DAYS[range_name]
        days = dashboard_state().history.history(inspector, chosen, day_count)
        history = {"chart": history_chart(days, unit="hour" if day_count == 1 else "day"),
                   "days": day_count,
                   "processed": sum(d.processed for d in days),
                   "failed": sum(d.failed for d in days)}
    return render_live("monitoring/partials/metrics.html", title="Metrics",
                       page_template="monitoring/metrics.html", ranges=RANGES,
                       range_name=range_name, queue=queue, queue_names=queue_names,
                       broken=broken, prometheus_address=address, charts=charts,
                       notice=notice, history=history)
