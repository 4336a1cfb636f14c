"""One-off admin commands:
`python -m core migrate | seed-demo | seed | relay | requeue-open | dead-letters | redrive`.

They read the same environment as the app. Migrations run here (once per deploy, on the
leader), never inside app start-up.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent


def migrate(database_url: str | None = None) -> None:
    """alembic upgrade head. On PostgreSQL it holds a session advisory lock while it runs, so runs
    that start together (the leaders of both tiers deploying, an operator) take turns: the later
    one waits, then finds the schema at head and does nothing."""
    from alembic import command
    from alembic.config import Config

    from core.db import make_engine
    from core.settings import database_settings

    lock_key = 0x41756C61  # "Aula": any number, as long as every migrating process uses the same
    config = Config(str(ROOT / "alembic.ini"))
    # The app's own rules (DATABASE_URL, else RDS_*, else local SQLite), so the leader migrates
    # the database the app will use. migrations/env.py receives this URL or this connection.
    database = database_settings(url=database_url)
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))  # ConfigParser interpolation
    if not database.url.startswith("postgresql"):
        command.upgrade(config, "head")  # SQLite: local only, one process at a time
        return
    engine = make_engine(database.url, database.sslmode, database.sslrootcert)
    try:
        with engine.connect() as connection:
            lock = {"key": lock_key}
            if not connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), lock).scalar():
                print("another migration is running; waiting for it to finish", file=sys.stderr, flush=True)
                connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), lock)
            connection.commit()  # the lock belongs to the session and outlives this transaction
            try:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            finally:
                if connection.in_transaction():
                    connection.rollback()
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), lock)
                connection.commit()
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    demo = sub.add_parser("seed-demo", help="start the seed workflow of the demo institution unless it exists")
    demo.add_argument("--no-send", action="store_true", help="leave its message to the outbox relay (queue not up yet)")
    seed = sub.add_parser("seed", help="start the seed workflow for an institution of any size")
    seed.add_argument("--slug", required=True)
    seed.add_argument("--name", required=True)
    seed.add_argument("--email-domain", help="default: <slug>.aula.local")
    for option in ("students", "teachers", "class-size", "lessons-per-class", "activities-per-class"):
        seed.add_argument(f"--{option}", type=int)
    seed.add_argument("--no-send", action="store_true", help="leave its message to the outbox relay")
    seed.add_argument("--wait", type=float, metavar="SECONDS", help="wait this long for the workflow to finish")
    sub.add_parser("relay", help="send job messages that were never sent (the outbox relay, once)")
    sub.add_parser("requeue-open", help="mark every open job unsent, e.g. after the local queue was recreated empty")
    sub.add_parser("dead-letters", help="count the dead-letter queue and mark the jobs whose messages are there")
    redrive = sub.add_parser("redrive", help="move dead-lettered messages back to the worker queue")
    redrive.add_argument("--limit", type=int, default=10_000)
    args = parser.parse_args(argv)

    from core.settings import SettingsError

    if args.command == "migrate":
        try:
            migrate()
        except SettingsError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0

    from core.app import Services
    from core.settings import Settings

    if args.command == "seed":
        from core.seeding import seed_params

        raw = {"name": args.name, "slug": args.slug, "email_domain": args.email_domain, "students": args.students,
               "teachers": args.teachers, "class_size": args.class_size, "lessons_per_class": args.lessons_per_class,
               "activities_per_class": args.activities_per_class}
        try:
            params = seed_params({k: v for k, v in raw.items() if v is not None})
        except ValueError as exc:
            print(f"invalid seed: {exc}", file=sys.stderr)
            return 2
    try:
        services = Services(Settings.from_env())
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        with services.db.sessions() as session:
            return _run(args, session, services, params if args.command == "seed" else None)
    finally:
        services.db.dispose()  # close pooled connections now, not whenever they are collected


def _run(args: argparse.Namespace, session, services, params: dict | None) -> int:
    if args.command == "seed-demo":
        from core.demo import start_demo_seed
        from core.jobs.outbox import flush

        if services.settings.session_cookie_secure:
            # The demo logins' passwords are public (README), an operator's among them: only the
            # plain-http local stack (SESSION_COOKIE_SECURE=false) may create them.
            print("seed-demo creates accounts with the public demo passwords; it runs only on the local stack "
                  "(SESSION_COOKIE_SECURE=false). Use `python -m core seed` with SEED_INITIAL_PASSWORD instead",
                  file=sys.stderr)
            return 2
        outcome, workflow = start_demo_seed(session)
        if outcome == "started" and not args.no_send:
            flush(session, services.queue)
        print({"present": "demo data already present",
               "running": f"demo data on its way (seed workflow {workflow and workflow.id} still running)",
               "started": f"demo data on its way: seed workflow {workflow and workflow.id} started"}[outcome])
    elif args.command == "seed":
        return _seed(session, services, params, args)
    elif args.command == "relay":
        from core.jobs.outbox import relay

        print(f"sent {relay(session, services.queue)} job messages")
    elif args.command == "requeue-open":
        from core.models import Job
        from core.models.jobs import OPEN_STATES

        count = session.execute(sa.update(Job).where(Job.state.in_(OPEN_STATES)).values(published_at=None)).rowcount
        session.commit()
        print(f"{count} open jobs will be sent again by the relay")
    elif args.command in ("dead-letters", "redrive"):
        return _dead_letters(session, services, args)
    return 0


def _dead_letters(session, services, args: argparse.Namespace) -> int:
    from core.db import utcnow
    from core.jobs import deadletters

    dlq_url = services.settings.sqs_dead_letter_queue_url
    if not dlq_url:
        print("SQS_DEAD_LETTER_QUEUE_URL is not set", file=sys.stderr)
        return 2
    sqs = services.queue.sqs
    if args.command == "dead-letters":
        print(deadletters.inspect(session, sqs, dlq_url, utcnow()))
    else:
        moved = deadletters.redrive(session, sqs, dlq_url, services.queue.queue_url, limit=args.limit)
        print(f"moved {moved} messages back to {services.queue.queue_url}")
    return 0


def _seed(session, services, params: dict, args: argparse.Namespace) -> int:
    import time

    from core.jobs.outbox import flush
    from core.models import Institution, Workflow
    from core.models.orchestration import UNFINISHED_WORKFLOW_STATES
    from core.seeding import open_seed_workflows, start_seed

    slug = params["slug"]
    if session.scalar(sa.select(Institution.id).where(Institution.slug == slug)) is not None:
        print(f"an institution with the slug {slug!r} already exists", file=sys.stderr)
        return 1
    if open_seed_workflows(session, slug):
        print(f"a seed of {slug!r} is already running", file=sys.stderr)
        return 1
    from core.auth import hash_password
    from core.settings import SettingsError, seed_initial_password

    try:
        password = seed_initial_password()
    except SettingsError as exc:
        print("; ".join(exc.problems), file=sys.stderr)
        return 2
    if password:
        params = {**params, "password_hash": hash_password(password)}
    elif services.settings.session_cookie_secure:
        # The demo passwords are public (README); only the plain-http local stack may use them.
        print("set SEED_INITIAL_PASSWORD: outside the local stack seeded accounts never get the public demo "
              "passwords", file=sys.stderr)
        return 2
    workflow = start_seed(session, params)
    session.commit()
    if not args.no_send:
        flush(session, services.queue)
    print(f"seed workflow {workflow.id} started: {params}", flush=True)
    if args.wait is None:
        return 0
    started, deadline = time.monotonic(), time.monotonic() + args.wait
    while True:
        session.expire_all()
        query = sa.select(Workflow.state, Workflow.error).where(Workflow.id == workflow.id)
        state, error = session.execute(query).one()
        session.rollback()
        if state not in UNFINISHED_WORKFLOW_STATES or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    took = time.monotonic() - started
    print(f"seed workflow {workflow.id} {state} after {took:.1f} s" + (f": {error}" if error else ""))
    return 0 if state == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
