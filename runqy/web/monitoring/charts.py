"""Server-rendered charts: pure functions from numbers to inline SVG markup.

The dashboard has no front-end build, so charts are drawn here as SVG strings and dropped into
the page (and into the polled partials) like any other HTML. Nothing here touches Redis or Flask.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape


@dataclass(frozen=True)
class DayCount:
    """One day of the task history: `processed` includes the `failed` attempts."""

    label: str
    processed: int
    failed: int

    @property
    def succeeded(self) -> int:
        return max(self.processed - self.failed, 0)


def nice_span(value: float) -> float:
    """The smallest 1/2/5 x 10^n at or above `value` (1 for nothing to show), so axis ticks
    read well; works below 1 too (0.03 -> 0.05)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        # The tolerance keeps 0.3 from rounding up to 0.5 through float error.
        if step * magnitude >= value * (1 - 1e-9):
            return step * magnitude
    raise AssertionError("unreachable: 10 * magnitude always exceeds value")


# Axis peaks for durations (seconds) whose quarters are round: 15 s, 1 min, 5 min, 15 min, 1 h...
DURATION_PEAKS = (1, 2, 4, 8, 20, 40, 60, 120, 240, 600, 1200, 2400, 3600, 7200, 14400, 28800,
                  86400, 172800, 345600, 604800)


def nice_duration(seconds: float) -> float:
    """The smallest DURATION_PEAKS entry at or above `seconds`; nice_span beyond a week."""
    if seconds <= 0 or not math.isfinite(seconds):
        return 1.0
    return float(next((peak for peak in DURATION_PEAKS if peak >= seconds),
                      nice_span(seconds)))


def nice_ceiling(value: int) -> int:
    """nice_span for whole counts: at least 1."""
    return round(nice_span(max(value, 1)))


def history_chart(days: Sequence[DayCount], *, width: int = 600, height: int = 220,
                  unit: str = "day",
                  labelled: Callable[[DayCount], bool] | None = None) -> Markup:
    """Stacked bars per day (or other `unit`), oldest on the left: succeeded below, failed on
    top.

    Each bar's full height is the day's processed count; the `<title>` of each bar group gives
    the exact numbers on hover, and the whole chart carries a text summary for screen readers.
    `labelled` picks the bars whose label the axis shows (default: at most 10, today's
    included).
    """
    left, right, top, bottom = 48, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((d.processed for d in days), default=0))
    total_processed = sum(d.processed for d in days)
    total_failed = sum(d.failed for d in days)
    summary = f"{total_processed} processed, {total_failed} failed over {len(days)} {unit}(s)"

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(summary)}</title>",
    ]
    # peak is 1, 2 or 5 x 10^n, so fifths (or units below 5) are whole, readable numbers.
    segments = 5 if peak >= 5 else peak
    for tick in range(segments + 1):
        value = peak * tick // segments
        y = top + plot_h - plot_h * tick / segments
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )

    slot = plot_w / max(len(days), 1)
    bar_w = max(min(slot * 0.7, 48), 1)
    label_every = max(1, math.ceil(len(days) / 10))
    for index, day in enumerate(days):
        x = left + slot * index + (slot - bar_w) / 2
        ok_h = plot_h * day.succeeded / peak
        failed_h = plot_h * min(day.failed, day.processed) / peak
        base = top + plot_h
        parts.append(
            f'<g class="day"><title>{escape(day.label)}: {day.processed} processed, '
            f"{day.failed} failed</title>"
            f'<rect class="bar-ok" x="{x:.1f}" y="{base - ok_h:.1f}" width="{bar_w:.1f}" '
            f'height="{ok_h:.1f}"/>'
            f'<rect class="bar-failed" x="{x:.1f}" y="{base - ok_h - failed_h:.1f}" '
            f'width="{bar_w:.1f}" height="{failed_h:.1f}"/></g>'
        )
        # By default counted from the newest day so today's label is always shown.
        if labelled(day) if labelled else (len(days) - 1 - index) % label_every == 0:
            # a label at the right edge ends there instead of running out of the chart
            at_edge = x + bar_w / 2 + 22 > width
            parts.append(
                f'<text class="axis" x="{x + (bar_w if at_edge else bar_w / 2):.1f}" '
                f'y="{height - 6}" text-anchor="{"end" if at_edge else "middle"}">'
                f"{escape(day.label)}</text>"
            )
    parts.append("</svg>")
    # Safe: every piece of text above went through escape(); the rest is numbers.
    return Markup("".join(parts))  # noqa: S704


# Time-axis steps (seconds): each tick falls on a whole multiple, so its label is exact.
TIME_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
              604800)


