"""Property tests: hostile CSV files through the import API (upload, start, run, error report).

Every answer is a 2xx or a 400 naming `file` or `mapping`; the job always ends (done, or failed
with a reason): never stuck running after a crash; created + updated + skipped + failed is the
number of rows; the leads it created read back as the cells said (trimmed, as documented); a
refused row is in the error report and wrote nothing.
"""

import csv
import io
import itertools
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from leads.models import ImportJob, Lead

from .hostile import SPREADSHEET, XSS, hostile_text, numbers

EXAMPLES = int(os.environ.get("LEADCRM_FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("LEADCRM_FUZZ_SEED", "8").isdigit(),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
HEADERS = ["Email", "First Name", "Last Name", "Company", "Job Title", "Country", "Company Size", "Notes"]
TEXT_COLUMNS = {"first_name": 1, "last_name": 2, "company": 3, "job_title": 4}
_serial = itertools.count()


@pytest.fixture
def api(client, db, settings, tmp_path):
    from tests.factories import UserFactory

    settings.VAR_DIR = tmp_path
    client.force_login(UserFactory(username="fuzz-marketer", roles=["marketing"]))
    return client


cell = st.one_of(hostile_text, st.sampled_from([*XSS, *SPREADSHEET]))


@st.composite
def hostile_rows(draw):
    email = draw(st.one_of(st.just(f"row-{next(_serial)}@example.com"), hostile_text))
    size = draw(numbers)
    return [email, *(draw(cell) for _ in range(4)), draw(cell), "" if size is None else str(size), draw(cell)]


def encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace") if encoding != "utf-8" else text.encode("utf-8", "surrogatepass")


def upload(api, raw: bytes):
    return api.post("/api/v1/imports/", {"file": SimpleUploadedFile("hostile.csv", raw, content_type="text/csv")})


def assert_clear(response, fields: set[str]) -> dict:
    assert response.status_code < 500, response.content[:500]
    body = response.json()
    if response.status_code >= 400:
        assert response.status_code in (400, 413), body
        assert set(body["errors"]) <= fields and all(body["errors"].values()), body
    return body


def _row(email="known@example.com", name="Ada", size=""):
    return [email, name, "Lovelace", "Acme", "CTO", "GB", size, ""]


@FUZZ
@example(rows=[_row(name="nul\x00byte")], delimiter=",", encoding="utf-8", padding=70_000)
@example(rows=[_row(name="nul\x00byte")], delimiter=";", encoding="utf-16", padding=0)
@example(rows=[_row(size="\u00b2")], delimiter=",", encoding="utf-8", padding=0)
@example(rows=[_row(size="99999999999999")], delimiter=",", encoding="utf-8", padding=0)
@example(rows=[_row(size="-5")], delimiter=",", encoding="utf-8", padding=0)
@example(rows=[_row(email="a\x00@example.com")], delimiter=",", encoding="utf-8", padding=70_000)
@given(
    rows=st.lists(hostile_rows(), min_size=1, max_size=8),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    padding=st.sampled_from([0, 70_000]),  # a NUL past the first 64 KB used to reach the database
)
def test_a_hostile_csv_is_imported_as_written_or_refused_with_a_reason(
    api, django_capture_on_commit_callbacks, rows, delimiter, encoding, padding
):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(HEADERS)
    if padding:
        writer.writerow(["padding@example.com", "x" * padding, "", "", "", "", "", ""])
    writer.writerows(rows)
    raw = encode(out.getvalue(), encoding)
    leads_before = Lead.objects.count()

    uploaded = upload(api, raw)
    job = assert_clear(uploaded, {"file"})
    if uploaded.status_code >= 400:
        assert Lead.objects.count() == leads_before
        return
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(
            f"/api/v1/imports/{job['id']}/start/", {"mode": "overwrite"}, content_type="application/json"
        )
    assert_clear(started, {"file", "mapping", "mode"})
    if started.status_code >= 400:
        assert Lead.objects.count() == leads_before
        return
    done = ImportJob.objects.get(pk=job["id"])
    assert done.status in ("done", "failed"), (done.status, done.error)
    if done.status == "failed":
        assert done.error and Lead.objects.count() == leads_before
        return
    counts = done.created_count + done.updated_count + done.skipped_count + done.failed_count
    assert counts == done.total_rows == len(rows) + bool(padding)
    assert Lead.objects.count() == leads_before + done.created_count
    report = api.get(f"/api/v1/imports/{job['id']}/errors/")
    assert report.status_code == 200
    assert len(list(csv.reader(io.StringIO(report.content.decode())))) == 1 + done.failed_count
    for row in rows:
        email = row[0].strip().lower()
        lead = Lead.objects.filter(email=email).first()
        if lead is None or lead.created_at < done.created_at:
            continue
        for name, index in TEXT_COLUMNS.items():
            assert getattr(lead, name) == row[index].strip() or encoding == "cp1252", (name, row[index])
