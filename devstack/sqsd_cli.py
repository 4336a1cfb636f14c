"""The local sqsd's command line: `python -m devstack.sqsd --help`. Options default to the
environment, and the sqsd options to the Elastic Beanstalk option files (infra/ebconfig.py)."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from devstack import sqsd
from devstack.aws_bootstrap import ensure_dummy_credentials
from devstack.sqsd import REPO_ROOT, Sqsd
from infra.ebconfig import SQSD_OPTIONS, ConfigError, load_cron, load_sqsd_settings, with_overrides

log = logging.getLogger("devstack.sqsd")


def _deliveries(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to 10, not {raw!r}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m devstack.sqsd", description=(sqsd.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(env.get("SQSD_PROJECT_ROOT", REPO_ROOT)),
                        help="project root holding .ebextensions/, .elasticbeanstalk/ and cron.yaml (env SQSD_PROJECT_ROOT)")
    parser.add_argument("--queue-url", default=env.get("SQS_QUEUE_URL"), help="worker queue (env SQS_QUEUE_URL)")
    parser.add_argument("--worker-url", default=env.get("SQSD_WORKER_URL", "http://localhost"),
                        help="base URL of the worker HTTP server (env SQSD_WORKER_URL; EB: http://localhost)")
    parser.add_argument("--endpoint-url", default=env.get("AWS_ENDPOINT_URL"), help="env AWS_ENDPOINT_URL")
    parser.add_argument("--region", default=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
                        help="env AWS_REGION, AWS_DEFAULT_REGION")
    parser.add_argument("--wait-time-seconds", type=int, default=int(env.get("SQSD_WAIT_TIME_SECONDS", 20)),
                        help="long-poll wait, 0-20 (env SQSD_WAIT_TIME_SECONDS)")
    parser.add_argument("--no-cron", action="store_true", default=env.get("SQSD_CRON", "1") == "0",
                        help="do not act as the cron.yaml leader (env SQSD_CRON=0)")
    parser.add_argument("--shutdown-grace", type=float, default=float(env.get("SQSD_SHUTDOWN_GRACE", 30)),
                        help="seconds to let in-flight POSTs finish on shutdown (env SQSD_SHUTDOWN_GRACE)")
    faults = parser.add_argument_group("fault injection (make chaos, docs/reliability.md)")
    faults.add_argument("--duplicate-deliveries", type=_deliveries, metavar="N",
                        default=env.get("SQSD_DUPLICATE_DELIVERIES") or "1",
                        help="POST every received message N times at once, 1-10 (env SQSD_DUPLICATE_DELIVERIES; "
                             "default 1)")
    overrides = parser.add_argument_group("overrides of the sqsd options from the EB option files")
    for option, spec in SQSD_OPTIONS.items():
        if option != "MaxRetries":  # enforced by the queue's RedrivePolicy, not by sqsd
            name = f"SQSD_{spec.field.upper()}"  # e.g. --inactivity-timeout, SQSD_INACTIVITY_TIMEOUT
            overrides.add_argument("--" + spec.field.replace("_", "-"), dest=option, default=env.get(name),
                                   metavar="VALUE", help=f"{option} (env {name})")
    args = parser.parse_args(argv)
    if not args.queue_url:
        parser.error("no queue: set SQS_QUEUE_URL or pass --queue-url")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s sqsd %(levelname)s %(message)s")
    args = parse_args(argv)
    ensure_dummy_credentials()
    try:
        given = {option: getattr(args, option) for option in SQSD_OPTIONS if getattr(args, option, None) is not None}
        settings = with_overrides(load_sqsd_settings(args.root), given, "command line/environment")
        cron = [] if args.no_cron else load_cron(args.root)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    daemon = Sqsd(args.queue_url, args.worker_url, settings, cron=cron, endpoint_url=args.endpoint_url,
                  region=args.region, wait_time_seconds=args.wait_time_seconds, shutdown_grace=args.shutdown_grace,
                  duplicate_deliveries=args.duplicate_deliveries)
    stop_event = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop_event.is_set():  # a second signal: do not wait for in-flight POSTs
            os._exit(1)
        log.info("signal %d: shutting down", signum)
        stop_event.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    daemon.run(stop_event)
    log.info("stopped")
    return 0
