"""bench/roster.py (P6) on a real local stack, small: the same code `make bench --only roster`
runs with 5,000 rows, with 40, so the figure it prints comes from a path that works."""
from __future__ import annotations

import pytest

from bench import roster


def test_roster_csv_rows_are_distinct_students():
    text = roster.roster_csv(3, "t1")
    lines = text.splitlines()
    assert lines[0] == "name,email,external_id" and len(lines) == 4
    assert len({line.split(",")[1] for line in lines[1:]}) == 3


@pytest.mark.e2e
def test_a_small_import_on_the_local_stack_creates_then_matches_every_row(tmp_path):
    result = roster.measure(None, rows=40, log_dir=str(tmp_path / "logs"))
    assert result["counts"]["created"] == 40 and result["enrolled_added"] == 40
    assert result["invited"] == 40 and result["invitation_emails_at_ses"] == 40
    assert result["again_counts"]["created"] == 0 and result["again_counts"]["matched"] == 40
    assert result["seconds"] > 0 and result["again_seconds"] > 0
