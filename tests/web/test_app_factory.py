"""web.create_app's per-process set-up of per-request work."""
from __future__ import annotations

from web import _ask_once_if_async


def test_whether_a_function_is_async_is_asked_once_per_function():
    asked: list[object] = []

    class App:
        def ensure_sync(self, func):
            asked.append(func)
            return func

    app = App()
    _ask_once_if_async(app)  # type: ignore[arg-type]

    def hook():
        return "ran"

    assert app.ensure_sync(hook)() == "ran" and app.ensure_sync(hook)() == "ran"
    assert asked == [hook]


def test_an_unhashable_callable_is_still_answered():
    class Callable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self):
            return "ran"

    class App:
        def ensure_sync(self, func):
            return func

    app = App()
    _ask_once_if_async(app)  # type: ignore[arg-type]
    assert app.ensure_sync(Callable())() == "ran"


def test_the_app_runs_its_hooks_and_views_through_it(client):
    # Every hook and view goes through ensure_sync: a page, the API and an error all answer.
    assert client.get("/login").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/no-such-thing").status_code == 404
