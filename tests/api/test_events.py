from datetime import UTC, datetime

import pytest
from rest_framework.exceptions import ErrorDetail

from leads.activity import score_is_stale
from leads.models import EngagementEvent, Lead, PendingActivity
from leads.services import lead_mark_score_stale
from leads.signals import events_stored
from scoring.services import scores_recompute_stale
from tests.api.conftest import assert_error
from tests.factories import LeadFactory
from tests.scoring.helpers import queued_lead_ids

URL = "/api/v1/events/"


def test_a_single_event_by_lead_id_is_stored(submit_client):
    lead = LeadFactory()
    response = submit_client.post(
        URL,
        {
            "lead_id": lead.pk,
            "event_type": "webinar_attended",
            "occurred_at": "2026-01-31T12:00:00Z",
            "properties": {"webinar": "w-12"},
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json() == {"status": "accepted", "lead_id": lead.pk}
    event = EngagementEvent.objects.get()
    assert (event.lead_id, event.event_type, event.properties) == (lead.pk, "webinar_attended", {"webinar": "w-12"})
    assert event.occurred_at.isoformat() == "2026-01-31T12:00:00+00:00"
    assert event.source == submit_client.api_key.name  # the key's name when no source is given
    lead.refresh_from_db()
    assert score_is_stale(lead)  # queued for the scoring worker, with the event
    scores_recompute_stale()
    lead.refresh_from_db()
    assert not score_is_stale(lead) and lead.scored_at is not None
    assert lead.last_activity_at == event.occurred_at


def test_an_unknown_email_creates_the_lead(submit_client):
    response = submit_client.post(URL, {"email": " New@Example.com", "event_type": "page_view"}, format="json")
    assert response.status_code == 201
    lead = Lead.objects.get()
    assert lead.email == "new@example.com" and lead.company_domain == "example.com"
    assert response.json()["lead_id"] == lead.pk
    assert lead.score_stale
    assert queued_lead_ids() == {lead.pk}


def test_a_known_email_finds_its_lead(submit_client):
    lead = LeadFactory(email="known@example.com")
    response = submit_client.post(URL, {"email": "KNOWN@example.com", "event_type": "email_open"}, format="json")
    assert response.json()["lead_id"] == lead.pk
    assert Lead.objects.count() == 1


def test_a_resent_external_id_is_a_duplicate(submit_client):
    lead = LeadFactory()
    event = {"lead_id": lead.pk, "event_type": "email_click", "external_id": "m-1", "source": "mailer"}
    assert submit_client.post(URL, event, format="json").status_code == 201
    response = submit_client.post(URL, event, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert EngagementEvent.objects.count() == 1


def test_external_ids_are_unique_per_source(submit_client):
    lead = LeadFactory()
    for source in ("mailer", "webinars"):
        event = {"lead_id": lead.pk, "event_type": "email_click", "external_id": "1", "source": source}
        assert submit_client.post(URL, event, format="json").status_code == 201
    assert EngagementEvent.objects.count() == 2


def test_a_custom_event_type_is_accepted(submit_client):
    lead = LeadFactory()
    response = submit_client.post(URL, {"lead_id": lead.pk, "event_type": "used_api_v2"}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"event_type": "page_view"}, "lead_id"),
        ({"lead_id": "x", "event_type": "page_view"}, "lead_id"),
        ({"lead_id": True, "event_type": "page_view"}, "lead_id"),
        ({"email": "nope", "event_type": "page_view"}, "email"),
        ({"lead_id": 1, "event_type": "Page View"}, "event_type"),
        ({"lead_id": 1, "event_type": "<script>"}, "event_type"),
        ({"lead_id": 1, "event_type": "x" * 65}, "event_type"),
        ({"lead_id": 1, "event_type": "page_view", "occurred_at": "31/01/2026"}, "occurred_at"),
        ({"lead_id": 1, "event_type": "page_view", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"lead_id": 1, "event_type": "page_view", "properties": [1]}, "properties"),
        ({"lead_id": 1, "event_type": "page_view", "properties": {"x": "y" * 20_000}}, "properties"),
        ({"lead_id": 1, "event_type": "page_view", "external_id": ""}, "external_id"),
        ({"lead_id": 1, "event_type": "page_view", "source": 5}, "source"),
        ({"lead_id": 1, "event_type": "page_view", "colour": "red"}, "non_field_errors"),
    ],
)
def test_it_rejects_an_invalid_single_event(submit_client, event, field):
    LeadFactory(pk=1)
    body = assert_error(submit_client.post(URL, event, format="json"), 400, "validation_error")
    assert field in body["errors"]
    assert EngagementEvent.objects.count() == 0


