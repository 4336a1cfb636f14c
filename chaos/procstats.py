"""A process's memory and open files, read from /proc (Linux), and the figures a soak (R8) judges
them by.

RSS is resident memory: pages in RAM, whatever the CPU is doing, so a busy machine slows the soak
but does not move these figures. /proc/PID/status splits it into RssAnon (private heap and stack),
RssFile (mapped files: the interpreter, shared libraries) and RssShmem (shared memory). A
PostgreSQL backend's RssShmem grows as it touches more of shared_buffers, memory the cluster
holds once for all of them, so a backend is judged on its private part, VmRSS - RssShmem.

A process's TCP sockets are found through its fds (socket:[inode]) and /proc/net/tcp{,6}, so a
database connection (pg_stat_activity.client_port) can be told apart by the process that holds it
when the clients set no application_name."""
from __future__ import annotations

import os
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcSample:
    pid: int
    rss_kb: int  # VmRSS
    shmem_kb: int  # RssShmem
    fds: int | None  # None: /proc/PID/fd not readable (another user's process, not as root)
    kinds: Counter[str] = field(default_factory=Counter)  # what the fds are (FdNamer), when asked

    @property
    def private_kb(self) -> int:
        return self.rss_kb - self.shmem_kb


def status(pid: int) -> dict[str, str] | None:
    """/proc/PID/status as a dict of its fields (None: the process is gone)."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _kb(fields: dict[str, str], key: str) -> int:
    value = fields.get(key, "0 kB").split()
    return int(value[0]) if value else 0


def fd_links(pid: int) -> list[str] | None:
    """Where each open file descriptor points (None: the fd table is not readable)."""
    directory = PROC / str(pid) / "fd"
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    links = []
    for name in names:
        try:
            links.append(os.readlink(directory / name))
        except OSError:  # closed between the listing and the read
            continue
    return links


def sample(pid: int, namer: FdNamer | None = None) -> ProcSample | None:
    fields = status(pid)
    if fields is None or fields.get("State", "").startswith("Z"):
        return None
    links = fd_links(pid)
    kinds = namer.kinds(links) if namer is not None and links is not None else Counter()
    return ProcSample(pid, _kb(fields, "VmRSS"), _kb(fields, "RssShmem"), None if links is None else len(links), kinds)


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`, by scanning /proc (the children file needs a
    kernel option); sorted by pid."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces or parentheses: split after the last.
        rest = stat.rsplit(")", 1)[-1].split()
        if len(rest) > 1 and int(rest[1]) == pid and rest[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def _socket_inodes(pid: int) -> set[str]:
    return {link[8:-1] for link in fd_links(pid) or () if link.startswith("socket:[")}


LISTEN = "0A"  # /proc/net/tcp's state of a listening socket


def _tcp_table() -> dict[str, tuple[int, int, str]]:
    """Socket inode -> (local port, remote port, state), for every TCP socket of the machine's
    network namespace."""
    table = {}
    for name in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9:
                table[cols[9]] = (int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16), cols[3])
    return table


def tcp_ports(pids: Iterable[int]) -> dict[int, int]:
    """Local TCP port -> the pid (of `pids`) whose fds hold that socket."""
    table = _tcp_table()
    owners = {}
    for pid in pids:
        for inode in _socket_inodes(pid):
            if inode in table:
                owners[table[inode][0]] = pid
    return owners


class FdNamer:
    """Names what an fd is, so a count that moved says what moved: a connection to or from one
    of the named ports, a listening socket, another socket, a pipe, a file under `data_dir` (a
    PostgreSQL backend's relation files), another file. The TCP table is read at creation and
    again for a socket it does not hold."""

    def __init__(self, ports: Mapping[int, str], data_dir: Path | None = None):
        self.ports = ports
        self.data_dir = str(data_dir) + "/" if data_dir else None
        self.table = _tcp_table()

    def name(self, link: str) -> str:
        if link.startswith("socket:["):
            inode = link[8:-1]
            if inode not in self.table:  # opened since the table was read, or not TCP
                self.table = _tcp_table()
            found = self.table.get(inode)
            if found is None:
                return "other socket"  # unix, udp, netlink
            local, remote, state = found
            if state == LISTEN:
                return "listening"
            if remote in self.ports:
                return f"tcp to {self.ports[remote]}"
            return f"tcp from clients of {self.ports[local]}" if local in self.ports else "other tcp"
        if link.startswith(("pipe:", "anon_inode:")):
            return link.split(":", 1)[0]
        if self.data_dir and link.startswith(self.data_dir):
            return "relation files"
        return "file"

    def kinds(self, links: Iterable[str]) -> Counter[str]:
        return Counter(self.name(link) for link in links)


# -- figures over a series of samples ----------------------------------------------------------
def windows(values: Sequence[float], fraction: float, minimum: int = 3) -> tuple[Sequence[float], Sequence[float]]:
    """The first and the last `fraction` of `values` (at least `minimum` each, never overlapping)."""
    size = max(minimum, round(len(values) * fraction))
    size = min(size, len(values) // 2) or 1
    return values[:size], values[-size:]


def growth(values: Sequence[float], fraction: float = 1 / 6) -> tuple[float, float, float]:
    """(median of the first window, median of the last, the relative change). Medians, because
    one sample catches whatever the process was doing at that instant (an XLSX report being
    built, a burst of requests): a window's median is its resting level, and a leak moves it."""
    first, last = windows(values, fraction)
    start, end = statistics.median(first), statistics.median(last)
    return start, end, (end - start) / start if start else 0.0


def thirds(values: Sequence[float]) -> tuple[Sequence[float], Sequence[float]]:
    third = max(1, len(values) // 3)
    return values[:third], values[-third:]


def thirds_max(values: Sequence[float]) -> tuple[float, float]:
    """(maximum over the first third, maximum over the last third)."""
    first, last = thirds(values)
    return max(first), max(last)


def thirds_median(values: Sequence[float]) -> tuple[float, float]:
    """(median of the first third, median of the last third): a count's resting level. A sample
    taken while a call is in flight counts its connection, one that is gone a moment later; a
    pool opens one more under a burst and closes it after. Neither moves a third's median; a
    leak, which stays, does."""
    first, last = thirds(values)
    return statistics.median(first), statistics.median(last)
