"""Property-based fuzzing of the whole JSON API with schemathesis, from its own OpenAPI document
(GET /api/openapi.json, web/api/openapi.yaml), in-process through the WSGI app.

Every operation gets schemathesis' examples, coverage (boundary values, wrong types, unexpected
HTTP methods) and fuzzing phases, valid and invalid inputs alike, as a signed-in teacher, admin
and student of a small seeded institution. Each answer must:

- never be a 5xx (bad input is a 4xx);
- carry a status code the document declares, with a body and headers matching its schema;
- accept what the document calls valid and reject (4xx) what it calls invalid;
- answer 401 without credentials, and 405 with `Allow` for a method the path does not have.

It runs on SQLite and on PostgreSQL (the `database_url` fixture), where out-of-range integers
and NUL characters used to end as DataError 500s. AULA_FUZZ_EXAMPLES is the number of examples
per operation of the fuzzing phase, on top of the examples and coverage phases (default 10:
about 2,900 cases per backend, some 100 s for both, most of it setting up one app and database
per operation and role; raise it locally to look harder). AULA_FUZZ_SEED replays (or varies) a
run; the default seed is fixed, so CI is deterministic. A failure prints the request as curl.
"""
from __future__ import annotations

import os
import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from core.models import Notification
from tests import factories
from web.api.openapi import openapi_document
from web.common.activities import publish_activity

DEFAULT_EXAMPLES = 10
EXAMPLES = int(os.environ.get("AULA_FUZZ_EXAMPLES", str(DEFAULT_EXAMPLES)))
SEED = int(os.environ.get("AULA_FUZZ_SEED", "20261201"))
ROLES = ("teacher", "admin", "student")
MIN_CASES = 1_000  # per backend, all roles together, at the default AULA_FUZZ_EXAMPLES

# (backend, role, operation) -> cases run, and backend -> seconds spent in them, for the report.
CASES: Counter[tuple[str, str, str]] = Counter()
SPENT: Counter[str] = Counter()


@pytest.fixture
def institution(db):
    """A teacher with a class of three students and a published activity, an admin, and the
    notifications each may read: something real behind the ids the fuzzer tries."""
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    admin = factories.user(db, school, "admin")
    school_class, students = factories.school_class(db, teacher, students=3)
    activity, _job = publish_activity(db, school_class, teacher, "Lista 1", "Exercícios 1 a 10", None)
    for n, person in enumerate((teacher, admin, *students)):
        db.add(Notification(user_id=person.id, kind="activity", title="Olá", body="", activity_id=activity.id,
                            dedupe_key=f"fuzz:{n}"))
    db.commit()
    return {"teacher": teacher, "admin": admin, "student": students[0]}


@pytest.fixture(params=ROLES)
def signed_in(request, client, institution, database_url) -> tuple[str, str, dict[str, str]]:
    """(backend, role, headers): the bearer token of one seeded user; each role sees another
    side of the API (a teacher publishes, an admin seeds, a student is refused both)."""
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    return backend, request.param, factories.login(client, institution[request.param])


@pytest.fixture(scope="module", autouse=True)
def fuzz_report():
    """After the module: the figures per backend, and the floor on the number of cases when
    every operation ran for every role (not when a -k selection picked a few)."""
    started = time.monotonic()
    yield
    print(f"\nschemathesis: {sum(CASES.values())} cases in {time.monotonic() - started:.0f} s in all")
    operations = {operation.ok().label for operation in schema.get_all_operations()}
    for backend in sorted({key[0] for key in CASES}):
        ran = {(role, label): n for (b, role, label), n in CASES.items() if b == backend}
        total = sum(ran.values())
        print(f"schemathesis on {backend}: {total} cases, {len({label for _, label in ran})} of "
              f"{len(operations)} operations x {len({role for role, _ in ran})} roles, "
              f"{SPENT[backend]:.0f} s in the requests and their checks")
        if set(ran) == {(role, label) for role in ROLES for label in operations} and EXAMPLES >= DEFAULT_EXAMPLES:
            assert total >= MIN_CASES, f"only {total} cases on {backend}"


# The document the app serves at /api/openapi.json, loaded at collection so that each operation
# is a test of its own (test_the_served_document_is_the_fuzzed_one below keeps them the same).
schema = schemathesis.openapi.from_dict(openapi_document(), config=SchemathesisConfig.from_dict({
    "seed": SEED,
    "base-url": "http://localhost",  # in-process: the WSGI app gets every request, whatever the host
    "generation": {"max-examples": EXAMPLES, "database": "none"},
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
}))


def test_the_served_document_is_the_fuzzed_one(client):
    assert client.get("/api/openapi.json").get_json() == openapi_document()


@schema.parametrize()
# One app and database per operation's test, shared by its examples, as intended.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_the_api_answers_every_generated_request_as_its_document_says(case, web_app, signed_in):
    backend, role, headers = signed_in
    CASES[backend, role, case.operation.label] += 1
    # This test's app (its own database); the checks' own probes (e.g. without credentials) go there too.
    case.operation.app = case.operation.schema.app = web_app
    started = time.monotonic()
    try:
        case.call_and_validate(headers=headers)
    finally:
        SPENT[backend] += time.monotonic() - started
