import pytest

from leadcrm.celery import app as celery_app
from scoring import selectors


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The tests here create many users; a deliberately slow hash would dominate their run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _scoring_isolation(request):
    """Tasks run in-process unless a test starts a real worker; the engine cache starts empty
    (SQLite may reuse the id of a rule set that a rolled-back test created)."""
    selectors._ENGINE_CACHE.clear()
    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved
