"""Every move, claim, release, merge, rule publication and erasure leaves an audit entry, written in
the action's own transaction (a refused action leaves none), and the entries about a person stay,
without their personal data, when the person is erased."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from leads.api.auth import api_key_create
from leads.exceptions import LeadError
from leads.merge import lead_merge
from leads.models import AuditAction, AuditEntry
from leads.privacy import person_erase
from leads.services import lead_claim, lead_release, lead_transition
from scoring.services import ruleset_create_draft, ruleset_ensure_published, ruleset_publish
from tests.factories import LeadFactory, lead_in_stage


def entries(action, **filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, **filters).order_by("id"))


def test_a_move_is_recorded_with_who_from_and_to_but_not_the_reason(db, marketer):
    lead = LeadFactory()
    result = lead_transition(lead_id=lead.pk, to_stage="disqualified", actor=marketer, reason="Ann Lee said no")
    (entry,) = entries(AuditAction.LEAD_MOVED, target_id=lead.pk)
    assert (entry.actor_id, entry.actor_label, entry.target_type) == (marketer.pk, "marketer", "lead")
    assert entry.detail == {"from": "lead", "to": "disqualified", "stage_change_id": result.change.pk}
    assert "Ann Lee" not in json.dumps(entry.detail)


def test_an_automatic_move_names_the_system_that_made_it(db):
    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="mql", actor_label="scoring")
    (entry,) = entries(AuditAction.LEAD_MOVED, target_id=lead.pk)
    assert (entry.actor_id, entry.actor_label) == (None, "scoring")


def test_a_refused_move_leaves_no_entry(db, marketer):
    lead = LeadFactory()
    with pytest.raises(LeadError):
        lead_transition(lead_id=lead.pk, to_stage="customer", actor=marketer)
    assert not AuditEntry.objects.filter(target_id=lead.pk).exists()


def test_a_move_through_the_api_names_the_key(db):
    lead = LeadFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='crm-sync', scopes=['write']).raw_key}")
    response = client.post(f"/api/v1/leads/{lead.pk}/transition/", {"to_stage": "mql"}, format="json")
    assert response.status_code == 200
    (entry,) = entries(AuditAction.LEAD_MOVED, target_id=lead.pk)
    assert (entry.actor_id, entry.actor_label) == (None, "api:crm-sync")


def test_a_claim_and_a_release_are_recorded(db, sales_rep, other_sales_rep):
    lead = lead_in_stage("sql")
    handoff = lead_claim(lead_id=lead.pk, user=sales_rep)
    with pytest.raises(LeadError):
        lead_claim(lead_id=lead.pk, user=other_sales_rep)  # refused: nothing recorded
    new_handoff = lead_release(lead_id=lead.pk, user=sales_rep)
    logged = AuditEntry.objects.exclude(action="lead_moved").order_by("id")
    assert [(e.action, e.actor_id, e.detail) for e in logged] == [
        (AuditAction.LEAD_CLAIMED, sales_rep.pk, {"stage": "sql", "handoff_id": handoff.pk}),
        (
            AuditAction.LEAD_RELEASED,
            sales_rep.pk,
            {"stage": "sql", "owner_id": sales_rep.pk, "handoff_id": new_handoff.pk},
        ),
    ]


def test_a_claim_in_the_browser_is_recorded(client, sales_rep):
    lead = lead_in_stage("sql")
    handoff = lead.handoffs.get(status="open")
    client.force_login(sales_rep)
    client.post(reverse("sales-claim", args=[handoff.pk]))
    assert [e.actor_id for e in entries(AuditAction.LEAD_CLAIMED, target_id=lead.pk)] == [sales_rep.pk]


def test_a_merge_is_recorded_without_the_merged_leads_email(db, marketer):
    survivor = LeadFactory(phone="+1 555 0100")
    other = LeadFactory(email="merged.person@example.com", phone="+1 555 0100", job_title="CTO")
    lead_merge(survivor_id=survivor.pk, other_id=other.pk, take_from_other=["job_title"], actor=marketer)
    (entry,) = entries(AuditAction.LEADS_MERGED)
    assert (entry.actor_id, entry.target_id) == (marketer.pk, survivor.pk)
    assert entry.detail["merged_lead_id"] == other.pk and entry.detail["fields_taken"] == ["job_title"]
    assert "merged.person" not in json.dumps(entry.detail)


def test_publishing_rules_is_recorded(db, marketer):
    ruleset_ensure_published()
    draft = ruleset_create_draft(user=marketer)
    job = ruleset_publish(ruleset_id=draft.pk, user=marketer)
    (entry,) = entries(AuditAction.RULESET_PUBLISHED)
    draft.refresh_from_db()
    assert (entry.actor_id, entry.target_type, entry.target_id) == (marketer.pk, "ruleset", draft.pk)
    assert entry.detail == {"version": draft.version, "rescore_job_id": job.pk}


def test_an_erasure_keeps_the_persons_audit_trail_without_their_data(db, marketer, sales_rep, admin_user):
    lead = lead_in_stage(
        "sql",
        email="erase.me@example.com",
        first_name="Erin",
        last_name="Rasmussen",
        company="Secretive GmbH",
        phone="+49 30 1234567",
    )
    lead_claim(lead_id=lead.pk, user=sales_rep)
    lead_transition(lead_id=lead.pk, to_stage="mql", actor=marketer, reason="Erin Rasmussen asked to wait")
    before = set(AuditEntry.objects.filter(target_type="lead", target_id=lead.pk).values_list("pk", flat=True))
    assert len(before) == 3  # moved to SQL (setup), claimed, moved back

    erasure = person_erase(lead_id=lead.pk, actor=admin_user, reason="TICKET-42")

    kept = AuditEntry.objects.filter(target_type="lead", target_id=lead.pk)
    assert before < set(kept.values_list("pk", flat=True))
    erased = kept.get(action=AuditAction.PERSON_ERASED)
    assert erased.detail == {"erasure_id": erasure.pk, "reference": "TICKET-42", "suppressed": erasure.suppressed}
    everything = json.dumps(list(AuditEntry.objects.values()), default=str).lower()
    for personal in ("erase.me", "erin", "rasmussen", "secretive", "1234567"):
        assert personal not in everything


def test_the_audit_page_shows_an_erased_persons_trail(client, admin_user, marketer):
    lead = LeadFactory(email="gone.soon@example.com")
    lead_transition(lead_id=lead.pk, to_stage="mql", actor=marketer)
    person_erase(lead_id=lead.pk, actor=admin_user)
    client.force_login(admin_user)
    html = client.get(reverse("audit-log")).content.decode()
    assert f"lead #{lead.pk}" in html and "Person erased" in html and "Lead moved" in html
    assert "gone.soon" not in html
