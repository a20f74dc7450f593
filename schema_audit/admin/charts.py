"""The summary's and fleet page's charts: SVG drawn on the server. Pure: data in, markup out.

No script and no inline style (the admin runs under a strict Content-Security-Policy): bars
and lines carry classes styled by `schema_audit/audit.css`. Each chart has a `<title>`,
labelled axes, and its numbers in a table beside it for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from schema_audit.ledger.terms import Status

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 14, 40
# Outcomes of the weekly chart, in stacking order, with the CSS class of their bars.
OUTCOMES = (
    (Status.COMPLETED, "completed", "uap-bar-completed"),
    (Status.FAILED, "failed", "uap-bar-failed"),
    (Status.ROLLED_BACK, "rolled back", "uap-bar-rolled_back"),
    ("drift", "drift", "uap-bar-drift"),
    ("out_of_band", "out of band", "uap-bar-out_of_band"),
)


@dataclass(frozen=True)
class Duration:
    """One applied version's duration, for the durations chart."""

    version: str
    applied_at: datetime
    duration_ms: int


def durations(points: list[Duration], slow_ms: int, chart_id: str = "durations") -> SafeString:
    """Bars of each applied version's duration in applied order, the slow threshold dashed."""
    title = "Duration of each applied version, oldest first"
    if not points:
        return _empty(chart_id, title, "no applied version has a recorded duration yet")
    top = _ceiling(max(max(p.duration_ms for p in points), slow_ms))
    step = (WIDTH - LEFT - RIGHT) / len(points)
    bars = [
        (
            f"{LEFT + n * step + step * 0.1:.1f}",
            f"{_y(p.duration_ms, top):.1f}",
            f"{max(step * 0.8, 1):.1f}",
            f"{_y(0, top) - _y(p.duration_ms, top):.1f}",
            "uap-bar-slow" if p.duration_ms > slow_ms else "uap-bar-completed",
            f"{p.version}: {p.duration_ms:,} ms, applied {p.applied_at:%Y-%m-%d %H:%M}",
        )
        for n, p in enumerate(points)
    ]
    threshold = f"{_y(slow_ms, top):.1f}"
    note_at = f"{_y(slow_ms, top) - 4:.1f}"
    body = format_html(
        '{}<line class="uap-chart-threshold" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="uap-chart-note" x="{}" y="{}">slow: over {} ms</text>',
        _rects(bars),
        LEFT,
        WIDTH - RIGHT,
        threshold,
        threshold,
        WIDTH - RIGHT - 4,
        note_at,
        f"{slow_ms:,}",
    )
    first, last = points[0].applied_at, points[-1].applied_at
    return _frame(
        chart_id,
        title,
        body,
        top,
        x_label=f"applied versions, {first:%Y-%m-%d} to {last:%Y-%m-%d}",
        y_label="duration (ms)",
    )


def weekly(weeks: list[tuple[date, dict[str, int]]], chart_id: str = "weekly") -> SafeString:
    """Stacked bars of events per week by outcome, oldest week first."""
    title = "Events per week by outcome"
    if not weeks:
        return _empty(chart_id, title, "no event recorded yet")
    top = _ceiling(max(sum(counts.values()) for _, counts in weeks))
    step = (WIDTH - LEFT - RIGHT) / len(weeks)
    bars = []
    for n, (week, counts) in enumerate(weeks):
        base = 0
        for key, label, css in OUTCOMES:
            count = counts.get(key, 0)
            if not count:
                continue
            bars.append(
                (
                    f"{LEFT + n * step + step * 0.1:.1f}",
                    f"{_y(base + count, top):.1f}",
                    f"{max(step * 0.8, 1):.1f}",
                    f"{_y(base, top) - _y(base + count, top):.1f}",
                    css,
                    f"week of {week:%Y-%m-%d}: {count:,} {label}",
                )
            )
            base += count
    legend = format_html_join(
        "",
        '<rect class="{}" x="{}" y="{}" width="10" height="10"/>'
        '<text class="uap-chart-note uap-chart-legend" x="{}" y="{}">{}</text>',
        (
            (css, LEFT + n * 100, HEIGHT - 14, LEFT + n * 100 + 14, HEIGHT - 5, label)
            for n, (_, label, css) in enumerate(OUTCOMES)
        ),
    )
    first, last = weeks[0][0], weeks[-1][0]
    return _frame(
        chart_id,
        title,
        format_html("{}{}", _rects(bars), legend),
        top,
        x_label=f"weeks, {first:%Y-%m-%d} to {last:%Y-%m-%d}",
        y_label="events",
        legend=True,
    )


def _rects(bars) -> SafeString:
    return format_html_join(
        "",
        '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
        ((css, x, y, w, h, tip) for x, y, w, h, css, tip in bars),
    )


def _frame(chart_id, title, body, top, *, x_label, y_label, legend=False) -> SafeString:
    bottom = f"{_y(0, top):.1f}"
    ticks = format_html_join(
        "",
        '<text class="uap-chart-tick" x="{}" y="{}">{}</text>'
        '<line class="uap-chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>',
        (
            (
                LEFT - 6,
                f"{_y(v, top) + 4:.1f}",
                f"{v:,}",
                LEFT,
                WIDTH - RIGHT,
                *[f"{_y(v, top):.1f}"] * 2,
            )
            for v in (0, top // 2, top)
        ),
    )
    x_at = HEIGHT - (22 if legend else 8)
    return format_html(
        '<svg class="uap-chart" id="{}" role="img" aria-labelledby="{}-title" '
        'viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg"><title id="{}-title">{}</title>'
        '{}<line class="uap-chart-axis" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<line class="uap-chart-axis" x1="{}" x2="{}" y1="{}" y2="{}"/>{}'
        '<text class="uap-chart-label" x="{}" y="{}">{}</text>'
        '<text class="uap-chart-label uap-chart-y" x="12" y="{}" '
        'transform="rotate(-90 12 {})">{}</text></svg>',
        chart_id,
        chart_id,
        WIDTH,
        HEIGHT,
        chart_id,
        title,
        ticks,
        LEFT,
        WIDTH - RIGHT,
        bottom,
        bottom,
        LEFT,
        LEFT,
        TOP,
        bottom,
        body,
        (LEFT + WIDTH - RIGHT) // 2,
        x_at,
        x_label,
        (TOP + HEIGHT - BOTTOM) // 2,
        (TOP + HEIGHT - BOTTOM) // 2,
        y_label,
    )


def _empty(chart_id: str, title: str, why: str) -> SafeString:
    return format_html(
        '<svg class="uap-chart uap-chart-empty" id="{}" role="img" aria-labelledby="{}-title" '
        'viewBox="0 0 {} 40" xmlns="http://www.w3.org/2000/svg"><title id="{}-title">{}: {}'
        '</title><text class="uap-chart-note uap-chart-legend" x="{}" y="24">{}</text></svg>',
        chart_id,
        chart_id,
        WIDTH,
        chart_id,
        title,
        why,
        LEFT,
        why,
    )


def _y(value: float, top: int) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * (value / top)


def _ceiling(value: int) -> int:
    """The axis maximum: `value` rounded up to 1, 2 or 5 times a power of ten (at least 2)."""
    scale = 1
    while True:
        for factor in (1, 2, 5):
            if factor * scale >= value and factor * scale >= 2:
                return factor * scale
        scale *= 10
