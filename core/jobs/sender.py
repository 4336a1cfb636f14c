"""The web tier's background sender: a request hands its committed messages over and answers;
one daemon thread per process sends them at once with SendMessageBatch and marks the rows
published in its own short transaction.

Nothing here is needed for correctness: a message that fails, that finds no room, or that dies
with the process stays an unpublished row, and the outbox relay (`relay-outbox`, `python -m core
relay`) sends it. The sender only makes the usual case fast: no request ever waits for SQS.

Processes: gunicorn forks its workers and the app is built after the fork, but a fork can also
happen under a live sender (multiprocessing, a preloaded app). A thread does not survive a fork
and a lock may be copied held, so every call first checks the process id and, in a new process,
starts from an empty state of its own; the thread starts lazily, in the process that uses it.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from core.db import utcnow
from core.jobs.envelope import Envelope
from core.jobs.outbox import delay_seconds, mark_published
from core.jobs.queue import BATCH_SIZE, SqsQueue

log = logging.getLogger(__name__)

# Room for a burst while SQS is slow (a few MB at most); beyond it messages are left to the relay
# rather than holding a request or growing without bound.
CAPACITY = 10_000
# Taken per round: sent in batches of 10, then marked published in one UPDATE, so under load the
# database sees one short write per hundred messages instead of one per request.
ROUND = 100
# How long exiting waits for what is held: well inside gunicorn's graceful timeout (30 s), and
# bounded even when SQS hangs (the web tier's client gives up within seconds anyway).
DRAIN_SECONDS = 5.0
# A queue that stays full or an SQS that stays down is logged at most this often.
REPORT_EVERY_SECONDS = 10.0

Item = tuple[Envelope, datetime | None]  # the envelope and when its job is due (None: now)


class _ProcessState:
    """What one process's sender holds; a forked child makes its own."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.cond = threading.Condition()
        self.items: deque[Item] = deque()
        self.in_flight = 0  # taken by the thread, not yet sent and marked
        self.thread: threading.Thread | None = None
        self.closed = False
        self.left: dict[str, int] = {}  # messages left to the relay since the last report, by reason
        self.reported_at = 0.0


