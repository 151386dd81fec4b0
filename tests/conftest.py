import functools
import importlib
import os

import pytest
from django.db import connection

from tests.factories import UserFactory

# Live Celery worker / beat fixtures for integration tests (tests/live_services.py).
pytest_plugins = ["tests.live_services"]

# --- Tests that need a service ---------------------------------------------------------------
# On a newcomer's machine a test marked redis, celery_worker, browser or postgres is skipped,
# with the reason, when its service is missing, so `python3 dev.py test` passes on a bare clone.
# With CI set it fails instead: CI must never go green by skipping what it is there to prove.
CHROMIUM = "/usr/bin/chromium"


@functools.cache
def redis_missing() -> str | None:
    url = os.environ.get("REDIS_URL")
    if not url:
        return "REDIS_URL is not set"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as error:
        return f"Redis at REDIS_URL does not answer ({error})"
    return None


def chromium_missing() -> str | None:
    return None if os.access(CHROMIUM, os.X_OK) else f"{CHROMIUM} is missing (apt-get install chromium)"


def postgres_missing() -> str | None:
    return None if connection.vendor == "postgresql" else "DATABASE_URL does not point at PostgreSQL"


SERVICE_CHECKS = {
    "redis": redis_missing,
    "celery_worker": redis_missing,  # the worker needs Redis as its broker
    "browser": chromium_missing,
    "postgres": postgres_missing,
}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    for marker, missing in SERVICE_CHECKS.items():
        if item.get_closest_marker(marker) and (reason := missing()):
            if os.environ.get("CI"):
                pytest.fail(f"CI requires the {marker} service: {reason}", pytrace=False)
            pytest.skip(f"needs {marker}: {reason}")


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return (
        "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
        or bool(marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")))
    )


@pytest.fixture(autouse=True)
def _role_groups_in_transactional_tests(request):
    """A transactional test's flush empties auth_group, which migration leads/0002_roles filled. Put
    the role groups back before every transactional test, so that no test depends on the order tests
    run in. Serialized rollback is refused: after a plain transactional test's flush, post_migrate has
    recreated the content types, and reloading the serialized ones then fails on duplicate keys."""
    marker = request.node.get_closest_marker("django_db")
    if "django_db_serialized_rollback" in request.fixturenames or (marker and marker.kwargs.get("serialized_rollback")):
        pytest.fail(
            "serialized rollback breaks the transactional tests that follow (duplicate django_content_type "
            "rows); use transactional_db alone: this fixture restores the role groups",
            pytrace=False,
        )
    if _is_transactional(request):
        from django.contrib.auth.models import Group, Permission

        request.getfixturevalue("transactional_db")
        for name, codenames in importlib.import_module("leads.migrations.0002_roles").ROLE_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=name)
            permissions = Permission.objects.filter(content_type__app_label="leads")
            if codenames is not None:
                permissions = permissions.filter(codename__in=codenames)
            group.permissions.set(permissions)
    yield


@pytest.fixture(autouse=True)
def _tasks_run_in_process(request):
    """Tasks run in-process, as they do without REDIS_URL, except in tests of a real worker: with
    REDIS_URL set (CI) they would otherwise wait in Redis for a worker that is not there."""
    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    from leadcrm.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Every UserFactory hashes a password; PBKDF2's deliberate slowness made the suite minutes
    # longer. The real hashers stay listed so passwords hashed elsewhere still verify.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture
def marketer(db):
    return UserFactory(username="marketer", roles=["marketing"])


@pytest.fixture
def sales_rep(db):
    return UserFactory(username="rep", roles=["sales"])


@pytest.fixture
def other_sales_rep(db):
    return UserFactory(username="rep2", roles=["sales"])


@pytest.fixture
def service_rep(db):
    return UserFactory(username="servicerep", roles=["service"])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", roles=["admin"], is_staff=True, is_superuser=True)
