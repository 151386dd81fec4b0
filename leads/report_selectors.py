"""Reads of the marketing reports: funnel, time in stage, created and promoted per week, by source.

Each report is a fixed number of aggregate queries whatever the period (the database counts;
Python only reshapes the few rows that come back), except time in stage, which streams one
row per stage change of the period to compute medians portable across SQLite and PostgreSQL.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, Window
from django.db.models.functions import Coalesce, Lag, TruncWeek
from django.utils import timezone

from .models import Lead, StageChange
from .stages import Stage

DEFAULT_DAYS = 90

# "Reached at least": a lead that went straight to SQL on a demo request has passed the MQL step.
FUNNEL = [
    (Stage.MQL, [Stage.MQL, Stage.SQL, Stage.PQL, Stage.CUSTOMER, Stage.SERVICE_QUALIFIED]),
    (Stage.SQL, [Stage.SQL, Stage.CUSTOMER, Stage.SERVICE_QUALIFIED]),
    (Stage.CUSTOMER, [Stage.CUSTOMER, Stage.SERVICE_QUALIFIED]),
]
SIDE_PATHS = [
    (Stage.PQL, [Stage.PQL], "product-led signals"),
    (Stage.SERVICE_QUALIFIED, [Stage.SERVICE_QUALIFIED], "upgrade interest flagged by service"),
    (Stage.DISQUALIFIED, [Stage.DISQUALIFIED], "out of the funnel"),
]


@dataclass(frozen=True)
class Period:
    """The report's period, and optionally whose leads: "" everyone, "unowned", or a user id."""

    start: date
    end: date  # inclusive
    owner: str = ""

    def owner_q(self, prefix: str = "") -> Q:
        if self.owner == "unowned":
            return Q(**{f"{prefix}owner__isnull": True})
        if self.owner.isdigit():
            return Q(**{f"{prefix}owner_id": int(self.owner)})
        return Q()

    @property
    def since(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def until(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def default_period(today: date | None = None) -> Period:
    today = today or timezone.localdate()
    return Period(today - timedelta(days=DEFAULT_DAYS - 1), today)


def _cohort(period: Period):
    return Lead.objects.filter(period.owner_q(), created_at__gte=period.since, created_at__lt=period.until)


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def funnel(*, period: Period) -> dict:
    """Of the leads created in the period, how many reached each stage (or a later one)."""
    created = _cohort(period).count()
    counts = StageChange.objects.filter(
        period.owner_q("lead__"), lead__created_at__gte=period.since, lead__created_at__lt=period.until
    ).aggregate(
        **{
            stage.value: Count("lead_id", distinct=True, filter=Q(to_stage__in=[s.value for s in reached]))
            for stage, reached in [*FUNNEL, *((s, r) for s, r, _ in SIDE_PATHS)]
        }
    )
    rows = [{"stage": Stage.LEAD.value, "label": "Leads created", "count": created, "step": None, "total": 100.0}]
    previous = created
    for stage, _ in FUNNEL:
        count = counts[stage.value]
        rows.append(
            {
                "stage": stage.value,
                "label": f"Reached {stage.label}",
                "count": count,
                "step": _rate(count, previous),
                "total": _rate(count, created),
            }
        )
        previous = count
    side = [
        {
            "stage": stage.value,
            "label": stage.label,
            "hint": hint,
            "count": counts[stage.value],
            "total": _rate(counts[stage.value], created),
        }
        for stage, _, hint in SIDE_PATHS
    ]
    return {"created": created, "rows": rows, "side": side}


def time_in_stage(*, period: Period) -> list[dict]:
    """Median and p90 days spent in each stage, for the stage changes made in the period.

    The time in a stage is from the change that entered it (or the lead's creation) to the change
    that left it; a lead still in a stage is not counted (its time is not known yet).
    """
    entered = Window(Lag("created_at"), partition_by=[F("lead_id")], order_by=[F("created_at").asc(), F("id").asc()])
    # Only the histories of leads that changed stage in the period (the window needs each one's
    # earlier changes too, so the period itself is applied below).
    moved = StageChange.objects.filter(
        period.owner_q("lead__"), created_at__gte=period.since, created_at__lt=period.until
    ).values("lead_id")
    rows = (
        StageChange.objects.filter(lead_id__in=moved)
        .annotate(entered_at=Coalesce(entered, F("lead__created_at")))
        .values_list("from_stage", "entered_at", "created_at")
        .order_by()
    )
    durations: dict[str, list[float]] = {}
    since, until = period.since, period.until
    for from_stage, entered_at, left_at in rows.iterator(chunk_size=5000):
        if since <= left_at < until:
            durations.setdefault(from_stage, []).append(max(0.0, (left_at - entered_at).total_seconds() / 86400))
    result = []
    for stage in Stage:
        values = sorted(durations.get(stage.value, []))
        if not values:
            continue
        result.append(
            {
                "stage": stage.value,
                "label": stage.label,
                "moves": len(values),
                "median_days": round(statistics.median(values), 1),
                "p90_days": round(values[min(len(values) - 1, (len(values) * 9) // 10)], 1),
            }
        )
    return result


def weekly(*, period: Period) -> list[dict]:
    """Leads created, and leads promoted to MQL and to SQL, per week (weeks start on Monday)."""
    created_rows = (
        _cohort(period)
        .annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(n=Count("id"))
        .values_list("week", "n")
    )
    created = {_as_date(week): n for week, n in created_rows}
    promoted = (
        StageChange.objects.filter(
            period.owner_q("lead__"),
            created_at__gte=period.since,
            created_at__lt=period.until,
            to_stage__in=["mql", "sql"],
        )
        .annotate(week=TruncWeek("created_at"))
        .values("week", "to_stage")
        .annotate(n=Count("id"))
        .values_list("week", "to_stage", "n")
    )
    to_mql: dict[date, int] = {}
    to_sql: dict[date, int] = {}
    for week, stage, n in promoted:
        (to_mql if stage == "mql" else to_sql)[_as_date(week)] = n
    weeks = []
    monday = period.start - timedelta(days=period.start.weekday())
    while monday <= period.end:
        weeks.append(
            {
                "week": monday,
                "created": created.get(monday, 0),
                "mql": to_mql.get(monday, 0),
                "sql": to_sql.get(monday, 0),
            }
        )
        monday += timedelta(days=7)
    return weeks


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def by_source(*, period: Period) -> list[dict]:
    """Per source: leads created in the period and the share that reached MQL, SQL and customer."""

    def reached(stages):
        return Count("id", distinct=True, filter=Q(stage_changes__to_stage__in=[s.value for s in stages]))

    rows = (
        _cohort(period)
        .values("source")
        .annotate(
            leads=Count("id", distinct=True),
            mql=reached(FUNNEL[0][1]),
            sql=reached(FUNNEL[1][1]),
            won=reached(FUNNEL[2][1]),
        )
        .order_by("-leads", "source")
    )
    return [
        {
            "source": row["source"] or "(none)",
            "leads": row["leads"],
            "mql": row["mql"],
            "sql": row["sql"],
            "won": row["won"],
            "mql_rate": _rate(row["mql"], row["leads"]),
            "sql_rate": _rate(row["sql"], row["leads"]),
            "won_rate": _rate(row["won"], row["leads"]),
        }
        for row in rows
    ]


def lead_owners():
    """The people who can own leads (sales reps), for the owner filter."""
    return list(
        get_user_model().objects.filter(groups__name="sales", is_active=True).order_by("first_name", "username")
    )
