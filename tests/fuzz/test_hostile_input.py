"""Property tests: random and hostile values at the submission and event endpoints.

Every answer is a 2xx or a clear 4xx in the error shape that names the field; a refused request
stores nothing (rows counted before and after); what is accepted reads back as sent (trimmed,
countries upper-cased, as documented). Runs on SQLite and on PostgreSQL (which cannot store NUL).
"""

import itertools
import json
import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from leads.api.auth import api_key_create
from leads.api.serializers import SUBMISSION_TEXT_FIELDS, SubmissionInSerializer
from leads.ingest import LEAD_WRITABLE_FIELDS
from leads.models import EngagementEvent, Lead, Submission

from .hostile import (
    ODD_TEXT,
    SPREADSHEET,
    SQL,
    XSS,
    hostile_text,
    json_values,
    nested_json,
    numbers,
    odd_dates,
    wrong_types,
)

EXAMPLES = int(os.environ.get("LEADCRM_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("LEADCRM_FUZZ_SEED", "8").isdigit(),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
SUBMISSIONS = "/api/v1/submissions/"
EVENTS = "/api/v1/events/"
SUBMISSION_FIELDS = sorted(SubmissionInSerializer().fields)
_serial = itertools.count()


@pytest.fixture
def api(db, settings):
    settings.API_RATE_LIMIT = "1000000/minute"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='fuzz', scopes=['submit']).raw_key}")
    return client


def rows() -> tuple[int, int, int]:
    return Lead.objects.count(), Submission.objects.count(), EngagementEvent.objects.count()


def post(api, path: str, body, raw: str | None = None):
    data = raw if raw is not None else json.dumps(body)
    return api.post(path, data=data.encode("utf-8", "surrogatepass"), content_type="application/json")


def assert_clear(response, known_fields) -> dict:
    """2xx, or a 4xx in the one error shape whose errors name fields of the request."""
    assert response.status_code < 500, response.content[:500]
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"type", "message", "errors"}, body
        assert body["message"], body
        if body["type"] == "validation_error":
            assert body["errors"], body
            for path in body["errors"]:
                assert path == "non_field_errors" or path.split(".")[0] in known_fields, (path, body)
                assert path in body["message"] or body["message"] in body["errors"][path], body
    return body


def same_json(stored, sent) -> bool:
    """Equal as JSON, numbers by value: PostgreSQL's jsonb keeps 1.5e17 as the number 150000000000000000."""
    if isinstance(sent, float) or isinstance(stored, float):
        return isinstance(stored, int | float) and float(stored) == float(sent)
    if isinstance(sent, dict):
        return (
            isinstance(stored, dict)
            and stored.keys() == sent.keys()
            and all(same_json(stored[k], v) for k, v in sent.items())
        )
    if isinstance(sent, list):
        return isinstance(stored, list) and len(stored) == len(sent) and all(map(same_json, stored, sent))
    return stored == sent and type(stored) is type(sent)


def unique_email() -> str:
    return f"fuzz-{next(_serial)}@example.com"


submission_values = st.one_of(hostile_text, wrong_types, numbers, odd_dates, json_values)


@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from([*SUBMISSION_FIELDS, "stage", "score", "id", "owner"]), submission_values),
    email_override=st.one_of(st.none(), hostile_text, wrong_types),
)
def test_a_hostile_submission_is_stored_as_sent_or_refused_whole(api, fields, email_override):
    body = {"form_name": "fuzz-form", "email": unique_email(), **fields}
    if email_override is not None:
        body["email"] = email_override
    before = rows()
    response = post(api, SUBMISSIONS, body)
    event(f"answer {response.status_code}")  # --hypothesis-show-statistics: how many were accepted
    answer = assert_clear(response, {*SUBMISSION_FIELDS, "Idempotency-Key"})
    if response.status_code >= 400:
        assert rows() == before, "a refused submission stored something"
        return
    assert response.status_code == 201
    assert rows()[1:] == (before[1] + 1, before[2] + 1)  # one submission, one form_submitted event
    assert same_json(Submission.objects.get(pk=answer["submission_id"]).payload, json.loads(json.dumps(body)))
    if not answer["created"]:
        return  # an existing lead keeps what an empty value does not replace: see test_submissions.py
    lead = Lead.objects.get(pk=answer["lead_id"])
    for name in LEAD_WRITABLE_FIELDS:
        sent = body.get(name)
        if name == "company_domain" and not str(sent or "").strip():
            continue  # derived from the email's domain when not sent (leads.ingest)
        if name in SUBMISSION_TEXT_FIELDS:
            expected = "" if sent is None else str(sent).strip()
            expected = expected.lower() if name == "company_domain" else expected
        elif name == "country":
            expected = (sent or "").strip().upper()
        elif name == "company_size":
            expected = None if sent in (None, "") else int(sent)
        assert getattr(lead, name) == expected, (name, sent, getattr(lead, name))
    assert lead.stage == "lead" and lead.score == 0  # not writable through a submission


