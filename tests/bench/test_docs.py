"""bench/docs.py: --write-docs replaces one database's block and nothing else."""
from __future__ import annotations

import pytest

from bench import docs
from bench.__main__ import parser

PAGE = """# Performance

intro
<!-- bench:sqlite:begin -->
old sqlite table
<!-- bench:sqlite:end -->
between
<!-- bench:postgresql:begin -->
old postgresql table
<!-- bench:postgresql:end -->
What each change bought
"""


def test_only_the_named_block_changes():
    new = docs.replace_block(PAGE, "sqlite", "| new | table |\n")
    assert "old sqlite table" not in new and "| new | table |" in new
    assert new.replace("| new | table |", "old sqlite table") == PAGE


def test_missing_or_repeated_markers_refuse_to_guess():
    with pytest.raises(docs.MarkersMissing):
        docs.replace_block("no markers here", "sqlite", "x")
    with pytest.raises(docs.MarkersMissing):
        docs.replace_block("<!-- bench:sqlite:end -->\n<!-- bench:sqlite:begin -->", "sqlite", "x")
    with pytest.raises(docs.MarkersMissing):
        docs.replace_block(PAGE + PAGE, "sqlite", "x")


def test_write_rewrites_the_file(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(PAGE, encoding="utf-8")
    docs.write("postgresql", "fresh", page)
    assert "fresh" in page.read_text(encoding="utf-8") and "old sqlite table" in page.read_text(encoding="utf-8")


def test_the_real_page_has_both_blocks():
    text = docs.DOCS.read_text(encoding="utf-8")
    for key in ("sqlite", "postgresql"):
        docs.replace_block(text, key, "x")  # raises if a block is missing


def test_an_ordinary_run_never_writes_the_docs():
    assert parser().parse_args([]).write_docs is False
    assert parser().parse_args(["--write-docs"]).write_docs is True
