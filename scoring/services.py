"""Writes of the scoring app: recompute scores, move leads on thresholds, edit and publish rules.

Locking policy (see also leads.services.lead_mark_score_stale):
- The drain finds its work in the pending-activity queue only (leads.activity): event batches
  and marks (lead_mark_score_stale, submissions, imports) each append a queue row in their own
  transaction. A pass takes (deletes) the oldest queue rows nobody else is taking (SKIP LOCKED),
  puts the leads beyond its pass back as one row at the head (a backlog is coalesced), and
  locks the leads it keeps until it has read their events, written their scores and made their
  moves, in one transaction: a worker that dies rolls back whole, rows included.
- The lead lock is FOR NO KEY UPDATE, which an event INSERT's foreign-key check (FOR KEY SHARE)
  does not wait for: an event stored while its lead is being scored is in a queue row that was
  not committed when the pass took its rows, so a later pass takes it. A mark is an
  unconditional UPDATE of the lead, which waits for the pass holding it; its queue row commits
  with it, for a later pass. The worker clears score_stale (what readers see) only where
  score_stale_since is still the value it read (the guard that matters on SQLite, which has no
  row locks). Nothing indexes the mark, so clearing it alone is a HOT update.
- Scores are recomputed from all stored events, never incremented: running a batch twice, or two
  at once, writes the same result.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Case, F, Max, Q, Value, When
from django.utils import timezone

from leadcrm.redis_clients import redis_for_process
from leads.activity import pending_activity_take, pending_activity_waiting
from leads.audit import audit_record
from leads.exceptions import LeadError
from leads.models import AuditAction, Lead
from leads.services import lead_mark_score_stale, lead_transition

from . import engine
from .defaults import DEFAULT_ENGAGEMENT_RULES, DEFAULT_FIT_RULES, DEFAULT_THRESHOLDS
from .exceptions import NothingToPublish, RuleSetNotEditable
from .models import (
    EngagementRule,
    FitRule,
    RescoreJob,
    RescoreReason,
    RescoreStatus,
    RuleSet,
    RuleSetStatus,
)
from .selectors import (
    LEAD_FACT_FIELDS,
    engine_ruleset,
    events_by_lead,
    lead_facts,
    raw_cursor,
    rule_totals_by_lead,
    ruleset_draft,
    ruleset_published,
)

logger = logging.getLogger(__name__)

SCORING_ACTOR = "scoring"
QUEUE_PASS_LEADS = 2_000  # leads per pass over the pending-activity queue (a batch of events is up to 1,000)
RESCORE_CHUNK_SIZE = 500
# One nudge in flight at a time: the key is set when a drain task is queued and deleted when it
# starts, so a burst of 1,000 events queues one task (which then sees all of them). The TTL frees
# nudging again if a queued task is lost.
NUDGE_KEY = "leadcrm:scoring:drain-queued"
NUDGE_TTL_SECONDS = 30
# A process that found the key set (or set it) skips the round trip for this long after: a drain
# waits at least as long between freeing the key and its closing pass, so that pass takes every
# event committed by a process that skipped (scores_drain). At 1,000 submissions a second over
# five web processes this leaves about 25 nudges a second instead of 1,000.
NUDGE_TRUST_SECONDS = 0.2
NUDGE_TRUST_MARGIN_SECONDS = 0.05  # for the clocks of two machines, which tick at slightly different rates
# Broker URL -> time.monotonic() at which this process last knew that broker's nudge key set.
_nudge_key_seen: dict[str, float] = {}
# A drain waits this long after a batch that was not full: a burst of events for one lead then
# costs a recompute per window instead of one per event, and an event still shows within ~0.3 s.
COALESCE_SECONDS = 0.2


@dataclass
class RecomputeOutcome:
    leads: int = 0
    events: int = 0
    moved: int = 0
    batches: int = 0
    more: bool = False  # stopped at the time budget with stale leads possibly left
    # Leads whose move failed: marked (and queued) again for the sweeper.
    remarked: set[int] = field(default_factory=set)

    def add(self, other: RecomputeOutcome) -> None:
        self.leads += other.leads
        self.events += other.events
        self.moved += other.moved
        self.batches += other.batches
        self.remarked |= other.remarked


# --- Rule sets ------------------------------------------------------------------------------


def ruleset_ensure_published() -> RuleSet:
    """The published rule set; the default one is created if none exists (a flushed test database)."""
    published = ruleset_published()
    if published is not None:
        return published
    try:
        with transaction.atomic():
            version = (RuleSet.objects.aggregate(v=Max("version"))["v"] or 0) + 1
            ruleset = RuleSet.objects.create(
                status=RuleSetStatus.PUBLISHED, version=version, published_at=timezone.now(), **DEFAULT_THRESHOLDS
            )
            _create_rules(ruleset, DEFAULT_ENGAGEMENT_RULES, DEFAULT_FIT_RULES)
    except IntegrityError:  # another process created it first
        return RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    return ruleset


def _create_rules(ruleset: RuleSet, engagement_rules: list[dict], fit_rules: list[dict]) -> None:
    EngagementRule.objects.bulk_create(
        EngagementRule(ruleset=ruleset, **{"position": position, **rule})
        for position, rule in enumerate(engagement_rules)
    )
    FitRule.objects.bulk_create(
        FitRule(ruleset=ruleset, **{"position": position, **rule}) for position, rule in enumerate(fit_rules)
    )


ENGAGEMENT_RULE_FIELDS = (
    "name",
    "event_type",
    "property_key",
    "property_operator",
    "property_value",
    "points",
    "cap",
    "half_life_days",
    "position",
)
FIT_RULE_FIELDS = ("name", "kind", "values", "threshold", "points", "position")
RULESET_FIELDS = ("name", "notes", "mql_threshold", "pql_threshold", "pql_event_types", "high_intent_event_types")


def ruleset_create_draft(*, user=None) -> RuleSet:
    """The draft to edit: the existing one, or a copy of the published version. Idempotent."""
    with transaction.atomic():
        draft = ruleset_draft()
        if draft is not None:
            return draft
        source = ruleset_ensure_published()
        try:
            with transaction.atomic():
                draft = RuleSet.objects.create(
                    status=RuleSetStatus.DRAFT,
                    based_on=source,
                    created_by=user if getattr(user, "pk", None) else None,
                    **{field: getattr(source, field) for field in RULESET_FIELDS},
                )
        except IntegrityError:  # a concurrent request created the draft
            return RuleSet.objects.get(status=RuleSetStatus.DRAFT)
        _create_rules(
            draft,
            [{f: getattr(rule, f) for f in ENGAGEMENT_RULE_FIELDS} for rule in source.engagement_rules.all()],
            [{f: getattr(rule, f) for f in FIT_RULE_FIELDS} for rule in source.fit_rules.all()],
        )
    return draft


def _require_draft(ruleset: RuleSet) -> None:
    if not ruleset.is_draft:
        raise RuleSetNotEditable(
            f"Version {ruleset.version} is {ruleset.get_status_display().lower()} and cannot change: edit the draft."
        )


def ruleset_update(*, ruleset: RuleSet, **fields) -> RuleSet:
    _require_draft(ruleset)
    for name, value in fields.items():
        if name not in RULESET_FIELDS:
            raise TypeError(f"{name} is not an editable field of a rule set")
        setattr(ruleset, name, value)
    ruleset.save()
    return ruleset


def ruleset_discard_draft(*, ruleset: RuleSet) -> None:
    _require_draft(ruleset)
    ruleset.delete()


def engagement_rule_create(*, ruleset: RuleSet, **fields) -> EngagementRule:
    _require_draft(ruleset)
    if "position" not in fields:
        fields["position"] = (ruleset.engagement_rules.aggregate(p=Max("position"))["p"] or 0) + 1
    return EngagementRule.objects.create(ruleset=ruleset, **fields)


def engagement_rule_update(*, rule: EngagementRule, **fields) -> EngagementRule:
    _require_draft(rule.ruleset)
    for name, value in fields.items():
        if name not in ENGAGEMENT_RULE_FIELDS:
            raise TypeError(f"{name} is not an editable field of an engagement rule")
        setattr(rule, name, value)
    rule.save()
    return rule


def engagement_rule_delete(*, rule: EngagementRule) -> None:
    _require_draft(rule.ruleset)
    rule.delete()


def fit_rule_create(*, ruleset: RuleSet, **fields) -> FitRule:
    _require_draft(ruleset)
    if "position" not in fields:
        fields["position"] = (ruleset.fit_rules.aggregate(p=Max("position"))["p"] or 0) + 1
    return FitRule.objects.create(ruleset=ruleset, **fields)


def fit_rule_update(*, rule: FitRule, **fields) -> FitRule:
    _require_draft(rule.ruleset)
    for name, value in fields.items():
        if name not in FIT_RULE_FIELDS:
            raise TypeError(f"{name} is not an editable field of a fit rule")
        setattr(rule, name, value)
    rule.save()
    return rule


def fit_rule_delete(*, rule: FitRule) -> None:
    _require_draft(rule.ruleset)
    rule.delete()


def ruleset_publish(*, ruleset_id: int, user=None) -> RescoreJob:
    """Publish the draft as the next version and start rescoring every lead in the background.

    Ingestion never waits for the rescore: it runs chunk by chunk in a Celery task, and until it
    reaches a lead, the drain already scores that lead's new events with the new version.
    """
    with transaction.atomic():
        draft = RuleSet.objects.select_for_update().get(pk=ruleset_id)
        if not draft.is_draft:
            raise NothingToPublish(f"Version {draft.version} is already {draft.get_status_display().lower()}.")
        now = timezone.now()
        version = (RuleSet.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        # Archive first: at most one published version may exist at any moment (a constraint).
        RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).update(status=RuleSetStatus.ARCHIVED)
        draft.status = RuleSetStatus.PUBLISHED
        draft.version = version
        draft.published_at = now
        draft.published_by = user if getattr(user, "pk", None) else None
        draft.save()
        RescoreJob.objects.filter(status=RescoreStatus.RUNNING).update(status=RescoreStatus.CANCELLED, finished_at=now)
        job = RescoreJob.objects.create(
            ruleset=draft,
            reason=RescoreReason.PUBLISH,
            total=Lead.objects.count(),
            created_by=user if getattr(user, "pk", None) else None,
        )
        audit_record(
            action=AuditAction.RULESET_PUBLISHED,
            actor=user if getattr(user, "pk", None) else None,
            target_type="ruleset",
            target_id=draft.pk,
            detail={"version": version, "rescore_job_id": job.pk},
        )
        transaction.on_commit(lambda: _enqueue_rescore(job.pk))
    logger.info("Published rule set v%s; rescore job %s for %s leads", version, job.pk, job.total)
    return job


# --- Recompute ------------------------------------------------------------------------------


def _skip_locked_supported() -> bool:
    return connection.features.has_select_for_update_skip_locked


def _write_scores(
    updates: list[tuple[int, engine.ScoreResult, datetime | None]], version, now, activity: dict | None = None
) -> None:
    """Save scores; clear each lead's stale mark only if it is still the mark that was read with
    the lead locked; move last_activity_at forward to the queued activity's time ({lead id:
    time}), if given."""
    if not updates:
        return
    activity = activity or {}
    if connection.vendor == "postgresql":
        # One statement for the whole batch (bulk_update's CASE per row grows quadratically).
        # The batch travels as one JSON document that PostgreSQL unpacks in C (arrays of JSON
        # strings as parameters spend their time escaping quotes on the Python side).
        table = Lead._meta.db_table
        sql = (
            f"UPDATE {table} AS l SET fit_score = v.fit, engagement_score = v.engagement, score = v.total, "
            "score_breakdown = v.breakdown, score_ruleset_version = %s, scored_at = %s, "
            "score_stale = l.score_stale AND l.score_stale_since IS DISTINCT FROM v.since, "
            "score_stale_since = CASE WHEN l.score_stale AND l.score_stale_since IS DISTINCT FROM v.since "
            "THEN l.score_stale_since END, "
            "last_activity_at = CASE WHEN v.at IS NOT NULL "
            "AND (l.last_activity_at IS NULL OR l.last_activity_at < v.at) THEN v.at ELSE l.last_activity_at END "
            "FROM jsonb_to_recordset(%s::jsonb) "
            "AS v(id bigint, fit integer, engagement integer, total integer, breakdown jsonb, since timestamptz, "
            "at timestamptz) "
            "WHERE l.id = v.id"
        )
        batch = json.dumps(
            [
                {
                    "id": lead_id,
                    "fit": result.fit,
                    "engagement": result.engagement,
                    "total": result.total,
                    "breakdown": result.breakdown,
                    "since": since.isoformat() if since else None,
                    "at": activity[lead_id].isoformat() if lead_id in activity else None,
                }
                for lead_id, result, since in updates
            ],
            separators=(",", ":"),
        )
        params = [version, now, batch]
        with raw_cursor() as cursor:
            cursor.execute(sql, params)
        return
    for lead_id, result, since in updates:
        still_claimed = When(score_stale_since=since, then=Value(False))
        if lead_id in activity:
            Lead.objects.filter(pk=lead_id).filter(
                Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=activity[lead_id])
            ).update(last_activity_at=activity[lead_id])
        Lead.objects.filter(pk=lead_id).update(
            fit_score=result.fit,
            engagement_score=result.engagement,
            score=result.total,
            score_breakdown=result.breakdown,
            score_ruleset_version=version,
            scored_at=now,
            score_stale=Case(still_claimed, default=F("score_stale")),
            score_stale_since=Case(When(score_stale_since=since, then=Value(None)), default=F("score_stale_since")),
        )


def _pass_settings() -> None:
    """For the rest of this pass's transaction: no JIT and no parallel workers.

    A pass reads a few thousand events and writes a few hundred leads. The planner's estimate
    for `lead_id = ANY(ids)` is several times too high, which at 2,000 leads puts the rule totals
    above jit_above_cost: compiling took longer than the JIT saved (~15% of the query). Parallel
    workers for the same few thousand rows add their start-up and a gather, and on the 2-core
    bench machine made the query slower (500 leads 132 ms against 115 ms, 2,000 leads 348 against
    325 ms), on top of the CPU the workers themselves used."""
    with raw_cursor() as cursor:
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)"
        )


def _score_locked(
    rows: list[tuple], ruleset: engine.RuleSet, now: datetime, activity: dict | None = None
) -> RecomputeOutcome:
    """Score leads this transaction holds locked (rows of LEAD_FACT_FIELDS + score_stale_since)
    and make the moves their scores call for, through the one transition service. `activity`:
    the queued {lead id: latest event time} that moves last_activity_at in the same write."""
    timestamp = now.timestamp()
    ids = [row[0] for row in rows]
    if connection.vendor == "postgresql":
        _pass_settings()
        # PostgreSQL sums each lead's events per rule in C (one aggregate query for the batch);
        # the engine applies fit, caps, rounding and moves. Same figures as summing in Python
        # (tests/scoring/test_rule_totals_sql.py), at several times the speed.
        totals = rule_totals_by_lead(lead_ids=ids, ruleset=ruleset, now=timestamp)
    else:
        events = events_by_lead(ids, ruleset)
        totals = {
            row[0]: engine.sum_events(lead_facts(row[:9]), events.get(row[0], ()), ruleset, timestamp) for row in rows
        }
    updates = []
    moves = []
    event_count = 0
    empty = engine.RuleTotals()
    score_totals = engine.score_totals
    decide_move = engine.decide_move
    for row in rows:
        lead_id = row[0]
        facts = lead_facts(row[:9])
        lead_totals = totals.get(lead_id, empty)
        event_count += sum(lead_totals.counts.values())
        result = score_totals(facts, lead_totals, ruleset)
        updates.append((lead_id, result, row[9]))
        move = decide_move(facts, result, ruleset)
        if move is not None:
            moves.append((lead_id, facts.stage, move))
    _write_scores(updates, ruleset.version, now, activity)

    moved = 0
    remarked: set[int] = set()
    for lead_id, stage, move in moves:
        try:
            # We hold the lead's row lock, so expected_stage and the owner check above are current.
            lead_transition(
                lead_id=lead_id,
                to_stage=move.to_stage,
                actor_label=SCORING_ACTOR,
                reason=move.reason,
                expected_stage=stage,
            )
            moved += 1
        except LeadError as error:
            logger.info("Scoring did not move lead %s to %s: %s", lead_id, move.to_stage, error)
        except DatabaseError:
            # The move's savepoint was rolled back; mark (and queue) the lead again so the sweeper
            # retries it. No nudge: it would only fail again now.
            logger.exception("Scoring could not move lead %s to %s", lead_id, move.to_stage)
            lead_mark_score_stale(lead_ids=[lead_id], nudge=False)
            remarked.add(lead_id)
    return RecomputeOutcome(leads=len(rows), events=event_count, moved=moved, batches=1, remarked=remarked)


def _score_queued(leads: int) -> tuple[RecomputeOutcome, set[int]] | None:
    """One pass over the pending-activity queue (leads.activity): take the oldest queue rows'
    leads (queued events and marks), locked, score them and move their last_activity_at, in one
    transaction. Returns the outcome and the ids scored; None when the queue is empty (or other
    workers hold all of it)."""
    with transaction.atomic():
        ruleset = engine_ruleset(ruleset_ensure_published())
        rows = pending_activity_take(leads=leads, columns=(*LEAD_FACT_FIELDS, "score_stale_since"))
        if not rows:
            # Either nothing was queued, or only erased leads were: then look again.
            return (RecomputeOutcome(), set()) if pending_activity_waiting() else None
        # A lead queued by marks only has no activity time: its last_activity_at stays.
        activity = {row[0]: row[-1] for row in rows if row[-1] is not None}
        outcome = _score_locked([row[:-1] for row in rows], ruleset, timezone.now(), activity)
        return outcome, {row[0] for row in rows}


def scores_recompute_stale(
    *, batch_size: int = QUEUE_PASS_LEADS, time_budget: float | None = None, linger: float = 0.0
) -> RecomputeOutcome:
    """Drain: score the queued leads pass by pass (about batch_size leads each) until none is
    left (or the time budget is spent).

    Safe to run in several workers at once: each pass takes queue rows and locks leads the
    others do not hold. `linger` waits that long after a pass that was not full before taking
    again, so that events still arriving for the same leads are scored together rather than one
    recompute each.
    """
    deadline = time.monotonic() + time_budget if time_budget else None
    total = RecomputeOutcome()
    while True:
        queued = _score_queued(batch_size)
        if queued is None:
            break
        outcome, ids = queued
        retried = bool(ids) and ids <= total.remarked
        total.add(outcome)
        if retried:
            # Only leads whose move failed earlier in this drain, queued again by it (and failed
            # again): leave them to the next nudge or the sweeper instead of spinning.
            break
        if deadline is not None and time.monotonic() > deadline:
            total.more = True
            break
        # No linger after a take that scored nobody (its rows named only erased or merged leads):
        # there is nothing to coalesce with, and a backlog of such rows would wait 0.2 s a take.
        if linger and ids and outcome.leads < batch_size:
            time.sleep(linger)
    return total


def scores_drain(*, time_budget: float, linger: float = COALESCE_SECONDS) -> RecomputeOutcome:
    """The nudged drain (recompute_stale_scores_task): drain, free the nudge key, drain once more.

    While the key is set, new events do not queue another task: this one will see them. The last
    pass, NUDGE_TRUST_SECONDS after freeing the key, catches an event whose nudge came just before
    the key was freed, or was skipped by a process that had seen the key set within that time
    (scores_request_recompute); any later event queues a new drain.
    """
    through_broker = _nudges_through_broker()
    if not through_broker:
        linger = 0.0
    outcome = scores_recompute_stale(time_budget=time_budget, linger=linger)
    if outcome.more:
        return outcome  # the key stays set: the caller queues the continuation
    _release_nudge_key()
    if through_broker:
        # A process that saw the key before it was freed may skip its nudge until
        # NUDGE_TRUST_SECONDS after that: its events are committed by the time this pass starts.
        time.sleep(NUDGE_TRUST_SECONDS + NUDGE_TRUST_MARGIN_SECONDS)
    last = scores_recompute_stale(time_budget=time_budget)
    outcome.add(last)
    outcome.more = last.more
    return outcome


def leads_score_now(*, lead_ids: list[int]) -> RecomputeOutcome:
    """Score these leads now, whether marked or not (waits for leads another worker holds)."""
    with transaction.atomic():
        ruleset = engine_ruleset(ruleset_ensure_published())
        queryset = Lead.objects.filter(pk__in=lead_ids).order_by("id")
        if _skip_locked_supported():
            queryset = queryset.select_for_update(no_key=True)
        rows = list(queryset.values_list(*LEAD_FACT_FIELDS, "score_stale_since"))
        return _score_locked(rows, ruleset, timezone.now())


# --- Nudges ---------------------------------------------------------------------------------


def _redis_client(url: str):
    """The nudge's Redis connection (leadcrm.redis_clients), or None for a broker that is not Redis."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return redis_for_process(url, timeout=1)


def scores_request_recompute(*, lead_ids: list[int]) -> None:
    """Ask a worker to drain stale scores (the events_stored receiver). Never raises.

    The events and their marks are already committed: if the broker is down the nudge is lost,
    the request still succeeds, and the sweeper scores the leads when the broker is back.

    Within NUDGE_TRUST_SECONDS of finding the nudge key set, this process does not ask again: the
    key was set then, so a drain is queued or running, and it frees the key at least that long
    before its closing pass (scores_drain), which therefore sees these events. (The key also
    ends when its TTL runs out, i.e. when a queued drain was lost: the sweeper's case, as before.)
    """
    from .tasks import recompute_stale_scores_task

    app = recompute_stale_scores_task.app
    try:
        if app.conf.task_always_eager:
            recompute_stale_scores_task.apply()
            return
        url = app.conf.broker_url or ""
        client = _redis_client(url)
        # Read before asking: the key existed at some moment after this one.
        asked_at = time.monotonic()
        if client is not None:
            if asked_at - _nudge_key_seen.get(url, -math.inf) < NUDGE_TRUST_SECONDS:
                return  # seen set a moment ago: its drain has not made its closing pass yet
            if not client.set(NUDGE_KEY, "1", nx=True, ex=NUDGE_TTL_SECONDS):
                _nudge_key_seen[url] = asked_at
                return  # a drain is already queued: it will see these leads
        try:
            recompute_stale_scores_task.apply_async(retry=False)
        except Exception:
            if client is not None:
                client.delete(NUDGE_KEY)
            raise
        _nudge_key_seen[url] = asked_at
    except Exception:
        logger.warning("Could not nudge scoring for %s leads; the sweeper will do it", len(lead_ids), exc_info=True)


