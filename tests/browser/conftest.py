"""Browser tests: real headless Chromium (Debian's /usr/bin/chromium, installed by apt; never a
browser downloaded by Playwright) driven by Playwright's sync API, against the real local stack
(moto server, gunicorn web and worker, local sqsd), started once per module.

Without /usr/bin/chromium the tests are skipped locally, with the reason; in CI (CI=true) they
fail instead, so a missing browser can never pass for green."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, running_stack

CHROMIUM = os.environ.get("AULA_CHROMIUM", "/usr/bin/chromium")
# Chromium's background services try to reach Google; on a closed network those connections
# are refused many at a time, so they are switched off.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1000, "height": 700}
DEFAULT_TIMEOUT_MS = 15_000
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        message = (f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium fonts-liberation) "
                   f"or point AULA_CHROMIUM at a Chromium binary")
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True,
                                              timeout=30_000)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as started:
        yield started


@pytest.fixture
def page(browser, stack: Stack, tmp_path: Path):
    """A fresh browser context (no cookies) per test, every wait bounded."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, base_url=stack.web, locale="en-US",
                                  timezone_id="UTC")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def shoot(tmp_path: Path):
    """shoot(page, name): a viewport-sized PNG of the page. Written to docs/screenshots/ when
    AULA_UPDATE_SCREENSHOTS=1 (to refresh the README's pictures), otherwise to the test's tmp dir,
    so an ordinary test run never rewrites tracked files."""
    target = SCREENSHOTS if os.environ.get("AULA_UPDATE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    target.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = target / f"{name}.png"
        page.screenshot(path=str(path), full_page=False, animations="disabled", caret="hide")
        assert path.stat().st_size > 1000, path
        return path

    return take
