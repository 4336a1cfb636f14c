"""The overview's charts as server-side SVG: no chart library, no script, nothing fetched.

One chart is a window of buckets (a minute each for the last hour, an hour each for the last
day): a stacked bar per bucket of the jobs that finished in it (succeeded, failed, cancelled)
against the left scale, and the failure rate (failed / (succeeded + failed)) as a line against
a 0-100 % scale on the right. Each SVG is a standalone XML document fragment with role="img",
a <title> and a <desc> that says the totals in words; the page has the numbers as a table
too (`numbers`), and GET /api/ops/overview has them all."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from core.jobs.stats import Tally

WIDTH, HEIGHT = 640, 170
LEFT, RIGHT, TOP, BOTTOM = 44, 44, 10, 24  # room for the scales and the time labels
COLOURS = {"succeeded": "#2e7d4f", "failed": "#c0392b", "cancelled": "#8a94a3", "rate": "#7a5200"}


def _nice_max(value: int) -> int:
    """The scale's top: 1, 2 or 5 times a power of ten, at least `value` (and at least 1)."""
    top = 1
    while True:
        for factor in (1, 2, 5):
            if top * factor >= value:
                return top * factor
        top *= 10


def _label(tally: Tally, step: timedelta) -> str:
    return _bucket_label(tally.at, step)


@functools.lru_cache(maxsize=1024)
def _bucket_label(at: datetime, step: timedelta) -> str:
    # Every chart of a window labels the same buckets (a page draws one per type and window,
    # a title per bar): formatted once per bucket, not once per bar.
    return at.strftime("%H:%M" if step < timedelta(hours=1) else "%d %H:00")


def _percent(rate: float | None) -> str:
    return "no runs" if rate is None else f"{rate * 100:.1f}%"


def describe(tallies: Sequence[Tally]) -> str:
    succeeded = sum(t.succeeded for t in tallies)
    failed = sum(t.failed for t in tallies)
    cancelled = sum(t.cancelled for t in tallies)
    ran = succeeded + failed
    busiest = max(tallies, key=lambda t: t.finished, default=None)
    words = (f"{succeeded + failed + cancelled} finished: {succeeded} succeeded, {failed} failed, {cancelled} cancelled;"
             f" failure rate {_percent(failed / ran if ran else None)}")
    if busiest is not None and busiest.finished:
        words += f"; busiest bucket {busiest.at.strftime('%Y-%m-%d %H:%M')} UTC with {busiest.finished}"
    return words + "."


def chart(chart_id: str, title: str, tallies: Sequence[Tally], step: timedelta) -> Markup:
    """The SVG of one window, safe to put into a page as it is."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_max(max((t.finished for t in tallies), default=0))
    slot = plot_w / max(1, len(tallies))
    bar = max(1.0, slot * 0.8)
    base = TOP + plot_h
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="ops-chart" id={quoteattr(chart_id)} role="img"'
         f' viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet"'
         f' aria-labelledby={quoteattr(chart_id + "-title")} aria-describedby={quoteattr(chart_id + "-desc")}>'),
        f'<title id={quoteattr(chart_id + "-title")}>{escape(title)}</title>',
        f'<desc id={quoteattr(chart_id + "-desc")}>{escape(describe(tallies))}</desc>',
        # The scales: jobs on the left, the failure rate on the right, a base line.
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#b8c2cf" stroke-width="1"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" font-size="10" fill="#4a5563">{top}</text>',
        f'<text x="{LEFT - 4}" y="{base}" text-anchor="end" font-size="10" fill="#4a5563">0</text>',
        f'<text x="{WIDTH - RIGHT + 4}" y="{TOP + 8}" font-size="10" fill="{COLOURS["rate"]}">100%</text>',
        f'<text x="{WIDTH - RIGHT + 4}" y="{base}" font-size="10" fill="{COLOURS["rate"]}">0%</text>',
    ]
    points = []
    for k, tally in enumerate(tallies):
        x = LEFT + k * slot + (slot - bar) / 2
        y = float(base)
        when = None
        for name in ("succeeded", "failed", "cancelled"):
            n = getattr(tally, name)
            if not n:
                continue
            when = when or escape(_label(tally, step))
            h = plot_h * n / top
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{COLOURS[name]}">'
                         f'<title>{when} UTC: {n} {name}</title></rect>')
        rate = tally.failure_rate
        if rate is not None:
            points.append(f"{x + bar / 2:.1f},{base - plot_h * rate:.1f}")
    if len(points) > 1:
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{COLOURS["rate"]}"'
                     ' stroke-width="1.5" stroke-dasharray="4 2"/>')
    elif points:
        cx, cy = points[0].split(",")
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{COLOURS["rate"]}"/>')
    if tallies:
        for tally, anchor, x in ((tallies[0], "start", LEFT), (tallies[-1], "end", WIDTH - RIGHT)):
            parts.append(f'<text x="{x}" y="{HEIGHT - 6}" text-anchor="{anchor}" font-size="10" fill="#4a5563">'
                         f'{escape(_label(tally, step))} UTC</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


NOTHING_FINISHED = '<tr><td colspan="6" class="muted">Nothing finished in this window.</td></tr>'


def numbers(tallies: Sequence[Tally]) -> Markup:
    """The rows of a chart's table, newest bucket first, the buckets where nothing finished left out."""
    rows = [_numbers_row(tally) for tally in reversed(tallies) if tally.finished]
    return Markup("".join(rows) if rows else NOTHING_FINISHED)


@functools.lru_cache(maxsize=4096)
def _numbers_row(tally: Tally) -> str:
    # A window's past buckets are the same on every poll (only the current one fills): each is
    # formatted once. Every cell is a number or a date, nothing to escape.
    rate = "—" if tally.failure_rate is None else f"{tally.failure_rate * 100:.1f}%"
    mean = "—" if tally.mean_ms is None else f"{tally.mean_ms:.0f} ms"
    return (f'<tr><td>{tally.at.strftime("%Y-%m-%d %H:%M")}</td><td class="num">{tally.succeeded}</td>'
            f'<td class="num">{tally.failed}</td><td class="num">{tally.cancelled}</td>'
            f'<td class="num">{rate}</td><td class="num">{mean}</td></tr>')
