"""The benchmark suite's seeder (bench/seed.py) at a tiny scale: exact counts, realistic spreads,
consistent events, the schema rebuilt as it was, and reruns that reuse the seed and undo what the
benchmarks changed."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, Max, Min

from bench import seed
from leads.models import EngagementEvent, Lead
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SCALE = 0.0005  # 500 leads, 5,000 events


def quiet(message: str) -> None:
    pass


def schema(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s "
            "UNION ALL SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass",
            [table, table],
        )
        return {row[0] for row in cursor.fetchall()}


def test_it_seeds_the_exact_scale_with_every_stage_and_consistent_events():
    indexes_before = schema("leads_lead") | schema("leads_engagementevent")

    info = seed.seed(scale=SCALE, vacuum=False, say=quiet)

    assert (info.leads, info.events) == (500, 5000)
    assert Lead.objects.count() == 500
    assert EngagementEvent.objects.count() == 5000
    stages = dict(Lead.objects.values_list("stage").annotate(n=Count("id")))
    assert stages["mql"] == 50  # exactly 10%: the export benchmark's 100,000 rows at scale 1
    assert {"lead", "sql", "customer", "disqualified"} <= set(stages)
    assert Lead.objects.filter(stage="mql", score__lt=60).count() == 0
    assert not Lead.objects.exclude(stage__in=seed.SALES_OWNED_STAGES).filter(owner__isnull=False).exists()
    assert Lead.objects.filter(stage__in=seed.SALES_OWNED_STAGES, owner__isnull=False).exists()
    for column in ("source", "country", "industry", "utm_campaign", "job_title"):
        assert Lead.objects.values(column).distinct().count() >= 5, column
    assert len(set(EngagementEvent.objects.values_list("event_type", flat=True))) >= 10

    # Each lead's events fall between its creation and its last activity, which is its last event.
    spans = Lead.objects.annotate(first=Min("events__occurred_at"), last=Max("events__occurred_at"))
    for lead in spans:
        if lead.last is None:
            assert lead.last_activity_at is None
        else:
            assert lead.created_at - timedelta(seconds=1) <= lead.first
            assert lead.last == lead.last_activity_at
    # The indexes and foreign keys dropped around the load are all back.
    assert schema("leads_lead") | schema("leads_engagementevent") == indexes_before
    # New rows get ids after the seeded ones.
    assert Lead.objects.create(email="after@example.com").pk == 501


def test_a_rerun_reuses_the_seed_and_undoes_what_the_benchmarks_changed():
    info = seed.seed_or_reuse(scale=SCALE, reseed=False, vacuum=False, say=quiet)
    assert not info.reused
    extra = Lead.objects.create(email="new@bench.example")
    EngagementEvent.objects.create(lead=extra, event_type="page_view", occurred_at=extra.created_at)
    seeded = Lead.objects.get(pk=7)
    Lead.objects.filter(pk=7).update(score=999, stage="customer", score_stale=True)

    again = seed.seed_or_reuse(scale=SCALE, reseed=False, vacuum=False, say=quiet)

    assert again.reused
    assert not Lead.objects.filter(pk=extra.pk).exists()
    assert Lead.objects.count() == 500
    assert EngagementEvent.objects.count() == 5000
    restored = Lead.objects.get(pk=7)
    assert (restored.score, restored.stage, restored.score_stale) == (seeded.score, seeded.stage, False)


def test_another_scale_or_reseed_seeds_again():
    seed.seed_or_reuse(scale=SCALE, reseed=False, vacuum=False, say=quiet)

    bigger = seed.seed_or_reuse(scale=SCALE * 2, reseed=False, vacuum=False, say=quiet)
    assert not bigger.reused
    assert Lead.objects.count() == 1000

    forced = seed.seed_or_reuse(scale=SCALE * 2, reseed=True, vacuum=False, say=quiet)
    assert not forced.reused


def test_it_refuses_to_wipe_leads_it_did_not_seed():
    owner = UserFactory()
    Lead.objects.create(email="someone@example.com", owner=owner)

    with pytest.raises(SystemExit, match="did not seed"):
        seed.seed_or_reuse(scale=SCALE, reseed=False, vacuum=False, say=quiet)

    assert Lead.objects.filter(email="someone@example.com").exists()
