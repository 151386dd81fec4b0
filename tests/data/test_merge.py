"""Duplicates: suggestions, and a merge of two leads that both have events and handoffs."""

import pytest

from leads.merge import MERGED_EVENT, MergeNotAllowed, duplicate_suggestions, lead_merge
from leads.models import EngagementEvent, Handoff, HandoffStatus, Lead, Note, StageChange
from leads.services import lead_transition
from tests.factories import EngagementEventFactory, LeadFactory, NoteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(marketer):
    """The same person twice: one an SQL waiting in the queue, one an MQL with a closed handoff."""
    survivor = LeadFactory(
        email="ada@engines.example", first_name="Ada", last_name="Lovelace", company="Engines", phone="", job_title=""
    )
    other = LeadFactory(
        email="a.lovelace@engines.example", first_name="Ada", last_name="Lovelace", company="Analytical Engines",
        phone="+44 20 7946 0000", job_title="Countess",
    )  # fmt: skip
    for _ in range(3):
        EngagementEventFactory(lead=survivor, event_type="page_view")
    for _ in range(2):
        EngagementEventFactory(lead=other, event_type="pricing_page_view")
    NoteFactory(lead=other, author=marketer, body="Met at the fair")
    lead_transition(lead_id=survivor.pk, to_stage="sql", actor=marketer, reason="demo")
    lead_transition(lead_id=other.pk, to_stage="sql", actor=marketer, reason="contact sales")
    lead_transition(lead_id=other.pk, to_stage="mql", actor=marketer, reason="not now")  # its handoff is rejected
    return survivor, other


def test_it_suggests_the_same_name_at_one_email_domain(pair):
    survivor, other = pair
    suggestions = duplicate_suggestions()
    assert [(s.lead_ids, s.reason) for s in suggestions] == [((survivor.pk, other.pk), "Same name and email domain")]


def test_it_suggests_the_same_phone_and_near_identical_names_at_one_company(db):
    a = LeadFactory(phone="+1 (555) 010-0199", first_name="X", last_name="One", company="A")
    b = LeadFactory(phone="+1 (555) 010-0199", first_name="Y", last_name="Two", company="B")
    c = LeadFactory(first_name="Jonathan", last_name="Smith", company="Globex", phone="")
    d = LeadFactory(first_name="Jonathon", last_name="Smith", company="GLOBEX", phone="")
    LeadFactory(first_name="Maria", last_name="Garcia", company="Globex", phone="")
    reasons = {s.lead_ids: s.reason for s in duplicate_suggestions()}
    assert reasons == {
        (a.pk, b.pk): "Same phone number",
        (c.pk, d.pk): "Nearly the same name at the same company",
    }


def test_a_merge_moves_events_notes_history_and_handoffs_and_recomputes_the_score(
    pair, marketer, django_capture_on_commit_callbacks
):
    survivor, other = pair
    with django_capture_on_commit_callbacks(execute=True):
        result = lead_merge(survivor_id=survivor.pk, other_id=other.pk, take_from_other=["company"], actor=marketer)
    assert not Lead.objects.filter(pk=other.pk).exists()
    lead = Lead.objects.get(pk=survivor.pk)
    # Fields: the chosen one from the other, empty ones filled, the rest kept.
    assert (lead.email, lead.company, lead.phone, lead.job_title) == (
        "ada@engines.example", "Analytical Engines", "+44 20 7946 0000", "Countess",
    )  # fmt: skip
    assert lead.stage == "sql"  # the survivor's stage: only lead_transition writes a stage
    assert EngagementEvent.objects.filter(lead=lead, event_type="pricing_page_view").count() == 2
    assert EngagementEvent.objects.filter(lead=lead, event_type="page_view").count() == 3
    assert Note.objects.get(lead=lead).body == "Met at the fair"
    assert StageChange.objects.filter(lead=lead).count() == 3
    assert Handoff.objects.filter(lead=lead).count() == 2
    assert Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).count() == 1
    assert result.moved["events"] == 2 and result.moved["handoffs"] == 1
    merged = EngagementEvent.objects.get(lead=lead, event_type=MERGED_EVENT)
    assert merged.properties["merged_lead_id"] == other.pk
    assert merged.properties["fields_taken"] == ["company", "job_title", "phone"]
    assert merged.properties["by"] == "marketer"
    # Recomputed after commit from every event, the moved ones included.
    assert lead.score_stale is False
    assert lead.scored_at is not None


