"""Hostile values show escaped on every page that shows leads, and CSV downloads neutralise
spreadsheet formulas.

One lead (and its notes, events, submission, score breakdown, handoff, import row) carries a
different payload in every field a person can type or an integration can send; each page is
fetched as the role that sees it and must show the values (escaped), never the raw markup, and
must emit no javascript: link.
"""

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from leads import imports
from leads.models import EngagementEvent, ImportJob, Note, Submission
from leads.services import lead_claim
from scoring import services as scoring_services
from tests.factories import UserFactory, lead_in_stage

# Each payload is marked with the field it went into, so a failure says where it leaked from.
FIELDS = ["first_name", "last_name", "company", "job_title", "industry", "utm_source", "utm_medium", "utm_campaign"]


def payload(where: str) -> str:
    return {
        0: f'<script>alert("{where}")</script>',
        1: f'"><img src=x onerror=alert("{where}")>',
        2: f"{{{{ {where} }}}}'><svg onload=alert(1)>",
    }[len(where) % 3]


RAW_MARKUP = re.compile(r"<script>alert|<img src=x onerror|<svg onload", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']?\s*(?:javascript|vbscript|data):""", re.I)
ESCAPED = re.compile(r"&lt;script&gt;alert|&lt;img src=x onerror|&lt;svg onload|&quot;&gt;&lt;img")


def hostile_lead(stage: str, email: str, **extra):
    values = {name: payload(name) for name in FIELDS}
    values["company_domain"] = "javascript:alert(document.domain)"
    values["phone"] = '=HYPERLINK("http://evil.example")'
    values["industry"] = "-2+3+cmd|' /C calc'!A0"  # exported: must reach a spreadsheet as text
    values["country"] = "DE"
    return lead_in_stage(stage, email=email, **values, **extra)


@pytest.fixture
def world(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    marketer = UserFactory(username="m", roles=["marketing"])
    rep = UserFactory(username="rep", roles=["sales"], first_name=payload("rep_first"))
    service = UserFactory(username="svc", roles=["service"])
    mql = hostile_lead("mql", "mql@example.com")
    queued = hostile_lead("sql", "queued@example.com")
    owned = hostile_lead("sql", "owned@example.com")
    lead_claim(lead_id=owned.pk, user=rep)
    customer = hostile_lead("customer", "customer@example.com")
    for lead in (mql, queued, owned, customer):
        Note.objects.create(lead=lead, author=marketer, body=payload("note_body"))
        Submission.objects.create(
            lead=lead,
            form_name=payload("form_name"),
            payload={"email": lead.email, "message": payload("submission_field")},
            page_url="javascript:alert('page_url')",  # never accepted by the API; old data may hold it
            submitted_at=lead.created_at,
        )
        EngagementEvent.objects.create(
            lead=lead,
            event_type="page_view",
            occurred_at=lead.created_at,
            properties={"url": "javascript:alert('event')", "title": payload("event_property"), "=1+1": "x"},
            source=payload("event_source"),
        )
    draft = scoring_services.ruleset_create_draft(user=marketer)
    scoring_services.engagement_rule_create(ruleset=draft, name=payload("rule_name"), event_type="page_view", points=5)
    scoring_services.ruleset_publish(ruleset_id=draft.pk, user=marketer)
    scoring_services.leads_score_now(lead_ids=[mql.pk, queued.pk, owned.pk, customer.pk])
    out = io.StringIO()
    csv.writer(out).writerows(
        [
            ["Email", "First Name", "Company", "Company Size"],
            ["not-an-email", payload("import_first"), "=cmd|' /C calc'!A0", "12"],
            ["import@example.com", payload("import_ok"), "@SUM(A1)", "7"],
        ]
    )
    job = imports.import_upload(file_name=payload("import_file") + ".csv", raw=out.getvalue().encode(), user=marketer)
    mapping = ["email", "first_name", "company", "company_size"]
    imports.import_set_mapping(job_id=job.pk, mapping=mapping, mode="overwrite")
    imports.import_start(job_id=job.pk)
    imports.import_run(job_id=job.pk)
    return {"marketer": marketer, "rep": rep, "service": service, "mql": mql, "customer": customer, "job": job}


def assert_escaped(response, where: str) -> str:
    assert response.status_code == 200, (where, response.status_code)
    content = response.content.decode()
    leaked = RAW_MARKUP.search(content)
    assert leaked is None, f"{where}: raw markup {content[max(0, leaked.start() - 80) : leaked.end() + 80]!r}"
    link = JAVASCRIPT_URL.search(content)
    assert link is None, f"{where}: {content[max(0, link.start() - 80) : link.end() + 80]!r}"
    assert ESCAPED.search(content), f"{where} does not show the hostile values at all (nothing to check)"
    return content


PAGES = [
    ("marketer", "/marketing/mqls/"),
    ("marketer", "/marketing/mqls/?q=%3Cscript%3Ealert(1)%3C/script%3E"),
    ("marketer", "lead:mql"),
    ("marketer", "lead:customer"),
    ("marketer", "/marketing/reports/"),
    ("marketer", "/marketing/forms/"),
    ("marketer", "/marketing/duplicates/"),
    ("marketer", "/imports/"),
    ("marketer", "import"),
    ("marketer", "/search/?q=%3Cscript%3Ealert(1)%3C/script%3E"),
    ("rep", "/sales/queue/"),
    ("rep", "/sales/my-leads/"),
    ("rep", "/"),
    ("service", "/service/find/?q=customer%40example.com"),
    ("service", "/service/find/?q=%3Cscript%3Ealert(1)%3C/script%3E"),
]


@pytest.mark.parametrize(("role", "url"), PAGES)
def test_hostile_values_are_escaped(client, world, role, url):
    client.force_login(world[role])
    if url.startswith("lead:"):
        url = f"/leads/{world[url[5:]].pk}/"
    elif url == "import":
        url = f"/imports/{world['job'].pk}/"
    response = client.get(url)
    if url.startswith(("/marketing/duplicates/", "/search/")) and not ESCAPED.search(response.content.decode()):
        pytest.skip(f"{url} shows no hostile value here")
    assert_escaped(response, url)


FORMULA = re.compile(r"^[=+\-@\t\r]")


def csv_cells(response) -> list[str]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return [cell for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) for cell in row]


@pytest.mark.parametrize("url", ["/marketing/mqls/export.csv", "import-errors", "/marketing/reports/?csv=by_source"])
def test_csv_downloads_neutralise_spreadsheet_formulas(client, world, url):
    client.force_login(world["marketer"])
    if url == "import-errors":
        url = f"/imports/{world['job'].pk}/errors.csv"
    response = client.get(url)
    assert response.status_code == 200
    cells = csv_cells(response)
    assert cells, url
    formulas = [cell for cell in cells if FORMULA.match(cell)]
    assert not formulas, f"{url}: cells a spreadsheet would run: {formulas}"
    if "export" in url or "errors" in url:
        assert any(cell.startswith("'") and cell[1:2] in "=+-@" for cell in cells), "no formula cell to check"


def test_the_import_error_report_api_neutralises_formulas(client, world):
    client.force_login(world["marketer"])
    response = client.get(f"/api/v1/imports/{world['job'].pk}/errors/")
    formulas = [cell for cell in csv_cells(response) if FORMULA.match(cell)]
    assert not formulas, formulas


def test_uploading_a_file_with_a_hostile_name_shows_it_escaped(client, world, settings):
    client.force_login(world["marketer"])
    upload = SimpleUploadedFile(payload("upload_nam") + ".csv", b"email\nx@example.com\n", content_type="text/csv")
    response = client.post("/imports/new/", {"file": upload}, follow=True)
    assert_escaped(client.get("/imports/"), "/imports/")
    assert response.status_code == 200 and not RAW_MARKUP.search(response.content.decode())
    assert ImportJob.objects.count() == 2


def test_the_lead_page_shows_every_hostile_value_as_text(client, world):
    """Profile, UTM values, notes, the timeline's event properties and the score breakdown's rule
    names are all on the lead page: each as its escaped text."""
    client.force_login(world["marketer"])
    content = assert_escaped(client.get(f"/leads/{world['mql'].pk}/"), "lead page")
    shown = [name for name in FIELDS if name != "industry"]
    for name in [*shown, "note_body", "rule_name", "event_property", "event_source"]:
        assert escape(payload(name)) in content, f"{name} is not shown (escaped) on the lead page"
