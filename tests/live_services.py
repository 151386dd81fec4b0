"""Real services for integration tests: a Celery worker (and beat) as subprocesses.

The worker runs `celery -A leadcrm worker` against the pytest-django test database (so tests that
use it need `transactional_db`: the worker must see committed rows) and a Redis database of its
own (LEADCRM_TEST_BROKER_URL, by default DB 6 of the Redis server in REDIS_URL), flushed when the
worker starts, so it never eats a colleague's or the dev server's tasks. The in-process Celery app
is switched to that broker and out of eager mode while the fixture is active.

    @pytest.mark.celery_worker
    def test_it(live_celery_worker): ...          # one worker, prefork with 2 processes
    live_celery_worker.kill()                      # SIGKILL the whole process group
    live_celery_worker.start()                     # and start it again
    live_celery_beat                               # beat too, with SCORING_SWEEP_SECONDS=1
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60


def worker_broker_url() -> str:
    explicit = os.environ.get("LEADCRM_TEST_BROKER_URL")
    if explicit:
        return explicit
    base = urllib.parse.urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urllib.parse.urlunsplit((base.scheme, base.netloc, "/6", "", ""))


def worker_database_url() -> str:
    """The URL of the database this test session uses (pytest-django's test database)."""
    settings = connection.settings_dict
    user = urllib.parse.quote(settings.get("USER") or "")
    password = urllib.parse.quote(settings.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings.get("HOST") or "127.0.0.1"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{settings['NAME']}"


class LiveProcess:
    """A celery subprocess in its own process group, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], ready_marker: str, name: str):
        self.args = args
        self.env = env
        self.ready_marker = ready_marker
        self.name = name
        self.log_path = Path(tempfile.mkstemp(prefix=f"leadcrm-{name}-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None
        self._log_offset = 0

    def start(self, wait: bool = True) -> LiveProcess:
        assert self.process is None or self.process.poll() is not None, f"{self.name} is already running"
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "leadcrm", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() reaches the pool's children too
        )
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_marker in self.log_since_start():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")

    def log_since_start(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole process group (the worker and its pool processes) at once."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass


def _require_services() -> None:
    reason = None
    if connection.vendor != "postgresql":
        reason = "the live worker needs PostgreSQL (DATABASE_URL): it shares the test database"
    else:
        import redis

        try:
            redis.Redis.from_url(worker_broker_url(), socket_connect_timeout=2).ping()
        except redis.RedisError as error:
            reason = f"Redis at {worker_broker_url()} does not answer ({error})"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires a live worker: {reason}", pytrace=False)
        pytest.skip(reason)


def _service_env(broker_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=worker_database_url(),
        REDIS_URL=broker_url,
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
        **extra,
    )
    return env


def _use_broker(app, broker_url: str) -> None:
    """Point the in-process Celery app at the test broker (dropping pooled connections)."""
    app.conf.broker_url = broker_url
    app.conf.task_always_eager = False
    # Drop the cached pools (not close them: kombu shares producer pools per connection URL).
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def live_celery_worker(transactional_db):
    _require_services()
    import redis

    from leadcrm.celery import app

    broker_url = worker_broker_url()
    redis.Redis.from_url(broker_url).flushdb()
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    _use_broker(app, broker_url)
    worker = LiveProcess(
        [
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            f"--hostname=test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        _service_env(broker_url),
        ready_marker="ready.",
        name="worker",
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        _use_broker(app, saved[0])
        app.conf.task_always_eager = saved[1]


@pytest.fixture
def live_celery_beat(live_celery_worker):
    """Celery beat next to the worker, running the sweeper every second."""
    schedule = Path(tempfile.mkdtemp(prefix="leadcrm-beat-")) / "schedule"
    beat = LiveProcess(
        ["beat", f"--schedule={schedule}", "--loglevel=INFO"],
        _service_env(worker_broker_url(), SCORING_SWEEP_SECONDS="1"),
        ready_marker="beat: Starting",
        name="beat",
    )
    beat.start()
    try:
        yield beat
    finally:
        beat.stop()
