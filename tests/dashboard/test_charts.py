"""The SVG history chart: bar heights follow the numbers, labels are escaped, edge cases hold."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from runqy.web.monitoring.charts import DayCount, history_chart, nice_ceiling

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
