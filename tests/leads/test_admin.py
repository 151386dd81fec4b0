"""The Django admin: every page answers, the stage is read-only, moves go through the one door."""

import pytest
from django import forms
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.models import (
    EngagementEvent,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Lead,
    Note,
    Notification,
    RepProfile,
    RoutingRule,
    SavedView,
    SlaPolicy,
    StageChange,
    Submission,
    UpgradeFlag,
)
from leads.services import lead_claim, lead_transition
from tests.factories import (
    EngagementEventFactory,
    LeadFactory,
    NoteFactory,
    SubmissionFactory,
    UserFactory,
    lead_in_stage,
)
from tests.scoring.helpers import queued_lead_ids

pytestmark = pytest.mark.django_db


def change_url(obj) -> str:
    return reverse(f"admin:leads_{obj._meta.model_name}_change", args=[obj.pk])


def move_url(lead: Lead) -> str:
    return reverse("admin:leads_lead_move", args=[lead.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def posted_form(response) -> dict:
    """The POST a browser would send for the change form in `response`, inlines included."""
    data: dict = {}

    def add(form) -> None:
        for name, field in form.fields.items():
            value = form[name].value()
            if isinstance(field, forms.BooleanField):
                if value:
                    data[form[name].html_name] = "on"
            elif value is not None:
                data[form[name].html_name] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def history(lead: Lead) -> tuple:
    lead.refresh_from_db()
    return (
        lead.stage,
        lead.owner_id,
        list(StageChange.objects.filter(lead=lead).values_list("id", flat=True)),
        list(Handoff.objects.filter(lead=lead).values_list("id", "status")),
    )


@pytest.fixture
def worked_lead(sales_rep):
    """A lead with something in every inline: stage history, a claimed handoff, notes, activity."""
    lead = lead_in_stage("sql", email="ada@engines.example", first_name="Ada", company="Analytical Engines")
    lead_claim(lead_id=lead.pk, user=sales_rep)
    NoteFactory(lead=lead, author=sales_rep)
    SubmissionFactory(lead=lead)
    EngagementEventFactory(lead=lead, event_type="demo_request")
    lead.refresh_from_db()
    return lead


def test_every_leads_changelist_answers_for_a_superuser(admin_client, worked_lead):
    registered = [model for model in admin.site._registry if model._meta.app_label == "leads"]
    assert {Lead, StageChange, Handoff, Note, Submission, EngagementEvent} <= set(registered)

    for model in registered:
        url = reverse(f"admin:leads_{model._meta.model_name}_changelist")
        response = admin_client.get(url)
        assert response.status_code == 200, url


@pytest.mark.parametrize(
    "find",
    [
        lambda lead: lead,
        lambda lead: lead.stage_changes.first(),
        lambda lead: lead.handoffs.first(),
        lambda lead: lead.notes.first(),
        lambda lead: lead.submissions.first(),
        lambda lead: lead.events.first(),
    ],
    ids=["lead", "stagechange", "handoff", "note", "submission", "engagementevent"],
)
def test_every_change_page_answers_for_a_superuser(find, admin_client, worked_lead):
    obj = find(worked_lead)

    response = admin_client.get(change_url(obj))

    assert response.status_code == 200


def test_the_workspace_settings_and_records_have_change_pages(admin_client, worked_lead, sales_rep):
    handoff = worked_lead.handoffs.get()
    rule = RoutingRule.objects.create(name="EMEA", countries="DE,FR")
    rule.reps.add(sales_rep)
    objects = [
        SlaPolicy.objects.get_or_create(kind=HandoffKind.MARKETING_TO_SALES, defaults={"hours_to_accept": 4})[0],
        rule,
        RepProfile.objects.create(user=sales_rep, territories="DE"),
        UpgradeFlag.objects.create(lead=worked_lead, flagged_by=sales_rep, wants="More seats"),
        Notification.objects.create(recipient=sales_rep, text="SLA breached", handoff=handoff),
        SavedView.objects.create(user=sales_rep, name="Hot", query="score_min=80"),
    ]

    for obj in objects:
        assert admin_client.get(change_url(obj)).status_code == 200, obj


def test_the_lead_change_page_shows_its_history_handoffs_and_notes(admin_client, worked_lead):
    response = admin_client.get(change_url(worked_lead))

    content = response.content.decode()
    assert "Stage history" in content
    assert "Marketing → Sales" in content
    assert worked_lead.notes.get().body in content
    assert move_url(worked_lead) in content
    assert f"lead__id__exact={worked_lead.pk}" in content  # links to its events and submissions


def test_the_add_pages_answer_where_adding_is_allowed(admin_client):
    assert admin_client.get(reverse("admin:leads_lead_add")).status_code == 200
    assert admin_client.get(reverse("admin:leads_note_add")).status_code == 200


@pytest.mark.parametrize("model_name", ["stagechange", "handoff", "submission", "engagementevent"])
def test_records_written_by_the_domain_cannot_be_added_by_hand(model_name, admin_client):
    assert admin_client.get(reverse(f"admin:leads_{model_name}_add")).status_code == 403


def test_the_search_finds_leads_by_email_name_and_company(admin_client, worked_lead):
    LeadFactory(email="someone@else.example", first_name="Bob", company="Other Co")
    url = reverse("admin:leads_lead_changelist")

    for term in ["ada@engines", "Ada", "Analytical"]:
        response = admin_client.get(url, {"q": term})
        assert list(response.context["cl"].result_list) == [worked_lead], term


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("ada analytical", True),  # two words, each in a column
        ('"Analytical Engines"', True),  # a quoted phrase is one word, here in the company
        ('"ada analytical"', False),  # one word, in no single column
        ("ada nobody", False),
    ],
)
def test_the_search_wants_every_word_and_takes_a_quoted_phrase_as_one(admin_client, worked_lead, term, found):
    LeadFactory(email="someone@else.example", first_name="Bob", company="Other Co")
    response = admin_client.get(reverse("admin:leads_lead_changelist"), {"q": term})
    assert list(response.context["cl"].result_list) == ([worked_lead] if found else [])


