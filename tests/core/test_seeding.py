"""Seed parameters (validated without a database) and the plan derived from them."""
from __future__ import annotations

import pytest

from core.demo import DEMO_LOGINS, DEMO_PARAMS
from core.seeding import MAX_ROWS_PER_STEP, SeedParamsError, SeedPlan, seed_params


def test_defaults_are_filled_in():
    assert seed_params({"name": "  Escola   Nova ", "slug": "nova"}) == {
        "name": "Escola Nova", "slug": "nova", "email_domain": "nova.aula.local", "students": 36, "teachers": 2,
        "class_size": 30, "lessons_per_class": 8, "activities_per_class": 3,
    }
    assert seed_params({"name": "Big", "slug": "big", "students": 2000})["teachers"] == 66
    assert seed_params({"name": "X", "slug": "x", "email_domain": "Escola.Example.ORG"})["email_domain"] == \
        "escola.example.org"


@pytest.mark.parametrize("raw, field", [
    ({"slug": "x"}, "name"),
    ({"name": "   ", "slug": "x"}, "name"),
    ({"name": "x" * 201, "slug": "x"}, "name"),
    ({"name": "X"}, "slug"),
    ({"name": "X", "slug": "Has Spaces"}, "slug"),
    ({"name": "X", "slug": "-edge"}, "slug"),
    ({"name": "X", "slug": "x" * 81}, "slug"),
    ({"name": "X", "slug": "x", "email_domain": "no_dots"}, "email_domain"),
    ({"name": "X", "slug": "x", "email_domain": "a@b.c"}, "email_domain"),
    ({"name": "X", "slug": "x", "email_domain": 5}, "email_domain"),
    ({"name": "X", "slug": "x", "students": 0}, "students"),
    ({"name": "X", "slug": "x", "students": 20_001}, "students"),
    ({"name": "X", "slug": "x", "students": "100"}, "students"),
    ({"name": "X", "slug": "x", "students": True}, "students"),
    ({"name": "X", "slug": "x", "students": 10.5}, "students"),  # 10.0 is 10 (JSON Schema integer)
    ({"name": "X", "slug": "x", "teachers": 0}, "teachers"),
    ({"name": "X", "slug": "x", "class_size": 1}, "class_size"),
    ({"name": "X", "slug": "x", "lessons_per_class": -1}, "lessons_per_class"),
    ({"name": "X", "slug": "x", "activities_per_class": 21}, "activities_per_class"),
    ({"name": "X", "slug": "x", "studnets": 10}, "studnets"),
    ({"name": "X", "slug": "x", "students": 20_000, "lessons_per_class": 25}, "lessons_per_class"),  # > 750k rows
])
def test_bad_params_name_the_field(raw, field):
    with pytest.raises(ValueError) as raised:
        seed_params(raw)
    assert isinstance(raised.value, SeedParamsError) and raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_params_must_be_an_object():
    with pytest.raises(SeedParamsError, match="params: must be an object"):
        seed_params(["name"])


def test_the_largest_allowed_seed_stays_within_the_rows_a_step_may_write():
    plan = SeedPlan(seed_params({"name": "X", "slug": "x", "students": 20_000}))
    assert plan.attendance_rows <= MAX_ROWS_PER_STEP and plan.grade_rows <= MAX_ROWS_PER_STEP


def test_the_demo_plan_keeps_the_readme_shape():
    plan = SeedPlan(seed_params(DEMO_PARAMS))
    assert [(c.code, c.name, plan.teacher_email(c.teacher), len(c.students)) for c in plan.classes] == [
        ("MAT-101", "Álgebra I", "teacher@aula.local", 36),
        ("HIS-201", "História do Brasil", "teacher2@aula.local", 18),
    ]
    assert plan.admin_email() == "admin@aula.local"
    assert [plan.student_email(i) for i in (0, 35)] == ["student01@aula.local", "student36@aula.local"]
    assert [plan.student_name(i) for i in (0, 1, 20, 35)] == ["Ana Silva", "Bruno Silva", "Ana García", "Pedro García"]
    assert [plan.teacher_name(i) for i in (0, 1)] == ["Teresa Docente", "Tiago Professor"]
    emails = {plan.admin_email(), *(plan.teacher_email(i) for i in range(plan.teachers))}
    assert {login.email for login in DEMO_LOGINS} <= emails | {plan.student_email(0)}


def test_a_large_plan_has_even_sections_unique_codes_and_busy_teachers():
    plan = SeedPlan(seed_params({"name": "X", "slug": "x", "students": 2000}))
    cores = [c for c in plan.classes if c.code.startswith("MAT-")]
    assert len(cores) == 67 and {len(c.students) for c in cores} <= {29, 30}
    assert sorted(s for c in cores for s in c.students) == list(range(2000))  # every student in one section
    assert len({c.code for c in plan.classes}) == len(plan.classes) == 134
    assert {c.teacher for c in plan.classes} == set(range(66))
    assert plan.student_email(0) == "student0001@x.aula.local" and plan.teacher_email(65) == "teacher66@x.aula.local"
    assert len({plan.student_email(i) for i in range(2000)}) == 2000
    assert len({plan.student_name(i) for i in range(1280)}) == 1280
    assert plan.enrollment_rows == 2000 + sum(len(c.students) for c in plan.classes if c not in cores)


def test_a_tiny_school_still_has_both_classes():
    plan = SeedPlan(seed_params({"name": "X", "slug": "x", "students": 1, "teachers": 1}))
    assert [(c.code, c.teacher, list(c.students)) for c in plan.classes] == [("MAT-101", 0, [0]), ("HIS-201", 0, [0])]
