"""The roster CSV's rules (core/roster.py): header, encoding, limits and each row's problem."""
from __future__ import annotations

import pytest

from core.roster import MAX_BYTES, MAX_ROWS, RosterFileError, parse_roster


def _problems(text: str) -> list[tuple[int, str | None]]:
    return [(r.line, r.problem) for r in parse_roster(text.encode())]


def test_columns_in_any_order_and_case_with_a_bom_and_extra_columns():
    rows = parse_roster("\ufeffEMAIL ; ,Turma,External_Id,Name\n Ana@Example.TEST ,9A,a-1,  Ana   Souza \n".encode()
                        .replace(b" ; ", b""))
    [row] = rows
    assert (row.line, row.name, row.email, row.external_id, row.problem) == (2, "Ana Souza", "ana@example.test",
                                                                             "a-1", None)


def test_quoted_fields_blank_lines_and_line_numbers():
    text = 'name,email\n"Souza, Ana",ana@example.test\n\n"Multi\nline",multi@example.test\nBia,bia@example.test\n'
    rows = parse_roster(text.encode())
    assert [(r.line, r.name) for r in rows] == [(2, "Souza, Ana"), (5, "Multi line"), (6, "Bia")]


@pytest.mark.parametrize(("row", "problem"), [
    (",a@example.test", "the name is empty"),
    ("x" * 201 + ",a@example.test", "the name is longer than 200 characters"),
    ("Ana,", "the email is empty"),
    ("Ana,ana@", "'ana@' is not an email address"),
    ("Ana,ana@example", "'ana@example' is not an email address"),
    ("Ana,a b@example.test", "'a b@example.test' is not an email address"),
    ("Ana,a@b@example.test", "'a@b@example.test' is not an email address"),
    ("Ana,ana@example.test,has space", "the external_id must be"),
    ("Ana,ana@example.test," + "x" * 101, "the external_id must be"),
    ("Ana,ana@example.test,-lead", "the external_id must be"),
    ("A\x00na,ana@example.test", "the name has control characters"),
    ("Ana,a\x00na@example.test", "'a\\x00na@example.test' is not an email address"),
])
def test_each_bad_row_says_why(row, problem):
    [(line, found)] = _problems(f"name,email,external_id\n{row}\n")
    assert line == 2 and found is not None and found.startswith(problem)


def test_duplicates_in_the_file_point_at_the_first_line():
    text = "name,email,external_id\nA,a@example.test,X1\nB,A@EXAMPLE.TEST,\nC,c@example.test,X1\nD,d@example.test,\n"
    assert _problems(text) == [(2, None), (3, "the email is also on line 2"),
                               (4, "the external_id is also on line 2"), (5, None)]


@pytest.mark.parametrize(("data", "status", "message"), [
    (b"", 422, "the file is empty"),
    (b"nome,correio\nAna,a@example.test\n", 422, "missing: name, email"),
    (b"name,name,email\n", 422, "names the column 'name' twice"),
    ("name,email\nJos\u00e9,j@example.test\n".encode("latin-1"), 422, "not UTF-8"),
    (b'name,email\n"unclosed,a@example.test\n', 422, "not valid CSV"),
])
def test_a_file_that_cannot_be_read_is_refused_as_a_whole(data, status, message):
    with pytest.raises(RosterFileError) as refused:
        parse_roster(data)
    assert refused.value.status == status and message in refused.value.message


def test_the_limits():
    with pytest.raises(RosterFileError) as big:
        parse_roster(b"name,email\n" + b"x" * MAX_BYTES)
    assert big.value.status == 413
    many = "name,email\n" + "".join(f"A,a{n}@example.test\n" for n in range(MAX_ROWS + 1))
    with pytest.raises(RosterFileError) as rows:
        parse_roster(many.encode())
    assert rows.value.status == 422 and "more than 10000 rows" in rows.value.message
    assert len(parse_roster(many.rsplit("A,", 1)[0].encode())) == MAX_ROWS
