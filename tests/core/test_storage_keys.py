"""core/submissions.py: where uploads are stored (keys under the student's prefix, safe names),
which types may be submitted, and the check of a file's bytes."""
from __future__ import annotations

import uuid

import pytest

from core.submissions import ALLOWED, ContentCheck, FileRefused, file_type, parse_key, safe_filename, upload_key


@pytest.mark.parametrize(("raw", "safe"), [
    ("Relatório final.PDF", "Relatorio-final.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ana\\notas.txt", "notas.txt"),
    ("..pdf", "file.pdf"),
    (".bashrc", "file.bashrc"),
    ('a"b;c\r\n.png', "a-b-c.png"),
    ("名前.png", "file.png"),
    ("", "file"),
])
def test_safe_filenames(raw, safe):
    assert safe_filename(raw) == safe


def test_a_long_name_keeps_its_extension():
    name = safe_filename("a" * 500 + ".docx")
    assert len(name) == 120 and name.endswith(".docx")


def test_keys_are_per_student_and_parse_back():
    token = uuid.uuid4()
    key = upload_key(7, 42, "a.pdf", token)
    assert key == f"submissions/7/42/{token.hex}/a.pdf"
    assert parse_key(key) == (7, 42, "a.pdf")
    for bad in ("submissions/7/42/../a.pdf", f"submissions/7/42/{token.hex}/.hidden", "reports/1/a.csv",
                f"submissions/7/42/{token.hex}/a/b.pdf", f"submissions/x/42/{token.hex}/a.pdf", None, 5):
        assert parse_key(bad) is None, bad


def test_types_come_from_the_extension():
    assert file_type("a.PDF").content_type == "application/pdf"
    assert file_type("b.jpeg").content_type == file_type("c.jpg").content_type == "image/jpeg"
    for name in ("a.exe", "a.html", "a", "a.svg", "a.pdf.js"):
        with pytest.raises(FileRefused):
            file_type(name)


def _check(ext: str, *chunks: bytes) -> str | None:
    check = ContentCheck(ALLOWED[ext])
    for chunk in chunks:
        check.feed(chunk)
    return check.problem()


def test_content_is_judged_by_its_bytes():
    assert _check("pdf", b"%PD", b"F-1.7 rest") is None  # a signature split across chunks
    assert _check("pdf", b"<html>") == "its content is not a PDF"
    assert _check("png", b"\x89PNG\r\n\x1a\n...") is None
    assert _check("jpg", b"\xff\xd8\xff\xe0") is None
    assert _check("docx", b"PK\x03\x04...") is None and _check("docx", b"MZ") is not None
    assert _check("txt", "olá".encode()[:3], "olá".encode()[3:]) is None  # UTF-8 split across chunks
    assert "UTF-8" in _check("txt", b"\xe9t\xe9")
    assert "UTF-8" in _check("txt", "olá".encode()[:3])  # ends inside a character
    assert "NUL" in _check("txt", b"a\x00b")
    assert _check("pdf") == "the file is empty"
