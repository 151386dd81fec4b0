"""gunicorn's production settings, in one place: `gunicorn -c leadcrm/gunicorn.conf.py leadcrm.wsgi`.

The Dockerfile and docker-compose.yml start the web process with this file; each setting can be
changed from the environment without rebuilding the image. Command-line flags still win over it.
"""

import gc
import multiprocessing
import os


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# The API's writes wait on PostgreSQL (a commit waits for its WAL flush, ~15 ms on a small VM)
# rather than on the CPU, so more processes than cores keep the CPU busy: 2 x cores + 1.
workers = _env_int("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count() + 1)
# sync workers: one request per process at a time, the connection closed after each response
# (gunicorn's sync workers do not keep connections alive). GUNICORN_WORKER_CLASS=gthread with
# GUNICORN_THREADS > 1 keeps client connections alive instead; each thread then holds its own
# PostgreSQL connection (CONN_MAX_AGE), so workers x threads must stay under max_connections.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = _env_int("GUNICORN_THREADS", 1)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)  # seconds; used by gthread only
backlog = _env_int("GUNICORN_BACKLOG", 2048)

# A process is replaced after this many requests (jittered, so they do not all restart at once):
# whatever a long-running process leaks is bounded, and a restart costs one fork.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 10000)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 1000)

# The longest request is a CSV export streamed to the browser; 120 s leaves room for it on a busy
# machine, while a truly stuck worker is still killed and replaced.
timeout = _env_int("GUNICORN_TIMEOUT", 120)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)

# The proxy in front logs every request; gunicorn's own access log costs a write per request, so
# it is off unless asked for (GUNICORN_ACCESS_LOG=- for stdout). Errors always go to stderr.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Load the app once in the master and fork: workers share its memory pages and start fast.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"


def post_worker_init(worker):
    """Move everything the app holds once loaded (modules, settings, URL patterns: ~100,000
    objects) out of the garbage collector's reach. They live as long as the process, yet every
    full collection walked them all: an event batch allocates enough to set one off every ten
    batches or so, ~9 ms a batch on average (a quarter of its Python time); frozen, ~2 ms.
    Cycles among the objects made afterwards are still collected."""
    gc.freeze()
