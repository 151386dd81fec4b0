"""Stale marks reach the worker through the pending-activity queue (issue 9, scoring throughput):
every mark queues its leads, the migration queued the leads marked before it, and rescoring a
marked lead whose score does not move is a HOT update on PostgreSQL."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import DatabaseError, connection
from django.utils import timezone

from leads import activity
from leads.models import Lead, PendingActivity
from leads.services import lead_mark_score_stale
from scoring import services
from scoring.services import scores_recompute_stale
from tests.factories import LeadFactory

from .helpers import event, queued_lead_ids, store_events_quietly

pytestmark = pytest.mark.django_db

PLAIN = {"job_title": "Engineer", "company_size": 10, "industry": "Retail", "country": "BR"}


def leads(count: int, **fields) -> list[Lead]:
    return [LeadFactory(**{**PLAIN, "email": f"m{i}@acme.io", **fields}) for i in range(count)]


def test_a_mark_queues_its_leads_in_rows_of_bounded_size_with_no_activity_time(monkeypatch):
    monkeypatch.setattr(activity, "MARK_ROW_LEADS", 2)
    marked = leads(5)

    lead_mark_score_stale(lead_ids=[lead.pk for lead in reversed(marked)])

    rows = list(PendingActivity.objects.order_by("id"))
    assert [row.lead_count for row in rows] == [2, 2, 1]
    assert [row.activity for row in rows] == [
        [{"l": marked[0].pk}, {"l": marked[1].pk}],
        [{"l": marked[2].pk}, {"l": marked[3].pk}],
        [{"l": marked[4].pk}],
    ]
    assert Lead.objects.filter(score_stale=True, score_stale_since__isnull=False).count() == 5


def test_a_drain_of_marks_scores_the_leads_and_leaves_their_last_activity_alone():
    last_activity = timezone.now() - timedelta(days=3)
    marked = leads(3, last_activity_at=last_activity)
    lead_mark_score_stale(lead_ids=[lead.pk for lead in marked])

    outcome = scores_recompute_stale()

    assert outcome.leads == 3
    assert not PendingActivity.objects.exists()
    for lead in marked:
        lead.refresh_from_db()
        assert (lead.score_stale, lead.score_stale_since) == (False, None)
        assert lead.scored_at is not None and lead.last_activity_at == last_activity


def test_a_mark_and_queued_events_of_one_lead_are_scored_together():
    (lead,) = leads(1)
    lead_mark_score_stale(lead_ids=[lead.pk])
    occurred = timezone.now() - timedelta(minutes=5)
    activity.pending_activity_add({lead.pk: occurred})
    store_events_quietly(lead, [event("email_click")])  # the event itself, and a second mark

    assert scores_recompute_stale().leads == 1

    lead.refresh_from_db()
    assert (lead.score_stale, lead.engagement_score, lead.last_activity_at) == (False, 3, occurred)
    assert not PendingActivity.objects.exists()


def test_a_lead_whose_move_fails_is_marked_and_queued_again_without_spinning(monkeypatch):
    lead = LeadFactory(job_title="Director", company_size=200, industry="Software", country="US")
    store_events_quietly(lead, [event("content_download")] * 4)  # past the MQL threshold

    def failing_move(**kwargs):
        raise DatabaseError("the move's savepoint was rolled back")

    monkeypatch.setattr(services, "lead_transition", failing_move)
    outcome = scores_recompute_stale()

    # Scored twice: the mark's pass, then the re-mark's pass, which only retried: the drain stops.
    assert (outcome.leads, outcome.moved, outcome.remarked) == (2, 0, {lead.pk})
    lead.refresh_from_db()
    assert lead.stage == "lead" and lead.score_stale
    assert queued_lead_ids() == {lead.pk}  # left for the sweeper

    monkeypatch.undo()
    scores_recompute_stale()  # the sweeper's drain, with the move working again
    lead.refresh_from_db()
    assert lead.stage == "mql" and not lead.score_stale
    assert not PendingActivity.objects.exists()


def test_the_migration_queues_the_leads_marked_before_it(monkeypatch):
    migration = importlib.import_module("leads.migrations.0019_stale_marks_queued")
    monkeypatch.setattr(migration, "ROW_LEADS", 2)
    marked = leads(3)
    unmarked = LeadFactory(email="calm@acme.io")
    # Marked the way every path marked before the migration: on the lead row only.
    Lead.objects.filter(pk__in=[lead.pk for lead in marked]).update(score_stale=True, score_stale_since=timezone.now())

    migration.queue_marked_leads(apps, connection.schema_editor())

    rows = list(PendingActivity.objects.order_by("id"))
    assert [row.lead_count for row in rows] == [2, 1]
    assert [entry for row in rows for entry in row.activity] == [{"l": lead.pk} for lead in marked]
    assert scores_recompute_stale().leads == 3
    assert not Lead.objects.filter(score_stale=True).exists()
    unmarked.refresh_from_db()
    assert unmarked.scored_at is None


def _lead_updates() -> tuple[int, int]:
    """(updates, HOT updates) of the lead table in this transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated(%s::regclass), pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
            [Lead._meta.db_table, Lead._meta.db_table],
        )
        return cursor.fetchone()


@pytest.mark.postgres
def test_rescoring_marked_leads_whose_score_does_not_move_is_a_hot_update():
    """The point of queueing marks: clearing score_stale changes no indexed column, so the score
    UPDATE writes no index entry. Controlled so that the page has room for the new versions (a
    full page makes any update non-HOT, whatever the indexes): two small leads, four versions
    each, all of this transaction (none can be pruned before it ends)."""
    marked = leads(2, last_activity_at=timezone.now())
    services.leads_score_now(lead_ids=[lead.pk for lead in marked])  # score and fit change: indexed
    lead_mark_score_stale(lead_ids=[lead.pk for lead in marked])
    updates, hot = _lead_updates()

    assert scores_recompute_stale().leads == 2

    after_updates, after_hot = _lead_updates()
    assert (after_updates - updates, after_hot - hot) == (2, 2)
    assert not Lead.objects.filter(score_stale=True).exists()
