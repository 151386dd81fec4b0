"""Rule sets: the draft, editing, publishing as the next version, rescoring in chunks, preview."""

import pytest
from django.utils import timezone

from leads.models import Lead, StageChange
from scoring import services
from scoring.exceptions import NothingToPublish, RuleSetNotEditable
from scoring.models import RescoreJob, RescoreReason, RescoreStatus, RuleSet, RuleSetStatus
from scoring.preview import ruleset_preview
from scoring.selectors import rescore_jobs_stalled
from scoring.tasks import decay_refresh_task, sweep_stale_scores_task
from tests.factories import LeadFactory

from .helpers import event, store_events_quietly

pytestmark = pytest.mark.django_db

PLAIN = {"job_title": "Engineer", "company_size": 10, "industry": "Retail", "country": "BR"}


def scored_leads(count, items, **fields):
    leads = []
    for i in range(count):
        lead = LeadFactory(**{**PLAIN, "email": f"l{i}-{timezone.now().timestamp()}@acme.io", **fields})
        store_events_quietly(lead, items)
        leads.append(lead)
    services.scores_recompute_stale()
    return leads


def test_the_default_rule_set_is_published_as_version_1():
    ruleset = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    assert ruleset.version == 1
    assert ruleset.high_intent_event_types == ["demo_request", "contact_sales"]
    assert ruleset.fit_rules.filter(kind="email_free_mail", points__lt=0).exists()
    assert ruleset.engagement_rules.filter(event_type="unsubscribe", points__lt=0).exists()
    assert ruleset.engagement_rules.filter(property_key="url", property_operator="contains").exists()


def test_a_draft_is_a_copy_of_the_published_version_and_is_created_once():
    draft = services.ruleset_create_draft()
    assert services.ruleset_create_draft() == draft
    published = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    assert (draft.status, draft.version, draft.based_on) == ("draft", None, published)
    assert draft.engagement_rules.count() == published.engagement_rules.count()
    assert draft.fit_rules.count() == published.fit_rules.count()
    assert draft.mql_threshold == published.mql_threshold


def test_published_versions_cannot_change():
    published = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    with pytest.raises(RuleSetNotEditable):
        services.ruleset_update(ruleset=published, mql_threshold=1)
    with pytest.raises(RuleSetNotEditable):
        services.engagement_rule_create(ruleset=published, name="x", event_type="x", points=1)
    with pytest.raises(RuleSetNotEditable):
        services.fit_rule_delete(rule=published.fit_rules.first())
    with pytest.raises(NothingToPublish):
        services.ruleset_publish(ruleset_id=published.pk)


def test_publishing_makes_the_next_version_archives_the_previous_and_rescores_every_lead(
    django_capture_on_commit_callbacks,
):
    leads = scored_leads(5, [event("content_download")] * 3)  # fit 0, engagement 24
    assert {lead.stage for lead in Lead.objects.all()} == {"lead"}
    draft = services.ruleset_create_draft()
    services.ruleset_update(ruleset=draft, mql_threshold=20)
    services.engagement_rule_create(ruleset=draft, name="Trade show", event_type="trade_show", points=25)

    with django_capture_on_commit_callbacks(execute=True):
        job = services.ruleset_publish(ruleset_id=draft.pk)

    draft.refresh_from_db()
    assert (draft.status, draft.version) == ("published", 2)
    assert RuleSet.objects.get(version=1).status == RuleSetStatus.ARCHIVED
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.moved) == (RescoreStatus.DONE, 5, 5, 5)
    assert job.progress == 1.0
    for lead in leads:
        lead.refresh_from_db()
        assert (lead.score_ruleset_version, lead.stage) == (2, "mql")
        assert StageChange.objects.get(lead=lead).reason == "score 24 reached MQL threshold 20 (rule set v2)"


def test_publish_starts_the_rescore_after_commit(django_capture_on_commit_callbacks):
    scored_leads(2, [event("email_open")])
    draft = services.ruleset_create_draft()
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.ruleset_publish(ruleset_id=draft.pk)
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert (job.status, job.done) == (RescoreStatus.RUNNING, 0)


