"""Errors that are not about one endpoint: the database unavailable, one shape everywhere."""

from unittest import mock

import psycopg
from django.db import OperationalError

from tests.api.conftest import assert_error


def test_an_unreachable_database_is_503_with_retry_after(read_client):
    failure = OperationalError("connection refused")
    failure.__cause__ = psycopg.OperationalError("connection refused")
    with mock.patch("leads.api.views.pipeline_counts", side_effect=failure):
        response = read_client.get("/api/v1/pipeline/")
    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"


def test_an_unsupported_method_is_405_in_the_error_shape(read_client):
    assert_error(read_client.delete("/api/v1/pipeline/"), 405, "method_not_allowed")
