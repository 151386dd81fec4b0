import pytest
from django.urls import reverse
from django.utils import timezone

from leads.lead_selectors import stage_path
from leads.models import Handoff, Lead, Note, StageChange
from tests.factories import EngagementEventFactory, LeadFactory, NoteFactory, lead_in_stage
from tests.scoring.helpers import queued_lead_ids

BREAKDOWN = [
    {"kind": "fit", "rule_id": 1, "rule": "Senior title", "points": 15},
    {"kind": "fit", "rule_id": 2, "rule": "Free-mail address", "points": -10},
    {"kind": "engagement", "rule_id": 3, "rule": "Webinar attended", "points": 20, "events": 2},
    {"kind": "engagement", "rule_id": 4, "rule": "Page views", "points": 5, "events": 9, "capped": True},
]


def detail(lead) -> str:
    return reverse("lead-detail", args=[lead.pk])


def scored_lead(**kwargs):
    lead = lead_in_stage("mql", **kwargs)
    Lead.objects.filter(pk=lead.pk).update(
        fit_score=5,
        engagement_score=25,
        score=30,
        score_breakdown=BREAKDOWN,
        score_ruleset_version=3,
        scored_at=timezone.now(),
    )
    return Lead.objects.get(pk=lead.pk)


def test_it_shows_the_score_and_why(marketer_client):
    lead = scored_lead()
    html = marketer_client.get(detail(lead)).content.decode()
    assert 'data-testid="score-total">30<' in html
    assert "fit <b>5</b> + engagement <b>25</b>" in html
    for rule, points in (("Senior title", "+15"), ("Free-mail address", "-10"), ("Webinar attended", "+20")):
        assert rule in html
        assert points in html
    assert "capped" in html
    assert "Rule set v3" in html


def test_a_lead_not_scored_yet_says_so(marketer_client):
    html = marketer_client.get(detail(LeadFactory())).content.decode()
    assert "Not scored yet" in html


def test_the_timeline_merges_every_kind_newest_first_and_filters(marketer_client, marketer):
    lead = lead_in_stage("sql")
    EngagementEventFactory(lead=lead, event_type="webinar_attended", occurred_at=timezone.now())
    NoteFactory(lead=lead, author=marketer, body="Called, wants a demo", kind="call")
    response = marketer_client.get(detail(lead))
    kinds = [entry.kind for entry in response.context["timeline"]]
    assert set(kinds) == {"events", "stages", "handoffs", "notes"}
    times = [entry.at for entry in response.context["timeline"]]
    assert times == sorted(times, reverse=True)
    only_notes = marketer_client.get(detail(lead), {"show": "notes"}).context["timeline"]
    assert [entry.detail for entry in only_notes] == ["Called, wants a demo"]


def test_the_page_costs_the_same_queries_whatever_the_history(marketer_client, django_assert_max_num_queries):
    lead = lead_in_stage("sql")
    for _ in range(30):
        EngagementEventFactory(lead=lead)
        NoteFactory(lead=lead)
    with django_assert_max_num_queries(14):
        assert marketer_client.get(detail(lead)).status_code == 200


def test_marketing_sees_its_moves_as_buttons(marketer_client):
    lead = lead_in_stage("mql")
    response = marketer_client.get(detail(lead))
    labels = [move.label for move in response.context["moves"]]
    assert labels == ["Hand off to sales", "Mark as PQL", "Disqualify"]
    assert response.context["primary_move"].label == "Hand off to sales"


def test_a_move_writes_its_audit_row(marketer_client, marketer):
    lead = lead_in_stage("mql")
    response = marketer_client.post(reverse("lead-move", args=[lead.pk]), {"to_stage": "sql", "from_stage": "mql"})
    assert response.status_code == 302
    assert Lead.objects.get(pk=lead.pk).stage == "sql"
    assert StageChange.objects.filter(lead=lead, to_stage="sql", actor=marketer).exists()
    assert Handoff.objects.filter(lead=lead, status="open").exists()


def test_a_move_that_needs_a_reason_says_so_beside_its_button(marketer_client):
    lead = lead_in_stage("mql")
    response = marketer_client.post(reverse("lead-move", args=[lead.pk]), {"to_stage": "disqualified", "reason": " "})
    assert response.status_code == 409
    html = response.content.decode()
    assert "Say why you move this lead to Disqualified" in html
    assert Lead.objects.get(pk=lead.pk).stage == "mql"


def test_a_move_on_a_stale_page_is_refused_with_the_domain_message(marketer_client):
    lead = lead_in_stage("lead")  # the page was loaded while it was an MQL
    response = marketer_client.post(
        reverse("lead-move", args=[lead.pk]), {"to_stage": "disqualified", "from_stage": "mql", "reason": "spam"}
    )
    assert response.status_code == 409
    assert "The lead is now Lead, not MQL" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == "lead"


