"""What-if preview: how a rule set (usually the draft) would change scores and stages.

A read: nothing is written. It runs the same engine as the worker over every lead, in chunks of
leads by id. On PostgreSQL the per-rule sums of a chunk's events come from one aggregate query
(selectors.rule_totals_by_lead) and the engine does the rest (fit, caps, rounding, moves), which
keeps it within seconds at 100,000 leads; elsewhere the events are read and summed in Python.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

from django.db import connection
from django.utils import timezone

from leads.models import Lead
from leads.stages import Stage

from . import engine
from .models import RuleSet
from .selectors import LEAD_FACT_FIELDS, engine_ruleset, events_by_lead, lead_facts, rule_totals_by_lead

PREVIEW_CHUNK_SIZE = 5000
# Score histogram: below 0, then buckets of 10 points, then 100 and more.
BUCKET_WIDTH = 10
BUCKET_TOP = 100


def _bucket(score: int) -> int:
    if score < 0:
        return 0
    return min(score // BUCKET_WIDTH, BUCKET_TOP // BUCKET_WIDTH) + 1


def _bucket_labels() -> list[str]:
    labels = ["< 0"]
    labels += [f"{low}-{low + BUCKET_WIDTH - 1}" for low in range(0, BUCKET_TOP, BUCKET_WIDTH)]
    labels.append(f">= {BUCKET_TOP}")
    return labels


def _summary(scores: list[int]) -> dict:
    if not scores:
        return {"mean": None, "median": None, "p90": None, "histogram": [0] * (BUCKET_TOP // BUCKET_WIDTH + 2)}
    ordered = sorted(scores)
    histogram = [0] * (BUCKET_TOP // BUCKET_WIDTH + 2)
    for score in ordered:
        histogram[_bucket(score)] += 1
    return {
        "mean": round(sum(ordered) / len(ordered), 2),
        "median": ordered[len(ordered) // 2],
        "p90": ordered[min(len(ordered) - 1, (len(ordered) * 9) // 10)],
        "histogram": histogram,
    }


def facts_of(rows):
    return ((row, lead_facts(row[:9])) for row in rows)


def ruleset_preview(*, ruleset: RuleSet, now: datetime | None = None, chunk_size: int = PREVIEW_CHUNK_SIZE) -> dict:
    started = time.monotonic()
    rules = engine_ruleset(ruleset)
    timestamp = (now or timezone.now()).timestamp()
    current_scores: list[int] = []
    proposed_scores: list[int] = []
    current_stages: Counter[str] = Counter()
    proposed_stages: Counter[str] = Counter()
    newly: Counter[str] = Counter()
    up = down = 0
    score_lead = engine.score_lead
    score_totals = engine.score_totals
    decide_move = engine.decide_move

    on_postgresql = connection.vendor == "postgresql"
    last_id = 0
    while True:
        rows = list(
            Lead.objects.filter(id__gt=last_id).order_by("id").values_list(*LEAD_FACT_FIELDS, "score")[:chunk_size]
        )
        if not rows:
            break
        if on_postgresql:
            # The same sums as the worker's, aggregated by PostgreSQL: seconds at 100,000 leads.
            totals = rule_totals_by_lead(after_id=last_id, upto_id=rows[-1][0], ruleset=rules, now=timestamp)
            empty = engine.RuleTotals()
            scored = [
                (row, facts, score_totals(facts, totals.get(row[0], empty), rules)) for row, facts in facts_of(rows)
            ]
        else:
            events = events_by_lead([row[0] for row in rows], rules)
            scored = [
                (row, facts, score_lead(facts, events.get(row[0], ()), rules, timestamp))
                for row, facts in facts_of(rows)
            ]
        for row, facts, result in scored:
            move = decide_move(facts, result, rules)
            current = row[9]
            current_scores.append(current)
            proposed_scores.append(result.total)
            if result.total > current:
                up += 1
            elif result.total < current:
                down += 1
            current_stages[facts.stage] += 1
            if move is not None:
                proposed_stages[move.to_stage] += 1
                newly[move.to_stage] += 1
            else:
                proposed_stages[facts.stage] += 1
        last_id = rows[-1][0]

    total = len(current_scores)
    return {
        "ruleset": {"id": ruleset.pk, "version": ruleset.version, "status": ruleset.status},
        "leads": total,
        "histogram_buckets": _bucket_labels(),
        "current": _summary(current_scores),
        "proposed": _summary(proposed_scores),
        "score_changes": {"up": up, "down": down, "same": total - up - down},
        "stages": [
            {
                "stage": stage.value,
                "label": stage.label,
                "current": current_stages.get(stage.value, 0),
                "proposed": proposed_stages.get(stage.value, 0),
            }
            for stage in Stage
        ],
        "newly": {stage: newly.get(stage, 0) for stage in (Stage.MQL, Stage.SQL, Stage.PQL)},
        "thresholds": {"mql": rules.mql_threshold, "pql": rules.pql_threshold},
        "computed_in_ms": round((time.monotonic() - started) * 1000),
    }
