"""The Celery worker as started in production: it lowers its CPU priority (settings.WORKER_NICE)."""

import os
import uuid
from pathlib import Path

import pytest

from tests.live_services import LiveProcess


def niceness(pid: int) -> int:
    # /proc/<pid>/stat: the 19th field; after the command name's ")", the 17th.
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def started_worker(tmp_path, **env: str) -> LiveProcess:
    """A solo worker on the in-memory broker (REDIS_URL unset): the same startup, no services."""
    worker_env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "WORKER_NICE"}}
    worker_env.update(LOG_LEVEL="INFO", PYTHONUNBUFFERED="1", LEADCRM_VAR_DIR=str(tmp_path), **env)
    args = ["worker", "--pool=solo", f"--hostname=nice-{uuid.uuid4().hex[:8]}@%h", "--loglevel=INFO"]
    return LiveProcess(args, worker_env, ready_marker="ready.", name="worker").start()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize(("setting", "expected"), [(None, 10), ("5", 5), ("0", 0)])
def test_a_worker_runs_below_the_web_processes_cpu_priority(tmp_path, setting, expected):
    env = {} if setting is None else {"WORKER_NICE": setting}
    worker = started_worker(tmp_path, **env)
    try:
        assert niceness(worker.process.pid) == min(19, os.nice(0) + expected)
    finally:
        worker.stop()
