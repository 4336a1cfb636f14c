"""gunicorn settings, from the environment, with defaults per role.

Worker role: sync workers, one job per process, and a timeout above every job's time limit
and below nginx's proxy_read_timeout (see the timeout chain in .ebextensions/20-worker-sqsd.config).
Web role: threaded workers; requests are short by design.
"""
import multiprocessing
import os

_role = os.environ.get("APP_ROLE", "web")
_worker = _role == "worker"

wsgi_app = "wsgi:create_app()"
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
worker_class = "sync" if _worker else "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "4" if _worker else str(min(4, multiprocessing.cpu_count() * 2))))
threads = 1 if _worker else int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "600" if _worker else "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 75
accesslog = "-"
errorlog = "-"
# The app (and its database pool and boto3 clients) is built in each worker after the fork.
preload_app = False
# gunicorn 24+'s control socket defaults to one path per user; the local stack runs two
# gunicorns side by side, and nothing here uses it.
control_socket_disable = True