def time_ticks(start: float, end: float, most: int = 6) -> list[int]:
    """Round instants in [start, end] (whole minutes, quarter hours, hours, UTC days...), at
    most `most` of them: a label "21:45" then means exactly 21:45:00."""
    span = max(end - start, 1.0)
    step = next((s for s in TIME_STEPS if span / s <= most), None)
    if step is None:
        step = math.ceil(span / most / TIME_STEPS[-1]) * TIME_STEPS[-1]
    first = math.ceil(start / step) * step
    return list(range(int(first), int(end) + 1, step))


@dataclass(frozen=True)
class Line:
    """One series of a line chart: `points` are (unix seconds, value), None for a gap."""

    label: str
    points: Sequence[tuple[float, float | None]]

    @property
    def latest(self) -> float | None:
        return next((v for _, v in reversed(self.points) if v is not None), None)


# Series colours cycle through this many CSS classes (.s0 ... in dashboard.css).
PALETTE_SIZE = 8


def plain_number(value: float) -> str:
    """Axis and hover text: at most three significant digits, no exponent for usual values."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def axis_duration(seconds: float) -> str:
    """A duration in its largest whole unit, to four significant digits: the quarters of the
    DURATION_PEAKS stay exact (150 s is "2.5 min", not a rounded "2 min")."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.4g} {unit}"
    return f"{seconds:.4g} s"


Point = tuple[float, float]


def strokes(points: Sequence[tuple[float, float | None]],
            place: Callable[[float, float], Point]) -> list[list[Point]]:
    """The points in plot coordinates, split into runs wherever a value is None (a gap)."""
    runs: list[list[Point]] = []
    pen_down = False
    for ts, value in points:
        if value is None:
            pen_down = False
            continue
        if not pen_down:
            runs.append([])
            pen_down = True
        runs[-1].append(place(ts, value))
    return runs


def path_data(runs: Sequence[Sequence[Point]]) -> str:
    """SVG path commands: a move to the start of each run, then lines through it."""
    return " ".join(
        f"{'L' if i else 'M'}{x:.1f},{y:.1f}" for run in runs for i, (x, y) in enumerate(run)
    )


def line_chart(lines: Sequence[Line], *, start: float, end: float, title: str,
               fmt: Callable[[float], str] = plain_number,
               ceiling: Callable[[float], float] = nice_span, time_format: str = "%H:%M",
               width: int = 600, height: int = 220) -> Markup:
    """Lines over [start, end] (unix seconds) from 0 to a rounded peak, with a legend.

    Returns a `<figure>`: the SVG (one `<path class="line sN" data-series=...>` per line, its
    `<title>` giving the latest value, and a dot for each lone point) and a legend listing
    every line, also those with no point to draw (an idle queue's error rate). `fmt` formats
    axis and latest values.
    """
    left, right, top, bottom = 64, 12, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    span = max(end - start, 1.0)
    peak = ceiling(max((v for line in lines for _, v in line.points if v is not None),
                       default=0.0))

    def place(ts: float, value: float) -> Point:
        x = left + plot_w * min(max((ts - start) / span, 0.0), 1.0)
        return x, top + plot_h - plot_h * min(max(value / peak, 0.0), 1.0)

    summary = f"{title}: {len(lines)} series"
    parts = [
        f'<figure class="line-chart" aria-label="{escape(summary)}">',
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(summary)}</title>",
    ]
    for tick in range(5):
        value = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
    for ts in time_ticks(start, end):
        x = left + plot_w * (ts - start) / span
        anchor = "start" if x < left + 20 else "end" if x > width - right - 20 else "middle"
        parts.append(
            f'<line class="grid tick" x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" '
            f'y2="{top + plot_h + 4}"/>'
            f'<text class="axis" x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}">'
            f"{escape(datetime.fromtimestamp(ts, UTC).strftime(time_format))}</text>"
        )
    for index, line in enumerate(lines):
        latest = line.latest
        latest_text = "no data" if latest is None else fmt(latest)
        runs = strokes(line.points, place)
        colour = f"s{index % PALETTE_SIZE}"
        parts.append(
            f'<path class="line {colour}" data-series="{escape(line.label)}" '
            f'data-points="{sum(len(run) for run in runs)}" d="{path_data(runs)}">'
            f"<title>{escape(line.label)}: {escape(latest_text)}</title></path>"
        )
        # A lone point (a series that just appeared, or between gaps) has no line to draw.
        parts.extend(
            f'<circle class="dot {colour}" cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="2.5"/>'
            for run in runs if len(run) == 1
        )
    parts.append('</svg><figcaption><ul class="series-legend">')
    for index, line in enumerate(lines):
        parts.append(f'<li data-series="{escape(line.label)}"><span class="swatch '
                     f's{index % PALETTE_SIZE}"></span>{escape(line.label)}</li>')
    parts.append("</ul></figcaption></figure>")
    # Safe: every piece of text above went through escape(); the rest is numbers.
    return Markup("".join(parts))  # noqa: S704
