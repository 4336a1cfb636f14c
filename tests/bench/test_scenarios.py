"""bench/scenarios.py: which scenarios a run picks."""
from __future__ import annotations

import pytest

from bench.scenarios import SCENARIOS, select


def test_all_by_default_and_only_the_quick_ones_with_quick():
    assert select(None, quick=False) == SCENARIOS
    quick = select(None, quick=True)
    assert quick and all(s.in_quick for s in quick) and "fanout" not in {s.name for s in quick}
    assert {"paced", "scale"} <= {s.name for s in quick}  # quick versions: no SQS pause, P5 at 10^4


def test_only_picks_by_name_in_table_order():
    assert [s.name for s in select(["worker", "healthz"], quick=False)] == ["healthz", "worker"]
    assert [s.name for s in select(["fanout"], quick=True)] == ["fanout"]  # named wins over --quick


def test_an_unknown_name_is_an_error_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown scenario nope; known: .*healthz"):
        select(["nope"], quick=False)
