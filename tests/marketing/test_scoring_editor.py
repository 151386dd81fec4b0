import re

import pytest
from django.urls import reverse

from leads.charts import histogram_svg
from scoring.models import EngagementRule, FitRule, RescoreJob, RuleSet, RuleSetStatus
from scoring.services import ruleset_create_draft, ruleset_ensure_published
from tests.factories import LeadFactory

PAGE = reverse("scoring-rules")


@pytest.fixture
def published(db):
    return ruleset_ensure_published()


@pytest.fixture
def draft(published, marketer):
    return ruleset_create_draft(user=marketer)


def test_only_marketing_manages_scoring(client_as, sales_rep, published):
    assert client_as(sales_rep).get(PAGE).status_code == 403


def test_the_published_rules_are_read_only_until_a_draft_starts(marketer_client, published):
    html = marketer_client.get(PAGE).content.decode()
    assert 'data-testid="start-draft"' in html
    assert "Save rule" not in html
    response = marketer_client.post(reverse("scoring-draft-create"))
    assert response.status_code == 302
    draft = RuleSet.objects.get(status=RuleSetStatus.DRAFT)
    assert draft.fit_rules.count() == published.fit_rules.count()
    assert "Save rule" in marketer_client.get(PAGE).content.decode()


def test_add_edit_and_remove_an_engagement_rule(marketer_client, draft):
    url = reverse("scoring-rule-add", args=["engagement"])
    data = {"engagement-new-name": "Case study", "engagement-new-event_type": "content_download"}
    response = marketer_client.post(url, {**data, "engagement-new-points": "7", "engagement-new-cap": "21"})
    assert response.status_code == 302
    rule = EngagementRule.objects.get(ruleset=draft, name="Case study")
    assert (rule.points, rule.cap, rule.event_type) == (7, 21, "content_download")

    edit = reverse("scoring-rule-edit", args=["engagement", rule.pk])
    prefix = f"engagement-{rule.pk}"
    marketer_client.post(
        edit, {f"{prefix}-name": "Case study", f"{prefix}-event_type": "content_download", f"{prefix}-points": "-3"}
    )
    rule.refresh_from_db()
    assert rule.points == -3

    marketer_client.post(reverse("scoring-rule-delete", args=["engagement", rule.pk]))
    assert not EngagementRule.objects.filter(pk=rule.pk).exists()


def test_an_invalid_rule_shows_errors_beside_its_fields(marketer_client, draft):
    url = reverse("scoring-rule-add", args=["engagement"])
    response = marketer_client.post(
        url, {"engagement-new-name": "", "engagement-new-event_type": "page_view", "engagement-new-property_key": "url"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "This field is required." in html
    assert "Choose how the property must match." in html
    assert not EngagementRule.objects.filter(ruleset=draft, name="").exists()


def test_fit_rules_need_their_values(marketer_client, draft):
    url = reverse("scoring-rule-add", args=["fit"])
    base = {"fit-new-name": "Big", "fit-new-kind": "company_size_at_least", "fit-new-points": "5"}
    assert marketer_client.post(url, base).status_code == 422
    assert marketer_client.post(url, {**base, "fit-new-threshold": "5000"}).status_code == 302
    assert FitRule.objects.get(ruleset=draft, name="Big").threshold == 5000
    countries = {
        "fit-new-name": "DACH",
        "fit-new-kind": "country_in",
        "fit-new-points": "4",
        "fit-new-values_text": "de, at,ch",
    }
    marketer_client.post(url, countries)
    assert FitRule.objects.get(ruleset=draft, name="DACH").values == ["DE", "AT", "CH"]


def test_published_rules_cannot_be_edited_through_the_page(marketer_client, published):
    rule = published.engagement_rules.first()
    prefix = f"engagement-{rule.pk}"
    marketer_client.post(
        reverse("scoring-rule-edit", args=["engagement", rule.pk]),
        {f"{prefix}-name": "Hacked", f"{prefix}-event_type": "page_view", f"{prefix}-points": "99"},
    )
    rule.refresh_from_db()
    assert rule.name != "Hacked"


def test_thresholds(marketer_client, draft):
    response = marketer_client.post(reverse("scoring-thresholds"), {"mql_threshold": "0", "pql_threshold": "40"})
    assert response.status_code == 422
    assert "greater than or equal to 1" in response.content.decode()
    marketer_client.post(reverse("scoring-thresholds"), {"mql_threshold": "45", "pql_threshold": "30"})
    draft.refresh_from_db()
    assert (draft.mql_threshold, draft.pql_threshold) == (45, 30)


def test_preview_shows_stage_counts_and_the_histogram(marketer_client, draft):
    LeadFactory.create_batch(3)
    draft.mql_threshold = 1
    draft.save()
    html = marketer_client.get(reverse("scoring-preview")).content.decode()
    assert 'data-testid="preview-stages"' in html
    assert "<svg" in html
    assert "MQL ≥ 1" in html
    inline = marketer_client.get(PAGE, {"preview": "1"}).content.decode()
    assert 'data-testid="preview"' in inline


def test_publish_starts_a_rescore_whose_progress_is_polled(marketer_client, draft, django_capture_on_commit_callbacks):
    LeadFactory.create_batch(3)
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(reverse("scoring-publish"))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == RuleSetStatus.PUBLISHED and draft.version == 2
    job = RescoreJob.objects.get(ruleset=draft)
    fragment = marketer_client.get(reverse("scoring-rescore", args=[job.pk])).content.decode()
    assert 'data-status="done"' in fragment
    assert "hx-trigger" not in fragment  # polling stops when the job is over
    assert "3 of 3 leads" in fragment


def test_a_running_rescore_keeps_polling(marketer_client, published):
    job = RescoreJob.objects.create(ruleset=published, reason="manual", total=10, done=4)
    fragment = marketer_client.get(reverse("scoring-rescore", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in fragment
    assert 'style="width: 40%"' in fragment


def test_histogram_svg_escapes_and_places_the_threshold():
    svg = histogram_svg(labels=["<0", "0-9", ">= 10"], current=[1, 2, 3], proposed=[0, 1, 5], threshold=5)
    assert "&lt;0" in svg and "<0<" not in svg
    x = float(re.search(r'class="chart-threshold" x1="([\d.]+)"', svg).group(1))
    slot = (640 - 44 - 12) / 3
    assert x == pytest.approx(44 + slot * 1.5, abs=0.1)


def test_test_a_lead_scores_it_rule_by_rule_with_the_draft(marketer_client, draft):
    from tests.factories import EngagementEventFactory

    lead = LeadFactory(job_title="VP Marketing", email="vp@initech.example")
    EngagementEventFactory(lead=lead, event_type="webinar_attended")
    response = marketer_client.get(reverse("scoring-preview"), {"lead": "VP@initech.example"})
    html = response.content.decode()
    assert "Senior title" in html
    assert 'data-testid="test-lead-total"' in html
    assert (
        "No lead has" in marketer_client.get(reverse("scoring-preview"), {"lead": "nobody@x.example"}).content.decode()
    )
