"""`python -m devstack.run` (what `make run` runs): its arguments, and the "Aula is up" banner
kept in a file that `info` prints again."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import run
from tests.support.servers import free_port

ROOT = Path(run.__file__).resolve().parents[1]
QUICK = 30  # seconds: parsing arguments takes well under one; a stack starting takes far longer


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AULA_MOTO_PORT": str(free_port()),
        "AULA_WEB_PORT": str(free_port()),
        "AULA_WORKER_PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'aula.sqlite3'}",
        "MAIL_MAILBOX_DIR": str(tmp_path / "mailbox"),
        "AULA_UP_FILE": str(tmp_path / "aula-up.txt"),
        "GUNICORN_WORKERS": "1",
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen([sys.executable, "-m", "devstack.run", *args], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=QUICK)
    except subprocess.TimeoutExpired:
        # honcho puts each process it starts in a group of its own: let it stop them, as on Ctrl-C.
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)
        pytest.fail(f"`python -m devstack.run {' '.join(args)}` was still running after {QUICK} s: it started a stack")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _assert_nothing_started(env: dict[str, str], tmp_path: Path) -> None:
    assert not (tmp_path / "aula.sqlite3").exists(), "the database was migrated: the stack was started"
    for name in ("AULA_MOTO_PORT", "AULA_WEB_PORT", "AULA_WORKER_PORT"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", int(env[name])))  # raises if something still holds the port


def test_help_prints_the_commands_and_starts_nothing(tmp_path: Path):
    env = _env(tmp_path)
    for flag in ("--help", "-h"):
        result = _run([flag], env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: python -m devstack.run")
        for command in ("up", "info", "seed", "seed-demo"):
            assert f"    {command} " in result.stdout or f"    {command}\n" in result.stdout, command
    # seed's options are those of `python -m core seed`, which it runs.
    result = _run(["seed", "--help"], env)
    assert result.returncode == 0 and "--students" in result.stdout and "--wait" in result.stdout
    _assert_nothing_started(env, tmp_path)


@pytest.mark.parametrize("args", [["--bogus"], ["bogus"], ["info", "--bogus"], ["up", "extra"]])
def test_unknown_arguments_exit_2_and_start_nothing(tmp_path: Path, args: list[str]):
    env = _env(tmp_path)
    result = _run(args, env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "usage: python -m devstack.run" in result.stderr and "error:" in result.stderr
    _assert_nothing_started(env, tmp_path)


def test_info_says_so_when_the_stack_never_came_up(tmp_path: Path):
    env = _env(tmp_path)
    result = _run(["info"], env)
    assert result.returncode == 1 and result.stdout == ""
    assert "has not come up" in result.stderr and "make run" in result.stderr
    assert str(tmp_path / "aula-up.txt") in result.stderr
    _assert_nothing_started(env, tmp_path)


def test_the_banner_is_kept_in_a_file_that_info_prints_again(tmp_path: Path, monkeypatch, capsys):
    env = run.stack_env(_env(tmp_path))
    healthy = run._wait_healthy
    monkeypatch.setattr(run, "_wait_healthy", lambda url, deadline: True)
    monkeypatch.setattr(run, "wait_for_demo", lambda env: ("ready", None))
    run._announce(env)
    printed = capsys.readouterr().out
    kept = (tmp_path / "aula-up.txt").read_text(encoding="utf-8")
    assert "== Aula is up" in kept and kept.strip() == printed.strip()
    web = f"http://127.0.0.1:{env['AULA_WEB_PORT']}"
    for line in (web, "teacher@aula.local", "aula-teacher", "admin@aula.local", "aula-admin",
                 str(tmp_path / "aula-up.txt"), "python -m devstack.run info"):
        assert line in kept, line

    # `info` prints it again (a subprocess, as a user runs it) and says that nothing answers
    # there now: no stack is running on those ports.
    monkeypatch.setattr(run, "_wait_healthy", healthy)
    result = _run(["info"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(kept)
    assert f"{web} does not answer now" in result.stdout[len(kept):]


def test_a_demo_that_is_not_ready_is_said_in_the_file_too(tmp_path: Path, monkeypatch, capsys):
    env = run.stack_env(_env(tmp_path))
    monkeypatch.setattr(run, "_wait_healthy", lambda url, deadline: True)
    monkeypatch.setattr(run, "wait_for_demo", lambda env: ("seeding", "still running after 120 s"))
    run._announce(env)
    kept = (tmp_path / "aula-up.txt").read_text(encoding="utf-8")
    assert "the demo data is not ready (seeding: still running after 120 s)" in kept
    assert "teacher@aula.local" in capsys.readouterr().out
