"""Job types and their run policies. The worker maps each name to a handler.

Every time limit must stay under gunicorn's worker timeout (gunicorn.conf.py); the timeout
chain test reads both.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class JobType:
    name: str
    time_limit_seconds: int
    max_attempts: int = 5
    backoff_base_seconds: float = 10
    backoff_cap_seconds: float = 3600

    @property
    def lease(self) -> timedelta:
        # The lease outlives the time limit a little, so a slow-but-alive run is not reclaimed
        # while it is still allowed to finish.
        return timedelta(seconds=self.time_limit_seconds + 30)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        """Exponential backoff with "equal jitter": half fixed, half random, so retries of jobs
        that failed together (an SES outage) spread out instead of arriving in lockstep."""
        ceiling = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** max(attempt - 1, 0))
        return timedelta(seconds=ceiling / 2 + (rng or random).uniform(0, ceiling / 2))


REPORT = JobType("report", time_limit_seconds=300, max_attempts=4, backoff_base_seconds=15)
# SES throttling clears in seconds to minutes; a bounced address never does (permanent).
EMAIL = JobType("email", time_limit_seconds=60, max_attempts=6, backoff_base_seconds=30, backoff_cap_seconds=1800)
ACTIVITY_FANOUT = JobType("activity_fanout", time_limit_seconds=120, max_attempts=5)
ACTIVITY_SUMMARY = JobType("activity_summary", time_limit_seconds=60, max_attempts=5)
WORKFLOW_STEP = JobType("workflow_step", time_limit_seconds=300, max_attempts=3, backoff_base_seconds=20)

JOB_TYPES: dict[str, JobType] = {t.name: t for t in (REPORT, EMAIL, ACTIVITY_FANOUT, ACTIVITY_SUMMARY, WORKFLOW_STEP)}
MAX_TIME_LIMIT_SECONDS = max(t.time_limit_seconds for t in JOB_TYPES.values())