def test_the_lead_list_costs_the_same_queries_for_3_or_30_leads(admin_client, sales_rep):
    url = reverse("admin:leads_lead_changelist")

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    for _ in range(3):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=UserFactory())
    few = queries_for_list()
    for _ in range(27):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=UserFactory())

    assert queries_for_list() == few


@pytest.mark.parametrize("model_name", ["stagechange", "handoff", "note", "submission", "engagementevent"])
def test_the_other_lists_cost_the_same_queries_for_few_or_many_rows(model_name, admin_client, sales_rep):
    url = reverse(f"admin:leads_{model_name}_changelist")

    def make_rows() -> None:
        lead = lead_in_stage("sql", first_name="Someone")
        lead_claim(lead_id=lead.pk, user=UserFactory())
        NoteFactory(lead=lead)
        SubmissionFactory(lead=lead)
        EngagementEventFactory(lead=lead)

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    make_rows()
    few = queries_for_list()
    for _ in range(8):
        make_rows()

    assert queries_for_list() == few


def test_the_lead_page_costs_the_same_queries_for_a_short_or_long_history(admin_client, sales_rep):
    def queries_for_page(lead) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(change_url(lead)).status_code == 200
        return len(captured)

    short = lead_in_stage("sql")
    lead_claim(lead_id=short.pk, user=sales_rep)
    NoteFactory(lead=short, author=sales_rep)
    long = lead_in_stage("sql")
    for _ in range(4):  # a rep claims, recycles, marketing hands it off again
        rep = UserFactory()
        lead_claim(lead_id=long.pk, user=rep)
        lead_transition(lead_id=long.pk, to_stage="mql", actor=rep, reason="Not now")
        lead_transition(lead_id=long.pk, to_stage="sql", actor=UserFactory())
        NoteFactory(lead=long, author=rep)
    lead_claim(lead_id=long.pk, user=sales_rep)

    assert queries_for_page(long) == queries_for_page(short)


def test_the_stage_owner_and_score_cannot_be_changed_by_a_post(admin_client, worked_lead, other_sales_rep):
    data = posted_form(admin_client.get(change_url(worked_lead)))
    before = history(worked_lead)
    data.update(
        {"first_name": "Augusta", "stage": "customer", "owner": other_sales_rep.pk, "score": "999", "score_stale": "on"}
    )

    response = admin_client.post(change_url(worked_lead), data)

    assert response.status_code == 302, response.context and response.context["errors"]
    worked_lead.refresh_from_db()
    assert worked_lead.first_name == "Augusta"  # the post was saved...
    assert history(worked_lead) == before  # ...but not its stage or owner
    assert worked_lead.score == 0
    assert worked_lead.score_stale is False


def test_an_email_is_normalized_when_edited_in_the_admin(admin_client, worked_lead):
    data = posted_form(admin_client.get(change_url(worked_lead)))
    data["email"] = "  Ada.Lovelace@Engines.EXAMPLE "

    response = admin_client.post(change_url(worked_lead), data)

    assert response.status_code == 302
    worked_lead.refresh_from_db()
    assert worked_lead.email == "ada.lovelace@engines.example"


