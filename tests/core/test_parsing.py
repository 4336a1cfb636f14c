"""core.parsing: one set of rules for untrusted input, so bad values are a 400 naming the field."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from core.parsing import MAX_ID, InputError, ascii_int, aware_datetime, find_nul, int_param, json_id, json_int, text


@pytest.mark.parametrize("raw", ["²", "٣", "１", "+1", "-1", " ", "1_000", "1.0", "", "0x1"])
def test_only_ascii_digits_are_integers(raw):
    assert ascii_int(raw) is None


def test_the_trap_isdigit_accepts_what_int_refuses_or_misreads():
    assert "²".isdigit() and "٣".isdigit()
    with pytest.raises(ValueError):
        int("²")
    assert int("٣") == 3


def test_ascii_digits_are_read_and_bounded():
    assert ascii_int("0042") == 42
    assert int_param("20", "size", 1, 100) == 20
    assert int_param(None, "page", 1, 9, default=1) == 1
    for raw in ("²", "0", "101", "99999999999999999999", ""):
        with pytest.raises(InputError) as caught:
            int_param(raw, "size", 1, 100)
        assert caught.value.field == "size" and "1 to 100" in caught.value.message


@pytest.mark.parametrize("value", [2**31, 2**63, -1, 0, True, "1", 1.5, None, [1], float("inf"), 1e300])
def test_ids_fit_the_database_integer(value):
    with pytest.raises(InputError) as caught:
        json_id(value, "class_id")
    assert caught.value.field == "class_id"


def test_ids_in_range_and_integral_numbers_are_accepted():
    assert json_id(1, "class_id") == 1 and json_id(MAX_ID, "class_id") == MAX_ID
    assert json_id(312.0, "class_id") == 312  # JSON Schema: 312.0 is an integer
    assert json_int(0, "lessons", 0, 40) == 0
    with pytest.raises(InputError):
        json_int(41, "lessons", 0, 40)


def test_text_refuses_nul_and_caps_the_length():
    assert text("  Lista 1 ", "title", required=True, max_length=200) == "Lista 1"
    assert text(None, "description") == ""
    for value, message in (("a\x00b", "NUL"), ("", "required"), ("x" * 201, "at most 200"), (5, "text")):
        with pytest.raises(InputError) as caught:
            text(value, "title", required=True, max_length=200)
        assert caught.value.field == "title" and message in caught.value.message


def test_find_nul_names_the_path_of_the_first_nul_in_keys_and_values():
    assert find_nul({"title": "ok", "tags": ["a", {"b": 1}]}) is None
    assert find_nul({"title": "a\x00"}) == "title"
    assert find_nul({"x": [{"y": ["ok", "\x00"]}]}) == "x[0].y[1]"
    assert find_nul({"k\x00": 1}) == "k\\u0000"
    assert find_nul("\x00") == ""


def test_find_nul_walks_deep_values_without_recursion():
    deep: list = ["\x00"]
    for _ in range(50_000):
        deep = [deep]
    assert find_nul(deep).endswith("[0][0]")


def test_date_times_need_a_zone_and_must_fit_in_utc():
    assert aware_datetime("2026-12-01T23:59:00Z", "due_at") == datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
    assert aware_datetime("2026-12-01t20:59:00-03:00", "due_at") == datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
    assert aware_datetime("9998-12-31T23:59:59-14:00", "due_at") == datetime(9999, 1, 1, 13, 59, 59, tzinfo=UTC)
    assert aware_datetime("2028-02-29T00:00:00.123456789+01:00", "due_at").day == 28
    assert aware_datetime("2026-12-01T23:59", "due_at", local_utc=True) == datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
    for raw in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-12-01T23:59", "tomorrow", 20261201,
                "２０２６-12-01T23:59:00Z", "2026-12-01T23:59:00\x00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
                "2026-12-01 23:59:00Z", "20261201T235900Z", "2026-12-01T24:00:00Z", "", None):
        with pytest.raises(InputError) as caught:
            aware_datetime(raw, "due_at")
        assert caught.value.field == "due_at" and "date-time with a time zone" in caught.value.message, raw
    for raw in ("2026-12-01T10:00+02:00", "9999-12-31T23:59", "0001-01-01T00:00"):
        with pytest.raises(InputError):
            aware_datetime(raw, "due_at", local_utc=True)


def test_the_date_time_pattern_is_a_calendar():
    from datetime import date, timedelta

    from core.parsing import DATE_TIME_PATTERN

    pattern = re.compile(DATE_TIME_PATTERN)
    day, seen = date(1896, 1, 1), 0
    while day < date(2105, 1, 1):  # every day, across the 1900 and 2100 non-leap centuries and 2000
        assert pattern.match(f"{day.isoformat()}T00:00:00Z"), day
        day, seen = day + timedelta(days=1), seen + 1
    for bad in ("1900-02-29", "2100-02-29", "2026-02-29", "2026-13-01", "2026-00-10", "2026-06-31", "0000-01-01",
                "0001-06-01", "9999-01-01"):
        assert not pattern.match(f"{bad}T00:00:00Z"), bad
    assert pattern.match("2000-02-29T00:00:00Z") and pattern.match("0004-02-29T12:00:00+14:00")


def test_route_ids_match_exactly_1_to_2_31_minus_1():
    import random
    import re

    from core.app import _up_to

    pattern = re.compile(_up_to(MAX_ID))
    samples = [*range(1200), MAX_ID - 1, MAX_ID, MAX_ID + 1, 10**9, 10**10 - 1, 2**63]
    rng = random.Random(7)
    samples += [rng.randrange(0, 2**34) for _ in range(5000)]
    for n in samples:
        assert bool(pattern.fullmatch(str(n))) == (1 <= n <= MAX_ID), n
    for text_ in ("007", "٣", "+1", "1 ", ""):
        assert not pattern.fullmatch(text_)


def test_seed_sizes_take_integral_numbers_as_json_schema_does():
    from core.seeding import seed_params

    params = seed_params({"name": "X", "slug": "x", "students": 10.0, "lessons_per_class": 2.0})
    assert (params["students"], params["lessons_per_class"]) == (10, 2)
    assert type(params["students"]) is int


def test_a_json_body_may_hold_only_the_listed_fields():
    from core.parsing import known_fields

    known_fields({"kind": "x", "class_id": 1}, ("kind", "class_id", "format"))
    with pytest.raises(InputError) as caught:
        known_fields({"kind": "x", "clas_id": 1, "zzz": 2}, ("kind", "class_id", "format"))
    assert caught.value.field == "clas_id" and "class_id" in caught.value.message


def test_text_counts_the_length_as_sent():
    assert text(" " + "x" * 199, "title", max_length=200) == "x" * 199
    with pytest.raises(InputError):
        text(" " + "x" * 200, "title", max_length=200)  # 201 as sent, though 200 once stripped


@pytest.mark.parametrize("raw, field", [({"slug": "escola\n"}, "slug"), ({"email_domain": "\u212aaula.org"}, "email_domain"),
                                        ({"email_domain": " aula.org"}, "email_domain"),
                                        ({"name": "a" + " " * 200}, "name"), ({"name": "a\x00"}, "name")])
def test_seed_params_are_as_strict_as_the_document(raw, field):
    from core.seeding import SeedParamsError, seed_params

    with pytest.raises(SeedParamsError) as caught:
        seed_params({"name": "Escola", "slug": "escola", **raw})
    assert caught.value.field == field
