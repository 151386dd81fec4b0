"""The webhook outbox: deliveries are rows written in the transaction of the change they announce.

lead.created from every path that creates a lead (API submission, events, CSV import, admin), once
per new lead and never for an existing one or a rolled-back transaction; stage and handoff events
written before the move commits, so a nudge lost between commit and enqueue is sent by the sweep.
"""

import json

import pytest
from django.db import transaction
from django.utils import timezone

from leads import ingest
from leads.imports import import_run, import_set_mapping, import_start, import_upload
from leads.models import Lead, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEvent
from leads.services import lead_claim, lead_transition
from leads.webhooks import webhook_deliveries_sweep
from tests.data.test_webhooks import endpoint_for
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

SUBMISSIONS = "/api/v1/submissions/"
EVENTS = "/api/v1/events/"


def created_rows() -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(event=WebhookEvent.LEAD_CREATED).order_by("id"))


def announced_lead_ids() -> list[int]:
    return sorted(row.payload["lead"]["id"] for row in created_rows())


@pytest.fixture
def hook(receiver):
    """An endpoint on the loopback receiver that subscribes to lead.created only."""
    return endpoint_for(receiver, events=[WebhookEvent.LEAD_CREATED])


# --- lead.created: the API ---------------------------------------------------------------------


def test_a_submission_that_creates_a_lead_announces_it_signed_to_a_real_receiver(
    hook, receiver, submit_client, django_capture_on_commit_callbacks
):
    body = {"form_name": "demo", "email": " Ada@Example.com", "first_name": "Ada", "company": "Engines"}
    with django_capture_on_commit_callbacks(execute=True):
        response = submit_client.post(SUBMISSIONS, body, format="json")
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    [received] = receiver.wait_for(1)
    assert (received.event, received.signature_ok) == ("lead.created", True)
    assert received.body["data"]["lead"] == {
        "id": lead.pk,
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "",
        "company": "Engines",
        "stage": "lead",
        "score": 0,
        "owner_id": None,
    }
    [row] = created_rows()
    assert (row.status, row.attempts, row.endpoint_id) == (WebhookDeliveryStatus.SUCCEEDED, 1, hook.pk)
    assert received.headers["leadcrm-event-id"] == str(row.event_id)


def test_a_submission_for_an_existing_lead_announces_nothing(hook, submit_client):
    LeadFactory(email="known@example.com")
    assert submit_client.post(SUBMISSIONS, {"form_name": "demo", "email": "known@example.com"}).status_code == 201
    assert created_rows() == []


def test_the_second_submission_of_a_new_address_announces_nothing_more(hook, submit_client):
    for _ in range(2):
        assert submit_client.post(SUBMISSIONS, {"form_name": "demo", "email": "new@example.com"}).status_code == 201
    assert announced_lead_ids() == [Lead.objects.get().pk]


def test_a_replayed_idempotent_submission_announces_once(hook, submit_client):
    body = json.dumps({"form_name": "demo", "email": "once@example.com"})
    for _ in range(2):
        response = submit_client.post(
            SUBMISSIONS, data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
        )
        assert response.status_code == 201
    assert response["Idempotent-Replayed"] == "true"
    assert len(created_rows()) == 1


def test_each_subscribed_endpoint_gets_a_row_with_one_event_id_and_a_paused_one_is_held(hook, submit_client):
    paused = WebhookEndpoint.objects.create(
        name="paused", url="http://127.0.0.1:9/x", secret="s", events=["lead.created"], paused_at="2026-01-01T00:00Z"
    )
    WebhookEndpoint.objects.create(
        name="moves only", url="http://127.0.0.1:9/y", secret="s", events=["lead.stage_changed"]
    )
    WebhookEndpoint.objects.create(
        name="off", url="http://127.0.0.1:9/z", secret="s", events=["lead.created"], active=False
    )
    assert submit_client.post(SUBMISSIONS, {"form_name": "demo", "email": "two@example.com"}).status_code == 201
    rows = {row.endpoint_id: row for row in created_rows()}
    assert set(rows) == {hook.pk, paused.pk}
    assert rows[paused.pk].status == WebhookDeliveryStatus.HELD and rows[paused.pk].next_attempt_at is None
    assert rows[hook.pk].status == WebhookDeliveryStatus.PENDING
    assert rows[hook.pk].event_id == rows[paused.pk].event_id


def test_an_event_batch_announces_each_lead_it_creates_once(hook, submit_client):
    known = LeadFactory(email="known@example.com")
    batch = [
        {"email": "known@example.com", "event_type": "page_view"},
        {"email": "fresh@example.com", "event_type": "page_view"},
        {"email": "FRESH@example.com", "event_type": "email_open"},
        {"email": "other@example.com", "event_type": "page_view"},
        {"lead_id": known.pk, "event_type": "page_view"},
    ]
    response = submit_client.post(EVENTS, {"events": batch}, format="json")
    assert response.status_code in (200, 201, 207), response.content
    new_ids = sorted(Lead.objects.exclude(pk=known.pk).values_list("pk", flat=True))
    assert len(new_ids) == 2
    assert announced_lead_ids() == new_ids
    assert {row.payload["lead"]["email"] for row in created_rows()} == {"fresh@example.com", "other@example.com"}
    # Sent again: the leads exist now, nothing more is announced.
    submit_client.post(EVENTS, {"events": batch}, format="json")
    assert announced_lead_ids() == new_ids


