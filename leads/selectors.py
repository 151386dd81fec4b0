"""Reads of the leads app for the browser pages. Each function issues a fixed number of queries."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from .models import Handoff, HandoffKind, HandoffStatus, Lead, StageChange
from .stages import SALES_STAGES, Stage
from .text_search import containing, first_matches, matches_are_few

PERIOD_DAYS = 30
# The funnel in the order a lead travels it; disqualified is drawn apart, under a divider.
FUNNEL_ORDER = [Stage.LEAD, Stage.MQL, Stage.SQL, Stage.PQL, Stage.SERVICE_QUALIFIED, Stage.CUSTOMER]


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def previous(self) -> "Period":
        return Period(start=self.start - (self.end - self.start), end=self.start)


def current_period(*, now: datetime | None = None, days: int = PERIOD_DAYS) -> Period:
    now = now or timezone.now()
    return Period(start=now - timedelta(days=days), end=now)


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: float | int | None
    previous: float | int | None = None
    unit: str = ""  # shown after the value: "%", "h"
    hint: str = ""  # the one-line explanation under the value
    higher_is_better: bool = True
    alert: bool = False

    @property
    def delta(self) -> float | int | None:
        if self.value is None or self.previous is None:
            return None
        return round(self.value - self.previous, 1)

    @property
    def trend(self) -> str:
        """'is-up' when the change is good, 'is-down' when it is bad, 'is-flat' otherwise."""
        delta = self.delta
        if not delta:
            return "is-flat"
        return "is-up" if (delta > 0) == self.higher_is_better else "is-down"


# ---- Stage counts --------------------------------------------------------------------------


def pipeline_counts() -> list[dict]:
    """Leads per stage, every stage listed (zero included), in funnel order. One query."""
    counts = dict(Lead.objects.order_by().values_list("stage").annotate(n=Count("id")).values_list("stage", "n"))
    return [{"stage": stage.value, "label": stage.label, "count": counts.get(stage.value, 0)} for stage in Stage]


def pipeline_chart(counts: list[dict]) -> dict:
    """The rows of the horizontal bar chart: width relative to the biggest stage, share of all."""
    total = sum(row["count"] for row in counts)
    biggest = max((row["count"] for row in counts), default=0) or 1
    by_stage = {row["stage"]: row for row in counts}

    def row(stage: Stage) -> dict:
        count = by_stage[stage.value]["count"]
        return {
            "stage": stage.value,
            "label": stage.label,
            "count": count,
            "width": round(100 * count / biggest, 1),
            "share": round(100 * count / total, 1) if total else 0,
        }

    return {"total": total, "funnel": [row(s) for s in FUNNEL_ORDER], "out": [row(Stage.DISQUALIFIED)]}


# Age buckets of the open handoffs: (label, lower bound in hours, upper bound in hours or None).
HANDOFF_AGE_BUCKETS = [
    ("Under 4 hours", 0, 4),
    ("4 to 24 hours", 4, 24),
    ("1 to 3 days", 24, 72),
    ("Over 3 days", 72, None),
]


def open_handoffs_by_age(*, now: datetime | None = None) -> dict:
    """Open handoffs (the sales queue) by how long they have waited, past due, and by kind. Two queries."""
    now = now or timezone.now()
    aggregates = {"total": Count("id"), "overdue": Count("id", filter=Q(due_at__lt=now))}
    for index, (_, low, high) in enumerate(HANDOFF_AGE_BUCKETS):
        window = Q(opened_at__lte=now - timedelta(hours=low))
        if high is not None:
            window &= Q(opened_at__gt=now - timedelta(hours=high))
        aggregates[f"bucket_{index}"] = Count("id", filter=window)
    counts = open_handoffs().aggregate(**aggregates)
    biggest = max((counts[f"bucket_{i}"] for i in range(len(HANDOFF_AGE_BUCKETS))), default=0) or 1
    rows = [
        {
            "label": label,
            "count": counts[f"bucket_{index}"],
            "width": round(100 * counts[f"bucket_{index}"] / biggest, 1),
            "old": low >= 24,
        }
        for index, (label, low, _) in enumerate(HANDOFF_AGE_BUCKETS)
    ]
    by_kind = dict(open_handoffs().order_by().values_list("kind").annotate(n=Count("id")).values_list("kind", "n"))
    kinds = [{"label": label, "count": by_kind.get(kind, 0)} for kind, label in HandoffKind.choices]
    return {"total": counts["total"], "overdue": counts["overdue"], "rows": rows, "kinds": kinds}


def recent_stage_changes(*, leads: QuerySet[Lead] | None = None, limit: int = 15) -> QuerySet[StageChange]:
    """The latest moves; of `leads` only when given (the leads a rep may open)."""
    changes = StageChange.objects.select_related("lead", "actor")
    if leads is not None:
        changes = changes.filter(lead__in=leads)
    return changes.order_by("-created_at", "-id")[:limit]


# ---- Tiles ---------------------------------------------------------------------------------


def _moves_into(stage: Stage, period: Period, **filters) -> int:
    return StageChange.objects.filter(
        to_stage=stage, created_at__gte=period.start, created_at__lt=period.end, **filters
    ).count()


def _mql_to_sql_rate(period: Period) -> float | None:
    """Of the leads that became MQL in the period, the share that has since reached SQL (cohort)."""
    reached_sql = StageChange.objects.filter(
        lead=OuterRef("lead"), to_stage=Stage.SQL, created_at__gt=OuterRef("created_at")
    )
    cohort = (
        StageChange.objects.filter(to_stage=Stage.MQL, created_at__gte=period.start, created_at__lt=period.end)
        .annotate(converted=Exists(reached_sql))
        .aggregate(
            mqls=Count("lead", distinct=True),
            sqls=Count("lead", distinct=True, filter=Q(converted=True)),
        )
    )
    if not cohort["mqls"]:
        return None
    return round(100 * cohort["sqls"] / cohort["mqls"], 1)


def _median_hours_to_first_touch(period: Period) -> float | None:
    """Median time from a handoff opening to a rep accepting it, for handoffs accepted in the period."""
    pairs = Handoff.objects.filter(
        status=HandoffStatus.ACCEPTED, decided_at__gte=period.start, decided_at__lt=period.end
    ).values_list("opened_at", "decided_at")
    hours = [(decided - opened).total_seconds() / 3600 for opened, decided in pairs if decided and opened]
    return round(median(hours), 1) if hours else None


def _sla_breaches(period: Period, now: datetime) -> int:
    """Handoffs whose deadline fell in the period and were not accepted in time (or are still open)."""
    late = Q(decided_at__gt=F("due_at")) | Q(decided_at__isnull=True, status=HandoffStatus.OPEN, due_at__lt=now)
    in_period = Q(due_at__gte=period.start, due_at__lt=period.end) & late
    flagged = Q(sla_breached_at__gte=period.start, sla_breached_at__lt=period.end)
    return Handoff.objects.filter(in_period | flagged).count()


def open_handoffs() -> QuerySet[Handoff]:
    return Handoff.objects.filter(status=HandoffStatus.OPEN)


def marketing_tiles(*, now: datetime | None = None) -> list[Tile]:
    now = now or timezone.now()
    period = current_period(now=now)
    previous = period.previous()
    breaches = _sla_breaches(period, now)
    return [
        Tile(
            "new_mqls",
            "New MQLs",
            _moves_into(Stage.MQL, period),
            _moves_into(Stage.MQL, previous),
            hint=f"Leads that became MQL in the last {PERIOD_DAYS} days",
        ),
        Tile(
            "mql_sql_rate",
            "MQL → SQL rate",
            _mql_to_sql_rate(period),
            _mql_to_sql_rate(previous),
            unit="%",
            hint=f"Of the leads that became MQL in the last {PERIOD_DAYS} days, the share that reached SQL",
        ),
        Tile(
            "first_touch",
            "Median first touch",
            _median_hours_to_first_touch(period),
            _median_hours_to_first_touch(previous),
            unit="h",
            hint=f"Median time from a handoff to its claim by a rep, last {PERIOD_DAYS} days",
            higher_is_better=False,
        ),
        Tile("open_handoffs", "Open handoffs", open_handoffs().count(), hint="Waiting in the sales queue"),
        Tile(
            "sla_breaches",
            "SLA breaches",
            breaches,
            _sla_breaches(previous, now),
            hint=f"Handoffs not claimed within their SLA, last {PERIOD_DAYS} days",
            higher_is_better=False,
            alert=breaches > 0,
        ),
    ]


def sales_tiles(*, user, now: datetime | None = None) -> list[Tile]:
    now = now or timezone.now()
    period = current_period(now=now)
    previous = period.previous()
    today_end = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    queue = open_handoffs().aggregate(
        size=Count("id"),
        overdue=Count("id", filter=Q(due_at__lt=now)),
        due_today=Count("id", filter=Q(due_at__gte=now, due_at__lte=today_end)),
    )
    return [
        Tile(
            "my_open",
            "My open leads",
            Lead.objects.filter(owner=user, stage__in=SALES_STAGES).count(),
            hint="Claimed by you, not closed yet",
        ),
        Tile("queue", "In the sales queue", queue["size"], hint="Open handoffs anyone may claim"),
        Tile("due_today", "Due today", queue["due_today"], hint="Queue handoffs whose SLA ends today"),
        Tile(
            "overdue",
            "Overdue",
            queue["overdue"],
            hint="Queue handoffs past their SLA",
            higher_is_better=False,
            alert=queue["overdue"] > 0,
        ),
        Tile(
            "my_won",
            "Won by me",
            _moves_into(Stage.CUSTOMER, period, actor=user),
            _moves_into(Stage.CUSTOMER, previous, actor=user),
            hint=f"Leads you closed as customers in the last {PERIOD_DAYS} days",
        ),
    ]


def service_tiles(*, user, now: datetime | None = None) -> list[Tile]:
    now = now or timezone.now()
    period = current_period(now=now)
    previous = period.previous()
    upgrades_won = Q(from_stage=Stage.SERVICE_QUALIFIED)
    return [
        Tile("customers", "Customers", Lead.objects.filter(stage=Stage.CUSTOMER).count(), hint="All customer accounts"),
        Tile(
            "my_flags",
            "My upgrade flags",
            _moves_into(Stage.SERVICE_QUALIFIED, period, actor=user),
            _moves_into(Stage.SERVICE_QUALIFIED, previous, actor=user),
            hint=f"Customers you flagged for an upgrade in the last {PERIOD_DAYS} days",
        ),
        Tile(
            "open_flags",
            "Upgrades with sales",
            Lead.objects.filter(stage=Stage.SERVICE_QUALIFIED).count(),
            hint="Service-qualified, not closed yet",
        ),
        Tile(
            "upgrades_won",
            "Upgrades closed",
            StageChange.objects.filter(
                upgrades_won, to_stage=Stage.CUSTOMER, created_at__gte=period.start, created_at__lt=period.end
            ).count(),
            StageChange.objects.filter(
                upgrades_won, to_stage=Stage.CUSTOMER, created_at__gte=previous.start, created_at__lt=previous.end
            ).count(),
            hint=f"Upgrades closed as customer in the last {PERIOD_DAYS} days",
        ),
    ]


# ---- Search --------------------------------------------------------------------------------


def lead_search(*, query: str, leads: QuerySet[Lead] | None = None, limit: int = 25) -> list[Lead]:
    """Leads (of `leads`: those the user may open) whose name, email or company contains every word
    of the query, newest first (leads.text_search: a rare word's matches are collected first)."""
    words = query.split()[:5]
    if not words:
        return []
    leads = containing((Lead.objects.all() if leads is None else leads).select_related("owner"), words)
    few = matches_are_few(leads, terms=words, page_rows=limit)
    return first_matches(leads, order=("-created_at", "-id"), count=limit, matches_first=few)
