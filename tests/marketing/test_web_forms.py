"""Web forms: the forms page's public keys and HTML snippet, and the public endpoint they post to."""

import json
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.api.auth import hash_key
from leads.models import ApiKey, EngagementEvent, Lead, Submission
from leads.privacy import person_erase
from leads.public_forms import derive_public_key
from tests.factories import LeadFactory

FORMS_URL = reverse("marketing-forms")
KEY_URL = reverse("marketing-form-key")
SUBMIT_URL = reverse("public-form-post")


class SnippetForm(HTMLParser):
    """The <form> of a snippet as a browser sees it: its action and every input with its value."""

    def __init__(self):
        super().__init__()
        self.action = ""
        self.method = ""
        self.inputs: dict[str, dict] = {}
        self.labels: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action, self.method = attrs["action"], attrs["method"]
        elif tag == "input":
            self.inputs[attrs["name"]] = attrs
        elif tag == "label" and "for" in attrs:
            self.labels.add(attrs["for"])


def snippet_of(html: str, index: int = 0) -> str:
    """The text of the index-th snippet on the forms page, unescaped as the Copy button copies it."""
    import html as html_module

    start = html.index('data-testid="snippet">', 0)
    for _ in range(index):
        start = html.index('data-testid="snippet">', start + 1)
    start += len('data-testid="snippet">')
    return html_module.unescape(html[start : html.index("</code>", start)])


def parse(snippet: str) -> SnippetForm:
    form = SnippetForm()
    form.feed(snippet)
    return form


def fill(form: SnippetForm, **values) -> dict:
    """What a person filling the form sends: hidden inputs as they are, visible ones typed in."""
    data = {name: attrs.get("value", "") for name, attrs in form.inputs.items() if attrs.get("type") != "checkbox"}
    data.update(values)
    return data


@pytest.fixture
def web_form(marketer_client):
    """Create the web form "demo-request" on the forms page and return its parsed snippet."""
    marketer_client.post(KEY_URL, {"form_name": "demo-request", "action": "create"})
    return parse(snippet_of(marketer_client.get(FORMS_URL).content.decode()))


@pytest.fixture
def website():
    """The visitor's browser on another site: no session, CSRF checks on (as a real browser gets)."""
    return Client(enforce_csrf_checks=True, HTTP_REFERER="https://www.example.com/demo")


def post(client, form: SnippetForm, data, **extra):
    return client.post(urlsplit(form.action).path, data, **extra)


def test_posting_the_snippets_own_form_creates_the_lead_and_redirects(web_form, website):
    assert web_form.method == "post"
    assert urlsplit(web_form.action).path == SUBMIT_URL
    assert {"leadcrm-email", "leadcrm-first_name", "leadcrm-website"} <= web_form.labels
    assert "required" in web_form.inputs["email"]
    data = fill(web_form, email=" Ada@Example.com ", first_name="Ada", company="Engines Ltd", consent="true")

    response = post(website, web_form, data)

    assert response.status_code == 303
    assert response["Location"] == reverse("public-form-thanks")
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.company, lead.consent) == ("ada@example.com", "Ada", "Engines Ltd", True)
    submission = Submission.objects.get()
    assert submission.form_name == "demo-request"
    assert submission.page_url == "https://www.example.com/demo"
    assert "form_key" not in submission.payload and "website" not in submission.payload
    assert EngagementEvent.objects.filter(lead=lead, event_type="form_submitted").count() == 1
    thanks = website.get(response["Location"])
    assert thanks.status_code == 200 and "Thank you" in thanks.content.decode()


def test_a_multipart_post_works_too_and_the_same_email_is_one_lead(web_form, website):
    data = fill(web_form, email="ada@example.com", last_name="Lovelace", how_did_you_hear="A friend")
    assert post(website, web_form, data).status_code == 303  # the test client sends multipart
    urlencoded = "&".join(f"{k}={v}" for k, v in fill(web_form, email="ADA@example.com").items())
    response = website.post(SUBMIT_URL, urlencoded, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 303
    assert Lead.objects.count() == 1
    assert Lead.objects.get().last_name == "Lovelace"  # an empty value never erases a known one
    assert Submission.objects.count() == 2
    assert Submission.objects.order_by("id").first().payload["fields"] == {"how_did_you_hear": "A friend"}


def test_the_configured_thank_you_page_is_where_visitors_land(marketer_client, web_form, website):
    page = marketer_client.get(FORMS_URL, {"form": "demo-request", "thank_you": "https://www.example.com/thanks"})
    form = parse(snippet_of(page.content.decode()))
    response = post(website, form, fill(form, email="ada@example.com"))
    assert response.status_code == 303
    assert response["Location"] == "https://www.example.com/thanks"


def test_a_thank_you_url_that_is_not_http_is_refused_beside_its_field(marketer_client, web_form):
    page = marketer_client.get(FORMS_URL, {"form": "demo-request", "thank_you": "javascript:alert(1)"})
    html = page.content.decode()
    assert 'data-testid="thank-you-error"' in html
    assert "thank_you" not in parse(snippet_of(html)).inputs


def test_an_altered_thank_you_url_falls_back_to_the_built_in_page(marketer_client, web_form, website):
    page = marketer_client.get(FORMS_URL, {"form": "demo-request", "thank_you": "https://www.example.com/thanks"})
    form = parse(snippet_of(page.content.decode()))
    data = fill(form, email="ada@example.com", thank_you="https://evil.example.net/")
    response = post(website, form, data)
    assert response["Location"] == reverse("public-form-thanks")
    assert Lead.objects.count() == 1


def test_a_bot_filling_the_honeypot_gets_the_same_redirect_and_nothing_is_stored(web_form, website):
    response = post(website, web_form, fill(web_form, email="bot@example.com", website="http://spam.example"))
    assert response.status_code == 303
    assert response["Location"] == reverse("public-form-thanks")
    assert not Lead.objects.exists()
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    ("values", "label", "reason"),
    [
        ({"email": "not-an-email"}, "Email", "valid email"),
        ({"email": ""}, "Email", "required"),
        ({"email": "ada@example.com", "country": "Germany"}, "Country", "two-letter"),
        ({"email": "ada@example.com", "notes": "x" * 2001}, "Notes", "2000 characters"),
    ],
)
def test_invalid_input_answers_a_readable_page_and_stores_nothing(web_form, website, values, label, reason):
    response = post(website, web_form, fill(web_form, **values))
    assert response.status_code == 400
    html = response.content.decode()
    assert f"<b>{label}</b>:" in html
    assert reason in html
    assert 'href="https://www.example.com/demo"' in html  # back to the form
    assert not Lead.objects.exists()
    assert not Submission.objects.exists()


def test_an_erased_persons_address_is_refused_without_saying_why(web_form, website):
    lead = LeadFactory(email="gone@example.com")
    person_erase(lead_id=lead.pk, reason="asked")
    response = post(website, web_form, fill(web_form, email="gone@example.com"))
    assert response.status_code == 400
    assert "forgotten" not in response.content.decode()
    assert not Lead.objects.filter(email="gone@example.com").exists()
    assert not Submission.objects.exists()


@pytest.mark.parametrize("key", ["", "lk_00000000_nope", "nonsense"])
def test_an_unknown_key_is_refused(web_form, website, key):
    response = post(website, web_form, fill(web_form, email="ada@example.com", form_key=key))
    assert response.status_code == 403
    assert "not accepting submissions" in response.content.decode()
    assert not Lead.objects.exists()


