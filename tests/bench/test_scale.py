"""bench/scale.py (P5): how the rows are shared out and loaded, and the session cookie its page
rows send, which the real web app must take as a browser login. No timing."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from bench import scale, table
from bench.context import Options
from bench.database import Database
from bench.load import LoadResult
from bench.scale import Size, job_targets, plan_load
from bench.seed import Seeded, Teacher
from core.auth import issue_token
from tests import factories

TEACHERS, OTHERS = (1, 2), tuple(range(10, 108))  # 100 owners in all


def test_each_teacher_owns_a_hundredth_and_the_others_the_rest_to_the_exact_total():
    targets = job_targets(Size(10_000, 0), TEACHERS, OTHERS, have={})
    assert targets[1] == targets[2] == 100
    assert {targets[o] for o in OTHERS} == {100} and sum(targets.values()) == 10_000
    small = job_targets(Size(1_000, 0), TEACHERS, OTHERS, have={})
    assert small[1] == small[2] == scale.OWN_AT_LEAST  # a full first page even when small
    assert {small[o] for o in OTHERS} == {9, 10} and sum(small.values()) == 1_000


def test_jobs_a_teacher_has_already_are_kept_and_taken_from_the_others_share():
    targets = job_targets(Size(1_000, 0), TEACHERS, OTHERS, have={1: 80, 10: 5})
    assert targets[1] == 80 and targets[2] == scale.OWN_AT_LEAST
    assert sum(targets.values()) == 1_000 and targets[10] == 9  # a share, whatever it had


def test_the_load_adds_what_is_missing_with_batch_children_for_the_measured_teachers_only():
    steps = plan_load({1: 100, 2: 50, 10: 40}, have={1: 20, 2: 50, 10: 4}, measured={1, 2})
    assert steps == [(1, 64, 16), (10, 36, 0)]  # 20% of the teacher's 80 are children; owner 2 is full


def test_sizes_are_named_by_their_power_of_ten():
    assert scale.BIG.label == "10^6 jobs, 10^5 notifications"
    assert scale._power(10_026) == "10,026" and scale._power(10) == "10"


def test_seeding_and_growing_reach_the_sizes_asked_for(database_url, tmp_path):
    kind = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    database = Database(database_url, kind, kind)
    world = scale.seed_world(database_url, "k" * 40)
    first = scale.grow(database, world, Size(2_000, 30), budget=600)
    assert (first["jobs"], first["notifications"], first["own"], first["stopped"]) == (2_000, 30, 50, 0.0)
    grown = scale.grow(database, world, Size(20_000, 300), budget=600)
    assert (grown["jobs"], grown["notifications"], grown["own"]) == (20_000, 300, 200)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            def count(sql: str) -> int:
                return conn.execute(sa.text(sql), {"u": world.teacher_ids[0]}).scalar_one()

            # The teacher's 64 / 8 polled reports, then a fifth of each load's rows as batch children.
            children = int((50 - 8) * scale.CHILD_SHARE) + int(150 * scale.CHILD_SHARE)
            assert count("SELECT COUNT(*) FROM jobs WHERE owner_id = :u AND batch_id IS NOT NULL") == children
            assert count("SELECT COUNT(DISTINCT owner_id) FROM jobs") == scale.OWNERS
            assert count("SELECT COUNT(*) FROM batches WHERE owner_id = :u") == 2
    finally:
        engine.dispose()


def test_the_session_cookie_is_a_browser_login_the_web_app_takes(web_app, db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    token = issue_token(db, teacher, 3600, kind="browser")
    db.commit()
    client = web_app.test_client()
    client.set_cookie("session", scale.session_cookie(web_app.secret_key, token))
    page = client.get("/jobs")
    assert page.status_code == 200 and "My jobs" in page.get_data(as_text=True)
    forged = web_app.test_client()
    forged.set_cookie("session", scale.session_cookie("another-key-" + "x" * 32, token))
    assert forged.get("/jobs").status_code == 302  # to the login page


@pytest.mark.parametrize("size", [scale.SMALL, scale.BIG, scale.QUICK_BIG])
def test_the_sizes_keep_a_full_page_for_the_measured_teachers(size):
    targets = job_targets(size, tuple(range(scale.TEACHERS)), tuple(range(100, 100 + scale.OWNERS - scale.TEACHERS)), {})
    assert sum(targets.values()) == size.jobs and targets[0] >= scale.OWN_AT_LEAST


def _result(p99: float, rps: float = 100.0) -> LoadResult:
    return LoadResult("wrk", int(rps * 6), 6.0, p50_ms=p99 / 4, p90_ms=p99 / 2, p99_ms=p99, max_ms=p99 * 2)


def test_each_row_is_its_p99_with_the_big_database_over_the_small_one_read_against_the_control():
    world = scale.World(Seeded((Teacher(1, 1, "t"),), (("00000000-0000-0000-0000-000000000001", "t"),), (), ()),
                        2, "s", ("c",), "c", (3,))
    measured = scale.paths(world, "sqlite:///unused", 32)[:3]  # the control, the poll, the list
    results = {"small": {measured[0].label: [_result(10.0)], measured[1].label: [_result(20.0)],
                         measured[2].label: [_result(40.0), _result(80.0), _result(50.0)]},
               "big": {measured[0].label: [_result(12.0)], measured[1].label: [_result(60.0)],
                       measured[2].label: [_result(55.0), _result(60.0), _result(900.0)]}}
    grown = {"small": {"jobs": 1_000, "notifications": 1_000, "own": 50, "load_seconds": 1.0, "analyze_seconds": 0.1,
                       "stopped": 0.0},
             "big": {"jobs": 1_000_000, "notifications": 100_000, "own": 10_000, "load_seconds": 60.0,
                     "analyze_seconds": 2.0, "stopped": 0.0}}
    load, control, poll, jobs = scale._rows(measured, results, grown, scale.BIG, "postgresql", Options(duration=6))
    assert load.figure is not None and load.figure.value == 60.0 and load.path.startswith("P5 bulk load to 1,000,000")
    assert control.ratio == pytest.approx(1.2) and control.targets == () and control.notes == ()
    assert poll.path == "P5 GET /api/jobs/<id> (poll), 10^6 jobs" and poll.p99_ms == 60.0
    assert poll.ratio == pytest.approx(3.0) and poll.met is False and poll.notes == ("÷ the control's 120%: 250%",)
    assert poll.reference is not None and table.reference_cell(poll) == "at 1,000 jobs: p99 20.0 ms"
    assert jobs.ratio == pytest.approx(60 / 50) and jobs.met is True  # the medians of three runs each