def test_the_survivor_may_take_the_other_email(pair):
    survivor, other = pair
    lead_merge(survivor_id=survivor.pk, other_id=other.pk, take_from_other=["email"])
    assert Lead.objects.get(pk=survivor.pk).email == "a.lovelace@engines.example"


def test_two_open_handoffs_leave_one_open(marketer):
    a, b = LeadFactory(), LeadFactory()
    lead_transition(lead_id=a.pk, to_stage="sql", actor=marketer, reason="x")
    lead_transition(lead_id=b.pk, to_stage="sql", actor=marketer, reason="y")
    lead_merge(survivor_id=a.pk, other_id=b.pk)
    statuses = sorted(Handoff.objects.filter(lead=a).values_list("status", flat=True))
    assert statuses == ["cancelled", "open"]


@pytest.mark.parametrize(
    "kwargs,message",
    [({"take_from_other": ["stage"]}, "Not a field that can be merged: stage"), ({"same": True}, "with itself")],
)
def test_it_refuses(pair, kwargs, message):
    survivor, other = pair
    other_id = survivor.pk if kwargs.pop("same", False) else other.pk
    with pytest.raises(MergeNotAllowed, match=message):
        lead_merge(survivor_id=survivor.pk, other_id=other_id, **kwargs)
    assert Lead.objects.filter(pk=other.pk).exists()


# --- API --------------------------------------------------------------------------------------


def test_the_api_lists_duplicates_and_merges(client, marketer, pair, django_capture_on_commit_callbacks):
    survivor, other = pair
    client.force_login(marketer)
    listed = client.get("/api/v1/leads/duplicates/")
    assert listed.status_code == 200
    assert listed.json()["results"] == [{"lead_ids": [survivor.pk, other.pk], "reason": "Same name and email domain"}]
    with django_capture_on_commit_callbacks(execute=True):
        merged = client.post(
            f"/api/v1/leads/{survivor.pk}/merge/",
            {"other_id": other.pk, "take_from_other": ["company"]},
            content_type="application/json",
        )
    assert merged.status_code == 200, merged.content
    body = merged.json()
    assert (body["merged_lead_id"], body["lead"]["company"], body["moved"]["events"]) == (
        other.pk, "Analytical Engines", 2,
    )  # fmt: skip
    again = client.post(
        f"/api/v1/leads/{survivor.pk}/merge/", {"other_id": survivor.pk}, content_type="application/json"
    )
    assert again.status_code == 409
    assert again.json()["type"] == "merge_not_allowed"


def test_sales_may_not_merge(client, sales_rep, pair):
    survivor, other = pair
    client.force_login(sales_rep)
    response = client.post(
        f"/api/v1/leads/{survivor.pk}/merge/", {"other_id": other.pk}, content_type="application/json"
    )
    assert response.status_code == 403
    assert Lead.objects.filter(pk=other.pk).exists()


def test_a_survivor_outside_the_sales_queue_does_not_inherit_an_open_handoff(marketer):
    keep, other = LeadFactory(), LeadFactory()
    lead_transition(lead_id=other.pk, to_stage="sql", actor=marketer, reason="x")
    lead_merge(survivor_id=keep.pk, other_id=other.pk)
    assert list(Handoff.objects.filter(lead=keep).values_list("status", flat=True)) == ["cancelled"]
