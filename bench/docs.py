"""`--write-docs`: the figures of a run replace the block between its markers in
docs/performance.md, one block per database (`<!-- bench:sqlite:begin -->` ...
`<!-- bench:sqlite:end -->`); the rest of the page is never touched. Ordinary runs never write."""
from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


class MarkersMissing(ValueError):
    pass


def markers(key: str) -> tuple[str, str]:
    return f"<!-- bench:{key}:begin -->", f"<!-- bench:{key}:end -->"


def replace_block(text: str, key: str, block: str) -> str:
    """`text` with what lies between the `key` markers replaced by `block` (markers kept)."""
    begin, end = markers(key)
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < 0 or stop < start:
        raise MarkersMissing(f"the page has no {begin} ... {end} pair (in that order) to replace")
    if text.find(begin, start + 1) >= 0:
        raise MarkersMissing(f"{begin} appears more than once; which block to replace is unclear")
    return text[:start + len(begin)] + "\n" + block.strip("\n") + "\n" + text[stop:]


def write(key: str, block: str, path: Path = DOCS) -> None:
    path.write_text(replace_block(path.read_text(encoding="utf-8"), key, block), encoding="utf-8")
