"""`make run`: the whole Aula stack on one machine, on embedded defaults.

moto in server mode stands in for SQS, S3 and SES; gunicorn serves the web tier and the worker
tier exactly as the Procfile does on Elastic Beanstalk; the local sqsd feeds the worker from
the queue and runs cron.yaml. honcho runs the processes, prefixes their output, and stops
them all on Ctrl-C. Any variable already set in the environment wins over the defaults, so
`DATABASE_URL=postgresql://... make run` runs on PostgreSQL.

Sub-commands (`python -m devstack.run --help`): none or `up` starts the stack; `info` prints
again the URLs and demo logins of the last stack that came up (the "Aula is up" banner is soon
pushed off screen by the processes' output, so it is also written to `AULA_UP_FILE`,
var/aula-up.txt); `seed` and `seed-demo` run `python -m core seed ...` against the running
stack. Anything else is an error (exit 2) and starts nothing.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from honcho.manager import Manager
from honcho.printer import Printer

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"  # moto's default account id
DEMO_TIMEOUT = 120  # seconds the banner waits for the demo seed workflow


def stack_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = dict(os.environ if environ is None else environ)
    moto_port = environ.get("AULA_MOTO_PORT", "4566")
    endpoint = f"http://127.0.0.1:{moto_port}"
    defaults = {
        "AULA_MOTO_PORT": moto_port,
        "AULA_WEB_PORT": "8000",
        "AULA_WORKER_PORT": "8001",
        "SECRET_KEY": "local-development-only-not-a-secret",
        "DATABASE_URL": f"sqlite:///{ROOT / 'var' / 'aula.sqlite3'}",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SQS_QUEUE_URL": f"{endpoint}/{ACCOUNT}/aula-jobs",
        "SQS_DEAD_LETTER_QUEUE_URL": f"{endpoint}/{ACCOUNT}/aula-jobs-dead",
        "S3_BUCKET": "aula-local",
        "MAIL_SENDER": "no-reply@aula.local",
        "MAIL_MAILBOX_DIR": str(ROOT / "var" / "mailbox"),
        "LOG_LEVEL": "INFO",
        # The local stack serves plain http on 127.0.0.1; on AWS the cookie is Secure (the default).
        "SESSION_COOKIE_SECURE": "false",
        "PYTHONUNBUFFERED": "1",
        # Where the "Aula is up" banner is kept, for `python -m devstack.run info`.
        "AULA_UP_FILE": str(ROOT / "var" / "aula-up.txt"),
    }
    env = {**defaults, **environ}
    env["SQSD_WORKER_URL"] = environ.get("SQSD_WORKER_URL", f"http://127.0.0.1:{env['AULA_WORKER_PORT']}")
    # Links in emails and notifications point at the local web tier, wherever its port is.
    env["PUBLIC_BASE_URL"] = environ.get("PUBLIC_BASE_URL", f"http://127.0.0.1:{env['AULA_WEB_PORT']}")
    return env


def commands(env: dict[str, str]) -> dict[str, tuple[str, dict[str, str]]]:
    """Each process: its shell command and its environment."""
    py = shlex.quote(sys.executable)
    web = {**env, "APP_ROLE": "web", "PORT": env["AULA_WEB_PORT"], "GUNICORN_WORKERS": env.get("GUNICORN_WORKERS", "2")}
    worker = {**env, "APP_ROLE": "worker", "PORT": env["AULA_WORKER_PORT"]}
    return {
        "aws": (f"exec {py} -m moto.server -H 127.0.0.1 -p {env['AULA_MOTO_PORT']}", env),
        "web": (f"exec {py} -m gunicorn --config gunicorn.conf.py", web),
        "worker": (f"exec {py} -m gunicorn --config gunicorn.conf.py", worker),
        # moto starts empty every time: create the queues, bucket and sender, then have the relay
        # send again whatever jobs were still open when the stack last stopped.
        "sqsd": (
            (f"{py} -m devstack.aws_bootstrap && {py} -m core requeue-open && {py} -m core relay"
             f" && exec {py} -m devstack.sqsd"),
            worker,
        ),
    }


def prepare(env: dict[str, str], demo: bool = True) -> None:
    """Migrate the database and, unless `demo` is False (a benchmark seeding its own data),
    start the demo seed."""
    (ROOT / "var").mkdir(exist_ok=True)
    # The demo seed is a workflow run by the worker: this only starts it. moto is not up yet, so
    # its first message is left to the relay that the sqsd process runs once the queue exists.
    for command in (["migrate"], *([["seed-demo", "--no-send"]] if demo else [])):
        subprocess.run([sys.executable, "-m", "core", *command], cwd=ROOT, env={**env, "APP_ROLE": "web"}, check=True)


def seed_command(argv: list[str]) -> int:
    """`python -m devstack.run seed --slug big --name "Big School" --students 2000 --wait 300`:
    `python -m core seed` (or `seed-demo`) against the running local stack, on its defaults."""
    env = {**stack_env(), "APP_ROLE": "web"}
    return subprocess.run([sys.executable, "-m", "core", *argv], cwd=ROOT, env=env, check=False).returncode


def wait_for_demo(env: dict[str, str], timeout: float = DEMO_TIMEOUT) -> tuple[str, str | None]:
    """Wait until the demo seed workflow is done; return core.demo.demo_status's answer."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from core.db import make_engine
    from core.demo import demo_status

    engine = make_engine(env["DATABASE_URL"])
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with Session(engine) as session:
                    status, reason = demo_status(session)
            except OperationalError as exc:  # e.g. the database briefly busy or away: ask again
                status, reason = "seeding", str(exc)
            if status != "seeding" or time.monotonic() >= deadline:
                return status, reason
            time.sleep(0.5)
    finally:
        engine.dispose()


