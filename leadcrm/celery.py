import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")

app = Celery("leadcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def lower_worker_priority(**kwargs) -> None:
    """Background work yields the CPU to web requests (settings.WORKER_NICE, default 10).

    A Celery worker shares its machine with the gunicorn processes. When both want the CPU, a
    request has a client waiting on it, while scoring coalesces: events that arrive during a
    backlog cost one rescore of their lead, not one each, so scoring late does less work than
    scoring at once, then rescoring as the next events arrive. Imports, exports and bulk moves
    are background jobs too. The worker's pool processes inherit the niceness; an idle machine
    still gives the worker all it wants. Sent in the worker's main process before its pool starts.
    """
    from django.conf import settings

    increment = getattr(settings, "WORKER_NICE", 0)
    if increment > 0:
        os.nice(increment)
