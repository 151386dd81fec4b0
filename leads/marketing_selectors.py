"""Reads of the marketing workspace: the MQL list (filters, keyset pages), saved views, exports.

Pagination is keyset only: a page is "the 25 rows after (or before) this row in this order",
never an OFFSET, so page 1,000 costs what page 1 costs. Every sort ends with the id as the
tie-breaker and has an index that starts with the same columns (see Lead.Meta.indexes).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Count, F, Max, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .db import fetch_instances
from .forms import ANY_STAGE, COMPANY_SIZES, DEFAULT_SORT, DEFAULT_STAGE, OWNER_CHOICES, MqlFilterForm
from .models import Lead, SavedView, Submission
from .stages import stage_label
from .text_search import containing

PAGE_SIZE = 25
# Counting a million rows on every page view would cost more than the page: the count stops here
# (a filter matching few rows would otherwise read most of the table to count 10,000 of them).
COUNT_LIMIT = 1_000
HIGH_SCORE = 80
SEARCH_WORDS = 5


@dataclass(frozen=True)
class Sort:
    key: str
    label: str
    column: str
    nullable: bool = False

    def cursor_value(self, lead: Lead | PageRow):
        value = getattr(lead, self.column)
        return value.isoformat() if isinstance(value, datetime) else value

    def parse_value(self, value):
        if value is None or self.column == "score":
            return value
        return parse_datetime(value)


SORTS = {
    "score": Sort("score", "Score", "score"),
    "newest": Sort("newest", "Newest", "created_at"),
    "activity": Sort("activity", "Last activity", "last_activity_at", nullable=True),
}


# ---- Filters ---------------------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _text_search(leads: QuerySet[Lead], query: str) -> QuerySet[Lead]:
    # Every word must match one of the columns (leads.text_search, served by its trigram index).
    return containing(leads, query.split()[:SEARCH_WORDS])


def leads_filtered(*, filters: dict, user) -> QuerySet[Lead]:
    """Leads matching the MQL list's filters (as cleaned by MqlFilterForm.filters())."""
    leads = Lead.objects.all()
    stage = filters.get("stage") or DEFAULT_STAGE
    if stage != ANY_STAGE:
        leads = leads.filter(stage=stage)
    if filters.get("score_min") is not None:
        leads = leads.filter(score__gte=filters["score_min"])
    if filters.get("score_max") is not None:
        leads = leads.filter(score__lte=filters["score_max"])
    for name, column in (("source", "source"), ("campaign", "utm_campaign"), ("industry", "industry")):
        if filters.get(name):
            leads = leads.filter(**{column: filters[name]})
    if filters.get("country"):
        leads = leads.filter(country=filters["country"])
    if filters.get("size"):
        for value, _, low, high in COMPANY_SIZES:
            if value == filters["size"]:
                leads = leads.filter(company_size__gte=low)
                if high is not None:
                    leads = leads.filter(company_size__lte=high)
    owner = filters.get("owner")
    if owner == "unowned":
        leads = leads.filter(owner__isnull=True)
    elif owner == "owned":
        leads = leads.filter(owner__isnull=False)
    elif owner == "me":
        leads = leads.filter(owner=user)
    if filters.get("created_from"):
        leads = leads.filter(created_at__gte=_day_start(filters["created_from"]))
    if filters.get("created_to"):
        leads = leads.filter(created_at__lt=_day_start(filters["created_to"] + timedelta(days=1)))
    if filters.get("active_from"):
        leads = leads.filter(last_activity_at__gte=_day_start(filters["active_from"]))
    if filters.get("active_to"):
        leads = leads.filter(last_activity_at__lt=_day_start(filters["active_to"] + timedelta(days=1)))
    if filters.get("q"):
        leads = _text_search(leads, filters["q"])
    return leads


def filters_query(filters: dict, *, without: str | None = None) -> str:
    """The normalized query string of filters: defaults and empty values left out, fixed order."""
    params = []
    for name in MqlFilterForm.base_fields:
        if name == without:
            continue
        value = filters.get(name)
        if value in (None, "") or (name == "stage" and value == DEFAULT_STAGE):
            continue
        if name == "sort" and value == DEFAULT_SORT:
            continue
        params.append((name, value.isoformat() if isinstance(value, date) else value))
    return urlencode(params)


def _chip_value(name: str, value) -> str:
    if name == "stage":
        return "any" if value == ANY_STAGE else stage_label(value)
    if name == "owner":
        return dict(OWNER_CHOICES).get(value, value)
    if name == "size":
        return next((label for v, label, _, _ in COMPANY_SIZES if v == value), value)
    if isinstance(value, date):
        return value.strftime("%-d %b %Y")
    return str(value)


