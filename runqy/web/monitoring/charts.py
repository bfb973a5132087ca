"""Server-rendered charts: pure functions from numbers to inline SVG markup.

The dashboard has no front-end build, so charts are drawn here as SVG strings and dropped into
the page (and into the polled partials) like any other HTML. Nothing here touches Redis or Flask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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


def nice_ceiling(value: int) -> int:
    """The smallest 1/2/5 x 10^n at or above `value` (at least 1), so axis ticks read well."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    raise AssertionError("unreachable: 10 * magnitude always exceeds value")


def history_chart(days: Sequence[DayCount], *, width: int = 720, height: int = 220) -> Markup:
    """Stacked bars per day, oldest on the left: succeeded below, failed on top.

    Each bar's full height is the day's processed count; the `<title>` of each bar group gives
    the exact numbers on hover, and the whole chart carries a text summary for screen readers.
    """
    left, right, top, bottom = 48, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((d.processed for d in days), default=0))
    total_processed = sum(d.processed for d in days)
    total_failed = sum(d.failed for d in days)
    summary = f"{total_processed} processed, {total_failed} failed over {len(days)} day(s)"

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
        # Counted from the newest day so today's label is always shown.
        if (len(days) - 1 - index) % label_every == 0:
            parts.append(
                f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{height - 6}" '
                f'text-anchor="middle">{escape(day.label)}</text>'
            )
    parts.append("</svg>")
    # Safe: every piece of text above went through escape(); the rest is numbers.
    return Markup("".join(parts))  # noqa: S704