def test_a_single_event_for_an_unknown_lead_id_is_404(submit_client):
    assert_error(submit_client.post(URL, {"lead_id": 999, "event_type": "page_view"}, format="json"), 404)


def test_a_batch_is_judged_per_item_and_keeps_every_valid_item(submit_client):
    lead = LeadFactory()
    batch = [
        {"lead_id": lead.pk, "event_type": "page_view", "external_id": "a"},
        {"lead_id": lead.pk, "event_type": "NOT VALID"},
        {"email": "fresh@example.com", "event_type": "content_download"},
        {"lead_id": lead.pk, "event_type": "page_view", "external_id": "a"},  # repeated in the batch
        {"lead_id": 987654, "event_type": "page_view"},
        "not an object",
        {"lead_id": lead.pk, "event_type": "pricing_page_view", "occurred_at": "2026-03-01T10:00:00+02:00"},
    ]

    response = submit_client.post(URL, {"events": batch}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 1, 3)
    assert [item["status"] for item in body["results"]] == [
        "accepted",
        "rejected",
        "accepted",
        "duplicate",
        "rejected",
        "rejected",
        "accepted",
    ]
    assert [item["index"] for item in body["results"]] == list(range(7))
    assert "event_type" in body["results"][1]["errors"]
    assert body["results"][4]["errors"] == {"lead_id": ["No lead with id 987654."]}
    fresh = Lead.objects.get(email="fresh@example.com")
    assert body["results"][2]["lead_id"] == fresh.pk
    assert EngagementEvent.objects.count() == 3
    assert score_is_stale(lead) and score_is_stale(fresh)
    scores_recompute_stale()
    lead.refresh_from_db()
    fresh.refresh_from_db()
    assert not score_is_stale(lead) and not score_is_stale(fresh)
    assert lead.scored_at is not None and fresh.scored_at is not None


def test_a_batch_resent_is_all_duplicates(submit_client):
    lead = LeadFactory()
    batch = {"events": [{"lead_id": lead.pk, "event_type": "page_view", "external_id": str(i)} for i in range(50)]}
    assert submit_client.post(URL, batch, format="json").json()["accepted"] == 50
    again = submit_client.post(URL, batch, format="json").json()
    assert (again["accepted"], again["duplicates"]) == (0, 50)
    assert EngagementEvent.objects.count() == 50


def test_a_batch_mixing_new_and_stored_events_stores_the_new_ones_once(submit_client):
    """A stored external id fails the plain INSERT (PostgreSQL): the batch runs again skipping what
    is stored, and keeps what the transaction wrote before (a lead created for a new email)."""
    lead = LeadFactory()
    first = {"lead_id": lead.pk, "event_type": "page_view", "external_id": "old", "source": "s"}
    submit_client.post(URL, first, format="json")
    PendingActivity.objects.all().delete()
    batch = [
        {
            "email": "new@example.com",
            "event_type": "page_view",
            "external_id": "new",
            "source": "s",
            "occurred_at": "2026-01-03T00:00:00Z",
        },
        {**first, "occurred_at": "2026-02-01T00:00:00Z"},
        {"lead_id": lead.pk, "event_type": "page_view", "occurred_at": "2026-01-05T00:00:00Z"},
        {"email": "new@example.com", "event_type": "email_open", "external_id": "new", "source": "s"},
    ]

    response = submit_client.post(URL, {"events": batch}, format="json", HTTP_IDEMPOTENCY_KEY="mixed")
    again = submit_client.post(URL, {"events": batch}, format="json", HTTP_IDEMPOTENCY_KEY="mixed")

    new_lead = Lead.objects.get(email="new@example.com")
    assert response.json() == {
        "accepted": 2,
        "duplicates": 2,
        "rejected": 0,
        "results": [
            {"index": 0, "status": "accepted", "lead_id": new_lead.pk},
            {"index": 1, "status": "duplicate", "lead_id": lead.pk},
            {"index": 2, "status": "accepted", "lead_id": lead.pk},
            {"index": 3, "status": "duplicate", "lead_id": new_lead.pk},
        ],
    }
    assert again.content == response.content and again["Idempotent-Replayed"] == "true"
    assert EngagementEvent.objects.count() == 3
    # The stored events' times (not the duplicate's later one); the new lead's mark has none.
    activity = [entry for row in PendingActivity.objects.all() for entry in row.activity if "a" in entry]
    assert sorted((entry["l"], datetime.fromisoformat(entry["a"])) for entry in activity) == sorted(
        [(lead.pk, datetime(2026, 1, 5, tzinfo=UTC)), (new_lead.pk, datetime(2026, 1, 3, tzinfo=UTC))]
    )