def _nudges_through_broker() -> bool:
    from .tasks import recompute_stale_scores_task

    return not recompute_stale_scores_task.app.conf.task_always_eager


def _release_nudge_key() -> None:
    """The drain is about to finish: from now on a new event must queue a new drain."""
    from .tasks import recompute_stale_scores_task

    app = recompute_stale_scores_task.app
    if app.conf.task_always_eager:
        return
    try:
        client = _redis_client(app.conf.broker_url or "")
        if client is not None:
            client.delete(NUDGE_KEY)
    except Exception:
        logger.warning("Could not clear the scoring nudge key", exc_info=True)


def _enqueue_rescore(job_id: int) -> None:
    """Queue a rescore job's task after its commit. Never raises: with the broker down the request
    that published or started the job still succeeds, and the sweeper starts the job's task once
    the broker is back (a running job nobody advanced: selectors.rescore_jobs_stalled)."""
    from .tasks import rescore_task

    try:
        rescore_task.delay(job_id)
    except Exception:
        if rescore_task.app.conf.task_always_eager:
            raise  # run in-process: a bug to see, not a broker outage
        logger.warning("Could not queue rescore job %s; the sweeper will start it", job_id, exc_info=True)


# --- Rescoring many leads -------------------------------------------------------------------


def _rescore_queryset(reason: str):
    queryset = Lead.objects.all()
    if reason == RescoreReason.DECAY:
        # Only leads with engagement points have anything that can fade.
        queryset = queryset.exclude(engagement_score=0)
    return queryset


