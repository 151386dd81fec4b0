"""Reads of the scoring app: rule sets as the engine sees them, and leads' events in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import F, QuerySet
from django.utils import timezone

from leads.models import EngagementEvent, Lead

from . import engine
from .models import RescoreJob, RescoreStatus, RuleSet, RuleSetStatus

# Published and archived versions never change, so their engine form is built once per process.
_ENGINE_CACHE: dict[int, engine.RuleSet] = {}

# The lead columns the engine needs, in the order lead_facts() reads them.
LEAD_FACT_FIELDS = (
    "id",
    "email",
    "job_title",
    "company_size",
    "industry",
    "country",
    "stage",
    "owner_id",
    "stage_changed_at",
)


def ruleset_published() -> RuleSet | None:
    return RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()


def ruleset_draft() -> RuleSet | None:
    return RuleSet.objects.filter(status=RuleSetStatus.DRAFT).first()


def ruleset_list() -> QuerySet[RuleSet]:
    """The draft first, then every published version, newest first: the history."""
    return RuleSet.objects.order_by(F("version").desc(nulls_first=True), "-id").prefetch_related(
        "engagement_rules", "fit_rules"
    )


def ruleset_get(*, ruleset_id: int) -> RuleSet:
    return RuleSet.objects.prefetch_related("engagement_rules", "fit_rules").get(pk=ruleset_id)


def engine_ruleset(ruleset: RuleSet) -> engine.RuleSet:
    """The engine form of a rule set (cached for versions, which are immutable)."""
    if not ruleset.is_draft and ruleset.pk in _ENGINE_CACHE:
        return _ENGINE_CACHE[ruleset.pk]
    built = engine.RuleSet(
        engagement_rules=[
            engine.EngagementRule(
                id=rule.pk,
                name=rule.name,
                event_type=rule.event_type,
                points=rule.points,
                property_key=rule.property_key,
                property_operator=rule.property_operator,
                property_value=rule.property_value,
                cap=rule.cap,
                half_life_days=rule.half_life_days,
            )
            for rule in ruleset.engagement_rules.all()
        ],
        fit_rules=[
            engine.FitRule(
                id=rule.pk,
                name=rule.name,
                kind=rule.kind,
                points=rule.points,
                values=tuple(str(value) for value in rule.values or ()),
                threshold=rule.threshold,
            )
            for rule in ruleset.fit_rules.all()
        ],
        mql_threshold=ruleset.mql_threshold,
        pql_threshold=ruleset.pql_threshold,
        pql_event_types=frozenset(ruleset.pql_event_types or ()),
        high_intent_event_types=frozenset(ruleset.high_intent_event_types or ()),
        version=ruleset.version,
    )
    if not ruleset.is_draft:
        _ENGINE_CACHE[ruleset.pk] = built
    return built


def raw_cursor():
    """A psycopg cursor with server-side parameter binding on Django's connection (so in its
    transaction). Django's cursors bind client-side: quoting arrays of thousands of values into
    the SQL text cost more than the query itself."""
    connection.ensure_connection()
    return connection.connection.cursor()


def lead_facts(row: tuple) -> engine.LeadFacts:
    """LeadFacts from a values_list(*LEAD_FACT_FIELDS) row."""
    _, email, job_title, company_size, industry, country, stage, owner_id, stage_changed_at = row
    return engine.LeadFacts(
        email=email,
        job_title=job_title,
        company_size=company_size,
        industry=industry,
        country=country,
        stage=stage,
        has_owner=owner_id is not None,
        stage_changed_at=stage_changed_at.timestamp() if stage_changed_at else 0.0,
    )


def events_by_lead(lead_ids: Iterable[int], ruleset: engine.RuleSet) -> dict[int, list[engine.Event]]:
    """Every stored event of these leads that the rule set can use, in one query.

    Only event types a rule (or a threshold) names are read, and properties only for the types
    a property rule looks at: decoding JSON nobody reads would cost more than scoring.
    """
    lead_ids = list(lead_ids)
    relevant = sorted(ruleset.relevant_event_types())
    with_properties = sorted(ruleset.event_types_with_property_rules())
    result: dict[int, list[engine.Event]] = defaultdict(list)
    if not lead_ids or not relevant:
        return result
    if connection.vendor == "postgresql":
        # Epoch floats straight from SQL and, instead of whole property documents, only the
        # values the property rules look at, as text: no datetime and no JSON decoding per event.
        keys = ruleset.property_keys()
        key_columns = "".join(", CASE WHEN event_type = ANY(%s) THEN properties ->> %s END" for _ in keys)
        sql = (
            "SELECT lead_id, event_type, EXTRACT(EPOCH FROM occurred_at)::float8, "
            f"EXTRACT(EPOCH FROM received_at)::float8, NULL::jsonb{key_columns} "
            f"FROM {EngagementEvent._meta.db_table} WHERE lead_id = ANY(%s) AND event_type = ANY(%s)"
        )
        params: list = []
        for key in keys:
            params += [with_properties, key]
        with raw_cursor() as cursor:
            cursor.execute(sql, [*params, lead_ids, relevant])
            rows = cursor.fetchall()
        if not keys:
            for row in rows:
                result[row[0]].append(row[1:])  # (event_type, occurred_at, received_at, None)
            return result
        if len(keys) == 1:  # the common case, without a generator per event
            (key,) = keys
            for row in rows:
                value = row[5]
                result[row[0]].append(row[1:5] if value is None else (row[1], row[2], row[3], {key: value}))
            return result
        for row in rows:
            values = row[5:]
            if any(value is not None for value in values):
                properties = {key: value for key, value in zip(keys, values, strict=True) if value is not None}
                result[row[0]].append((row[1], row[2], row[3], properties))
            else:
                result[row[0]].append(row[1:5])
        return result
    wanted_properties = set(with_properties)
    rows = EngagementEvent.objects.filter(lead_id__in=lead_ids, event_type__in=relevant).values_list(
        "lead_id", "event_type", "occurred_at", "received_at", "properties"
    )
    for lead_id, event_type, occurred_at, received_at, properties in rows.order_by():
        result[lead_id].append(
            engine.Event(
                event_type,
                occurred_at.timestamp(),
                received_at.timestamp(),
                properties if event_type in wanted_properties else None,
            )
        )
    return result


def rule_totals_by_lead(
    *,
    ruleset: engine.RuleSet,
    now: float,
    lead_ids: list[int] | None = None,
    after_id: int = 0,
    upto_id: int = 0,
) -> dict[int, engine.RuleTotals]:
    """engine.sum_events() for these leads (or every lead with after_id < id <= upto_id), done by
    PostgreSQL.

    The rules travel as a VALUES list joined to the events on the event type, so each event is
    tested only against its own type's rules, and PostgreSQL sums the decayed points per lead and
    rule in C: about a second for a million events, where Python needs tens. The what-if preview
    uses it; the match and the decay mirror engine.EngagementRule.matches() and engine.sum_events().
    """
    result: dict[int, engine.RuleTotals] = {}
    events_table, leads_table = EngagementEvent._meta.db_table, Lead._meta.db_table
    if lead_ids is not None:
        which, which_params = "e.lead_id = ANY(%s)", [list(lead_ids)]
    else:
        which, which_params = "e.lead_id > %s AND e.lead_id <= %s", [after_id, upto_id]
    rules = ruleset.engagement_rules
    if rules:
        values = ", ".join(["(%s::int, %s::text, %s::text, %s::text, %s::text, %s::float8, %s::float8)"] * len(rules))
        params: list = []
        for position, rule in enumerate(rules):
            params += [
                position,
                rule.event_type,
                rule.property_key or None,
                rule.property_operator or None,
                (rule.property_value or "").lower(),
                float(rule.points),
                rule.half_life_days * engine.SECONDS_PER_DAY if rule.half_life_days else None,
            ]
        sql = (
            "SELECT e.lead_id, r.position, "
            "SUM(CASE WHEN r.half_life IS NULL THEN r.points ELSE r.points * power(0.5::float8, "
            "GREATEST(%s::float8 - EXTRACT(EPOCH FROM e.occurred_at)::float8, 0) / r.half_life) END), COUNT(*) "
            f"FROM {events_table} e JOIN (VALUES {values}) AS r(position, event_type, key, operator, value, points, "
            "half_life) ON r.event_type = e.event_type "
            f"WHERE {which} AND (r.key IS NULL "
            "OR (r.operator = 'contains' AND strpos(lower(e.properties ->> r.key), r.value) > 0) "
            "OR (r.operator <> 'contains' AND lower(e.properties ->> r.key) = r.value)) "
            "GROUP BY e.lead_id, r.position"
        )
        with raw_cursor() as cursor:
            cursor.execute(sql, [now, *params, *which_params])
            for lead_id, position, points, count in cursor.fetchall():
                totals = result.get(lead_id)
                if totals is None:
                    totals = result[lead_id] = engine.RuleTotals()
                totals.sums[position] = float(points)
                totals.counts[position] = count
    signal_types = sorted(ruleset.high_intent_event_types | ruleset.pql_event_types)
    if signal_types:
        # Events that can move a lead, received since its last stage change: few, so a second query.
        sql = (
            f"SELECT DISTINCT e.lead_id, e.event_type FROM {events_table} e "
            f"JOIN {leads_table} l ON l.id = e.lead_id WHERE {which} "
            "AND e.event_type = ANY(%s) AND e.received_at > l.stage_changed_at"
        )
        with raw_cursor() as cursor:
            cursor.execute(sql, [*which_params, signal_types])
            for lead_id, event_type in cursor.fetchall():
                totals = result.get(lead_id)
                if totals is None:
                    totals = result[lead_id] = engine.RuleTotals()
                if event_type in ruleset.high_intent_event_types:
                    totals.fresh_high_intent.add(event_type)
                if event_type in ruleset.pql_event_types:
                    totals.fresh_product = True
    return result


def lead_score_explain(*, lead_id: int) -> dict:
    """A lead's stored score and the breakdown that names each rule and its points."""
    lead = Lead.objects.only(
        "id",
        "score",
        "fit_score",
        "engagement_score",
        "score_breakdown",
        "score_ruleset_version",
        "scored_at",
        "score_stale",
    ).get(pk=lead_id)
    return {
        "lead_id": lead.pk,
        "score": lead.score,
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
        "breakdown": lead.score_breakdown,
        "ruleset_version": lead.score_ruleset_version,
        "scored_at": lead.scored_at,
        "stale": lead.score_stale,
    }


def rescore_job_list() -> QuerySet[RescoreJob]:
    return RescoreJob.objects.select_related("ruleset").order_by("-created_at", "-id")


def rescore_job_get(*, job_id: int) -> RescoreJob:
    return RescoreJob.objects.select_related("ruleset").get(pk=job_id)


def rescore_jobs_stalled(*, older_than_seconds: int = 60) -> list[int]:
    """Running jobs nobody advanced lately (their task was lost with a killed worker)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        RescoreJob.objects.filter(status=RescoreStatus.RUNNING, updated_at__lt=cutoff).values_list("id", flat=True)
    )


def stale_lead_count() -> int:
    return Lead.objects.filter(score_stale=True).count()


def as_timestamp(value: datetime | None) -> float:
    return value.timestamp() if value else 0.0