def test_a_duplicate_email_differing_by_case_is_a_form_error_not_a_crash(admin_client, worked_lead):
    other = LeadFactory(email="grace@navy.example")
    data = posted_form(admin_client.get(change_url(other)))
    data["email"] = " ADA@Engines.example"

    response = admin_client.post(change_url(other), data)

    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    other.refresh_from_db()
    assert other.email == "grace@navy.example"


def test_a_note_added_on_the_lead_page_is_signed_by_its_author(admin_client, admin_user, worked_lead):
    data = posted_form(admin_client.get(change_url(worked_lead)))
    data["notes-TOTAL_FORMS"] = int(data["notes-TOTAL_FORMS"]) + 1
    index = data["notes-TOTAL_FORMS"] - 1
    data.update(
        {f"notes-{index}-kind": "call", f"notes-{index}-body": "Called, wants a demo", f"notes-{index}-lead": ""}
    )

    response = admin_client.post(change_url(worked_lead), data)

    assert response.status_code == 302
    note = Note.objects.get(body="Called, wants a demo")
    assert (note.lead, note.author, note.kind) == (worked_lead, admin_user, "call")


def test_the_move_page_lists_the_moves_allowed_from_the_stage(admin_client):
    lead = lead_in_stage("mql")

    response = admin_client.get(move_url(lead))

    assert response.status_code == 200
    content = response.content.decode()
    assert "This lead is <strong>MQL</strong>" in content
    assert "Hand off to sales" in content
    assert "Recycle to marketing" not in content
    assert response.context["form"]["to_stage"].value() == "sql"  # the first allowed move, not a refused one


def test_a_legal_move_in_the_admin_goes_through_the_door_and_is_audited(admin_client, admin_user):
    lead = lead_in_stage("mql")

    response = admin_client.post(
        move_url(lead), {"to_stage": "sql", "reason": "Asked for a demo", "expected_stage": "mql"}
    )

    assert response.status_code == 302
    assert response.url == change_url(lead)
    lead.refresh_from_db()
    assert lead.stage == "sql"
    change = StageChange.objects.filter(lead=lead).latest("id")
    assert (change.from_stage, change.to_stage, change.actor, change.reason) == (
        "mql",
        "sql",
        admin_user,
        "Asked for a demo",
    )
    assert Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).count() == 1
    assert messages_of(response) == ["Moved to SQL."]


def test_an_illegal_move_in_the_admin_shows_why_and_leaves_no_trace(admin_client):
    lead = lead_in_stage("lead")
    before = history(lead)

    response = admin_client.post(move_url(lead), {"to_stage": "customer", "reason": "", "expected_stage": "lead"})

    assert response.status_code == 200
    assert messages_of(response) == ["A lead cannot move from Lead to Customer."]
    assert "A lead cannot move from Lead to Customer." in response.content.decode()
    assert history(lead) == before


def test_a_recycle_without_a_reason_in_the_admin_is_refused_without_trace(admin_client, worked_lead):
    before = history(worked_lead)

    response = admin_client.post(move_url(worked_lead), {"to_stage": "mql", "reason": "  ", "expected_stage": "sql"})

    assert response.status_code == 200
    assert messages_of(response) == ["Moving a lead from SQL to MQL needs a reason."]
    assert history(worked_lead) == before


def test_a_move_from_a_stale_admin_page_is_refused(admin_client):
    lead = lead_in_stage("lead")
    page = admin_client.get(move_url(lead))
    lead_transition(lead_id=lead.pk, to_stage="mql", actor_label="scoring")  # meanwhile
    before = history(lead)

    response = admin_client.post(
        move_url(lead),
        {
            "to_stage": "disqualified",
            "reason": "Spam",
            "expected_stage": page.context["form"]["expected_stage"].value(),
        },
    )

    assert response.status_code == 200
    assert messages_of(response) == ["The lead is now MQL, not Lead: it was not moved to Disqualified."]
    assert history(lead) == before
    # The page now shows where the lead is, so a second try is an informed one.
    assert "This lead is <strong>MQL</strong>" in response.content.decode()
    assert response.context["form"]["expected_stage"].value() == "mql"


