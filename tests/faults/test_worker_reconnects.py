"""Redis drops while a worker holds an unacknowledged task (late acknowledgement makes that the
usual case under load): the worker waits for Redis, reconnects and takes the next task. With
Celery/kombu 5.7 and remote control on, it exited instead ("Unrecoverable error: AttributeError
... 'hostname'"); leadcrm/settings.py turns remote control off (CELERY_WORKER_ENABLE_REMOTE_CONTROL).

The worker runs LeadCRM's Celery settings (tests/faults/busy_worker.py) against a private
redis-server (tests/live_services.py) that the test stops and starts again on the same port.
"""

import os
import uuid

import pytest
from celery import Celery

from tests.faults.busy_worker import BUSY_TASK
from tests.live_services import LiveProcess, PrivateRedis, private_servers_missing, wait_until, worker_database_url

pytestmark = pytest.mark.faults


@pytest.fixture
def private_redis():
    if reason := private_servers_missing():
        if os.environ.get("CI"):
            pytest.fail(f"CI requires the private servers: {reason}", pytrace=False)
        pytest.skip(reason)
    redis = PrivateRedis().start()
    yield redis
    redis.destroy()


@pytest.fixture
def busy_worker(private_redis):
    env = {k: v for k, v in os.environ.items() if k != "LEADCRM_TEST_BROKER_URL"}
    env.update(
        REDIS_URL=private_redis.url,
        DATABASE_URL=worker_database_url(),
        DJANGO_SETTINGS_MODULE="leadcrm.settings",
        PYTHONUNBUFFERED="1",
    )
    worker = LiveProcess(
        [
            "worker",
            "--pool=prefork",
            "--concurrency=2",  # one process busy, the consumer still waiting (BRPOP) for the next task
            f"--hostname=reconnect-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        env,
        ready_marker="ready.",
        name="busy-worker",
        program=("-m", "celery", "-A", "tests.faults.busy_worker"),
    )
    worker.start()
    yield worker
    worker.stop()


def send(redis: PrivateRedis, seconds: float, label: str) -> None:
    client = Celery(broker=redis.url)
    try:
        client.send_task(BUSY_TASK, args=(seconds, label))
    finally:
        client.close()


def test_a_busy_worker_survives_a_redis_restart_and_takes_the_next_task(private_redis, busy_worker):
    send(private_redis, 4, "during")
    wait_until(lambda: f"{BUSY_TASK}[" in busy_worker.log_since_start(), 20, busy_worker, "the task was received")

    private_redis.stop()  # the worker holds the task, unacknowledged
    wait_until(lambda: "Connection to broker lost" in busy_worker.log_since_start(), 20, busy_worker, "loss seen")
    private_redis.start()  # empty, as after a crash (no persistence)

    def reconnected_or_gone() -> bool:
        return busy_worker.process.poll() is not None or busy_worker.log_since_start().count("Connected to redis") >= 2

    wait_until(reconnected_or_gone, 60, busy_worker, "reconnected")
    assert busy_worker.process.poll() is None, f"the worker exited:\n{busy_worker.log_tail()}"

    send(private_redis, 0.1, "after")
    wait_until(lambda: "busy after done" in busy_worker.log_since_start(), 30, busy_worker, "the next task ran")
    assert busy_worker.process.poll() is None, busy_worker.log_tail()
    assert "Unrecoverable error" not in busy_worker.log_since_start(), busy_worker.log_tail()
