"""The SVG charts: history bar heights and line-chart points follow the numbers, labels are
escaped, gaps and edge cases hold."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest

from runqy.web.monitoring.charts import (
    DayCount,
    Line,
    axis_duration,
    history_chart,
    line_chart,
    nice_ceiling,
    nice_duration,
    nice_span,
    time_ticks,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well-formed


def bars(svg: str, kind: str) -> list[float]:
    root = parse(svg)
    return [float(r.get("height")) for r in root.iter(f"{SVG}rect") if r.get("class") == kind]


def test_nice_ceiling_rounds_up_to_readable_steps():
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 120, 999)] == [1, 1, 5, 10, 10, 20, 200,
                                                                          1000]


def test_bar_heights_are_proportional_and_stack_to_processed():
    days = [DayCount("11-26", 100, 0), DayCount("11-27", 50, 10), DayCount("11-28", 0, 0)]
    svg = history_chart(days, width=300, height=134)  # plot height 100 px, axis peak 100
    assert bars(svg, "bar-ok") == [100.0, 40.0, 0.0]
    assert bars(svg, "bar-failed") == [0.0, 10.0, 0.0]
    assert "150 processed, 10 failed over 3 day(s)" in svg


def test_axis_labels_show_the_rounded_peak():
    svg = history_chart([DayCount("today", 7, 3)])
    texts = [t.text for t in parse(svg).iter(f"{SVG}text")]
    assert "10" in texts and "0" in texts and "today" in texts


def test_labels_are_escaped():
    svg = history_chart([DayCount("<script>x</script>", 1, 0)])
    assert "<script>" not in svg
    parse(svg)  # still well-formed XML


def test_empty_history_draws_an_empty_axis():
    svg = history_chart([])
    assert bars(svg, "bar-ok") == []
    assert "0 processed, 0 failed over 0 day(s)" in svg


def test_thirty_days_label_at_most_ten_days_including_today():
    days = [DayCount(f"d{i}", i, 0) for i in range(30)]
    labels = [t.text for t in parse(history_chart(days)).iter(f"{SVG}text")
              if t.text.startswith("d")]
    assert len(labels) == 10 and labels[-1] == "d29"


def paths(figure: str) -> dict[str, str]:
    """data-series -> the path's d attribute."""
    return {p.get("data-series"): p.get("d") for p in parse(figure).iter(f"{SVG}path")}


def coordinates(d: str) -> list[list[tuple[float, float]]]:
    """The pen strokes of a path: each M starts a new stroke."""
    strokes: list[list[tuple[float, float]]] = []
    for command in d.split():
        x, y = (float(n) for n in command[1:].split(","))
        if command[0] == "M":
            strokes.append([])
        strokes[-1].append((x, y))
    return strokes


def test_nice_span_covers_fractions():
    spans = [nice_span(v) for v in (0, 0.03, 0.2, 0.3, 0.7, 1.5, 40)]
    assert spans == pytest.approx([1, 0.05, 0.2, 0.5, 1, 2, 50])


def test_duration_axis_peaks_have_round_quarters():
    assert [nice_duration(v) for v in (0, 0.4, 45, 61, 1000, 5000, 10**6)] == [
        1, 1, 60, 120, 1200, 7200, 1_000_000]
    # 20 min: ticks every 5 min, not the 4 min / 8 min / 12 min of a 1-2-5 peak.
    figure = line_chart([Line("q", [(0.0, 1000.0)])], start=0, end=1, title="t",
                        fmt=lambda v: f"{v / 60:g} min", ceiling=nice_duration)
    axis = [t.text for t in parse(figure).iter(f"{SVG}text") if t.text.endswith("min")]
    assert axis == ["0 min", "5 min", "10 min", "15 min", "20 min"]


def test_line_points_are_placed_by_time_and_value():
    # Plot area: x from 64 to 264 (200 px) over 100 s, y from 10 (peak 10) down to 110 (0).
    line = Line("q.a", [(1000.0, 0.0), (1050.0, 5.0), (1100.0, 10.0)])
    figure = line_chart([line], start=1000, end=1100, title="t", width=276, height=138)
    assert coordinates(paths(figure)["q.a"]) == [[(64.0, 110.0), (164.0, 60.0), (264.0, 10.0)]]


