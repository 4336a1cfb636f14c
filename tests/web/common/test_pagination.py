"""web/common/pagination.py: page and size are read by core.parsing's rules."""
from __future__ import annotations

import pytest

from web.common.pagination import PageParamError, PageRequest


def test_pagination_reads_page_and_size_as_ascii_digits():
    assert PageRequest.from_args({"page": "2", "size": "50"}) == PageRequest(2, 50)
    for args, field in (({"page": "²"}, "page"), ({"size": "²"}, "size"), ({"size": "٣"}, "size")):
        with pytest.raises(PageParamError) as caught:
            PageRequest.from_args(args)
        assert caught.value.field == field


# -- cursors ------------------------------------------------------------------------------------

def test_after_and_before_are_read_as_given():
    assert PageRequest.from_args({"after": "abc"}) == PageRequest(after="abc")
    assert PageRequest.from_args({"after": "a", "before": "b"}) == PageRequest(after="a", before="b")
    with pytest.raises(PageParamError) as caught:
        PageRequest.from_args({"before": "x" * 101})
    assert caught.value.field == "before"


def _jobs_keyset():
    from web.common.lists import OWN_JOBS

    return OWN_JOBS


def test_a_cursor_carries_the_page_and_the_sort_key_of_its_row():
    import uuid
    from datetime import UTC, datetime
    from types import SimpleNamespace

    row = SimpleNamespace(created_at=datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=UTC), id=uuid.uuid4())
    cursor = _jobs_keyset().cursor(7, row)
    assert cursor == f"7.1772368200123456.{row.id.hex}"  # fits a query string as it is
    assert _jobs_keyset().read(cursor, "after") == (7, (row.created_at, row.id))


def test_every_text_of_the_pattern_is_a_position_and_nothing_else_is():
    """The API documents the pattern; whatever matches it is read (numbers past their range
    mean the end of it), so a request the document allows is never refused."""
    import re
    import uuid
    from datetime import UTC, datetime

    keyset = _jobs_keyset()
    assert keyset.read("0.999999999999999999." + "f" * 32, "after") == (
        1, (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), uuid.UUID("f" * 32)))
    assert keyset.read("9999999.0." + "0" * 32, "after")[0] == 1_000_000
    for raw in ("", "x", "1.2", "1.2.3", "1.2." + "F" * 32, "1.2." + "0" * 32 + ".4", "\u0661.2." + "0" * 32):
        assert not re.fullmatch(keyset.pattern, raw)
        with pytest.raises(PageParamError) as caught:
            keyset.read(raw, "before")
        assert caught.value.field == "before"


def test_the_document_states_each_lists_cursor_pattern():
    from web.api.openapi import openapi_document
    from web.common.lists import OWN_JOBS, OWN_NOTIFICATIONS

    parameters = openapi_document()["components"]["parameters"]
    for name, keyset in (("jobs", OWN_JOBS), ("notifications", OWN_NOTIFICATIONS)):
        for side in ("after", "before"):
            assert parameters[f"{name}_{side}"]["schema"]["pattern"] == keyset.pattern


def test_the_keysets_are_the_order_of_the_statements_they_page():
    """A keyset that drifted from its statement's ORDER BY would skip or repeat rows."""
    import sqlalchemy as sa

    from core.models import Job, Notification, User
    from web.common import access
    from web.common.lists import OWN_JOBS, OWN_NOTIFICATIONS

    person = User(id=1, institution_id=1, role="student")

    def order(statement: sa.Select) -> str:
        return str(statement.compile()).rsplit("ORDER BY", 1)[1].strip().replace(" ASC", "")

    for statement, keyset, model in ((access.own_jobs(person), OWN_JOBS, Job),
                                     (access.own_jobs(person, "failed"), OWN_JOBS, Job),
                                     (access.own_notifications(person), OWN_NOTIFICATIONS, Notification),
                                     (access.own_notifications(person, True), OWN_NOTIFICATIONS, Notification)):
        assert order(statement) == order(sa.select(model).order_by(*keyset.ordered(forward=True)))


def test_a_count_past_the_cap_says_at_least():
    from web.common.pagination import Count, Page

    assert (str(Count(7, True)), str(Count(1000, False)), bool(Count(0, True))) == ("7", "1000+", False)
    capped = Page(items=[1] * 20, total=1000, page=60, size=20, exact=False, more=True)
    assert (capped.pages, capped.has_next, capped.meta()["total_exact"]) == (61, True, False)
    assert Page(items=[], total=45, page=4, size=20, more=False).pages == 3


def test_capped_counts_count_each_statement_no_further_than_the_cap(db):
    """One SELECT for them all, each as capped_count would count it alone: exact under the cap,
    'at least' past it, nothing for no statements."""
    import sqlalchemy as sa

    from core.models import Notification
    from tests import factories
    from web.common.pagination import Count, capped_count, capped_counts

    person = factories.user(db, factories.institution(db))
    factories.notifications(db, person, 7, read_every=2)
    mine = sa.select(Notification.id).where(Notification.user_id == person.id)
    statements = {"all": mine, "unread": mine.where(Notification.read_at.is_(None)),
                  "none": mine.where(Notification.id < 0)}
    assert capped_counts(db, {}) == {}
    assert capped_counts(db, statements, cap=10) == {"all": Count(7, True), "unread": Count(4, True),
                                                    "none": Count(0, True)}
    assert capped_counts(db, statements, cap=5) == {"all": Count(5, False), "unread": Count(4, True),
                                                   "none": Count(0, True)}
    assert capped_counts(db, {"edge": mine}, cap=7) == {"edge": Count(7, True)}
    assert {k: capped_count(db, s, 5) for k, s in statements.items()} == capped_counts(db, statements, cap=5)


def test_capped_counts_built_once_count_anew_on_every_read(db):
    """CappedCounts keeps the SELECT, never its answer: a row added between two reads is counted."""
    import sqlalchemy as sa

    from core.models import Notification
    from tests import factories
    from web.common.pagination import CappedCounts, Count

    person = factories.user(db, factories.institution(db))
    factories.notifications(db, person, 4, read_every=2)
    unread = sa.select(Notification.id).where(Notification.user_id == person.id, Notification.read_at.is_(None))
    counts = CappedCounts.of({"unread": unread}, cap=3)
    assert counts.read(db) == {"unread": Count(2, True)}
    db.execute(sa.update(Notification).values(read_at=None))
    assert counts.read(db) == {"unread": Count(3, False)}
    assert CappedCounts.of({}).read(db) == {}
