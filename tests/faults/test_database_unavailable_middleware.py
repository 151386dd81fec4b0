"""leadcrm.middleware: a lost database answers 503 + Retry-After, never 500, wherever it is noticed.

The real outage (PostgreSQL stopped under load, a browser page and the API) is
tests/faults/test_postgres_restart.py. Here the error is raised where no real outage can be placed
on demand: in a plain Django view and in a middleware's response phase (a session being saved),
outside any DRF view and its exception handler.
"""

import psycopg
import pytest
from django.db import OperationalError
from django.http import HttpResponse
from django.urls import path

pytestmark = pytest.mark.urls(__name__)


def connection_lost() -> OperationalError:
    """What Django raises when PostgreSQL went away: its OperationalError, psycopg's as the cause."""
    try:
        raise psycopg.OperationalError("connection failed: Connection refused")
    except psycopg.OperationalError as cause:
        error = OperationalError(str(cause))
        error.__cause__ = cause
        return error


def page_view(request):
    raise connection_lost()


def buggy_view(request):
    raise OperationalError("no such column: oops")  # a bug, not an outage: stays a 500


def fine_view(request):
    return HttpResponse("ok")


urlpatterns = [
    path("page/", page_view),
    path("api/v1/thing/", page_view),
    path("buggy/", buggy_view),
    path("fine/", fine_view),
]


class DatabaseDownWhileSavingTheSession:
    """Stands in for SessionMiddleware saving a modified session after the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path == "/fine/":
            raise connection_lost()
        return response


def test_a_page_whose_database_is_gone_answers_a_plain_503_page(client):
    response = client.get("/page/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert b"briefly unavailable" in response.content


def test_an_api_path_outside_drf_answers_the_api_error_body(client):
    response = client.get("/api/v1/thing/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["type"] == "service_unavailable"


def test_a_database_error_in_a_middleware_after_the_view_answers_503(client, settings):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        f"{__name__}.DatabaseDownWhileSavingTheSession",
    ]
    client.raise_request_exception = False
    response = client.get("/fine/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["X-Content-Type-Options"] == "nosniff"  # the security headers are kept


def test_any_other_database_error_is_still_a_500(client):
    client.raise_request_exception = False
    assert client.get("/buggy/").status_code == 500
