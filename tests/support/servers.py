"""Real local servers for tests: free ports, waiting for HTTP, and moto in server mode."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller should bind it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 10.0) -> None:
    """Return once `url` answers any HTTP status; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # an error status is still an answer
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{url} did not answer within {timeout:g}s: {exc}") from exc
            time.sleep(0.05)


@contextmanager
def moto_server(timeout: float = 20.0) -> Iterator[str]:
    """Run `python -m moto.server` on 127.0.0.1 and a free port; yield its endpoint URL.

    A subprocess rather than ThreadedMotoServer, so its state cannot mix with in-process mocks.
    The process is always stopped, even when startup or the body fails.
    """
    with tempfile.TemporaryFile() as output:
        process, url = _start_moto(output, timeout)
        try:
            yield url
        finally:
            _stop(process)


def _start_moto(output: IO[bytes], timeout: float) -> tuple[subprocess.Popen[bytes], str]:
    for _attempt in range(3):  # the free port can be taken between free_port() and moto's bind
        url = f"http://127.0.0.1:{free_port()}"
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", url.rsplit(":", 1)[1]],
            stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            up = _wait_until_up(process, url, timeout)
        except BaseException:  # timed out or interrupted: never leave it running
            _stop(process)
            raise
        if up:
            return process, url
        _stop(process)
    output.seek(0)
    raise RuntimeError(f"moto server did not start:\n{output.read().decode(errors='replace')}")


def _wait_until_up(process: subprocess.Popen[bytes], url: str, timeout: float) -> bool:
    """True once moto answers; False if the process exited (port taken); TimeoutError if neither."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        try:
            wait_for_http(f"{url}/moto-api/", timeout=0.2)
            return True
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