def test_missing_values_break_the_line_and_latest_ignores_them():
    line = Line("q.a", [(0.0, 1.0), (1.0, 2.0), (2.0, None), (3.0, 4.0), (4.0, None)])
    figure = line_chart([line], start=0, end=4, title="t")
    assert [len(stroke) for stroke in coordinates(paths(figure)["q.a"])] == [2, 1]
    root = parse(figure)
    # The lone point after the gap is drawn as a dot (a one-point path shows nothing).
    assert [(c.get("cx"), c.get("cy")) for c in root.iter(f"{SVG}circle")] == [
        (f"{coordinates(paths(figure)['q.a'])[1][0][0]:.1f}",
         f"{coordinates(paths(figure)['q.a'])[1][0][1]:.1f}")]
    path = next(root.iter(f"{SVG}path"))
    assert path.get("data-points") == "3"
    assert path.find(f"{SVG}title").text == "q.a: 4"


def test_every_series_is_in_the_legend_even_without_points():
    lines = [Line("q.busy", [(0.0, 0.5)]), Line("q.idle", [(0.0, None)])]
    figure = line_chart(lines, start=0, end=60, title="Error rate", fmt=lambda v: f"{v:.0%}")
    legend = [li.get("data-series") for li in parse(figure).iter("li")]
    assert legend == ["q.busy", "q.idle"]
    assert paths(figure)["q.idle"] == ""
    assert "q.idle: no data" in figure
    axis = [t.text for t in parse(figure).iter(f"{SVG}text")]
    assert "50%" in axis and "0%" in axis  # peak 0.5 formatted by fmt


def test_series_labels_are_escaped_and_colours_cycle():
    lines = [Line(f"<b>{i}</b>", [(0.0, 1.0)]) for i in range(9)]
    figure = line_chart(lines, start=0, end=1, title="<i>t</i>")
    assert "<b>" not in figure and "<i>" not in figure
    classes = [p.get("class") for p in parse(figure).iter(f"{SVG}path")]
    assert classes[0] == classes[8] == "line s0" and classes[7] == "line s7"


def test_time_axis_uses_the_given_format():
    figure = line_chart([], start=0, end=86400 * 4, title="t", time_format="%m-%d")
    labels = [t.text for t in parse(figure).iter(f"{SVG}text") if "-" in (t.text or "")]
    assert labels == ["01-01", "01-02", "01-03", "01-04", "01-05"]


def test_time_ticks_fall_on_round_instants():
    # a 1 h window ending on the 15 s grid at 22:13:15: ticks on whole 10 minutes
    end = 1_700_000_000 - 1_700_000_000 % 15
    ticks = time_ticks(end - 3600, end)
    assert len(ticks) == 6 and all(t % 600 == 0 for t in ticks)
    assert all(end - 3600 <= t <= end for t in ticks)
    figure = line_chart([], start=end - 3600, end=end, title="t")
    labels = [t.text for t in parse(figure).iter(f"{SVG}text") if ":" in (t.text or "")]
    assert labels == [time.strftime("%H:%M", time.gmtime(t)) for t in ticks]
    assert all(label.endswith("0") for label in labels)
    assert len(time_ticks(0, 30 * 86400)) <= 6


def test_duration_axis_labels_are_exact():
    figure = line_chart([Line("q", [(0.0, 500.0)])], start=0, end=1, title="t",
                        fmt=axis_duration, ceiling=nice_duration)
    axis = [t.text for t in parse(figure).iter(f"{SVG}text")][:5]
    assert axis == ["0 s", "2.5 min", "5 min", "7.5 min", "10 min"]
    assert axis_duration(604800 / 4) == "1.75 d"


def test_minute_bars_label_round_minutes_and_the_last_label_stays_inside():
    bars = [DayCount(f"10:{m:02d}", 1, 0) for m in range(60)]
    root = parse(history_chart(bars, unit="minute", labelled=lambda b: b.label.endswith("0")))
    labels = [t for t in root.iter(f"{SVG}text") if ":" in (t.text or "")]
    assert [t.text for t in labels] == [f"10:{m}0" for m in range(6)]
    root = parse(history_chart(bars, unit="minute", labelled=lambda b: b.label == "10:59"))
    last = [t for t in root.iter(f"{SVG}text") if t.text == "10:59"][0]
    assert last.get("text-anchor") == "end" and float(last.get("x")) <= 600