@pytest.mark.postgres
def test_a_new_batch_is_stored_without_looking_up_each_event_first(submit_client):
    """ON CONFLICT only when a plain INSERT meets a stored event: the common batch pays no lookup."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    lead = LeadFactory()
    batch = {"events": [{"lead_id": lead.pk, "event_type": "page_view", "external_id": str(i)} for i in range(3)]}
    statements = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            submit_client.post(URL, batch, format="json")
        statements.append([q["sql"] for q in queries if 'INSERT INTO "leads_engagementevent"' in q["sql"]])

    assert [["ON CONFLICT" in sql for sql in run] for run in statements] == [[False], [False, True]]


def test_a_bare_json_array_is_a_batch(submit_client):
    lead = LeadFactory()
    response = submit_client.post(URL, [{"lead_id": lead.pk, "event_type": "page_view"}], format="json")
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


def test_a_batch_of_1000_is_accepted_in_a_constant_number_of_queries(submit_client, django_assert_max_num_queries):
    leads = [LeadFactory() for _ in range(5)]
    batch = [
        {"lead_id": leads[i % 5].pk, "event_type": "page_view", "external_id": f"e{i}", "properties": {"i": i}}
        for i in range(900)
    ] + [{"email": f"new{i}@example.com", "event_type": "email_open"} for i in range(100)]
    with django_assert_max_num_queries(12):
        response = submit_client.post(URL, {"events": batch}, format="json")
    assert response.json()["accepted"] == 1000
    assert EngagementEvent.objects.count() == 1000
    assert Lead.objects.count() == 105


@pytest.mark.parametrize("events", [[], [{"event_type": "page_view", "lead_id": 1}] * 1001, "x"])
def test_it_rejects_an_empty_or_oversized_batch(submit_client, events):
    body = assert_error(submit_client.post(URL, {"events": events}, format="json"), 400, "validation_error")
    assert "events" in body["errors"]


@pytest.mark.parametrize("score_between", [False, True], ids=["one pass", "a pass each"])
def test_last_activity_only_moves_forward(submit_client, score_between):
    lead = LeadFactory()
    submit_client.post(URL, {"lead_id": lead.pk, "event_type": "page_view", "occurred_at": "2026-02-01T00:00:00Z"})
    if score_between:
        scores_recompute_stale()
    submit_client.post(URL, {"lead_id": lead.pk, "event_type": "page_view", "occurred_at": "2026-01-01T00:00:00Z"})
    scores_recompute_stale()
    lead.refresh_from_db()
    assert lead.last_activity_at.isoformat() == "2026-02-01T00:00:00+00:00"


def test_a_batch_writes_no_lead_row_and_queues_each_lead_once(submit_client):
    """The request appends to the queue instead of rewriting up to a thousand lead rows."""
    leads = [LeadFactory(), LeadFactory()]
    versions = [_row_version(lead.pk) for lead in leads]
    events = [{"lead_id": lead.pk, "event_type": "page_view"} for lead in leads for _ in range(3)]

    assert submit_client.post(URL, {"events": events}, format="json").json()["accepted"] == 6

    assert [_row_version(lead.pk) for lead in leads] == versions
    queued = PendingActivity.objects.get()  # one row for the batch, one entry per lead
    assert sorted(entry["l"] for entry in queued.activity) == sorted(lead.pk for lead in leads)
    assert scores_recompute_stale().leads == 2  # the worker scores them from the queue
    assert not PendingActivity.objects.exists()
    for lead in Lead.objects.filter(pk__in=[lead.pk for lead in leads]):
        assert lead.scored_at is not None and lead.last_activity_at is not None and not lead.score_stale


def test_a_marked_lead_keeps_its_mark_until_the_worker_scores_it(submit_client):
    """The worker takes the oldest marks first: a batch must not push a waiting lead to the back
    (nor rewrite its row at all); the worker's pass scores it once and clears the mark."""
    lead = LeadFactory(last_activity_at=None)
    lead_mark_score_stale(lead_ids=[lead.pk])
    lead.refresh_from_db()
    first_mark, version = lead.score_stale_since, _row_version(lead.pk)

    for at in ("2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"):
        submit_client.post(URL, {"lead_id": lead.pk, "event_type": "page_view", "occurred_at": at})
    lead.refresh_from_db()
    assert lead.score_stale_since == first_mark
    assert _row_version(lead.pk) == version  # no new row version (and no index entries) written

    assert scores_recompute_stale().leads == 1  # queued and marked: scored once, in one pass
    lead.refresh_from_db()
    assert not lead.score_stale and lead.score_stale_since is None
    assert lead.last_activity_at.isoformat() == "2026-02-01T00:00:00+00:00"
    assert lead.scored_at is not None


