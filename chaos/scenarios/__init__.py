"""The scenarios (docs/reliability.md), one module each, and the registry `python -m chaos` and
the CI short form (tests/chaos) run from. A scenario takes the running stack and the form, injects
its fault into the real processes and counts the outcome at the source of truth (chaos/count.py)."""
from __future__ import annotations

from collections.abc import Callable

from chaos.result import Result
from chaos.scenarios.common import Form
from chaos.scenarios.r1_sqs_down import r1_sqs_unavailable
from chaos.scenarios.r2_worker_kills import r2_worker_kills
from chaos.scenarios.r3_duplicates import r3_duplicate_deliveries
from chaos.scenarios.r4_poison import r4_poison_messages
from chaos.scenarios.r5_database_down import r5_database_stopped
from chaos.scenarios.r6_commit_send import r6_killed_between_commit_and_send
from chaos.scenarios.r7_clock_skew import r7_clock_skew
from chaos.scenarios.r8_soak import r8_soak
from chaos.stack import ChaosStack

__all__ = ["NOT_BUILT", "SCENARIOS", "Form"]

SCENARIOS: dict[str, Callable[[ChaosStack, Form], Result]] = {
    "R3": r3_duplicate_deliveries,
    "R4": r4_poison_messages,
    "R6": r6_killed_between_commit_and_send,
    "R1": r1_sqs_unavailable,
    "R5": r5_database_stopped,
    "R2": r2_worker_kills,
    "R7": r7_clock_skew,
    "R8": r8_soak,
}
NOT_BUILT = {
}
