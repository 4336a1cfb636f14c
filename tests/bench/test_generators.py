"""Both load generators against a tiny local server: they send the plan's items on their strides,
make `{seq}` unique per request, and count what they sent (no timing is asserted)."""
from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import load
from bench.load import Item, Plan


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn's gthread workers answer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.server.seen.append((self.path, self.headers.get("X-Item"), body))  # type: ignore[attr-defined]
        self.send_response(202)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # wrk resets its connections when a run ends


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = _Server(("127.0.0.1", 0), _Recorder)
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


GENERATORS = ["python", pytest.param("wrk", marks=pytest.mark.skipif(not shutil.which("wrk"), reason="wrk not installed"))]


@pytest.mark.parametrize("generator", GENERATORS)
def test_a_generator_sends_every_item_with_unique_bodies(server, generator, tmp_path):
    items = tuple(Item(f"/items/{n}", (("X-Item", str(n)), ("Content-Type", "application/json")),
                       json.dumps({"title": "t {seq}", "n": n})) for n in range(4))
    plan = Plan("gen", f"http://127.0.0.1:{server.server_address[1]}", "POST", items, 2, 202)
    result = load.run(plan, 1, generator, str(tmp_path))
    seen = server.seen  # type: ignore[attr-defined]
    assert result.generator == generator and result.items == 4
    assert result.requests > 0 and result.errors == 0 and result.unexpected == 0
    assert len(seen) >= result.requests  # wrk leaves the last in-flight ones uncounted
    assert {path for path, _, _ in seen} == {f"/items/{n}" for n in range(4)}
    assert all(path.endswith(header) for path, header, _ in seen)  # headers travel with their item
    titles = [json.loads(body)["title"] for _, _, body in seen]
    assert len(set(titles)) == len(titles) and "{seq}" not in "".join(titles)
    assert result.p50_ms <= result.p99_ms <= result.max_ms
    assert list(tmp_path.iterdir()) == []  # the plan file is gone


def test_probe_refuses_an_unexpected_status(server):
    plan = Plan("gen", f"http://127.0.0.1:{server.server_address[1]}", "POST", (Item("/x", (), "{}"),), 1, 200)
    with pytest.raises(load.LoadError, match="answered 202, expected 200"):
        load.probe(plan)
