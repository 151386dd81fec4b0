"""Server-rendered SVG charts: pure functions from numbers to markup (no database, no JavaScript).

Colours come from the stylesheet's tokens through classes (.chart-*), so charts follow the theme;
every chart carries a <title> and a text description for screen readers, and the numbers are
also offered as a table or CSV next to it.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def _svg(width: int, height: int, title: str, desc: str, body: list[str]) -> SafeString:
    # Safe: every text in the markup is escaped and every number formatted.
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>{''.join(body)}</svg>"
    )


def histogram_svg(
    *, labels: list[str], current: list[int], proposed: list[int], threshold: int | None, bucket_width: int = 10
) -> SafeString:
    """Score distribution now (grey) and with the proposed rules (blue), with the MQL line.

    Buckets are those of scoring.preview: below 0, then `bucket_width` points each, then the top.
    """
    width, height = 640, 220
    left, right, top, bottom = 44, 12, 24, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    count = len(labels)
    slot = plot_w / count
    peak = max([*current, *proposed, 1])
    body = []
    for tick in range(5):
        value = round(peak * tick / 4)
        y = top + plot_h - plot_h * tick / 4
        body.append(f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        body.append(f'<text class="chart-axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,}</text>')
    bar = slot * 0.36
    for index, label in enumerate(labels):
        x = left + slot * index
        for offset, values, css in ((0.12, current, "chart-bar-muted"), (0.5, proposed, "chart-bar")):
            value = values[index] if index < len(values) else 0
            h = plot_h * value / peak
            body.append(
                f'<rect class="{css}" x="{x + slot * offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}"><title>{escape(label)}: {value:,}</title></rect>'
            )
        body.append(
            f'<text class="chart-axis" x="{x + slot / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    if threshold is not None:
        if threshold < 0:
            position = 0.5
        else:
            top_bucket = count - 1
            index = min(threshold // bucket_width + 1, top_bucket)
            fraction = 0 if index == top_bucket else (threshold % bucket_width) / bucket_width
            position = index + fraction
        x = left + slot * position
        body.append(f'<line class="chart-threshold" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 8}" y2="{top + plot_h}"/>')
        body.append(f'<text class="chart-threshold-label" x="{x + 4:.1f}" y="{top - 10}">MQL ≥ {threshold}</text>')
    axis_y = top + plot_h
    body.append(f'<line class="chart-axis-line" x1="{left}" x2="{width - right}" y1="{axis_y}" y2="{axis_y}"/>')
    desc = "; ".join(
        f"{label}: {current[i] if i < len(current) else 0} now, {proposed[i] if i < len(proposed) else 0} proposed"
        for i, label in enumerate(labels)
    )
    return _svg(width, height, "Score distribution, now and with the draft rules", desc, body)


def funnel_svg(*, rows: list[dict]) -> SafeString:
    """Horizontal bars, one per funnel step: label, bar scaled to the first step, count and rates."""
    width, row_h, label_w, value_w = 570, 34, 150, 116
    height = row_h * len(rows) + 8
    peak = max([row["count"] for row in rows] + [1])
    bar_w = width - label_w - value_w
    body = []
    for index, row in enumerate(rows):
        y = 4 + index * row_h
        w = bar_w * row["count"] / peak
        body.append(
            f'<text class="chart-label" x="0" y="{y + row_h / 2 + 4:.1f}">{escape(row["label"])}</text>'
            f'<rect class="chart-track" x="{label_w}" y="{y + 6}" width="{bar_w}" height="{row_h - 12}" rx="4"/>'
            f'<rect class="chart-bar chart-stage-{escape(row["stage"])}" x="{label_w}" y="{y + 6}" width="{w:.1f}" '
            f'height="{row_h - 12}" rx="4"/>'
        )
        rates = ""
        if row.get("step") is not None:
            rates = f" · {row['step']:g}%"
        body.append(
            f'<text class="chart-value" x="{label_w + bar_w + 10}" y="{y + row_h / 2 + 4:.1f}">'
            f"{row['count']:,}{escape(rates)}</text>"
        )
    desc = "; ".join(f"{row['label']}: {row['count']}" for row in rows)
    return _svg(width, height, "Funnel", desc, body)


def columns_svg(*, labels: list[str], series: list[tuple[str, str, list[int]]]) -> SafeString:
    """Grouped columns per label (weeks): series are (name, css class, values)."""
    width, height = 960, 240
    left, right, top, bottom = 40, 8, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(len(labels), 1)
    peak = max([value for _, _, values in series for value in values] + [1])
    body = []
    for tick in range(5):
        value = round(peak * tick / 4)
        y = top + plot_h - plot_h * tick / 4
        body.append(f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        body.append(f'<text class="chart-axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,}</text>')
    bar = slot * 0.8 / max(len(series), 1)
    every = max(1, len(labels) // 8)
    for index, label in enumerate(labels):
        x = left + slot * index + slot * 0.1
        for position, (name, css, values) in enumerate(series):
            value = values[index]
            h = plot_h * value / peak
            body.append(
                f'<rect class="{escape(css)}" x="{x + bar * position:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"><title>{escape(label)} {escape(name)}: {value:,}</title></rect>'
            )
        if index % every == 0:
            body.append(
                f'<text class="chart-axis" x="{left + slot * index + slot / 2:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    desc = "; ".join(
        f"{label}: " + ", ".join(f"{name} {values[i]}" for name, _, values in series) for i, label in enumerate(labels)
    )
    return _svg(width, height, "Per week", desc, body)
