"""The one table `make bench` prints (and --write-docs puts in docs/performance.md): a Markdown
table padded so it also reads in a terminal, then the notes of its rows."""
from __future__ import annotations

from collections.abc import Sequence

from bench.rows import Row

HEADERS = ("path", "req/s", "p50", "p99", "reference req/s (min–max)", "ratio", "target", "met")
NONE = "—"


def rps(value: float | None) -> str:
    return NONE if value is None else f"{value:,.0f}"


def ms(value: float | None) -> str:
    if value is None:
        return NONE
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def spread(runs: Sequence[float]) -> str:
    return f"{min(runs):,.0f}–{max(runs):,.0f}"


def ms_spread(runs: Sequence[float]) -> str:
    low, high = ms(min(runs)), ms(max(runs))
    return f"{low.removesuffix(' ms')}–{high}" if low.endswith(" ms") and high.endswith(" ms") else f"{low}–{high}"


def reference_cell(row: Row) -> str:
    if row.reference is not None:
        ref = row.reference
        if ref.by == "p99" and ref.runs_p99_ms:
            runs = ref.runs_p99_ms
            return f"{ref.name}: p99 {ms(ref.p99_ms)}" + (f" ({ms_spread(runs)})" if len(runs) > 1 else "")
        return f"{ref.name}: {ref.rps:,.0f} ({spread(ref.runs_rps)})"
    if row.spread_by == "p99" and len(row.runs_p99_ms) > 1:
        return f"its {len(row.runs_p99_ms)} runs: p99 {ms_spread(row.runs_p99_ms)}"
    if len(row.runs_rps) > 1:
        return f"its {len(row.runs_rps)} runs: {spread(row.runs_rps)}"
    return NONE


def met_cell(row: Row) -> str:
    met = row.met
    if met is None:
        missing = [v.detail for v in row.verdicts() if v.met is None]
        return f"? ({'; '.join(missing)})" if missing else NONE
    if met:
        return "yes"
    return "NO: " + "; ".join(v.detail for v in row.verdicts() if v.met is False)


def cells(row: Row) -> tuple[str, ...]:
    measured = f"{row.figure.value:,.1f} {row.figure.unit}" if row.figure is not None else rps(row.rps)
    return (
        row.path,
        measured,
        ms(row.p50_ms),
        ms(row.p99_ms),
        reference_cell(row),
        NONE if row.ratio is None else f"{row.ratio:.0%}",
        ", ".join(t.describe() for t in row.targets) or NONE,
        met_cell(row),
    )


def render(rows: Sequence[Row], notes: Sequence[str] = ()) -> str:
    body = [HEADERS, *(cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in body) for i in range(len(HEADERS))]
    right = {1, 2, 3, 5}  # numbers

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True)))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":" if i in right else "-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    text = [line(body[0]), rule, *(line(values) for values in body[1:])]
    listed = [f"- {row.path}: {note}" for row in rows for note in row.notes] + [f"- {note}" for note in notes]
    if listed:
        text += ["", "Notes:", *listed]
    return "\n".join(text) + "\n"
