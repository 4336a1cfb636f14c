"""Child processes of a benchmark: started in their own process group with their output in a
log file, and always stopped, children included (gunicorn's workers), even on failure or Ctrl-C.

On Linux each child is also asked to get SIGTERM when the benchmark itself dies (PDEATHSIG), so
even a `kill -9` of `make bench` leaves no gunicorn or moto behind.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1
STOP_TIMEOUT = 15.0


class StartError(RuntimeError):
    """A process did not come up; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child_setup() -> None:
    # A benchmark started in the background inherits SIGINT ignored, and so would its children:
    # give them back the default, so SIGINT stops them (Python exits on it only if not ignored).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):  # no prctl: the finally blocks still stop it
            pass


class Process:
    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path):
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self.paused = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing (a slow dependency)."""
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            os.kill(self.pid, signal.SIGCONT)
            self.paused = False

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def signal_stop(self) -> None:
        """Ask it to stop: SIGINT is gunicorn's quick shutdown (TERM waits for idle keep-alive
        threads, a second or two per server) and moto's Ctrl-C; nothing here needs draining.
        Only the leader is signalled: gunicorn stops its own workers (a worker signalled directly
        while it still boots can leave the master waiting for it)."""
        if self.alive():
            self.resume()  # a stopped process would hold the signal until it is continued
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def wait_stopped(self, deadline: float) -> None:
        try:
            self.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._kill_group()
            self.popen.wait(timeout=5)
        self._kill_group()  # whatever of its group outlived it (a worker its master lost)

    def _kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        self.signal_stop()
        self.wait_stopped(time.monotonic() + STOP_TIMEOUT)


class ProcessGroup:
    """Every process a benchmark started; `close()` stops them all, newest first."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.processes: dict[str, Process] = {}

    def start(self, name: str, command: str, env: dict[str, str], cwd: Path) -> Process:
        if name in self.processes:
            raise ValueError(f"{name} is already running")
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            # preexec_fn is unsafe only with other threads running; servers are started from the
            # main thread between loads, when no generator or pause thread is alive.
            popen = subprocess.Popen(command, shell=True, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_child_setup)  # noqa: PLW1509
        process = Process(name, popen, log_path)
        self.processes[name] = process
        return process

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop()

    def close(self) -> None:
        """Stop them all at once (one shutdown's wait, not one per server)."""
        processes = list(reversed(self.processes.values()))
        self.processes.clear()
        for process in processes:
            process.signal_stop()
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in processes:
            process.wait_stopped(deadline)


def wait_for_http(url: str, process: Process, timeout: float) -> bool:
    """True once `url` answers any HTTP status; False if the process exited first (e.g. its port
    was taken); StartError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while process.alive():
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # an error status is still an answer
        except OSError:
            if time.monotonic() >= deadline:
                raise StartError(f"{process.name} did not answer {url} within {timeout:g} s:\n{process.log_tail()}") from None
            time.sleep(0.1)
    return False


def start_listening(group: ProcessGroup, name: str, launch: Callable[[int], tuple[str, dict[str, str], str]],
                    cwd: Path, timeout: float = 60.0, attempts: int = 3) -> tuple[Process, int]:
    """Start a server on a free port: `launch(port)` gives its command, environment and the URL
    that answers once it is up. Retried on a new port when the process exits before answering."""
    for _attempt in range(attempts):
        port = free_port()
        command, env, probe_url = launch(port)
        process = group.start(name, command, env, cwd)
        try:
            if wait_for_http(probe_url, process, timeout):
                return process, port
        except BaseException:
            group.stop(name)
            raise
        tail = process.log_tail()
        group.stop(name)
    raise StartError(f"{name} exited before answering, {attempts} times; last output:\n{tail}")
