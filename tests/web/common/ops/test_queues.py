"""web/common/ops/queues.py's background readers and the app's close(): none reads the
database once the app's pool is being disposed of (a connection it opened then would be left
open, found by the garbage collector in whatever test came next)."""
from __future__ import annotations

import threading

from web.common.ops import queues


def test_close_waits_for_a_reading_under_way_and_starts_no_other(web_app, monkeypatch):
    services = web_app.extensions["aula"]
    queues.forget()
    reading, held = threading.Event(), threading.Event()
    real_sent = queues._oldest_sent

    def slow_sent(services_):
        reading.set()
        held.wait(10)
        return real_sent(services_)

    monkeypatch.setattr(queues, "_oldest_sent", slow_sent)
    alive_at_dispose: list[bool] = []
    dispose = services.db.dispose

    def watched_dispose():
        alive_at_dispose.append(any(t.is_alive() for t in queues._refreshing.values()))
        dispose()

    monkeypatch.setattr(services.db, "dispose", watched_dispose)
    try:
        queues.warm(services)
        assert reading.wait(10)
        threading.Timer(0.3, held.set).start()  # the read ends while close() waits for it
        services.close(timeout=10)
        assert alive_at_dispose == [False]
        assert queues._refreshing == {}
        queues.forget()
        queues.warm(services)  # a poll that comes after close() reads nothing, and says so
        assert queues._refreshing == {}
        assert queues.figures(services)["pending"] is True
    finally:
        held.set()
        queues.forget()