def _row_version(lead_id: int):
    """PostgreSQL: where the lead's current row version is; an UPDATE writes a new one (None elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT ctid::text FROM leads_lead WHERE id = %s", [lead_id])
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_event_batches_maintain_no_redundant_index(db):
    """Each event writes every index of the event table and each touched lead (not a HOT update)
    every index of the lead table: the single-column lead_id, owner_id and email "_like" indexes
    Django would add are covered by others and stay dropped (migration 0015), and the lookups by
    lead still find an index."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE tablename IN ('leads_lead', 'leads_engagementevent')"
        )
        definitions = cursor.fetchall()
        assert not [d for t, d in definitions if "varchar_pattern_ops" in d]
        assert not [d for t, d in definitions if d.endswith("(lead_id)") or d.endswith("(owner_id)")]
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM leads_engagementevent WHERE lead_id = ANY(ARRAY[1, 2]::bigint[])")
        plan = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN SELECT id FROM leads_lead WHERE owner_id = 1")
        plan += " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "event_lead_time_id_idx" in plan and "lead_owner_" in plan


def test_scoring_hears_of_the_leads_after_commit(submit_client, django_capture_on_commit_callbacks):
    leads = [LeadFactory(), LeadFactory()]
    received = []

    def receiver(sender, lead_ids, **kwargs):
        received.append(lead_ids)

    events_stored.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            submit_client.post(
                URL, {"events": [{"lead_id": lead.pk, "event_type": "page_view"} for lead in leads]}, format="json"
            )
    finally:
        events_stored.disconnect(receiver)
    assert received == [sorted(lead.pk for lead in leads)]


def test_an_idempotency_key_replays_a_batch_answer(submit_client):
    lead = LeadFactory()
    batch = {"events": [{"lead_id": lead.pk, "event_type": "page_view"}]}
    first = submit_client.post(URL, batch, format="json", HTTP_IDEMPOTENCY_KEY="b-1")
    again = submit_client.post(URL, batch, format="json", HTTP_IDEMPOTENCY_KEY="b-1")
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert EngagementEvent.objects.count() == 1


@pytest.mark.parametrize("scopes", [("read",), ("write",)])
def test_it_requires_the_submit_scope(client_for, scopes):
    lead = LeadFactory()
    response = client_for(*scopes).post(URL, {"lead_id": lead.pk, "event_type": "page_view"}, format="json")
    assert_error(response, 403, "permission_denied")


def test_a_form_key_cannot_post_events(client_for):
    lead = LeadFactory()
    client = client_for("submit", form_name="newsletter")
    assert_error(client.post(URL, {"lead_id": lead.pk, "event_type": "page_view"}, format="json"), 403)