def test_a_rescore_advances_chunk_by_chunk_and_resumes_where_it_stopped(django_capture_on_commit_callbacks):
    scored_leads(5, [event("email_open")])
    draft = services.ruleset_create_draft()
    with django_capture_on_commit_callbacks():
        job = services.ruleset_publish(ruleset_id=draft.pk)

    assert services.rescore_job_run(job_id=job.pk, chunk_size=2, time_budget=0) is False
    job.refresh_from_db()
    assert (job.done, job.status) == (2, RescoreStatus.RUNNING)
    assert Lead.objects.filter(score_ruleset_version=2).count() == 2

    assert services.rescore_job_run(job_id=job.pk, chunk_size=2, time_budget=60) is True
    job.refresh_from_db()
    assert (job.done, job.status) == (5, RescoreStatus.DONE)
    assert Lead.objects.filter(score_ruleset_version=2).count() == 5
    # Running a finished job again does nothing.
    assert services.rescore_job_run(job_id=job.pk) is True


def test_a_newer_publish_cancels_the_running_rescore(django_capture_on_commit_callbacks):
    scored_leads(2, [event("email_open")])
    with django_capture_on_commit_callbacks():
        first = services.ruleset_publish(ruleset_id=services.ruleset_create_draft().pk)
        second = services.ruleset_publish(ruleset_id=services.ruleset_create_draft().pk)
    first.refresh_from_db()
    assert first.status == RescoreStatus.CANCELLED
    assert services.rescore_job_run(job_id=second.pk) is True
    assert set(Lead.objects.values_list("score_ruleset_version", flat=True)) == {3}


def test_the_sweeper_scores_leads_whose_nudge_was_lost_and_restarts_stalled_rescores(
    django_capture_on_commit_callbacks,
):
    lead = LeadFactory(**PLAIN)
    store_events_quietly(lead, [event("email_click")])
    with django_capture_on_commit_callbacks():
        job = services.ruleset_publish(ruleset_id=services.ruleset_create_draft().pk)
    RescoreJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timezone.timedelta(minutes=5))
    assert rescore_jobs_stalled() == [job.pk]

    sweep_stale_scores_task.apply()

    lead.refresh_from_db()
    job.refresh_from_db()
    assert (lead.score_stale, lead.engagement_score) == (False, 3)
    assert job.status == RescoreStatus.DONE


def test_the_daily_decay_refresh_rescores_leads_with_engagement(django_capture_on_commit_callbacks):
    (lead,) = scored_leads(1, [event("webinar_attended", days_ago=60)])
    quiet = LeadFactory(**PLAIN, email="quiet@acme.io")
    lead.refresh_from_db()
    assert lead.engagement_score == 5
    Lead.objects.filter(pk=lead.pk).update(engagement_score=10, score=10)  # as scored 60 days ago

    with django_capture_on_commit_callbacks(execute=True):
        decay_refresh_task.apply()

    job = RescoreJob.objects.get(reason=RescoreReason.DECAY)
    assert (job.total, job.done, job.status) == (1, 1, RescoreStatus.DONE)
    lead.refresh_from_db()
    quiet.refresh_from_db()
    assert (lead.engagement_score, lead.score) == (5, 5)
    assert quiet.scored_at is None


def test_preview_shows_score_distribution_and_stage_changes_without_writing():
    scored_leads(3, [event("content_download")] * 3)  # 24 points each
    scored_leads(2, [event("trial_started")] + [event("product_active_day")] * 2)  # product 25
    draft = services.ruleset_create_draft()
    services.ruleset_update(ruleset=draft, mql_threshold=20, pql_threshold=25)
    before = list(Lead.objects.order_by("id").values_list("score", "stage", "score_ruleset_version"))

    result = ruleset_preview(ruleset=draft)

    assert result["leads"] == 5
    assert result["newly"] == {"mql": 3, "sql": 0, "pql": 2}
    stages = {row["stage"]: (row["current"], row["proposed"]) for row in result["stages"]}
    assert stages["lead"] == (5, 0)
    assert stages["mql"] == (0, 3)
    assert stages["pql"] == (0, 2)
    assert result["score_changes"] == {"up": 0, "down": 0, "same": 5}
    assert result["current"]["histogram"] == result["proposed"]["histogram"]
    assert sum(result["proposed"]["histogram"]) == 5
    assert len(result["histogram_buckets"]) == len(result["proposed"]["histogram"])
    assert list(Lead.objects.order_by("id").values_list("score", "stage", "score_ruleset_version")) == before


def test_preview_of_a_draft_that_changes_points():
    scored_leads(4, [event("email_click")])  # 3 points
    draft = services.ruleset_create_draft()
    rule = draft.engagement_rules.get(event_type="email_click")
    services.engagement_rule_update(rule=rule, points=10)
    result = ruleset_preview(ruleset=draft)
    assert result["score_changes"] == {"up": 4, "down": 0, "same": 0}
    assert result["current"]["median"] == 3
    assert result["proposed"]["median"] == 10
