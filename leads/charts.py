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
