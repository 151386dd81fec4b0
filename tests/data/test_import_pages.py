"""The import pages: who may use them, and a broken file refused in place."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.models import ImportJob, Lead
from tests.factories import LeadFactory


@pytest.fixture
def as_user(client, settings, tmp_path):
    settings.VAR_DIR = tmp_path

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.mark.parametrize("path", ["/imports/", "/imports/new/"])
def test_sales_may_not_open_the_import_pages(as_user, sales_rep, path):
    assert as_user(sales_rep).get(path).status_code == 403


def test_a_visitor_is_sent_to_login(client):
    response = client.get("/imports/new/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_a_broken_file_is_refused_beside_the_field(as_user, marketer):
    response = as_user(marketer).post("/imports/new/", {"file": SimpleUploadedFile("x.csv", b"\x00\x01binary")})
    assert response.status_code == 200
    assert b"not a text file" in response.content
    assert b'role="alert"' in response.content
    assert ImportJob.objects.count() == 0


def test_upload_then_map_then_review_write_nothing_until_started(as_user, marketer):
    client = as_user(marketer)
    response = client.post("/imports/new/", {"file": SimpleUploadedFile("x.csv", b"email,name\na@example.com,A\n")})
    job = ImportJob.objects.get()
    assert response["Location"] == f"/imports/{job.pk}/map/"
    refused = client.post(f"/imports/{job.pk}/map/", {"column-0": "", "column-1": "first_name", "mode": "skip"})
    assert refused.status_code == 400
    assert b"Map a column to Email" in refused.content
    mapped = client.post(f"/imports/{job.pk}/map/", {"column-0": "email", "column-1": "", "mode": "skip"})
    assert mapped["Location"] == f"/imports/{job.pk}/review/"
    review = client.get(f"/imports/{job.pk}/review/")
    assert b"Import 1 lead<" in review.content
    job.refresh_from_db()
    assert (job.status, job.mapping, job.mode) == ("uploaded", ["email", ""], "skip")


def test_the_imports_list_shows_an_empty_state(as_user, marketer):
    response = as_user(marketer).get("/imports/")
    assert b"No import yet" in response.content


def test_the_merge_page_compares_field_by_field_and_merges(as_user, marketer):
    a = LeadFactory(first_name="Ada", last_name="Lovelace", company="Engines")
    b = LeadFactory(first_name="Ada", last_name="Lovelace", company="Analytical Engines")
    client = as_user(marketer)
    page = client.get(f"/marketing/duplicates/{a.pk}/{b.pk}/")
    assert page.status_code == 200
    assert b'data-field="company"' in page.content
    done = client.post(f"/marketing/duplicates/{a.pk}/{b.pk}/", {"survivor": b.pk, "field-company": a.pk})
    assert done["Location"] == f"/leads/{b.pk}/"
    assert Lead.objects.get(pk=b.pk).company == "Engines"
    assert not Lead.objects.filter(pk=a.pk).exists()


def test_sales_may_not_open_the_duplicates(as_user, sales_rep):
    assert as_user(sales_rep).get("/marketing/duplicates/").status_code == 403