def rescore_job_start(*, reason: str = RescoreReason.MANUAL, user=None) -> RescoreJob:
    """Rescore leads with the published rule set in the background (decay refresh, on request)."""
    ruleset = ruleset_ensure_published()
    with transaction.atomic():
        job = RescoreJob.objects.create(
            ruleset=ruleset,
            reason=reason,
            total=_rescore_queryset(reason).count(),
            created_by=user if getattr(user, "pk", None) else None,
        )
        transaction.on_commit(lambda: _enqueue_rescore(job.pk))
    return job


def rescore_job_run(*, job_id: int, chunk_size: int = RESCORE_CHUNK_SIZE, time_budget: float = 5.0) -> bool:
    """Advance a rescore job chunk by chunk for about time_budget seconds. True when finished.

    Each chunk locks the job row (two runs of one job take turns and never redo a chunk), locks
    the chunk's leads with SKIP LOCKED (a lead a drain holds is being scored right now), scores
    them and moves the job's cursor, in one transaction: a killed run loses at most its chunk.
    """
    deadline = time.monotonic() + time_budget
    while True:
        with transaction.atomic():
            job = RescoreJob.objects.select_for_update().select_related("ruleset").get(pk=job_id)
            if job.status != RescoreStatus.RUNNING:
                return True
            if job.ruleset.status != RuleSetStatus.PUBLISHED:
                job.status = RescoreStatus.CANCELLED
                job.finished_at = timezone.now()
                job.save(update_fields=["status", "finished_at", "updated_at"])
                return True
            ruleset = engine_ruleset(job.ruleset)
            queryset = _rescore_queryset(job.reason).filter(id__gt=job.last_lead_id).order_by("id")
            if _skip_locked_supported():
                queryset = queryset.select_for_update(skip_locked=True, no_key=True)
            rows = list(queryset.values_list(*LEAD_FACT_FIELDS, "score_stale_since")[:chunk_size])
            if not rows:
                _finish_rescore(job)
                return True
            outcome = _score_locked(rows, ruleset, timezone.now())
            job.done += outcome.leads
            job.moved += outcome.moved
            job.last_lead_id = rows[-1][0]
            job.save(update_fields=["done", "moved", "last_lead_id", "updated_at"])
        if time.monotonic() > deadline:
            return False


def _finish_rescore(job: RescoreJob) -> None:
    if job.reason == RescoreReason.PUBLISH:
        # A lead skipped because a drain held it may have been scored with the previous version
        # (the drain loaded its rule set before the publish): mark such leads for the drain.
        behind = list(
            Lead.objects.exclude(score_ruleset_version=job.ruleset.version)
            .filter(id__lte=job.last_lead_id)
            .values_list("id", flat=True)
        )
        lead_mark_score_stale(lead_ids=behind)
    job.status = RescoreStatus.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "updated_at"])