def test_a_staff_marketer_may_not_close_a_deal_in_the_admin(client):
    marketer = UserFactory(username="staffmarketer", roles=["marketing"], is_staff=True)
    client.force_login(marketer)
    lead = lead_in_stage("sql")
    before = history(lead)

    response = client.post(move_url(lead), {"to_stage": "customer", "reason": "", "expected_stage": "sql"})

    assert response.status_code == 200
    assert messages_of(response) == ["Your role may not move a lead from SQL to Customer."]
    assert history(lead) == before


def test_staff_without_change_permission_cannot_open_the_move_page(client):
    service = UserFactory(username="staffservice", roles=["service"], is_staff=True)
    client.force_login(service)
    lead = lead_in_stage("sql")

    assert client.get(move_url(lead)).status_code == 403
    assert client.post(move_url(lead), {"to_stage": "mql", "reason": "x", "expected_stage": "sql"}).status_code == 403
    assert history(lead)[0] == "sql"


def test_the_audit_trail_cannot_be_edited_or_deleted(admin_client, worked_lead):
    change = worked_lead.stage_changes.first()
    url = change_url(change)

    page = admin_client.get(url)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert admin_client.post(url, {"reason": "rewritten", "to_stage": "customer"}).status_code == 403
    assert (
        admin_client.post(reverse("admin:leads_stagechange_delete", args=[change.pk]), {"post": "yes"}).status_code
        == 403
    )
    change.refresh_from_db()
    assert (change.to_stage, change.reason) == ("sql", "test setup")


def test_a_handoffs_status_cannot_be_changed_in_the_admin(admin_client, worked_lead):
    handoff = worked_lead.handoffs.get()
    response = admin_client.get(change_url(handoff))
    data = posted_form(response)
    data.update({"status": "open", "decided_by": "", "reason": "Warm intro from the webinar"})

    response = admin_client.post(change_url(handoff), data)

    assert response.status_code == 302
    handoff.refresh_from_db()
    assert handoff.reason == "Warm intro from the webinar"
    assert handoff.status == HandoffStatus.ACCEPTED
    assert handoff.decided_by is not None


def test_a_handoff_cannot_be_deleted_on_its_own(admin_client):
    lead = lead_in_stage("sql")
    handoff = lead.handoffs.get()

    response = admin_client.post(reverse("admin:leads_handoff_delete", args=[handoff.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Handoff.objects.filter(pk=handoff.pk, status=HandoffStatus.OPEN).exists()


def test_a_submissions_payload_cannot_be_changed_in_the_admin(admin_client, worked_lead):
    submission = worked_lead.submissions.get()
    data = posted_form(admin_client.get(change_url(submission)))
    data["payload"] = '{"email": "forged@example.com"}'

    admin_client.post(change_url(submission), data)

    submission.refresh_from_db()
    assert submission.payload == {"email": worked_lead.email}


def test_deleting_an_event_in_the_admin_marks_the_score_stale(admin_client, worked_lead):
    Lead.objects.filter(pk=worked_lead.pk).update(score_stale=False)
    event = worked_lead.events.get()

    response = admin_client.post(reverse("admin:leads_engagementevent_delete", args=[event.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not EngagementEvent.objects.filter(pk=event.pk).exists()
    worked_lead.refresh_from_db()
    assert worked_lead.score_stale is True
    assert worked_lead.pk in queued_lead_ids()


def test_a_lead_with_history_can_be_erased_with_its_history(admin_client, worked_lead):
    response = admin_client.post(reverse("admin:leads_lead_delete", args=[worked_lead.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Lead.objects.filter(pk=worked_lead.pk).exists()
    assert not StageChange.objects.exists()
    assert not Handoff.objects.exists()
    assert Submission.objects.get().lead is None  # the raw submission is kept, unlinked


def test_the_lead_list_filters_by_stage(admin_client):
    sql = lead_in_stage("sql")
    lead_in_stage("mql")

    response = admin_client.get(reverse("admin:leads_lead_changelist"), {"stage__exact": "sql"})

    assert list(response.context["cl"].result_list) == [sql]


def test_a_lead_added_in_the_admin_starts_as_a_lead_whatever_is_posted(admin_client, sales_rep):
    url = reverse("admin:leads_lead_add")
    data = posted_form(admin_client.get(url))
    data.update({"email": " New.Person@Example.COM", "stage": "customer", "owner": sales_rep.pk, "score": "80"})

    response = admin_client.post(url, data)

    assert response.status_code == 302
    lead = Lead.objects.get()
    assert (lead.email, lead.stage, lead.owner, lead.score) == ("new.person@example.com", "lead", None, 0)
    assert not StageChange.objects.exists()