def test_rotating_stops_the_old_key_and_disabling_stops_the_form(marketer_client, web_form, website):
    old = fill(web_form, email="ada@example.com")
    marketer_client.post(KEY_URL, {"form_name": "demo-request", "action": "rotate"})
    assert post(website, web_form, old).status_code == 403
    new_form = parse(snippet_of(marketer_client.get(FORMS_URL).content.decode()))
    assert new_form.inputs["form_key"]["value"] != old["form_key"]
    assert post(website, new_form, fill(new_form, email="ada@example.com")).status_code == 303

    marketer_client.post(KEY_URL, {"form_name": "demo-request", "action": "disable"})
    assert post(website, new_form, fill(new_form, email="bob@example.com")).status_code == 403
    assert 'data-testid="snippet"' not in marketer_client.get(FORMS_URL).content.decode()
    assert list(Lead.objects.values_list("email", flat=True)) == ["ada@example.com"]


def test_creating_twice_keeps_one_key(marketer_client, web_form):
    marketer_client.post(KEY_URL, {"form_name": "demo-request", "action": "create"})
    assert ApiKey.objects.filter(form_name="demo-request", revoked_at__isnull=True).count() == 1


def test_the_key_is_stored_hashed_and_can_do_nothing_but_post_its_form(web_form):
    raw = web_form.inputs["form_key"]["value"]
    api_key = ApiKey.objects.get(form_name="demo-request")
    assert api_key.key_hash == hash_key(raw) and raw not in json.dumps(list(ApiKey.objects.values()), default=str)
    assert raw == derive_public_key(api_key.prefix)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/leads/").status_code == 403
    other = api.post("/api/v1/submissions/", {"form_name": "other", "email": "a@example.com"}, "application/json")
    assert other.status_code == 403
    own = api.post("/api/v1/submissions/", {"form_name": "demo-request", "email": "a@example.com"}, "application/json")
    assert own.status_code == 201


@override_settings(PUBLIC_FORM_RATE_LIMIT="2/minute")
def test_one_address_posting_too_often_is_told_to_wait(web_form, website):
    data = fill(web_form, email="ada@example.com")
    statuses = [post(website, web_form, data, REMOTE_ADDR="203.0.113.9").status_code for _ in range(3)]
    assert statuses == [303, 303, 429]
    assert post(website, web_form, data, REMOTE_ADDR="203.0.113.10").status_code == 303
    assert Submission.objects.count() == 3


def test_the_endpoint_only_takes_posts(website):
    assert website.get(SUBMIT_URL).status_code == 405


def test_only_marketing_manages_web_forms(client_as, sales_rep):
    response = client_as(sales_rep).post(KEY_URL, {"form_name": "demo-request", "action": "create"})
    assert response.status_code == 403
    assert not ApiKey.objects.exists()


def test_a_blank_form_name_is_refused_with_the_reason(marketer_client):
    response = marketer_client.post(KEY_URL, {"form_name": " ", "action": "create"}, follow=True)
    assert "Form name: This field is required." in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_forms_page_costs_the_same_queries_for_one_web_form_or_many(marketer_client, web_form):
    with CaptureQueriesContext(connection) as one:
        marketer_client.get(FORMS_URL)
    for name in ("newsletter", "webinar"):
        marketer_client.post(KEY_URL, {"form_name": name, "action": "create"})
    with CaptureQueriesContext(connection) as three:
        html = marketer_client.get(FORMS_URL).content.decode()
    assert html.count('data-testid="snippet"') == 3
    assert 'data-form="newsletter"' in html
    assert len(three) == len(one) <= 8


def test_the_public_endpoint_is_not_in_the_api_schema(client, db):
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()
    assert not any(path.startswith("/forms/") for path in schema["paths"])


def test_a_form_carrying_a_file_or_a_huge_body_is_refused_unread(web_form, website):
    from django.core.files.uploadedfile import SimpleUploadedFile

    big = SimpleUploadedFile("cv.pdf", b"x" * (65 * 1024), content_type="application/pdf")
    response = post(website, web_form, {**fill(web_form, email="ada@example.com"), "cv": big})
    assert response.status_code == 413
    assert "too large" in response.content.decode()
    assert not Lead.objects.exists()
