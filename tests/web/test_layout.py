"""The web tier's shape: pages and the API share web/common/ and never import each other, one
send point (core.jobs.outbox.commit_and_send), and every page module is registered by name."""
from __future__ import annotations

import ast
from pathlib import Path

import web
import web.pages

WEB = Path(web.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_pages_never_import_the_api_and_the_shared_layer_imports_neither():
    for folder, refused in (("pages", "web.api"), ("common", "web.api"), ("common", "web.pages")):
        for path in (WEB / folder).rglob("*.py"):
            bad = sorted(name for name in _imports(path) if name == refused or name.startswith(refused + "."))
            assert not bad, f"{path.relative_to(WEB.parent)} imports {bad}"


def test_nothing_in_web_sends_but_through_commit_and_send():
    for path in WEB.rglob("*.py"):
        assert "core.jobs.outbox.flush" not in _imports(path), path.relative_to(WEB.parent)


def test_every_page_module_is_registered_by_name():
    modules = {path.stem for path in (WEB / "pages").glob("*.py")} - {"__init__", "blueprint"}
    assert {module.__name__.rsplit(".", 1)[1] for module in web.pages.PAGE_MODULES} == modules
