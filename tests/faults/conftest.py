"""A whole LeadCRM of its own for the fault tests: PostgreSQL, Redis, gunicorn, a Celery worker and
beat, all subprocesses, in production settings (DEBUG off, static files collected), on private
servers (tests/live_services.py) that the tests may stop and restart without touching the shared
ones. The test process talks to it as clients do (HTTP) and
reads the outcome straight from its database.

The stack is built once per session (initdb + migrate take a while) and every test gets it healthy:
a test that failed half-way through an outage does not leave the next one without Redis.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest

from tests.live_services import (
    ROOT,
    LiveProcess,
    PrivatePostgres,
    PrivateRedis,
    free_port,
    private_servers_missing,
    wait_until,
)

DATABASE = "leadcrm_faults"
ADMIN_PASSWORD = "faults-admin-password"


@dataclass
class Reply:
    status: int  # 0: no HTTP answer at all (connection refused or reset, timeout)
    headers: dict[str, str]
    body: bytes
    seconds: float
    started: float  # time.monotonic() when it was sent

    def json(self):
        return json.loads(self.body)


class FaultStack:
    def __init__(self):
        self.postgres = PrivatePostgres()
        self.redis = PrivateRedis()
        self.web_port = free_port()
        self.secret_key = secrets.token_urlsafe(48)
        self.api_key = ""
        self.web = self.worker = self.beat = None
        self.restarts: list[str] = []  # what the supervisor restarted, in order
        self.supervision = threading.RLock()  # held: the supervisor leaves the processes alone
        self._closing = threading.Event()

    # --- processes ---

    def env(self, **extra: str) -> dict[str, str]:
        """Production settings (DEBUG off), plain HTTP on 127.0.0.1 instead of behind a TLS proxy."""
        env = {k: v for k, v in os.environ.items() if k != "LEADCRM_TEST_BROKER_URL"}
        env.update(
            {
                "DATABASE_URL": self.postgres.url(DATABASE),
                "REDIS_URL": self.redis.url,
                "DJANGO_SETTINGS_MODULE": "leadcrm.settings",
                "DEBUG": "0",
                "SECRET_KEY": self.secret_key,
                "ALLOWED_HOSTS": "127.0.0.1",
                "SECURE_SSL_REDIRECT": "0",
                "LEADCRM_VAR_DIR": str(self.postgres.directory / "var"),  # collected static files
                "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": "INFO",
                "SCORING_SWEEP_SECONDS": "1",
                "WORKER_NICE": "0",  # as in tests/live_services.py: the waits are timed
                **extra,
            }
        )
        return env

    def manage(self, *args: str, **env: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def python(self, module: str, *args: str) -> str:
        """Run a module of ours against the stack's database (e.g. tests.faults.score_check)."""
        result = subprocess.run(
            [sys.executable, "-m", module, *args], cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise RuntimeError(f"{module} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def build(self) -> FaultStack:
        self.postgres.init()
        self.redis.start()
        self.sql_admin(f"CREATE DATABASE {DATABASE}")
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")  # the manifest DEBUG-off pages need
        self.api_key = self.manage("create_api_key", "faults", "--scope", "submit", "--scope", "read").strip()
        self.manage(
            "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@faults.test",
            DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
        )  # fmt: skip
        self.web = LiveProcess(
            ["leadcrm.wsgi", "--bind", f"127.0.0.1:{self.web_port}", "--workers", "2", "--timeout", "30",
             "--graceful-timeout", "5"],
            self.env(LOG_LEVEL="WARNING"),
            ready_marker="Booting worker",
            name="gunicorn",
            program=("-m", "gunicorn"),
        )  # fmt: skip
        self.worker = LiveProcess(
            ["worker", "--pool=prefork", "--concurrency=2", f"--hostname=faults-{uuid.uuid4().hex[:8]}@%h",
             "--without-gossip", "--without-mingle", "--loglevel=INFO"],
            self.env(),
            ready_marker="ready.",
            name="worker",
        )  # fmt: skip
        self.beat = LiveProcess(
            ["beat", f"--schedule={self.postgres.directory / 'beat-schedule'}", "--loglevel=INFO"],
            self.env(),
            ready_marker="beat: Starting",
            name="beat",
        )
        self.ensure_up()
        self.supervise()
        return self

    def ensure_up(self) -> None:
        with self.supervision:
            if not self.postgres.is_running():
                self.postgres.start()
            if not self.redis.is_running():
                self.redis.start()
            for process in (self.worker, self.beat, self.web):
                if process.process is None or process.process.poll() is not None:
                    process.start()
        wait_until(lambda: self.get("/api/v1/").status != 0, 60, self.web, "gunicorn answers")

    def supervise(self) -> None:
        """Restart a process that exited, as the deployment's process manager does (docker-compose.yml:
        restart: unless-stopped). Celery's worker exits on some broker failures instead of reconnecting."""

        def watch():
            while not self._closing.wait(0.5):
                with self.supervision:
                    for process in (self.worker, self.beat, self.web):
                        if process.process is not None and process.process.poll() is not None:
                            self.restarts.append(process.name)
                            process.start(wait=False)

        threading.Thread(target=watch, daemon=True, name="fault-stack-supervisor").start()

    def destroy(self) -> None:
        self._closing.set()
        for process in (self.web, self.beat, self.worker):
            if process is not None:
                process.stop()
        self.redis.destroy()
        self.postgres.destroy()

    # --- the database, read directly ---

    def sql_admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.postgres.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)

    def sql(self, query: str, params: tuple | list = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.postgres.url(DATABASE), autocommit=True, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    def value(self, query: str, params: tuple | list = ()):
        return self.sql(query, params)[0][0]

    # --- HTTP, as a client ---

    def request(self, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 15) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=timeout)
        payload = body if isinstance(body, bytes | None) else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        started = time.monotonic()
        try:
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            content = response.read()
            reply_headers = {name.lower(): value for name, value in response.getheaders()}
            if "set-cookie" in reply_headers:
                reply_headers["set-cookie"] = "\n".join(
                    v for k, v in response.getheaders() if k.lower() == "set-cookie"
                )
            return Reply(response.status, reply_headers, content, time.monotonic() - started, started)
        except OSError as error:  # refused, reset, timed out: no HTTP answer
            return Reply(0, {}, repr(error).encode(), time.monotonic() - started, started)
        finally:
            connection.close()

    def get(self, path: str, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def api(self, method: str, path: str, body=None, headers: dict | None = None, **kwargs) -> Reply:
        return self.request(
            method, path, body, {"Authorization": f"Bearer {self.api_key}", **(headers or {})}, **kwargs
        )

    def browser_session(self) -> str:
        """A logged-in browser session of the admin (as django.contrib.auth.login makes it): the
        Cookie header. Made directly, not through the login form: the form is not under test."""
        session_key = self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model\n"
            "from django.contrib.sessions.backends.db import SessionStore\n"
            "user = get_user_model().objects.get(username='admin')\n"
            "session = SessionStore()\n"
            "session[SESSION_KEY] = str(user.pk)\n"
            "session[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
            "session[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
            "session.create()\n"
            "print(session.session_key)",
        ).split()[-1]  # the shell may print a line about its automatic imports first
        cookie = f"sessionid={session_key}"
        whoami = self.get("/api/v1/leads/?limit=1", headers={"Cookie": cookie})
        assert whoami.status == 200, (whoami.status, whoami.body[:300])  # the session is logged in
        return cookie


@dataclass
class SubmissionLoad:
    """Steady submissions through the API from a few client threads, each to a new email.

    A client retries what was not stored (a 503, or no answer) with the same Idempotency-Key after a
    short pause, as a well-behaved integration does, until it is stored or `give_up` seconds pass.
    Every reply is kept for the assertions.
    """

    stack: FaultStack
    prefix: str
    clients: int = 2
    pause: float = 0.1
    give_up: float = 90
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> SubmissionLoad:
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def _client(self, client: int) -> None:
        n = 0
        while not self._stop.is_set():
            email = f"{self.prefix}-{client}-{n}@faults.test"
            body = {"form_name": self.prefix, "email": email, "company": "Faults Inc", "job_title": "Engineer"}
            deadline = time.monotonic() + self.give_up
            attempts: list[Reply] = []
            with self._lock:
                self.replies[email] = attempts
            while True:
                reply = self.stack.api("POST", "/api/v1/submissions/", body, {"Idempotency-Key": email})
                attempts.append(reply)
                if 200 <= reply.status < 300 or 400 <= reply.status < 500 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            n += 1
            time.sleep(self.pause)

    def sent(self) -> int:
        with self._lock:
            return len(self.replies)

    def stop(self) -> dict[str, list[Reply]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.give_up + 30)
        assert not any(thread.is_alive() for thread in self._threads), "a client hung"
        return self.replies


def _require_private_servers() -> None:
    if reason := private_servers_missing():
        if os.environ.get("CI"):
            pytest.fail(f"CI requires the fault tests' private servers: {reason}", pytrace=False)
        pytest.skip(f"needs private PostgreSQL and Redis servers: {reason}")


@pytest.fixture(scope="session")
def _fault_stack_session():
    _require_private_servers()
    stack = FaultStack()
    try:
        stack.build()
    except BaseException:
        stack.destroy()
        raise
    yield stack
    stack.destroy()


@pytest.fixture
def fault_stack(_fault_stack_session):
    _require_private_servers()
    _fault_stack_session.ensure_up()
    return _fault_stack_session


@pytest.fixture
def submission_load(fault_stack):
    """Start a SubmissionLoad: submission_load("prefix"). Stopped at teardown if the test did not."""
    loads: list[SubmissionLoad] = []

    def start(prefix: str) -> SubmissionLoad:
        loads.append(SubmissionLoad(fault_stack, prefix=prefix).start())
        return loads[-1]

    yield start
    for load in loads:
        load.stop()
