"""bench/table.py: the one table, its cells, and the notes under it."""
from __future__ import annotations

from bench import table
from bench.rows import Figure, Reference, Row, Target


def test_number_formats():
    assert table.rps(1234.4) == "1,234"
    assert table.ms(7.25) == "7.2 ms" and table.ms(440.0) == "440 ms" and table.ms(1370.0) == "1.37 s"
    assert table.rps(None) == table.ms(None) == "—"


def test_cells_of_a_measured_row_and_of_a_reference_row():
    ref = Reference("ref (b)", (2000.0, 2200.0, 2100.0))
    poll = Row("GET /api/jobs/<id>", rps=1500, p50_ms=10.0, p99_ms=44.0, reference=ref, ratio=1500 / 2100,
               targets=(Target("ratio", 0.70, label="≥ 70% of ref (b)"),))
    assert table.cells(poll) == ("GET /api/jobs/<id>", "1,500", "10.0 ms", "44.0 ms", "ref (b): 2,100 (2,000–2,200)",
                                 "71%", "≥ 70% of ref (b)", "yes")
    own = Row("ref (b) bare Flask + 1 SELECT", rps=2100, p50_ms=5.0, p99_ms=20.0, runs_rps=ref.runs_rps)
    assert table.cells(own)[4:] == ("its 3 runs: 2,000–2,200", "—", "—", "—")


def test_a_missed_target_says_by_how_much():
    row = Row("enqueue", rps=53, p99_ms=1370.0, ratio=0.05,
              targets=(Target("p99_ms", 30, at_most=True, label="p99 ≤ 30 ms"), Target("ratio", 0.5)))
    assert table.met_cell(row) == "NO: 1370.0 ms > 30.0 ms; 5% < 50%"
    assert table.cells(row)[6] == "p99 ≤ 30 ms, ratio ≥ 50%"


def test_a_figure_shows_in_the_rate_column():
    row = Row("P3 fan-out", figure=Figure(94.0, "s"), targets=(Target("figure_value", 30, at_most=True, label="≤ 30 s"),))
    assert table.cells(row)[1:4] == ("94.0 s", "—", "—")
    assert table.met_cell(row) == "NO: 94 s > 30 s"


def test_render_aligns_a_markdown_table_and_lists_the_notes():
    rows = [Row("a", rps=1000, notes=("first note",)), Row("longer path", rps=12345.6, p99_ms=3.0)]
    text = table.render(rows, notes=["general note"])
    lines = text.splitlines()
    assert lines[0].startswith("| path ") and lines[1].startswith("|---")
    assert len({len(line) for line in lines[:4]}) == 1  # every row as wide as the header
    assert "| 12,346 |" in lines[3]
    assert lines[-3:] == ["Notes:", "- a: first note", "- general note"]


def test_rows_compared_by_p99_show_the_reference_p99_and_its_spread():
    ref = Reference("ref (c) paced", (50.0, 50.0), (4.0, 6.0), by="p99")
    row = Row("P1 paced", rps=50, p50_ms=3.0, p99_ms=12.0, reference=ref,
              targets=(Target("p99_ms", 30, at_most=True, label="p99 ≤ 30 ms"),))
    assert table.cells(row)[4:] == ("ref (c) paced: p99 5.0 ms (4.0–6.0 ms)", "—", "p99 ≤ 30 ms", "yes")
    own = Row("ref (c) paced", rps=50, p99_ms=5.0, runs_rps=(50.0, 50.0), runs_p99_ms=(4.0, 1500.0), spread_by="p99")
    assert table.cells(own)[4] == "its 2 runs: p99 4.0 ms–1.50 s"
    single = Reference("at 10^3 rows", (500.0,), (40.0,), by="p99")
    assert table.reference_cell(Row("P5", reference=single)) == "at 10^3 rows: p99 40.0 ms"
