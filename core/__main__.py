"""One-off admin commands: `python -m core migrate | seed-demo | relay | requeue-open`.

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
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url)
    command.upgrade(config, "head")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    sub.add_parser("seed-demo", help="create the demo institution unless it exists")
    sub.add_parser("relay", help="send job messages that were never sent (the outbox relay, once)")
    sub.add_parser("requeue-open", help="mark every open job unsent, e.g. after the local queue was recreated empty")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        migrate()
        return 0

    from core.app import Services
    from core.settings import Settings, SettingsError

    try:
        services = Services(Settings.from_env())
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    with services.db.sessions() as session:
        if args.command == "seed-demo":
            from core.demo import seed_demo

            print("demo data created" if seed_demo(session) else "demo data already present")
        elif args.command == "relay":
            from core.jobs.outbox import relay

            print(f"sent {relay(session, services.queue)} job messages")
        elif args.command == "requeue-open":
            from core.models import Job
            from core.models.jobs import OPEN_STATES

            count = session.execute(
                sa.update(Job).where(Job.state.in_(OPEN_STATES)).values(published_at=None)
            ).rowcount
            session.commit()
            print(f"{count} open jobs will be sent again by the relay")
    return 0


if __name__ == "__main__":
    sys.exit(main())
