"""gunicorn settings, from the environment (parsed and validated by core.settings.GunicornSettings,
like the app's own settings), with defaults per role.

Both Elastic Beanstalk environments run the same Procfile line; APP_ROLE picks the defaults.
The numbers are links of the timeout chains (ARCHITECTURE.md section 3, docs/deploy.md), which
tests/deploy/test_timeout_chain.py checks against the nginx, sqsd and load balancer settings:

- worker: sync workers, one job per process, as many as sqsd's HttpConnections (more would only
  queue inside gunicorn). timeout 600 s is above every job's time limit and below nginx's 630 s
  for /sqsd/; a sync worker silent for that long is killed, so a stuck job cannot hold a slot.
- web: threaded workers; requests are short by design. timeout 30 s <= nginx 50 s <= the load
  balancer's idle timeout 55 s.

The web tier's outbox sender (core/jobs/sender.py) starts its thread in each worker, with the
first message it is given, and drains in worker_exit.

Logging: gunicorn's own lines are JSON like the app's. The app's handlers, and the CloudWatch
Logs handler when CLOUDWATCH_LOG_GROUP is set, are created in each worker after the fork
(post_worker_init) and flushed when the worker exits (worker_exit, worker_abort).
"""
from core.settings import GunicornSettings

_settings = GunicornSettings.from_env()  # every bad variable listed at once (SettingsError)
_role = _settings.role

wsgi_app = "wsgi:create_app()"
bind = _settings.bind
worker_class = _settings.worker_class
workers = _settings.workers
threads = _settings.threads
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
keepalive = 75
# The app (and its database pool and boto3 clients) is built in each worker after the fork.
preload_app = False
# gunicorn 24+'s control socket defaults to one path per user; the local stack runs two
# gunicorns side by side, and nothing here uses it.
control_socket_disable = True

accesslog = "-"
# %(M)s: request time in milliseconds; the request id is the one the app returns.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    # No root handler here: the app adds its own (core.logs.configure_logging) in each worker.
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["json"], "propagate": False},
    },
    "filters": {"role": {"()": "core.logs.ContextFilter", "role": _role}},
    "formatters": {"json": {"()": "core.logs.json_formatter"}},
    "handlers": {
        "json": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json", "filters": ["role"]},
    },
}


def post_worker_init(worker):
    # In the worker, after the fork and after the app (with its logging) exists: a sender thread
    # or boto3 client made in the master would be shared by every worker, or lost in the fork.
    # The settings are the ones the app parsed (worker.wsgi is the app).
    from core import logs

    services = getattr(worker.wsgi, "extensions", {}).get("aula")
    if services is not None:  # None: `gunicorn --reload` serving the error of an app that failed to load
        logs.ship_from_settings(services.settings)
        if _role == "web":
            from web.common.ops import queues

            queues.warm(services)
    freeze_startup_objects()


def freeze_startup_objects():
    # The ~160,000 objects of the loaded app (modules, SQLAlchemy's mappers, Jinja, boto3's models)
    # live as long as the process. Left in the collector's oldest generation, every full collection
    # walks them all: 125-135 ms measured here, a pause that lands on whichever request allocated
    # last (the console's p99s of 200-350 ms where p50 was 25-60 ms). Frozen, a full collection walks
    # only what requests made. (Python's gc.freeze docs; Instagram's "Dismissing Python Garbage Collection".)
    import gc

    gc.collect()
    gc.freeze()


def worker_abort(worker):
    # gunicorn's timeout sends SIGABRT, then SIGKILL about a second later: say what was running
    # (the record carries the job's context) and deliver what is queued while we still can.
    import logging

    from core import logs

    logging.getLogger("aula.gunicorn").error("worker %s aborted by the gunicorn timeout (%s s)", worker.pid, timeout)
    logs.stop_shipping()


def worker_exit(server, worker):
    # Every way out of a worker passes here (a graceful restart, max_requests, the timeout's
    # SIGABRT): send what the web tier's outbox sender still holds, for a bounded time
    # (core.jobs.sender.DRAIN_SECONDS, inside graceful_timeout). What is left, or lost to a
    # SIGKILL, is an unpublished row that the outbox relay sends.
    from core import logs
    from core.jobs import sender

    sender.close_all()
    logs.stop_shipping()


def child_exit(server, worker):
    # In the master, once a worker is gone: a worker tier's process killed mid-job leaves the job
    # running under its lease for minutes; release it for sqsd's next delivery (worker/dead_workers.py).
    if _role == "worker":
        from worker.dead_workers import release_dead_worker

        released = release_dead_worker(worker.pid)
        if released:
            server.log.warning("worker %s died running %d job(s): leases released for the next delivery",
                               worker.pid, released)
