"""R8's sampler: every few seconds, each process of the chaos stack by role (moto, sqsd, each
tier's gunicorn master and workers, every PostgreSQL backend named by the process it serves),
read from /proc (chaos/procstats.py), and the database connections each role holds, from
pg_stat_activity. chaos/scenarios/r8_soak.py loads the stack meanwhile and judges the series.

Processes are tracked by role, not pid: gunicorn replaces a worker that dies, and the
replacement takes over its slot (and is listed in `replaced`)."""
from __future__ import annotations

import os
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from chaos import procstats
from chaos.stack import ChaosStack


def _port(stack: ChaosStack, name: str) -> int:
    return int(stack.urls[name].rsplit(":", 1)[1])


@dataclass
class Sampler:
    """Every `interval` seconds: each role's /proc sample and the connections each role holds."""
    stack: ChaosStack
    interval: float
    started: float = field(default_factory=time.monotonic)
    slots: dict[str, int] = field(default_factory=dict)  # gunicorn worker role -> its current pid
    replaced: list[str] = field(default_factory=list)
    procs: dict[str, list[tuple[float, procstats.ProcSample]]] = field(default_factory=lambda: defaultdict(list))
    conns: list[tuple[float, Counter[str]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        with self.stack.engine.connect() as conn:
            self.max_files = int(conn.execute(sa.text("SHOW max_files_per_process")).scalar_one())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-r8-sampler")

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.take()
            except Exception as exc:  # noqa: BLE001 -- a lost sample is reported, the soak goes on
                self.errors.append(f"{exc.__class__.__name__}: {exc}")
            self._stop.wait(self.interval)

    def _workers(self, tier: str, master: int) -> dict[str, int]:
        """The master's workers by slot. Every worker is there at the first sample; a pid seen
        later replaced one (gunicorn starts a new worker when one exits) and takes a free slot."""
        kids = procstats.children(master)
        prefix = f"{tier} worker "
        mine = {r: p for r, p in self.slots.items() if r.startswith(prefix)}
        first = not mine
        new = [p for p in kids if p not in mine.values()]
        free = sorted(r for r, p in mine.items() if p not in kids)
        for n, pid in enumerate(new, len(mine) + 1):
            role = free.pop(0) if free else f"{prefix}{n}"
            if not first:
                self.replaced.append(f"{role}: pid {mine.get(role, 'none')} replaced by {pid}")
            self.slots[role] = pid
        return {r: p for r, p in self.slots.items() if r.startswith(prefix) and p in kids}

    def roles(self) -> dict[str, int]:
        roles = {name: self.stack.process(name).pid for name in ("moto", "sqsd")}
        for tier in ("web", "worker"):
            roles[f"{tier} master"] = self.stack.process(tier).pid
            roles.update(self._workers(tier, roles[f"{tier} master"]))
        return roles

    def take(self) -> None:
        t = time.monotonic() - self.started
        roles = self.roles()
        owner = {pid: role for role, pid in roles.items()} | {os.getpid(): "chaos runner"}
        ports = procstats.tcp_ports(owner)
        stack = self.stack
        namer = procstats.FdNamer({stack.cluster.port: "PostgreSQL", stack.moto_port: "moto",
                                   stack.proxy.port: "moto (proxy)", _port(stack, "web"): "web",
                                   _port(stack, "worker"): "worker"}, stack.cluster.data)
        with self.stack.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT pid, backend_type, client_port FROM pg_stat_activity")).all()
        postmaster = int((self.stack.cluster.data / "postmaster.pid").read_text().split()[0])
        held: Counter[str] = Counter()
        roles["postgres postmaster"] = postmaster
        for row in rows:
            if row.backend_type == "client backend":
                holder = owner.get(ports.get(row.client_port), "another process")
                held[holder] += 1
                roles[f"postgres backend of {holder} (pid {row.pid})"] = row.pid
            elif row.backend_type != "autovacuum worker":  # autovacuum workers come and go by design
                roles[f"postgres {row.backend_type}"] = row.pid
        self.conns.append((t, held))
        for role, pid in roles.items():
            found = procstats.sample(pid, namer)
            if found is not None:
                self.procs[role].append((t, found))
