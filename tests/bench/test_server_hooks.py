"""What the benchmark's gunicorn adds to the app (bench/settings.py): the server-timing middleware
the list benchmarks read, and the one-row baseline view the submission figures are compared with."""

import os
import re

import pytest
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from bench.timing import ServerTimingMiddleware
from leads.models import Lead, Submission

pytestmark = pytest.mark.django_db


def test_each_response_says_how_long_it_took_how_many_queries_it_ran_and_which_process_served_it():
    def view(request):
        list(Lead.objects.all())
        Lead.objects.count()
        return HttpResponse("ok")

    response = ServerTimingMiddleware(view)(RequestFactory().get("/"))

    assert re.fullmatch(r"app;dur=\d+\.\d\d", response["Server-Timing"])
    assert response["X-Bench-Queries"] == "2"
    assert response["X-Bench-Pid"] == str(os.getpid())


@override_settings(ROOT_URLCONF="bench.urls")
def test_the_baseline_inserts_one_row_and_the_app_is_still_served(client):
    response = client.post("/baseline/")

    assert response.status_code == 201
    assert Submission.objects.filter(pk=response.json()["id"], form_name="baseline").exists()
    assert client.get("/api/v1/leads/").status_code == 401  # the app's own URLs are all there