def filter_chips(filters: dict) -> list[dict]:
    """One removable chip per active filter (the default stage and the sort are not filters)."""
    chips = []
    for name, field_ in MqlFilterForm.base_fields.items():
        value = filters.get(name)
        if name == "sort" or value in (None, "") or (name == "stage" and value == DEFAULT_STAGE):
            continue
        chips.append(
            {
                "name": name,
                "label": field_.label,
                "value": _chip_value(name, value),
                "remove": filters_query(filters, without=name),
            }
        )
    return chips


# ---- Keyset pages ----------------------------------------------------------------------------


def encode_cursor(sort: Sort, lead: Lead | PageRow) -> str:
    raw = json.dumps([sort.cursor_value(lead), lead.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: Sort, token: str) -> tuple | None:
    """(value, id) from a cursor, or None for a cursor that is damaged or from another sort."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value, lead_id = json.loads(raw)
        if not isinstance(lead_id, int):
            return None
        if value is not None and sort.column == "score" and not isinstance(value, int):
            return None
        if value is not None and sort.column != "score":
            value = sort.parse_value(value)
            if value is None:
                return None
        if value is None and not sort.nullable:
            return None
        return value, lead_id
    except (binascii.Error, ValueError, TypeError):
        return None


def _after(column: str, value, lead_id: int) -> Q:
    """Rows after (value, id) in descending order. The redundant `column <= value` lets the index
    scan start at the cursor instead of filtering every row before it."""
    return Q(**{f"{column}__lte": value}) & (Q(**{f"{column}__lt": value}) | Q(id__lt=lead_id))


def _before(column: str, value, lead_id: int) -> Q:
    return Q(**{f"{column}__gte": value}) & (Q(**{f"{column}__gt": value}) | Q(id__gt=lead_id))


def _walk(
    leads: QuerySet[Lead], sort: Sort, cursor: tuple | None, *, forward: bool, limit: int
) -> list[Lead | PageRow]:
    """Up to `limit` rows from the cursor on, in list order (forward) or backwards from it.

    A nullable column is walked in two segments, each an index range in index order: the rows
    with a value (descending), then the rows without one (by id, descending). The index is
    (stage, column DESC NULLS LAST, id DESC), the list's own order, but an OR with IS NULL in
    the cursor would stop it from being an index condition: every deep page would scan every
    row before it.
    """
    column = sort.column
    value, lead_id = cursor if cursor else (None, None)
    if not sort.nullable:
        if forward:
            query = leads.filter(_after(column, value, lead_id)) if cursor else leads
            return list(query.order_by(F(column).desc(), F("id").desc())[:limit])
        return list(leads.filter(_before(column, value, lead_id)).order_by(F(column).asc(), F("id").asc())[:limit])

    with_value = leads.filter(**{f"{column}__isnull": False})
    without_value = leads.filter(**{f"{column}__isnull": True})
    # The index's NULL placement (DESC NULLS LAST; backwards ASC NULLS FIRST), so that it serves
    # each segment's order; the NULLs themselves are filtered out of this segment.
    values_down = [F(column).desc(nulls_last=True), F("id").desc()]
    values_up = [F(column).asc(nulls_first=True), F("id").asc()]
    if forward:
        rows: list[Lead] = []
        if not cursor or value is not None:
            query = with_value.filter(_after(column, value, lead_id)) if cursor else with_value
            rows = list(query.order_by(*values_down)[:limit])
        if len(rows) < limit:
            nulls = without_value.filter(id__lt=lead_id) if cursor and value is None else without_value
            rows += list(nulls.order_by("-id")[: limit - len(rows)])
        return rows
    rows = []
    if value is None:
        rows = list(without_value.filter(id__gt=lead_id).order_by("id")[:limit])
        if len(rows) < limit:
            rows += list(with_value.order_by(*values_up)[: limit - len(rows)])
        return rows
    return list(with_value.filter(_before(column, value, lead_id)).order_by(*values_up)[:limit])


# What a page's rows show (leads.mql_rows) and their cursors need (every sort's column). A row is
# a named tuple of these (values_list(named=True)): building 26 Lead and User objects, with their
# other columns, cost about a third of the page's read in Python.
PAGE_FIELDS = [
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "unsubscribed",
    "stage",
    "source",
    "utm_campaign",
    "score",
    "fit_score",
    "engagement_score",
    "score_breakdown",
    "created_at",
    "last_activity_at",
    "owner__first_name",
    "owner__last_name",
    "owner__username",
]
PageRow = tuple  # a named tuple of PAGE_FIELDS


@dataclass
class LeadPage:
    rows: list[PageRow]
    next_cursor: str | None = None
    previous_cursor: str | None = None
    count: int = 0
    count_capped: bool = False
    sort: Sort = field(default_factory=lambda: SORTS[DEFAULT_SORT])


def lead_page(
    leads: QuerySet[Lead], *, sort_key: str = DEFAULT_SORT, after: str = "", before: str = "", size: int = PAGE_SIZE
) -> LeadPage:
    """One keyset page of `leads`: `after` (next pages) or `before` (previous pages) a cursor."""
    sort = SORTS.get(sort_key, SORTS[DEFAULT_SORT])
    base = leads.values_list(*PAGE_FIELDS, named=True)
    before_cursor = decode_cursor(sort, before)
    after_cursor = None if before_cursor else decode_cursor(sort, after)
    if before_cursor is not None:
        rows = _walk(base, sort, before_cursor, forward=False, limit=size + 1)
        has_previous, has_next = len(rows) > size, True
        rows = rows[:size][::-1]
    else:
        rows = _walk(base, sort, after_cursor, forward=True, limit=size + 1)
        has_next, has_previous = len(rows) > size, after_cursor is not None
        rows = rows[:size]
    page = LeadPage(rows=rows, sort=sort)
    if rows:
        page.next_cursor = encode_cursor(sort, rows[-1]) if has_next else None
        page.previous_cursor = encode_cursor(sort, rows[0]) if has_previous else None
    if before_cursor is None and after_cursor is None and not has_next:
        # The first page holds every match (a narrow search, say): its rows are the count, and a
        # second read of the matches would cost as much as the page.
        page.count = len(rows)
        return page
    counted = leads.order_by()[: COUNT_LIMIT + 1].count()
    page.count = min(counted, COUNT_LIMIT)
    page.count_capped = counted > COUNT_LIMIT
    return page


def top_factors(lead: Lead | PageRow, limit: int = 3) -> list[dict]:
    """The rules that moved a lead's score most, from its stored breakdown (no query)."""
    items = [item for item in (lead.score_breakdown or []) if isinstance(item, dict) and item.get("points")]
    return sorted(items, key=lambda item: abs(item["points"]), reverse=True)[:limit]


def leads_iter(leads: QuerySet[Lead], *, fields: list[str], chunk_size: int = 2000) -> Iterator[tuple]:
    """Every row of `leads` as values_list(fields) tuples, in chunks by id: memory stays flat."""
    last_id = 0
    while True:
        rows = list(leads.filter(id__gt=last_id).order_by("id").values_list("id", *fields)[:chunk_size])
        if not rows:
            return
        yield from rows
        last_id = rows[-1][0]


# ---- Saved views -----------------------------------------------------------------------------


def builtin_views(*, today: date | None = None) -> list[dict]:
    today = today or timezone.localdate()
    return [
        {"name": "All MQLs", "query": ""},
        {"name": "Unassigned", "query": "owner=unowned"},
        {"name": "New today", "query": urlencode({"created_from": today.isoformat()})},
        {"name": "High score", "query": urlencode({"score_min": HIGH_SCORE})},
    ]


def saved_views_for(user) -> list[SavedView]:
    """The user's saved views (their id, name and query: the list's tabs), by name."""
    return fetch_instances(
        SavedView,
        ["id", "name", "query"],
        f"SELECT id, name, query FROM {SavedView._meta.db_table} WHERE user_id = %s ORDER BY name, id",
        [user.pk],
    )


# ---- Choices for the filter inputs -----------------------------------------------------------

DATALIST_SECONDS = 300


def filter_suggestions() -> dict[str, list[str]]:
    """Known sources, campaigns, countries and industries for the inputs' suggestions.

    Four DISTINCTs over every lead, too dear to run on each page view: the list keeps them, as
    printed, for DATALIST_SECONDS (marketing_views._datalists).
    """
    suggestions = {}
    for name, column in (
        ("source", "source"),
        ("campaign", "utm_campaign"),
        ("country", "country"),
        ("industry", "industry"),
    ):
        values = Lead.objects.exclude(**{column: ""}).order_by(column).values_list(column, flat=True).distinct()[:200]
        suggestions[name] = list(values)
    return suggestions


# ---- Forms -----------------------------------------------------------------------------------


def forms_seen() -> list[dict]:
    """Every form name seen in submissions: how many, how many new leads, the last one. One query."""
    return list(
        Submission.objects.values("form_name")
        .annotate(
            submissions=Count("id"),
            new_leads=Count("id", filter=Q(created_lead=True)),
            last_received=Max("received_at"),
        )
        .order_by("-last_received", "form_name")
    )


def lead_neighbours(leads: QuerySet[Lead], *, sort_key: str, lead: Lead) -> tuple[Lead | None, Lead | None]:
    """The leads just before and just after `lead` in a list (two index lookups)."""
    sort = SORTS.get(sort_key, SORTS[DEFAULT_SORT])
    cursor = (getattr(lead, sort.column), lead.pk)
    previous = _walk(leads, sort, cursor, forward=False, limit=1)
    following = _walk(leads, sort, cursor, forward=True, limit=1)
    return (previous[0] if previous else None, following[0] if following else None)