@FUZZ
@given(
    raw=st.sampled_from(
        [
            '{"form_name": "f", "email": "dup@example.com", "email": "dup2@example.com"}',
            '{"form_name": "f", "form_name": "", "email": "x@example.com"}',
            '{"form_name": "f", "email": "x@example.com", "fields": ' + nested_json(200) + "}",
            '{"form_name": "f", "email": "x@example.com", "fields": ' + nested_json(5000) + "}",
            '{"form_name": "f", "email": "x@example.com", "first_name": "a\\u0000b"}',
            '{"form_name": "f", "email": "x@example.com", "fields": {"k\\u0000": 1}}',
            '{"form_name": "f", "email": "x@example.com", "first_name": "\\\\u0000"}',
            '{"form_name": "f", "email": "x@example.com", "first_name": "\\ud800"}',
            '{"form_name": "f", "email": "x@example.com", "company_size": 1e400}',
            '{"form_name": "f", "email": "x@example.com", "company_size": -0}',
            '"just a string"',
            "null",
            "[]",
            "{}",
            "",
        ]
    )
)
def test_odd_json_is_answered_clearly(api, raw):
    before = rows()
    response = post(api, SUBMISSIONS, None, raw=raw)
    body = assert_clear(response, {*SUBMISSION_FIELDS, "Idempotency-Key"})
    if response.status_code >= 400:
        assert rows() == before
    if "\\u0000" in raw.replace("\\\\u0000", ""):
        assert response.status_code == 400 and "NUL" in body["message"], body
        assert set(body["errors"]) <= {"first_name", "fields.k\\u0000"}, body
    if "dup@" in raw and response.status_code == 201:
        assert Lead.objects.filter(email="dup2@example.com").exists()  # the last duplicate key wins


EVENT_FIELDS = ["lead_id", "email", "event_type", "occurred_at", "properties", "external_id", "source"]
event_values = st.one_of(hostile_text, wrong_types, odd_dates, json_values)


@st.composite
def hostile_events(draw):
    event = {"email": unique_email(), "event_type": "page_view"}
    for name in draw(st.lists(st.sampled_from([*EVENT_FIELDS, "score", "stage"]), max_size=4, unique=True)):
        if name == "occurred_at":
            event[name] = draw(odd_dates)
        elif name == "properties":
            event[name] = draw(st.one_of(json_values, st.dictionaries(hostile_text, json_values, max_size=5)))
        else:
            event[name] = draw(event_values)
    return event


@FUZZ
@given(events=st.lists(hostile_events(), min_size=1, max_size=6), as_batch=st.booleans())
def test_hostile_events_are_stored_as_sent_or_rejected_one_by_one(api, events, as_batch):
    before = rows()
    response = post(api, EVENTS, {"events": events} if as_batch or len(events) > 1 else events[0])
    event(f"answer {response.status_code}")
    answer = assert_clear(response, {*EVENT_FIELDS, "events", "Idempotency-Key"})
    if response.status_code >= 400:
        assert rows() == before, "a refused event stored something"
        return
    results = answer.get("results", [{"index": 0, **answer}])
    accepted = [r for r in results if r["status"] == "accepted"]
    assert rows()[2] == before[2] + len(accepted), "stored events differ from the accepted ones"
    for result in results:
        sent = events[result["index"]]
        if result["status"] == "rejected":
            assert set(result["errors"]) <= {*EVENT_FIELDS, "non_field_errors"}, result
            assert all(result["errors"].values()), result
            continue
        if result["status"] != "accepted":
            continue
        stored = EngagementEvent.objects.filter(lead_id=result["lead_id"]).latest("id")
        assert stored.event_type == sent["event_type"]
        assert same_json(stored.properties, json.loads(json.dumps(sent.get("properties") or {})))


@FUZZ
@given(cursor=st.one_of(hostile_text, st.binary(max_size=40).map(lambda b: b.hex())), limit=numbers)
def test_garbage_cursors_and_limits_are_a_400_not_a_500(db, settings, cursor, limit):
    settings.API_RATE_LIMIT = "1000000/minute"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='r', scopes=['read']).raw_key}")
    response = client.get("/api/v1/leads/", {"cursor": cursor, "limit": str(limit)})
    assert_clear(response, {"cursor", "limit"})


storable_text = st.one_of(
    st.sampled_from([*XSS, *SQL, *SPREADSHEET, *(text for text in ODD_TEXT if "\x00" not in text)]),
    st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=100),
)


@FUZZ
@given(
    texts=st.fixed_dictionaries(
        {},
        optional={name: storable_text for name in SUBMISSION_TEXT_FIELDS if name in LEAD_WRITABLE_FIELDS},
    ),
    country=st.sampled_from(["", "de", " GB ", None]),
    size=st.sampled_from(["12", " 12 ", 0, 10_000_000, None, ""]),
)
def test_storable_hostile_text_reads_back_as_sent(api, texts, country, size):
    """Everything a database can hold (HTML, SQL, emoji, RTL marks, control characters, up to the
    field's length) is accepted and reads back as sent, trimmed."""
    texts = {name: value for name, value in texts.items() if len(value.strip()) <= SUBMISSION_TEXT_FIELDS[name]}
    body = {"form_name": "fuzz-form", "email": unique_email(), "country": country, "company_size": size, **texts}
    response = post(api, SUBMISSIONS, body)
    assert response.status_code == 201, response.content[:500]
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    for name, value in texts.items():
        if name == "company_domain":  # lower-cased; derived from the email when empty (leads.ingest)
            assert not value.strip() or lead.company_domain == value.strip().lower()
            continue
        assert getattr(lead, name) == value.strip(), name
    assert lead.country == (country or "").strip().upper()
    assert lead.company_size == (None if size in (None, "") else int(size))