def _wait_healthy(url: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def banner(env: dict[str, str], status: str = "ready", reason: str | None = None) -> str:
    """The "Aula is up" text: URLs, demo logins, and where to find it all again."""
    from core.demo import DEMO_LOGINS

    web = f"http://127.0.0.1:{env['AULA_WEB_PORT']}"
    worker = f"http://127.0.0.1:{env['AULA_WORKER_PORT']}"
    warning = ""
    if status != "ready":
        warning = (f"!! the demo data is not ready ({status}{': ' + reason if reason else ''}); "
                   f"the demo logins below may not work yet\n")
    logins = "\n".join(f"      {d.role:<8} {d.email:<24} {d.password}" for d in DEMO_LOGINS)
    return (
        f"{warning}"
        f"== Aula is up ({time.strftime('%Y-%m-%d %H:%M:%S')}) ==\n"
        f"   web tier      {web}   (try {web}/healthz)\n"
        f"   worker tier   {worker}   (sqsd POSTs here)\n"
        f"   local AWS     {env['AWS_ENDPOINT_URL']}   (moto: SQS, S3, SES)\n"
        f"   database      {env['DATABASE_URL']}\n"
        f"   demo logins (POST {web}/api/login):\n{logins}\n"
        f"   Ctrl-C stops everything; data in the database is kept for the next run.\n"
        f"   Scrolled away? This is kept in {env['AULA_UP_FILE']}: `python -m devstack.run info` prints it.\n"
    )


def _announce(env: dict[str, str]) -> None:
    web = f"http://127.0.0.1:{env['AULA_WEB_PORT']}"
    worker = f"http://127.0.0.1:{env['AULA_WORKER_PORT']}"
    deadline = time.monotonic() + 90
    if not (_wait_healthy(web + "/healthz", deadline) and _wait_healthy(worker + "/healthz", deadline)):
        print("!! Aula did not become healthy within 90 s; see the process output above", flush=True)
        return
    # The demo logins work once the seed workflow, sent through the queue to the worker, is done.
    text = banner(env, *wait_for_demo(env))
    up_file = Path(env["AULA_UP_FILE"])
    try:
        up_file.parent.mkdir(parents=True, exist_ok=True)
        up_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        text += f"   (could not write {up_file}: {exc})\n"
    print("\n" + text, flush=True)


def info_command(env: dict[str, str]) -> int:
    """`python -m devstack.run info`: the banner of the last stack that came up, and whether it
    still answers."""
    up_file = Path(env["AULA_UP_FILE"])
    try:
        text = up_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        print(f"Aula has not come up (no {up_file}): start it with `make run` and wait for the "
              f"\"Aula is up\" banner; if it never comes, the process output says why.", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    # The file outlives the stack: say so when nothing answers at the web tier's address now.
    web = next((line.split()[2] for line in text.splitlines() if line.strip().startswith("web tier")), None)
    if web and not _wait_healthy(web + "/healthz", time.monotonic() + 1):
        print(f"!! {web} does not answer now: the stack is probably stopped (`make run` starts it again; "
              f"the data and the logins are kept).")
    return 0


FORWARDED = ("seed", "seed-demo")  # handed to `python -m core`, which parses their options


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m devstack.run",
        description="The whole Aula stack on one machine (what `make run` runs): moto, web, worker, local sqsd.",
        epilog="Ports: AULA_WEB_PORT, AULA_WORKER_PORT, AULA_MOTO_PORT; any variable from .env.example overrides "
               "a default (e.g. DATABASE_URL=postgresql://...).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands (none: up)")
    sub.add_parser("up", help="start the whole stack (the default); Ctrl-C stops it")
    sub.add_parser("info", help="print again the URLs and demo logins of the last stack that came up")
    # No -h of their own: `seed --help` reaches `python -m core seed --help`, which knows the options.
    sub.add_parser("seed", add_help=False,
                   help="seed an institution of any size on the running stack (`seed --help` for its options)")
    sub.add_parser("seed-demo", add_help=False, help="start the demo institution's seed workflow unless it exists")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args, rest = p.parse_known_args(argv)
    if args.command in FORWARDED and argv[:1] == [args.command]:
        return seed_command(argv)
    if rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "info":
        return info_command(stack_env())
    return run_stack()


def run_stack() -> int:
    env = stack_env()
    # A banner left by an earlier run would name a stack that is not up yet.
    Path(env["AULA_UP_FILE"]).unlink(missing_ok=True)
    prepare(env)
    manager = Manager(Printer(sys.stdout))
    for name, (command, process_env) in commands(env).items():
        manager.add_process(name, command, env=process_env, cwd=str(ROOT))
    threading.Thread(target=_announce, args=(env,), daemon=True).start()
    manager.loop()
    # honcho reports Ctrl-C (SIGINT) and SIGTERM as 130/143: a clean stop, not a failure.
    return 0 if manager.returncode in (None, 0, 130, 143) else manager.returncode


if __name__ == "__main__":
    sys.exit(main())