def test_no_lead_created_row_without_a_subscriber(receiver, submit_client):
    endpoint_for(receiver, events=["lead.stage_changed"])
    submit_client.post(SUBMISSIONS, {"form_name": "demo", "email": "quiet@example.com"})
    submit_client.post(EVENTS, {"events": [{"email": "quiet2@example.com", "event_type": "page_view"}]}, format="json")
    assert Lead.objects.count() == 2
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize("path", ["submission", "events"])
def test_a_rolled_back_creation_leaves_no_row_and_sends_nothing(
    hook, receiver, path, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        if path == "submission":
            ingest.submission_ingest(
                form_name="demo", email="gone@example.com", fields={}, consent=False, page_url="",
                submitted_at="2026-11-25T10:00:00Z", payload={},
            )  # fmt: skip
        else:
            ingest.events_ingest(
                items=[
                    (0, ingest.EventInput(event_type="page_view", occurred_at=timezone.now(), email="gone@example.com"))
                ]
            )
        assert len(created_rows()) == 1  # written in the transaction...
        raise RuntimeError("the caller fails after the write")
    assert callbacks == []
    assert created_rows() == [] and not Lead.objects.exists()  # ...and gone with it
    assert receiver.received == []


# --- lead.created: the CSV import and the admin ------------------------------------------------


def test_an_import_announces_the_leads_it_creates_and_a_second_run_nothing(
    hook, tmp_path, settings, marketer, django_capture_on_commit_callbacks
):
    settings.VAR_DIR = tmp_path
    LeadFactory(email="known@example.com")
    raw = b"email,first_name\nknown@example.com,Kim\nnew1@example.com,Ann\nnew2@example.com,Bo\nnew1@example.com,Dup\n"
    for _ in range(2):
        job = import_upload(file_name="list.csv", raw=raw, user=marketer)
        import_set_mapping(job_id=job.pk, mapping=job.mapping, mode="update_empty")
        with django_capture_on_commit_callbacks(execute=False):
            import_start(job_id=job.pk)
        import_run(job_id=job.pk)
    emails = {row.payload["lead"]["email"]: row.payload["lead"]["first_name"] for row in created_rows()}
    assert emails == {"new1@example.com": "Ann", "new2@example.com": "Bo"}
    assert announced_lead_ids() == sorted(Lead.objects.filter(email__startswith="new").values_list("pk", flat=True))


def test_a_lead_added_in_the_admin_is_announced(hook, admin_client_for_data):
    form_page = admin_client_for_data.get("/admin/leads/lead/add/")
    data = {"email": "typed@example.com", "first_name": "Typed"}
    for inline in form_page.context["inline_admin_formsets"]:
        data |= {f"{inline.formset.prefix}-TOTAL_FORMS": "0", f"{inline.formset.prefix}-INITIAL_FORMS": "0"}
    response = admin_client_for_data.post("/admin/leads/lead/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    lead = Lead.objects.get(email="typed@example.com")
    assert announced_lead_ids() == [lead.pk]
    assert created_rows()[0].payload["lead"]["first_name"] == "Typed"


# --- Stage changes: the outbox row is written with the move -------------------------------------


def test_a_moves_rows_are_written_in_its_transaction_before_any_send(receiver, django_capture_on_commit_callbacks):
    endpoint_for(receiver)
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        lead_transition(lead_id=lead.pk, to_stage="sql", actor_label="marketing", reason="demo")
        # Not committed yet, nothing sent, but the rows are already there.
        rows = WebhookDelivery.objects.order_by("event")
        assert [(r.event, r.status) for r in rows] == [("handoff.opened", "pending"), ("lead.stage_changed", "pending")]
    assert receiver.received == []
    assert callbacks  # the nudge waits for the commit


def test_a_nudge_lost_after_commit_is_sent_by_the_sweep(receiver, django_capture_on_commit_callbacks):
    endpoint_for(receiver)
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=False):  # the process dies before enqueueing
        lead_transition(lead_id=lead.pk, to_stage="mql", actor_label="marketing")
    assert receiver.received == []
    assert webhook_deliveries_sweep() == 1
    [received] = receiver.wait_for(1)
    assert (received.event, received.signature_ok) == ("lead.stage_changed", True)
    assert WebhookDelivery.objects.get().status == WebhookDeliveryStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("to_stage", "event", "status"),
    [("customer", "handoff.accepted", "accepted"), ("mql", "handoff.rejected", "rejected")],
)
def test_leaving_sales_announces_how_the_handoff_was_settled(receiver, to_stage, event, status):
    endpoint_for(receiver, events=[event])
    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="sql", actor_label="marketing", reason="demo")
    lead_transition(lead_id=lead.pk, to_stage=to_stage, actor_label="sales", reason="settled")
    [row] = WebhookDelivery.objects.all()
    assert row.event == event
    assert row.payload["handoff"]["status"] == status
    assert row.payload["lead"]["stage"] == to_stage


def test_a_claim_writes_handoff_accepted_in_its_transaction(receiver, sales_rep, django_capture_on_commit_callbacks):
    endpoint_for(receiver, events=["handoff.accepted"])
    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="sql", actor_label="marketing", reason="demo")
    with django_capture_on_commit_callbacks(execute=False):
        lead_claim(lead_id=lead.pk, user=sales_rep)
        assert WebhookDelivery.objects.filter(event="handoff.accepted").count() == 1
