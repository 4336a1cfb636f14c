"""A TCP proxy in front of moto for one tier, so a fault can cut exactly that tier's AWS calls.

`hold()` cuts every piped connection and from then on accepts new ones without forwarding a
byte: a call that is made waits, as against an SQS that does not answer. `release(forward=False)`
closes what was held (the calls fail; nothing they carried ever reaches moto) and pipes again.
R6 needs this rather than SIGSTOP on moto: a stopped moto still has the request in its socket
buffer and would run it on SIGCONT, after the process that sent it is dead."""
from __future__ import annotations

import socket
import threading


class Proxy:
    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._holding = False
        self._closed = False
        self._held: list[socket.socket] = []
        self._piped: list[socket.socket] = []
        self.held_arrived = threading.Event()
        threading.Thread(target=self._accept, name="chaos-proxy", daemon=True).start()

    def held_count(self) -> int:
        with self._lock:
            return len(self._held)

    def hold(self) -> None:
        with self._lock:
            self._holding = True
            self.held_arrived.clear()
            piped, self._piped = self._piped, []
        _cut(piped)  # keep-alive connections would otherwise still reach moto

    def release(self, forward: bool = False) -> None:
        with self._lock:
            self._holding = False
            held, self._held = self._held, []
        if forward:
            for conn in held:
                self._pipe(conn)
        else:
            _cut(held)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets = self._held + self._piped
            self._held, self._piped = [], []
        _cut(sockets)
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                if self._holding:
                    self._held.append(conn)
                    self.held_arrived.set()
                    continue
            self._pipe(conn)

    def _pipe(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
        except OSError:
            conn.close()
            return
        with self._lock:
            self._piped += [conn, upstream]
        for source, target in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=_copy, args=(source, target, self), daemon=True).start()

    def _forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._piped = [s for s in self._piped if s not in sockets]


def _copy(source: socket.socket, target: socket.socket, proxy: Proxy) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        proxy._forget(source, target)
        _cut([source, target])


def _cut(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
