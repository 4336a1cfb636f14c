"""bench/scale_world.py (P5): how the rows are shared out and loaded, and the session cookie
the page rows send, which the real web app must take as a browser login. No timing."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from bench import scale_world
from bench.database import Database
from bench.scale_world import Size, job_targets, plan_load
from core.auth import issue_token
from tests import factories

TEACHERS, OTHERS = (1, 2), tuple(range(10, 108))  # 100 owners in all


def test_each_teacher_owns_a_hundredth_and_the_others_the_rest_to_the_exact_total():
    targets = job_targets(Size(10_000, 0), TEACHERS, OTHERS, have={})
    assert targets[1] == targets[2] == 100
    assert {targets[o] for o in OTHERS} == {100} and sum(targets.values()) == 10_000
    small = job_targets(Size(1_000, 0), TEACHERS, OTHERS, have={})
    assert small[1] == small[2] == scale_world.OWN_AT_LEAST  # a full first page even when small
    assert {small[o] for o in OTHERS} == {9, 10} and sum(small.values()) == 1_000


def test_jobs_a_teacher_has_already_are_kept_and_taken_from_the_others_share():
    targets = job_targets(Size(1_000, 0), TEACHERS, OTHERS, have={1: 80, 10: 5})
    assert targets[1] == 80 and targets[2] == scale_world.OWN_AT_LEAST
    assert sum(targets.values()) == 1_000 and targets[10] == 9  # a share, whatever it had


def test_the_load_adds_what_is_missing_with_batch_children_for_the_measured_teachers_only():
    steps = plan_load({1: 100, 2: 50, 10: 40}, have={1: 20, 2: 50, 10: 4}, measured={1, 2})
    assert steps == [(1, 64, 16), (10, 36, 0)]  # 20% of the teacher's 80 are children; owner 2 is full


def test_sizes_are_named_by_their_power_of_ten():
    assert scale_world.BIG.label == "10^6 jobs, 10^5 notifications"
    assert scale_world.power(10_026) == "10,026" and scale_world.power(10) == "10"


def test_seeding_and_growing_reach_the_sizes_asked_for(database_url, tmp_path):
    kind = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    database = Database(database_url, kind, kind)
    world = scale_world.seed_world(database_url, "k" * 40)
    first = scale_world.grow(database, world, Size(2_000, 30), budget=600)
    assert (first["jobs"], first["notifications"], first["own"], first["stopped"]) == (2_000, 30, 50, 0.0)
    grown = scale_world.grow(database, world, Size(20_000, 300), budget=600)
    assert (grown["jobs"], grown["notifications"], grown["own"]) == (20_000, 300, 200)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            def count(sql: str) -> int:
                return conn.execute(sa.text(sql), {"u": world.teacher_ids[0]}).scalar_one()

            # The teacher's 64 / 8 polled reports, then a fifth of each load's rows as batch children.
            children = int((50 - 8) * scale_world.CHILD_SHARE) + int(150 * scale_world.CHILD_SHARE)
            assert count("SELECT COUNT(*) FROM jobs WHERE owner_id = :u AND batch_id IS NOT NULL") == children
            assert count("SELECT COUNT(DISTINCT owner_id) FROM jobs") == scale_world.OWNERS
            assert count("SELECT COUNT(*) FROM batches WHERE owner_id = :u") == 2
    finally:
        engine.dispose()


def test_the_session_cookie_is_a_browser_login_the_web_app_takes(web_app, db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    token = issue_token(db, teacher, 3600, kind="browser")
    db.commit()
    client = web_app.test_client()
    client.set_cookie("session", scale_world.session_cookie(web_app.secret_key, token))
    page = client.get("/jobs")
    assert page.status_code == 200 and "My jobs" in page.get_data(as_text=True)
    forged = web_app.test_client()
    forged.set_cookie("session", scale_world.session_cookie("another-key-" + "x" * 32, token))
    assert forged.get("/jobs").status_code == 302  # to the login page


@pytest.mark.parametrize("size", [scale_world.SMALL, scale_world.BIG, scale_world.QUICK_BIG])
def test_the_sizes_keep_a_full_page_for_the_measured_teachers(size):
    targets = job_targets(size, tuple(range(scale_world.TEACHERS)), tuple(range(100, 100 + scale_world.OWNERS - scale_world.TEACHERS)), {})
    assert sum(targets.values()) == size.jobs and targets[0] >= scale_world.OWN_AT_LEAST
