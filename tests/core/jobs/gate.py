"""A TCP proxy that holds connections: an SQS (or database) that hangs, answers late, or goes
away, for real clients (boto3, psycopg) to meet in tests."""
from __future__ import annotations

import socket
import threading

import boto3
from botocore.config import Config

from tests.conftest import REGION


class Gate:
    """Holds every connection made to it until `open()` (or, with `delay`, for that many seconds
    each; 0 pipes at once), then pipes it to `upstream`; without upstream it only holds. `arrived`
    is set when a connection came in: a call is under way. `close()` cuts every connection."""

    def __init__(self, upstream: tuple[str, int] | None = None, delay: float | None = None, port: int = 0):
        self.upstream = upstream
        self.delay = delay
        self.arrived = threading.Event()
        self.connections = 0
        self._opened = threading.Event()
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def open(self) -> None:
        self._opened.set()

    def close(self) -> None:
        """Cut every held or piped connection (a held send then fails at once) and stop."""
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        self._opened.set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        except OSError:
            pass
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def _keep(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                sock.close()
                return False
            self._sockets.append(sock)
            return True

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            if not self._keep(conn):
                return
            self.connections += 1
            self.arrived.set()
            self._spawn(self._hold, conn)

    def _hold(self, conn: socket.socket) -> None:
        if self.delay is None:
            self._opened.wait()
        else:
            self._opened.wait(self.delay)
        if self._closed or self.upstream is None:
            return
        up = socket.create_connection(self.upstream)
        if not self._keep(up):
            return
        self._spawn(self._pipe, up, conn)
        self._pipe(conn, up)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)  # pass the end on
        except OSError:
            pass  # the gate closed


def sqs_client(endpoint_url: str, *, read_timeout: float = 60, attempts: int = 1):
    """A boto3 SQS client for an endpoint of the test's (a gate); one attempt, so a hung call is
    one held connection."""
    return boto3.client("sqs", region_name=REGION, endpoint_url=endpoint_url,
                        config=Config(connect_timeout=2, read_timeout=read_timeout,
                                      retries={"mode": "standard", "max_attempts": attempts}))