class Sender:
    def __init__(self, queue: SqsQueue, sessions: sessionmaker[Session], *, capacity: int = CAPACITY):
        self.queue = queue
        self.sessions = sessions
        self.capacity = capacity
        self._state = _ProcessState()
        _SENDERS.add(self)

    def _local(self) -> _ProcessState:
        state = self._state
        if state.pid != os.getpid():
            with _FORK_GUARD:
                if self._state.pid != os.getpid():
                    # Forked: the parent's messages are the parent's to send (it still holds
                    # them), and its thread and lock states mean nothing here.
                    self._state = _ProcessState()
                state = self._state
        return state

    @property
    def running(self) -> bool:
        """Whether this process's thread is alive (it starts with the first message)."""
        thread = self._local().thread
        return thread is not None and thread.is_alive()

    def hand_over(self, items: Iterable[Item]) -> int:
        """Take committed messages for sending; never waits for SQS or for room. Returns how
        many were taken: the rest stay unpublished for the relay."""
        items = list(items)
        if not items:
            return 0
        state = self._local()
        with state.cond:
            room = 0 if state.closed else max(0, self.capacity - len(state.items))
            taken = items[:room]
            state.items.extend(taken)
            if taken:
                self._start(state)
                state.cond.notify()
        if len(taken) < len(items):
            self._left_to_relay(state, "closed" if state.closed else "full", len(items) - len(taken))
        return len(taken)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until everything handed over so far was sent (or given up on) and marked; False
        if that took longer than `timeout` seconds."""
        state = self._local()
        with state.cond:
            return state.cond.wait_for(lambda: not state.items and not state.in_flight, timeout)

    def close(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Stop taking messages and send what is held, for at most `timeout` seconds; what is
        still held then is dropped (the relay sends it). Returns whether everything was sent."""
        state = self._local()
        with state.cond:
            state.closed = True
            state.cond.notify_all()
            drained = state.cond.wait_for(lambda: not state.items and not state.in_flight, timeout)
            dropped = len(state.items)
            state.items.clear()
            left, state.left = state.left, {}
        if left:  # what the last report did not say yet
            log.warning("job messages left to the outbox relay: %s", _counts(left))
        if dropped:
            # A send may still be in flight; the thread ends after it (daemon: it never holds
            # the process up).
            log.warning("exiting: %d job messages not sent within %.1f s; the outbox relay will send them",
                        dropped, timeout)
        return drained and not dropped

    def _start(self, state: _ProcessState) -> None:
        # Called with state.cond held, so at most one thread is started per process.
        if state.thread is None or not state.thread.is_alive():
            state.thread = threading.Thread(target=self._run, args=(state,), name="aula-outbox-sender", daemon=True)
            state.thread.start()

    def _run(self, state: _ProcessState) -> None:
        while True:
            with state.cond:
                while not state.items and not state.closed:
                    state.cond.wait()
                if not state.items:
                    return  # closed, and nothing left
                batch = [state.items.popleft() for _ in range(min(ROUND, len(state.items)))]
                state.in_flight = len(batch)
            try:
                self._send(state, batch)
            except Exception:  # the thread must outlive any failure; the rows stay for the relay
                log.exception("outbox sender failed; the outbox relay will send those job messages")
            finally:
                with state.cond:
                    state.in_flight = 0
                    state.cond.notify_all()

    def _send(self, state: _ProcessState, batch: list[Item]) -> None:
        now = utcnow()
        sent: set[str] = set()
        for start in range(0, len(batch), BATCH_SIZE):
            chunk = batch[start : start + BATCH_SIZE]
            try:
                accepted = self.queue.send_many((envelope, delay_seconds(at, now)) for envelope, at in chunk)
            except Exception as exc:  # noqa: BLE001  (SQS down or slow: the relay sends them)
                self._left_to_relay(state, f"not sent ({type(exc).__name__}: {exc})", len(chunk))
                continue
            sent |= accepted
            if len(accepted) < len(chunk):
                self._left_to_relay(state, "refused by SQS", len(chunk) - len(accepted))
        if not sent:
            return
        try:
            with self.sessions() as session:
                mark_published(session, (uuid.UUID(job_id) for job_id in sent), now)
                session.commit()
        except Exception:  # sent but not marked: the relay may send a harmless duplicate
            log.warning("%d sent job messages could not be marked published", len(sent), exc_info=True)

    def _left_to_relay(self, state: _ProcessState, reason: str, count: int) -> None:
        with state.cond:
            state.left[reason] = state.left.get(reason, 0) + count
            now = time.monotonic()
            if now - state.reported_at < REPORT_EVERY_SECONDS:
                return
            left, state.left, state.reported_at = state.left, {}, now
        log.warning("job messages left to the outbox relay: %s", _counts(left))


def _counts(left: dict[str, int]) -> str:
    return ", ".join(f"{n} {why}" for why, n in sorted(left.items()))


_SENDERS: weakref.WeakSet[Sender] = weakref.WeakSet()
_FORK_GUARD = threading.Lock()


def _new_fork_guard() -> None:
    global _FORK_GUARD
    _FORK_GUARD = threading.Lock()  # the parent's may have been copied held


os.register_at_fork(after_in_child=_new_fork_guard)


@atexit.register
def close_all(timeout: float = DRAIN_SECONDS) -> None:
    """Drain every sender of this process (at exit, and from gunicorn's worker_exit hook): a
    graceful restart sends what it holds. Bounded by `timeout` in total."""
    deadline = time.monotonic() + timeout
    for sender in list(_SENDERS):
        if sender._state.pid == os.getpid() and sender._state.thread is not None:
            sender.close(max(0.0, deadline - time.monotonic()))
