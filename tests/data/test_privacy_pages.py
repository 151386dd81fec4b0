"""The privacy pages: an admin finds a person, downloads everything as JSON, erases them after a
confirmation that lists what goes and what stays, and sees the erasure record without personal data."""

import json

import pytest

from leads.models import Erasure, Lead, SuppressedEmail
from tests.data.test_privacy import person  # noqa: F401  (the fixture: a lead with every kind of row)

pytestmark = pytest.mark.django_db

EMAIL = "grace.hopper@navy.example"


@pytest.fixture
def as_admin(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("path", ["/privacy/", "/privacy/leads/{pk}/", "/privacy/leads/{pk}/export.json",
                                  "/privacy/leads/{pk}/erase/"])  # fmt: skip
@pytest.mark.parametrize("role", ["marketer", "sales_rep", "service_rep"])
def test_only_an_admin_may_open_the_privacy_pages(client, request, role, path, person):  # noqa: F811
    client.force_login(request.getfixturevalue(role))
    assert client.get(path.format(pk=person.pk)).status_code == 403
    assert client.post(f"/privacy/leads/{person.pk}/erase/").status_code == 403
    assert Lead.objects.filter(pk=person.pk).exists()


def test_a_visitor_is_sent_to_login(client, person):  # noqa: F811
    response = client.get(f"/privacy/leads/{person.pk}/export.json")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_privacy_page_finds_a_person_by_email(as_admin, person):  # noqa: F811
    html = as_admin.get("/privacy/", {"q": "Grace.Hopper@NAVY.example"}).content.decode()
    assert f'href="/privacy/leads/{person.pk}/"' in html
    assert "No erasure yet" in html


def test_the_person_page_counts_what_is_stored(as_admin, person):  # noqa: F811
    response = as_admin.get(f"/privacy/leads/{person.pk}/")
    kinds = {kind["key"]: kind["count"] for kind in response.context["kinds"]}
    assert kinds["submissions"] == 1 and kinds["notes"] == 1 and kinds["handoffs"] == 1
    assert kinds["events"] >= 2 and kinds["stage_changes"] >= 1 and kinds["webhook_deliveries"] >= 1
    assert f"/privacy/leads/{person.pk}/export.json" in response.content.decode()


def test_the_export_is_a_json_download_of_everything(as_admin, person):  # noqa: F811
    response = as_admin.get(f"/privacy/leads/{person.pk}/export.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="lead-{person.pk}-export.json"'
    assert response["Cache-Control"] == "no-store"
    data = json.loads(response.content)
    assert data["profile"]["email"] == EMAIL
    assert data["submissions"][0]["payload"]["message"] == "Call me about COBOL"
    assert {"events", "stage_history", "handoffs", "notes", "upgrade_flags"} <= set(data)
    assert Lead.objects.filter(pk=person.pk).exists()  # exporting changes nothing


@pytest.mark.parametrize("suppress", [True, False])
def test_the_confirmation_says_what_goes_and_what_stays(as_admin, person, settings, suppress):  # noqa: F811
    settings.PRIVACY_SUPPRESS_ERASED = suppress
    html = as_admin.get(f"/privacy/leads/{person.pk}/erase/").content.decode()
    assert 'data-kind="submissions">1 form submission' in html
    assert 'data-kind="notes">1 note<' in html
    assert "An erasure record without personal data" in html
    if suppress:
        assert f"a later form submission, event or import with {EMAIL} is <strong>refused</strong>" in html
    else:
        assert "the suppression list is off" in html and "creates a new lead" in html
    assert Lead.objects.filter(pk=person.pk).exists()  # the confirmation erases nothing


def test_erasing_shows_the_record_without_personal_data(as_admin, admin_user, person):  # noqa: F811
    response = as_admin.post(f"/privacy/leads/{person.pk}/erase/", {"reason": "DSR-42"})
    erasure = Erasure.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/privacy/erasures/{erasure.pk}/"
    assert not Lead.objects.filter(pk=person.pk).exists()
    assert SuppressedEmail.objects.filter(email_hash=erasure.email_hash).exists()
    assert (erasure.erased_by, erasure.reason, erasure.counts["submissions"]) == (admin_user, "DSR-42", 1)

    page = as_admin.get(response["Location"])
    html = page.content.decode()
    assert f"Lead #{person.pk} was erased" in html
    assert "DSR-42" in html and "On: LeadCRM refuses the address from now on" in html
    for personal in ("grace", "hopper", "navy", "cobol", "555"):
        assert personal not in html.lower(), personal

    # The privacy page now says the address was erased, and links the record.
    found = as_admin.get("/privacy/", {"q": EMAIL}).content.decode()
    assert f'href="/privacy/erasures/{erasure.pk}/"' in found and "This address was erased" in found


def test_a_reference_too_long_is_refused_beside_the_field(as_admin, person):  # noqa: F811
    response = as_admin.post(f"/privacy/leads/{person.pk}/erase/", {"reason": "x" * 201})
    assert response.status_code == 400
    assert "at most 200 characters" in response.content.decode()
    assert Lead.objects.filter(pk=person.pk).exists() and not Erasure.objects.exists()


def test_an_unknown_lead_is_a_404(as_admin):
    assert as_admin.get("/privacy/leads/999999/").status_code == 404
    assert as_admin.post("/privacy/leads/999999/erase/").status_code == 404
