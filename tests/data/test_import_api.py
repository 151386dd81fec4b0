"""The import API: upload, map and start, poll, download the errors."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.models import Lead
from tests.data.test_imports import UGLY_UTF8


@pytest.fixture
def api(client, marketer, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    client.force_login(marketer)
    return client


def upload(api, raw: bytes, name: str = "fair.csv"):
    return api.post("/api/v1/imports/", {"file": SimpleUploadedFile(name, raw, content_type="text/csv")})


def test_upload_map_start_poll_and_download_the_errors(api, django_capture_on_commit_callbacks):
    uploaded = upload(api, UGLY_UTF8)
    assert uploaded.status_code == 201, uploaded.content
    job = uploaded.json()
    assert job["headers"] == ["E-Mail", "First Name", "Last Name", "Company", "Notes"]
    assert job["mapping"] == ["email", "first_name", "last_name", "company", ""]
    assert len(job["sample"]) == 6
    assert job["status"] == "uploaded"

    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(
            f"/api/v1/imports/{job['id']}/start/",
            {"mapping": {"E-Mail": "email", "First Name": "first_name", "Company": "company"}, "mode": "overwrite"},
            content_type="application/json",
        )
    assert started.status_code == 202, started.content
    assert started.json()["review"] == {"total": 6, "create": 3, "update": 0, "skip": 1, "fail": 2}

    done = api.get(f"/api/v1/imports/{job['id']}/").json()
    assert (done["status"], done["percent"], done["created"], done["skipped"], done["failed"]) == (
        "done", 100, 3, 1, 2,
    )  # fmt: skip
    assert Lead.objects.get(email="ada@example.com").last_name == ""  # Last Name was not mapped

    errors = api.get(f"/api/v1/imports/{job['id']}/errors/")
    assert errors.status_code == 200
    assert errors["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(errors.content.decode())))
    assert len(rows) - 1 == done["failed"]


def test_a_broken_file_gets_a_clear_400(api):
    response = upload(api, b"\x00\x01\x02binary")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert "not a text file" in body["errors"]["file"][0]


def test_a_mapping_without_email_is_refused(api):
    job = upload(api, b"email,name\na@example.com,A\n").json()
    response = api.post(
        f"/api/v1/imports/{job['id']}/start/", {"mapping": ["", "first_name"]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "Map a column to Email" in response.json()["errors"]["file"][0]
    assert Lead.objects.count() == 0


def test_sales_may_not_import(client, sales_rep, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    client.force_login(sales_rep)
    assert upload(client, b"email\na@example.com\n").status_code == 403
