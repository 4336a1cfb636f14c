"""The partial indexes' conditions (core/models) are SQL text, written once and repeated word
for word by the queries that use them; here they are held to the states the code means."""
from __future__ import annotations

import re

from core.models.jobs import ASKED_IN_FLIGHT, OPEN_DEDUPE, OPEN_STATES
from core.models.orchestration import UNFINISHED_WORKFLOW, UNFINISHED_WORKFLOW_STATES


def _states(condition: str) -> set[str]:
    listed = re.search(r"state IN \(([^)]*)\)", condition)
    assert listed, condition
    return set(re.findall(r"'([a-z_]+)'", listed.group(1)))


def test_the_conditions_name_the_states_of_the_code():
    in_flight = set(OPEN_STATES) | {"running"}
    assert _states(OPEN_DEDUPE) == in_flight
    assert _states(ASKED_IN_FLIGHT) == in_flight
    assert _states(UNFINISHED_WORKFLOW) == set(UNFINISHED_WORKFLOW_STATES)
