"""Browser tests: real headless Chromium (Debian's /usr/bin/chromium, installed by apt; never a
browser downloaded by Playwright) driven by Playwright's sync API, against the real local stack
(moto server, gunicorn web and worker, local sqsd). The browser and one stack are shared by the
browser modules that run one after another (a boot costs 10-40 s, most of it the demo seed through
the queue); each module after the first gets the stack restored to the state its boot left
(Stack.restore: database, queues, bucket, mailbox, processes), so a module sees what a stack of its
own would show and no module's data reaches the next. Within a module the tests share the stack.

Without /usr/bin/chromium the tests are skipped locally, with the reason; in CI (CI=true) they
fail instead, so a missing browser can never pass for green."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
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


class _Shared:
    """The browser and the stack the browser modules share while they run one after another.
    Both start on first use and stop as soon as the run leaves tests/browser (or at the end of
    the session, whatever happened), so they never idle under the rest of the suite."""

    def __init__(self) -> None:
        self._browser: ExitStack | None = None
        self._stack: ExitStack | None = None
        self.chromium = None
        self.stack: Stack | None = None

    def browser(self, chromium_path: str):
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            with ExitStack() as exits:
                playwright = exits.enter_context(sync_playwright())
                self.chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS,
                                                           headless=True, timeout=30_000)
                exits.callback(self.chromium.close)
                self._browser = exits.pop_all()
        return self.chromium

    def fresh_stack(self, tmp_path_factory: pytest.TempPathFactory) -> Stack:
        """The stack as a boot of its own would leave it: booted for the first module, restored
        to the boot's snapshot for each one after."""
        if self._stack is None:
            with ExitStack() as exits:
                self.stack = exits.enter_context(running_stack(tmp_path_factory.mktemp("stack")))
                self.stack.snapshot()
                self._stack = exits.pop_all()
            return self.stack
        try:
            self.stack.restore()
        except BaseException:
            print(self.stack.logs(), file=sys.stderr)
            self.close_stack()  # the next module boots a new one
            raise
        return self.stack

    def close_stack(self) -> None:
        exits, self._stack, self.stack = self._stack, None, None
        if exits is not None:
            exits.close()

    def close(self) -> None:
        try:
            self.close_stack()
        finally:
            exits, self._browser, self.chromium = self._browser, None, None
            if exits is not None:
                exits.close()


_shared = _Shared()
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def _browser_session() -> Iterator[_Shared]:
    try:
        yield _shared
    finally:
        _shared.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    try:
        return (yield)  # the test's own fixtures (its page) first
    finally:
        if nextitem is None or HERE not in Path(nextitem.path).resolve().parents:
            _shared.close()


@pytest.fixture(scope="module")
def browser(chromium_path: str, _browser_session: _Shared):
    return _browser_session.browser(chromium_path)


@pytest.fixture(scope="module")
def stack(_browser_session: _Shared, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """A stack for this module, in the state a fresh boot leaves (see _Shared.fresh_stack)."""
    return _browser_session.fresh_stack(tmp_path_factory)


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
