"""The suite's machinery: the servers it starts (gunicorn, a Celery worker), the processes'
memory and CPU from /proc, one-shot HTTP requests, and wrk."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPTS = ROOT / "bench" / "api"


# --- Processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(process: subprocess.Popen | None, timeout: float = 30) -> None:
    """Stop a process we started, and its children (it leads its own session)."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def proc_status(pid: int, key: str) -> float:
    """A VmRSS/VmHWM-style line of /proc/<pid>/status, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_ms(pids: list[int]) -> dict[int, float]:
    """utime + stime of each process, in ms."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) * 1000 / ticks
        except (OSError, IndexError, ValueError):
            pass
    return used


class Server:
    """gunicorn (bench.settings: the app's settings + server timing + /baseline/) and one Celery
    worker process, as deployed; both lead their own sessions so that stopping them stops all."""

    def __init__(self, args: argparse.Namespace, log_dir: Path):
        self.args, self.log_dir = args, log_dir
        self.port = free_port()
        self.gunicorn: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    def start(self) -> None:
        from bench import scoring_bench

        # A fresh Redis database: no task or nudge key of an earlier run is part of this one.
        self.worker = scoring_bench.start_worker(self.log_dir / "worker.log", flush=True)
        log = (self.log_dir / "gunicorn.log").open("wb")
        self.gunicorn = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "leadcrm.wsgi:application",
                # The production server settings (leadcrm/gunicorn.conf.py: backlog, timeout 120 s
                # for the 100,000-row export, no access log), with the bench's worker count.
                "--config",
                "leadcrm/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.args.web_workers),
            ],
            cwd=ROOT,
            # No worker restart in the middle of a measured run.
            env=dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings", GUNICORN_MAX_REQUESTS="0"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.gunicorn.poll() is not None:
                raise SystemExit(f"gunicorn did not start:\n{(self.log_dir / 'gunicorn.log').read_text()[-3000:]}")
            try:
                status, _, _ = http_get(self.port, "/api/v1/pipeline/")
                if status and len(self.web_pids()) == self.args.web_workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not answer within 60 s")

    def web_pids(self) -> list[int]:
        return children(self.gunicorn.pid) if self.gunicorn else []

    def database_pids(self) -> list[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
            return [row[0] for row in cursor.fetchall()]

    def server_pids(self) -> list[int]:
        """The processes whose CPU is the server's: web workers, the Celery worker, and the
        PostgreSQL backends serving them (not this process's own connection)."""
        return self.web_pids() + ([self.worker.pid] if self.worker else []) + self.database_pids()

    def stop(self) -> None:
        stop_group(self.gunicorn)
        stop_group(self.worker)


# --- HTTP ------------------------------------------------------------------------------------


def http_get(
    port: int, path: str, headers: dict | None = None, *, stream: Callable[[bytes], None] | None = None
) -> tuple[int, dict, bytes]:
    """One GET on a new connection (gunicorn's sync workers close after each response)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        if stream is None:
            body = response.read()
        else:
            body = b""
            while chunk := response.read(65536):
                stream(chunk)
        return response.status, {key.lower(): value for key, value in response.getheaders()}, body
    finally:
        connection.close()


def server_ms(headers: dict) -> float:
    match = re.search(r"app;dur=([0-9.]+)", headers.get("server-timing", ""))
    return float(match.group(1)) if match else float("nan")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


# --- wrk -------------------------------------------------------------------------------------

# How often the server's CPU is read while wrk runs.
SAMPLE_SECONDS = 0.25


def wrk(
    script: str,
    url: str,
    *,
    connections: int,
    seconds: int,
    env: dict,
    timeout: str = "10s",
    while_running: Callable[[], None] | None = None,
) -> dict:
    """Run wrk with one of bench/api's Lua scripts; its RESULT line as a dict. `while_running` is
    called every SAMPLE_SECONDS until wrk ends (wrk prints only at its end: no pipe fills up)."""
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        timeout,
        "--latency",
        "-s",
        str(WRK_SCRIPTS / script),
        url,
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, **env)
    ) as process:
        while while_running is not None and process.poll() is None:
            while_running()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(SAMPLE_SECONDS)
        stdout, stderr = process.communicate()
    line = next((line for line in stdout.splitlines() if line.startswith("RESULT ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}): {stdout[-2000:]} {stderr[-2000:]}")
    result = {}
    for pair in line.split()[1:]:
        key, _, value = pair.partition("=")
        try:
            result[key] = float(value)
        except ValueError:
            result[key] = value
    return result


def _children_cpu_ms() -> float:
    """User + system CPU of this process's finished, waited-for children (here: wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def measured_wrk(server: Server, script: str, *, connections: int, args, env: dict, timeout: str = "10s") -> dict:
    """Warm up, then measure; adds the server's CPU per request (workers + worker + backends)."""
    url = f"http://127.0.0.1:{server.port}"
    wrk(script, url, connections=connections, seconds=args.warmup, env=env, timeout=timeout)
    before = cpu_ms(server.server_pids())
    # The last reading of each server process, taken while wrk runs: a PostgreSQL backend ends
    # when its web worker's connection reaches CONN_MAX_AGE (60 s), and its CPU would be lost
    # with it if only read at the end (at most SAMPLE_SECONDS of it is, now); its successor is
    # counted from its start.
    readings = dict(before)

    def read_server_cpu() -> None:
        readings.update(cpu_ms(server.server_pids()))

    client_before = _children_cpu_ms()
    result = wrk(
        script,
        url,
        connections=connections,
        seconds=args.duration,
        env=env,
        timeout=timeout,
        while_running=read_server_cpu,
    )
    client_ms = _children_cpu_ms() - client_before
    read_server_cpu()
    if not result["requests"]:
        raise RuntimeError(f"{script}: no request completed in {args.duration} s (a longer --duration?)")
    used = {pid: ms - before.get(pid, 0.0) for pid, ms in readings.items()}
    result["server_cpu_ms_per_request"] = sum(used.values()) / result["requests"]
    # Who spent it: the web workers, the Celery worker (with any pool children), PostgreSQL.
    web, worker = set(server.web_pids()), {server.worker.pid, *children(server.worker.pid)} if server.worker else set()
    split = {"web": 0.0, "worker": 0.0, "postgres": 0.0}
    for pid, ms in used.items():
        split["web" if pid in web else "worker" if pid in worker else "postgres"] += ms
    result["server_cpu_split_ms"] = {part: ms / result["requests"] for part, ms in split.items()}
    # The load generator's own share of the same cores (wrk builds each request in Lua).
    result["client_cpu_ms_per_request"] = client_ms / result["requests"]
    result["errors"] = sum(
        int(result.get(key, 0)) for key in ("non_2xx", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return result
