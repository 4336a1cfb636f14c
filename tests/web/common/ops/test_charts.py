"""The overview's chart tables (web/common/ops/charts.numbers): newest bucket first, empty buckets
left out, a window with nothing finished said in words."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.jobs.stats import Tally
from web.common.ops.charts import NOTHING_FINISHED, numbers

START = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def _rows(html: str) -> list[str]:
    return [row for row in html.split("</tr>") if row]


def test_the_rows_are_newest_first_and_skip_the_buckets_where_nothing_finished():
    tallies = (Tally(START, succeeded=3, failed=1, total_ms=600), Tally(START + timedelta(minutes=1)),
               Tally(START + timedelta(minutes=2), cancelled=2))
    rows = _rows(numbers(tallies))
    assert len(rows) == 2
    assert rows[0].startswith("<tr><td>2026-12-04 10:02</td>") and rows[0].count("—") == 2
    assert rows[1].startswith("<tr><td>2026-12-04 10:00</td>")
    assert '<td class="num">25.0%</td><td class="num">200 ms</td>' in rows[1]


def test_a_window_where_nothing_finished_says_so():
    assert numbers((Tally(START), Tally(START + timedelta(hours=1)))) == NOTHING_FINISHED
    assert numbers(()) == NOTHING_FINISHED