def test_a_refused_move_without_its_button_is_shown_at_the_top_of_the_actions(marketer_client):
    lead = lead_in_stage("sql")
    response = marketer_client.post(reverse("lead-move", args=[lead.pk]), {"to_stage": "customer", "from_stage": "sql"})
    assert response.status_code == 403  # the role may not: 403 (409 is for the lead's state)
    assert "Your role may not move a lead from SQL to Customer." in response.content.decode()


def test_a_move_the_table_does_not_have_is_refused(marketer_client):
    lead = lead_in_stage("mql")
    response = marketer_client.post(reverse("lead-move", args=[lead.pk]), {"to_stage": "customer"})
    assert response.status_code == 409
    assert "A lead cannot move from MQL to Customer." in response.content.decode()


def test_a_role_without_the_move_is_told_why(client_as, service_rep):
    lead = lead_in_stage("mql")
    response = client_as(service_rep).post(reverse("lead-move", args=[lead.pk]), {"to_stage": "sql"})
    assert response.status_code == 403
    assert "Your role may not move a lead from MQL to SQL." in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == "mql"


def test_marketing_edits_the_profile_and_errors_sit_beside_the_field(marketer_client):
    lead = lead_in_stage("mql", job_title="Intern", country="US")
    url = reverse("lead-profile", args=[lead.pk])
    data = {"first_name": "Ada", "last_name": "L", "company": "Initech", "job_title": "VP Marketing", "country": "D1"}
    response = marketer_client.post(url, data)
    assert response.status_code == 422
    assert "Use the two-letter country code" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).job_title == "Intern"

    response = marketer_client.post(url, {**data, "country": "de"})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.job_title, lead.country, lead.company) == ("VP Marketing", "DE", "Initech")
    assert lead.score_stale  # a fit field changed: scoring recomputes it
    assert lead.pk in queued_lead_ids()


def test_service_sees_the_profile_read_only(client_as, service_rep):
    lead = lead_in_stage("customer", company="Initech")
    client = client_as(service_rep)
    response = client.get(detail(lead))
    assert response.context["profile_form"] is None
    refused = client.post(reverse("lead-profile", args=[lead.pk]), {"company": "Evil"})
    assert refused.status_code == 403
    assert "Your role may not edit this lead&#x27;s profile." in refused.content.decode()
    assert Lead.objects.get(pk=lead.pk).company == "Initech"


def test_notes_calls_and_emails(marketer_client, marketer):
    lead = lead_in_stage("mql")
    url = reverse("lead-note-add", args=[lead.pk])
    assert marketer_client.post(url, {"kind": "call", "body": "  "}).status_code == 422
    assert marketer_client.post(url, {"kind": "call", "body": "Left a voicemail"}).status_code == 302
    note = Note.objects.get(lead=lead)
    assert (note.kind, note.body, note.author) == ("call", "Left a voicemail", marketer)


def test_a_sales_rep_cannot_open_a_lead_they_cannot_see(client_as, sales_rep):
    lead = lead_in_stage("mql")
    assert client_as(sales_rep).get(detail(lead)).status_code == 404


@pytest.mark.parametrize(
    ("stage", "reached", "expected"),
    [
        ("lead", set(), ["current", "todo", "todo", "todo"]),
        ("sql", {"lead", "mql"}, ["done", "done", "current", "todo"]),
        ("customer", {"lead", "sql"}, ["done", "done", "done", "won"]),
        ("disqualified", {"lead", "mql"}, ["done", "done", "todo", "todo", "lost"]),
    ],
)
def test_stage_path(stage, reached, expected):
    assert [step.state for step in stage_path(Lead(stage=stage), reached)] == expected


def test_the_mql_list_links_to_the_lead(marketer_client):
    lead = lead_in_stage("mql")
    assert f'href="{detail(lead)}?list="' in marketer_client.get(reverse("mql-list")).content.decode()


def test_previous_and_next_within_the_list_it_came_from(marketer_client):
    low, middle, high = (lead_in_stage("mql", score=score, source="webinar") for score in (10, 20, 30))
    lead_in_stage("mql", score=25, source="ads")  # not in the filtered list
    query = "source=webinar"
    response = marketer_client.get(detail(middle), {"list": query})
    suffix = "?list=source%3Dwebinar"
    assert response.context["previous_url"] == detail(high) + suffix
    assert response.context["next_url"] == detail(low) + suffix
    assert response.context["back_url"] == reverse("mql-list") + "?source=webinar"
    last = marketer_client.get(detail(low), {"list": query}).context
    assert last["next_url"] == ""


def test_the_list_links_carry_the_list(marketer_client):
    lead = lead_in_stage("mql", source="webinar")
    html = marketer_client.get(reverse("mql-list"), {"source": "webinar"}).content.decode()
    assert f'href="{detail(lead)}?list=source%3Dwebinar"' in html


def test_admins_find_the_privacy_page_from_the_lead_and_marketers_do_not(marketer_client, client_as, admin_user):
    lead = lead_in_stage("mql")
    privacy = reverse("privacy-person", args=[lead.pk])
    assert privacy in client_as(admin_user).get(detail(lead)).content.decode()
    assert privacy not in marketer_client.get(detail(lead)).content.decode()
