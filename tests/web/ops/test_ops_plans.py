"""The console's lookups read the indexes of migration 0010, checked the way
tests/web/common/test_list_plans.py checks the lists (its _check: PostgreSQL's EXPLAIN with
sequential scans priced out, SQLite forced INDEXED BY the index): a job's page finds the batches
it created and the batch it follows up by index, and one institution's jobs of one state, owner by
owner, read (owner_id, state, created_at, id). docs/console.md has the plans at 10^6 jobs."""
from __future__ import annotations

import uuid

import pytest

from core.jobs.ops_jobs_filter import JobFilter
from core.models import Job
from tests import factories
from tests.web.common.test_list_plans import _check
from web.common.ops import jobs_list
from web.common.ops.job_detail import batches_created, followup_of
from web.common.pagination import PageRequest


@pytest.fixture
def job(db, staff):
    made = Job(id=uuid.uuid4(), type="report", payload={}, owner_id=staff.teacher_a.id)
    db.add(made)
    db.commit()
    return made


def test_a_jobs_page_finds_the_batch_it_follows_up_by_index(db, job):
    _check(db, lambda session: followup_of(session, job), {"batches": ("ix_batches_followup_job",)})


def test_a_jobs_page_finds_the_batches_it_created_by_index(db, job):
    _check(db, lambda session: batches_created(session, job), {"batches": ("ix_batches_parent_job",)})


@pytest.mark.parametrize("state", ["failed", "queued", "succeeded"])
def test_one_institutions_jobs_of_one_state_read_owner_by_owner_by_index(db, staff, state):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("owner by owner is PostgreSQL's plan (SQLite has no LATERAL)")
    factories.user(db, staff.school_a, "teacher")
    db.commit()
    job_filter = JobFilter(state=state, institution_id=staff.school_a.id)
    # No jobs of the institution: the page's LATERAL read is the last statement (no load by id after it).
    _check(db, lambda session: jobs_list._owner_by_owner(session, staff.school_a.id, job_filter, "postgresql",
                                                         jobs_list.NEWEST, PageRequest()),
           {"jobs": ("ix_jobs_owner_state_created",)})
