"""leads.db.read_rows: a request's first read is also its connection's health check.

Django's CONN_HEALTH_CHECKS sends a SELECT 1 before the first statement of each request on a reused
connection. The API key lookup, the session and the roles are read with read_rows instead: on a
healthy connection no SELECT 1 goes out, and on a broken one (PostgreSQL restarted, the backend
killed) the read runs again on a new connection, so the request still succeeds."""

from unittest import mock

import psycopg
import pytest
from django.db import OperationalError, connection, connections
from django.urls import reverse

from leads.api.auth import api_key_create
from leads.db import read_row
from leads.models import Lead

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def backend_pid() -> int:
    return read_row("SELECT pg_backend_pid()", [])[0]


def kill_backend(pid: int) -> None:
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


def next_request() -> None:
    """What Django does for each new request on a kept connection (close_old_connections): the
    test client leaves it out."""
    connection.close_if_unusable_or_obsolete()
    assert connection.connection is not None and not connection.health_check_done


def submit(client, raw_key: str, email: str):
    return client.post(
        "/api/v1/submissions/",
        {"form_name": "demo", "email": email},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
    )


def test_a_submission_on_a_killed_connection_is_stored_on_a_new_one(client):
    raw_key = api_key_create(name="form", scopes=["submit"]).raw_key
    assert submit(client, raw_key, "first@example.com").status_code == 201
    killed = backend_pid()
    next_request()
    kill_backend(killed)

    response = submit(client, raw_key, "second@example.com")

    assert response.status_code == 201, response.content
    assert Lead.objects.filter(email="second@example.com").exists()
    assert backend_pid() != killed


def test_a_page_on_a_killed_connection_is_served_on_a_new_one(client, marketer):
    client.force_login(marketer)
    assert client.get(reverse("mql-list")).status_code == 200
    killed = backend_pid()
    next_request()
    kill_backend(killed)

    response = client.get(reverse("mql-list"))

    assert response.status_code == 200  # the session read first: still signed in
    assert backend_pid() != killed


def test_a_healthy_connection_gets_no_separate_health_check(client):
    raw_key = api_key_create(name="form", scopes=["submit"]).raw_key
    assert submit(client, raw_key, "first@example.com").status_code == 201
    next_request()
    with mock.patch.object(type(connections["default"]), "is_usable", autospec=True) as is_usable:
        assert submit(client, raw_key, "second@example.com").status_code == 201
    is_usable.assert_not_called()
    assert connection.health_check_done


def test_a_failed_read_on_a_healthy_connection_is_raised_not_repeated():
    connection.cursor().execute("SET statement_timeout = '20ms'")
    pid = backend_pid()
    next_request()
    try:
        with pytest.raises(OperationalError, match="statement timeout"):
            read_row("SELECT pg_sleep(1)", [])
        assert backend_pid() == pid  # kept: the connection was fine
    finally:
        connection.cursor().execute("RESET statement_timeout")
