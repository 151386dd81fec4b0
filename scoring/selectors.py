"""Reads of the scoring app: rule sets as the engine sees them, and leads' events in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import F, QuerySet
from django.utils import timezone

from leads.activity import score_is_stale
from leads.models import EngagementEvent, Lead

from . import engine
from .models import RescoreJob, RescoreStatus, RuleSet, RuleSetStatus

# Published and archived versions never change, so their engine form is built once per process.
_ENGINE_CACHE: dict[tuple, engine.RuleSet] = {}

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
    """The engine form of a rule set (cached for versions, which are immutable).

    Keyed by id and publication time: SQLite hands a rolled-back id out again (tests, a failed
    publish), and a reused id must not find another rule set's rules."""
    key = (ruleset.pk, ruleset.published_at)
    if not ruleset.is_draft and key in _ENGINE_CACHE:
        return _ENGINE_CACHE[key]
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
        _ENGINE_CACHE[key] = built
    return built


def raw_cursor():
    """psycopg's own cursor on Django's connection (so in its transaction), without Django's
    wrapper: parameters are adapted by psycopg (lists become arrays) rather than run through
    Django's adaptation value by value, which for thousands of ids cost more than the query.
    Binding is still client-side (Django's cursor factory); leads.db prepares statements."""
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
    PostgreSQL: the worker's read.

    One pass over the leads' events grouped by lead, with one SUM ... FILTER column (and one
    COUNT) per rule (_rule_sums_sql(), shared with the what-if preview) and one bool_or per
    signal event type (fresh since the last stage change): PostgreSQL sums the
    decayed points per lead and rule in C, about a second for a million events where Python
    needs tens. The match and the decay mirror engine.EngagementRule.matches() and
    engine.sum_events() (tests/scoring/test_rule_totals_sql.py compares them).
    """
    result: dict[int, engine.RuleTotals] = {}
    events_table, leads_table = EngagementEvent._meta.db_table, Lead._meta.db_table
    # The leads are named twice, for the events and for the leads' join: without the second, the
    # planner (which expects several times more events than there are) hashes the whole lead
    # table, a sequential scan per pass, and the cost of that plan made it JIT-compile too.
    if lead_ids is not None:
        events_which, leads_which, which_params = "e.lead_id = ANY(%s)", "l.id = ANY(%s)", [list(lead_ids)]
    else:
        events_which, leads_which = "e.lead_id > %s AND e.lead_id <= %s", "l.id > %s AND l.id <= %s"
        which_params = [after_id, upto_id]
    rule_count = len(ruleset.engagement_rules)
    signal_types = sorted(ruleset.high_intent_event_types | ruleset.pql_event_types)
    if not rule_count and not signal_types:
        return result
    columns, params = _rule_sums_sql(ruleset, now, with_counts=True) if rule_count else ([], [])
    # Events that can move a lead, received since its last stage change: the latest arrival per
    # signal type in the same pass, compared with the lead's stage change once per lead (a
    # second query over the same events cost a fifth of a pass; a join per event, more).
    for event_type in signal_types:
        columns.append("max(e.received_at) FILTER (WHERE e.event_type = %s)")
        params.append(event_type)
    event_types = sorted({rule.event_type for rule in ruleset.engagement_rules} | set(signal_types))
    outer = [f"a.c{n}" for n in range(2 * rule_count)]
    outer += [f"COALESCE(a.c{2 * rule_count + n} > l.stage_changed_at, FALSE)" for n in range(len(signal_types))]
    sql = (
        f"SELECT a.lead_id{''.join(', ' + column for column in outer)} FROM ("
        f"SELECT e.lead_id, {', '.join(f'{c} AS c{n}' for n, c in enumerate(columns))} FROM {events_table} e "
        f"WHERE {events_which} AND e.event_type = ANY(%s) GROUP BY e.lead_id"
        f") a JOIN {leads_table} l ON l.id = a.lead_id WHERE {leads_which}"
    )
    with raw_cursor() as cursor:
        cursor.execute(sql, [*params, *which_params, event_types, *which_params])
        rows = cursor.fetchall()
    signals_at = 1 + 2 * rule_count
    for row in rows:
        totals = result[row[0]] = engine.RuleTotals()
        for position in range(rule_count):
            count = row[2 + 2 * position]
            if count:
                totals.sums[position] = row[1 + 2 * position]
                totals.counts[position] = count
        for event_type, fresh in zip(signal_types, row[signals_at:], strict=True):
            if not fresh:
                continue
            if event_type in ruleset.high_intent_event_types:
                totals.fresh_high_intent.add(event_type)
            if event_type in ruleset.pql_event_types:
                totals.fresh_product = True
    return result


def _rule_sums_sql(ruleset: engine.RuleSet, now: float, *, with_counts: bool = False) -> tuple[list[str], list]:
    """Aggregate columns over events `e` grouped by lead: per engagement rule (in position order)
    the sum of its points decayed to `now` (engine.sum_events()) over the events it matches
    (engine.EngagementRule.matches()), NULL if none, then the count of those events if asked."""
    columns: list[str] = []
    params: list = []
    for rule in ruleset.engagement_rules:
        condition, condition_params = "e.event_type = %s", [rule.event_type]
        if rule.property_key:
            value = "lower(e.properties ->> %s)"
            if rule.property_operator == engine.PropertyOperator.CONTAINS:
                condition += f" AND strpos({value}, %s) > 0"
            else:
                condition += f" AND {value} = %s"
            condition_params += [rule.property_key, rule.property_value.lower()]
        if rule.half_life_days:
            points = (
                "%s::float8 * power(0.5::float8, "
                "GREATEST(%s::float8 - date_part('epoch', e.occurred_at), 0) / %s::float8)"
            )
            points_params = [float(rule.points), now, rule.half_life_days * engine.SECONDS_PER_DAY]
        else:
            points, points_params = "%s::float8", [float(rule.points)]
        columns.append(f"SUM({points}) FILTER (WHERE {condition})")
        params += points_params + condition_params
        if with_counts:
            columns.append(f"COUNT(*) FILTER (WHERE {condition})")
            params += condition_params
    return columns, params


def leads_engagement_chunk(*, ruleset: engine.RuleSet, now: float, after_id: int, limit: int) -> list[tuple]:
    """The next `limit` leads by id after after_id, each with the engagement points `ruleset`
    gives it, in one query: the what-if preview's read. Rows of (id, email, job_title,
    company_size, industry, country, stage, has_owner, score, engagement, product points,
    fresh high-intent event, fresh product event).

    PostgreSQL does per lead what the worker does with rule_totals_by_lead() and
    engine.score_totals(): it sums each rule's decayed points (the same expressions), caps and
    rounds each sum (engine.rule_points(): the same IEEE operations, so the same integers), adds
    them up, and says whether a high-intent or product event arrived since the lead's last stage
    change. One pass over the chunk's events in lead order, one aggregate column per rule
    (SUM ... FILTER), so no hash table of lead x rule; Python gets one row per lead and keeps fit
    rules and moves (tests/scoring/test_preview_exact.py compares the result with score_lead()).
    """
    leads_table, events_table = Lead._meta.db_table, EngagementEvent._meta.db_table
    high_intent, product_types = sorted(ruleset.high_intent_event_types), sorted(ruleset.pql_event_types)
    sums, sums_params = _rule_sums_sql(ruleset, now)
    sums = [f"{column} AS s{position}" for position, column in enumerate(sums)]
    capped, rounded, product = [], [], []
    for position, rule in enumerate(ruleset.engagement_rules):
        if rule.cap is not None:
            cap = float(rule.cap)
            capped.append(
                f"CASE WHEN abs(s{position}) > {cap!r}::float8 THEN CASE WHEN s{position} < 0 "
                f"THEN {-cap!r}::float8 ELSE {cap!r}::float8 END ELSE s{position} END AS c{position}"
            )
        else:
            capped.append(f"s{position} AS c{position}")
        rounded.append(
            f"COALESCE((CASE WHEN c{position} >= 0 THEN floor(c{position} + 0.5) "
            f"ELSE -floor(-c{position} + 0.5) END)::bigint, 0) AS r{position}"
        )
        if rule.event_type in ruleset.pql_event_types:
            product.append(f"r{position}")
    engagement_sum = " + ".join(f"r{position}" for position in range(len(sums))) or "0"
    product_sum = " + ".join(product) or "0"
    sql = (
        "WITH chunk AS MATERIALIZED (SELECT id, email, job_title, company_size, industry, country, stage, "
        f"owner_id, score, stage_changed_at FROM {leads_table} WHERE id > %s ORDER BY id LIMIT %s), "
        f"sums AS (SELECT e.lead_id, {''.join(part + ', ' for part in sums)}"
        "max(e.received_at) FILTER (WHERE e.event_type = ANY(%s)) AS high_intent_at, "
        "max(e.received_at) FILTER (WHERE e.event_type = ANY(%s)) AS product_at "
        f"FROM {events_table} e WHERE e.lead_id > %s AND e.lead_id <= (SELECT max(id) FROM chunk) "
        "AND e.event_type = ANY(%s) GROUP BY e.lead_id), "
        f"capped AS (SELECT lead_id, {''.join(part + ', ' for part in capped)}high_intent_at, product_at FROM sums), "
        f"points AS (SELECT lead_id, {''.join(part + ', ' for part in rounded)}high_intent_at, product_at FROM capped) "
        "SELECT c.id, c.email, c.job_title, c.company_size, c.industry, c.country, c.stage, c.owner_id IS NOT NULL, "
        f"c.score, COALESCE({engagement_sum}, 0)::int, COALESCE({product_sum}, 0)::int, "
        "COALESCE(p.high_intent_at > c.stage_changed_at, false), COALESCE(p.product_at > c.stage_changed_at, false) "
        "FROM chunk c LEFT JOIN points p ON p.lead_id = c.id ORDER BY c.id"
    )
    relevant = sorted(ruleset.relevant_event_types())
    params = [after_id, limit, *sums_params, high_intent, product_types, after_id, relevant]
    with raw_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


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
        "stale": score_is_stale(lead),
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


def as_timestamp(value: datetime | None) -> float:
    return value.timestamp() if value else 0.0
