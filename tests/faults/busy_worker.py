"""LeadCRM's Celery app, with its settings, plus one task that only sleeps: a worker kept busy for as
long as a test needs, without a database. Started as `celery -A tests.faults.busy_worker worker`."""

import time

from leadcrm.celery import app  # sets DJANGO_SETTINGS_MODULE and reads the CELERY_* settings

BUSY_TASK = "tests.faults.busy"


@app.task(name=BUSY_TASK)
def busy(seconds: float, label: str) -> None:
    time.sleep(seconds)
    print(f"busy {label} done", flush=True)
