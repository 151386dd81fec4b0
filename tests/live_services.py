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

Fault tests (tests/faults/) stop Redis and restart PostgreSQL, so they never use the shared servers:
PrivatePostgres and PrivateRedis start throwaway servers on free ports, in a temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
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
CELERY = ("-m", "celery", "-A", "leadcrm")


def wait_until(condition, timeout: float, process: LiveProcess | None = None, message: str = "") -> None:
    """Poll condition() until it is true; on timeout fail with the message and the process's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = f"\n--- {process.name} log ---\n{process.log_tail()}" if process else ""
    raise AssertionError(f"timed out after {timeout}s: {message}{tail}")


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
    """A Python subprocess (celery by default) in its own process group, its output in a log file."""

    def __init__(
        self, args: list[str], env: dict[str, str], ready_marker: str, name: str, program: tuple[str, ...] = CELERY
    ):
        self.program = program
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
            [sys.executable, *self.program, *self.args],
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
        # Tests time their waits for the worker: at full priority it keeps the pace it had before
        # production workers lowered theirs (tests/test_celery_worker.py checks that they do).
        WORKER_NICE="0",
        **extra,
    )
    return env


def use_broker(app, broker_url: str) -> None:
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
    use_broker(app, broker_url)
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
        use_broker(app, saved[0])
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


# --- Private servers for fault tests ----------------------------------------------------------
# A fault test stops Redis and restarts PostgreSQL: on the shared servers that would break every
# colleague's test run and the dev server. These start servers of their own, on free ports, with
# their data in a temporary directory, and remove it all afterwards.

PG_BIN = Path(os.environ.get("LEADCRM_PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def private_servers_missing() -> str | None:
    for program in (PG_BIN / "initdb", PG_BIN / "pg_ctl", Path(REDIS_SERVER)):
        if not os.access(program, os.X_OK):
            return f"{program} is missing (PostgreSQL 15 server binaries and redis-server; LEADCRM_PG_BIN)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "initdb refuses to run as root and runuser is missing"
    return None


def free_port(start: int | None = None) -> int:
    """A port nothing listens on and we can bind: the first from `start` on, or a random one in
    20000-29999 (outside Linux's ephemeral range), so that two fault-test sessions running at once
    do not pick the same ports."""
    candidates = range(start, start + 200) if start else random.sample(range(20_000, 30_000), 200)
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port from {start}")


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb in a temporary directory), trust auth on 127.0.0.1.

    initdb and the server refuse to run as root: as root they run as the postgres OS user.
    Durability is off (fsync, synchronous_commit): these tests restart the server cleanly, and the
    data is thrown away afterwards.
    """

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="leadcrm-faults-pg-"))
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgresql.log"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self._as_owner, *args], capture_output=True, text=True, timeout=timeout, cwd=self.directory
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}\n{self.log_tail()}")

    def init(self) -> PrivatePostgres:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")  # fmt: skip
        return self.start()

    def start(self) -> PrivatePostgres:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """fast: roll back open transactions and disconnect every client, as a restart does."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def destroy(self) -> None:
        if self.is_running():
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRedis:
    """A redis-server of its own: no persistence, so a restart comes back empty, as after a crash."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="leadcrm-faults-redis-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        import redis

        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        wait_until(lambda: self._answers(client), 20, message=f"redis-server on {self.port} started")
        return self

    @staticmethod
    def _answers(client) -> bool:
        import redis

        try:
            return client.ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def destroy(self) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)
