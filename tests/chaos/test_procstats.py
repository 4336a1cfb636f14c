"""chaos/procstats.py on this test process itself: what /proc says about memory it holds, files and
sockets it opens, children it starts; and the soak's figures over a series of samples."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from chaos import procstats

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")


def test_a_sample_sees_memory_the_process_touches():
    before = procstats.sample(os.getpid())
    held = b"x" * (64 << 20)  # every page written, so resident
    after = procstats.sample(os.getpid())
    assert before is not None and after is not None and len(held) == 64 << 20
    assert after.rss_kb - before.rss_kb >= 48 << 10
    assert 0 <= after.shmem_kb <= after.rss_kb and after.private_kb == after.rss_kb - after.shmem_kb


def test_a_sample_counts_the_files_the_process_opens(tmp_path):
    before = procstats.sample(os.getpid()).fds
    handles = [open(tmp_path / f"f{n}", "w") for n in range(5)]  # noqa: SIM115 -- held open on purpose
    try:
        assert procstats.sample(os.getpid()).fds == before + 5
    finally:
        for handle in handles:
            handle.close()
    assert procstats.sample(os.getpid()).fds == before


def test_a_process_that_is_gone_has_no_sample():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert procstats.sample(child.pid) is None
    assert procstats.status(child.pid) is None


def test_children_are_the_live_processes_a_parent_started():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdin=subprocess.DEVNULL)
    try:
        assert child.pid in procstats.children(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert child.pid not in procstats.children(os.getpid())


def test_a_connection_s_local_port_names_the_process_holding_it():
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        try:
            owners = procstats.tcp_ports([os.getpid()])
            assert owners[client.getsockname()[1]] == os.getpid()
            assert owners[server.getsockname()[1]] == os.getpid()
            assert client.getsockname()[1] not in procstats.tcp_ports([os.getppid()])
        finally:
            client.close()
            accepted.close()


def test_growth_compares_the_medians_of_the_first_and_last_windows():
    # A spike at either end moves no median; a level that moved does.
    assert procstats.growth([100, 100, 900, 100, 100, 100, 100, 100, 100, 100, 100, 900]) == (100, 100, 0.0)
    start, end, change = procstats.growth([100] * 6 + [120] * 6, fraction=1 / 3)
    assert (start, end) == (100, 120) and change == pytest.approx(0.2)
    assert procstats.windows(list(range(12)), 1 / 6) == ([0, 1, 2], [9, 10, 11])  # at least 3 each
    assert procstats.windows([1, 2], 1 / 6) == ([1], [2])  # never overlapping


def test_thirds_max_is_what_the_first_and_last_thirds_reached():
    assert procstats.thirds_max([3, 5, 4, 4, 3, 4, 5, 3, 3]) == (5, 5)
    assert procstats.thirds_max([3, 3, 3, 4, 4, 4, 6, 3, 3]) == (3, 6)


def test_thirds_median_is_the_resting_level_a_call_in_flight_does_not_move():
    assert procstats.thirds_median([9, 9, 9, 9, 9, 9, 9, 10, 9]) == (9, 9)
    assert procstats.thirds_median([9, 10, 9, 9, 9, 9, 10, 11, 10]) == (9, 10)  # one that stayed


def test_the_namer_says_what_each_fd_is(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        read, write = os.pipe()
        relation, other = open(data / "16384", "w"), open(tmp_path / "log", "w")  # noqa: SIM115
        try:
            found = procstats.sample(os.getpid(), procstats.FdNamer({port: "the server"}, data)).kinds
            assert found["tcp to the server"] == 1 and found["tcp from clients of the server"] == 1
            assert found["listening"] >= 1 and found["pipe"] >= 2
            assert found["relation files"] == 1 and found["file"] >= 1
            assert procstats.sample(os.getpid()).kinds == {}  # not asked: not named
        finally:
            for closing in (client, accepted, relation, other):
                closing.close()
            os.close(read)
            os.close(write)