def test_the_queue_row_holds_each_leads_latest_stored_event(submit_client):
    """PostgreSQL builds the row in the events' INSERT, elsewhere Python does: the same document."""
    first, second = LeadFactory(), LeadFactory()
    submit_client.post(
        URL, {"lead_id": first.pk, "event_type": "page_view", "external_id": "old", "source": "s"}, format="json"
    )
    PendingActivity.objects.all().delete()
    batch = [
        {"lead_id": second.pk, "event_type": "page_view", "occurred_at": "2026-01-02T10:00:00Z"},
        {"lead_id": first.pk, "event_type": "page_view", "occurred_at": "2026-01-01T10:00:00.5+02:00"},
        {"lead_id": second.pk, "event_type": "email_open", "occurred_at": "2026-01-03T10:00:00Z"},
        # A duplicate is not stored: its (later) time does not count.
        {"lead_id": first.pk, "event_type": "page_view", "occurred_at": "2026-02-01T00:00:00Z", "external_id": "old"},
    ]
    for event in batch:
        event.setdefault("source", "s")

    assert submit_client.post(URL, {"events": batch}, format="json").json()["accepted"] == 3

    queued = PendingActivity.objects.get()
    # Each time as ISO 8601 (its text differs: PostgreSQL writes it in UTC, Python as sent).
    expected = [
        (first.pk, datetime(2026, 1, 1, 8, 0, 0, 500000, tzinfo=UTC)),
        (second.pk, datetime(2026, 1, 3, 10, tzinfo=UTC)),
    ]
    assert [(entry["l"], datetime.fromisoformat(entry["a"])) for entry in queued.activity] == sorted(expected)
    assert queued.lead_count == 2


def test_a_batch_of_duplicates_queues_nothing(submit_client):
    lead = LeadFactory()
    batch = {"events": [{"lead_id": lead.pk, "event_type": "page_view", "external_id": "x", "source": "s"}]}
    submit_client.post(URL, batch, format="json")
    PendingActivity.objects.all().delete()
    assert submit_client.post(URL, batch, format="json").json()["duplicates"] == 1
    assert not PendingActivity.objects.exists()


def test_properties_are_stored_as_sent(submit_client):
    """Also what orjson cannot encode (integers beyond 64 bits: leads.json_text falls back to json)."""
    lead = LeadFactory()
    properties = {"big": 2**70, "negative": -(2**64), "float": 0.1, "text": "é\u2028😀", "nested": [{"a": None}]}
    response = submit_client.post(
        URL, {"lead_id": lead.pk, "event_type": "page_view", "properties": properties}, format="json"
    )
    assert response.status_code == 201, response.content
    assert EngagementEvent.objects.get().properties == properties


def test_a_number_too_large_for_a_double_is_refused(submit_client):
    lead = LeadFactory()
    raw = f'{{"lead_id": {lead.pk}, "event_type": "page_view", "properties": {{"x": 1e400}}}}'
    body = assert_error(submit_client.post(URL, data=raw, content_type="application/json"), 400, "malformed_request")
    assert "1e400" in body["message"]
    assert not EngagementEvent.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"accepted": 1, "duplicates": 0, "rejected": 0, "results": [{"index": 0, "status": "accepted", "lead_id": 7}]},
        {"results": [{"errors": {"non_field_errors": ["Unknown field(s): é\u2028\u2029, <x>."]}}], "ok": True},
        {"type": "validation_error", "message": ErrorDetail("Bad.", code="invalid"), "errors": {}},
        {"nothing": None, "list": [], "empty": {}},
        {1: "not a string key"},  # orjson refuses: DRF's renderer writes it
    ],
)
def test_the_batch_answer_renderer_writes_drfs_bytes(data):
    from rest_framework.renderers import JSONRenderer

    from leads.api.renderers import BatchAnswerRenderer

    assert BatchAnswerRenderer().render(data, "application/json") == JSONRenderer().render(data, "application/json")
    indented = "application/json; indent=2"
    assert BatchAnswerRenderer().render(data, indented) == JSONRenderer().render(data, indented)
