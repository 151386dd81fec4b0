"""Reads of the sales and service workspaces. Each list costs a fixed number of queries."""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Case, DateField, DateTimeField, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .db import fetch_instances
from .models import Handoff, HandoffKind, HandoffStatus, Lead, Notification, StageChange, UpgradeFlag
from .roles import Role, has_role
from .stages import SALES_STAGES, Stage
from .text_search import containing, first_matches, matches_are_few

PAGE_SIZE = 25
# Handoffs without a deadline sort after every deadline: this stands in for "no deadline".
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


def _encode(values: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> dict | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class Page:
    rows: list
    next_cursor: str | None


# ---- Sales queue -----------------------------------------------------------------------------


def offer_open_to(user, now=None) -> Q:
    """Open handoffs `user` may claim as far as routing goes: offered to nobody, to them, or offered
    to someone whose turn has lapsed. An admin may claim any (the filter is then empty)."""
    if has_role(user, Role.ADMIN):
        return Q()
    return Q(offered_to__isnull=True) | Q(offered_to=user) | Q(offered_until__lte=now or timezone.now())


def offered_to_another(handoff: Handoff, user, now=None) -> bool:
    """The same rule as offer_open_to, for one handoff in hand: True when routing's offer to a
    colleague still keeps `user` from claiming it."""
    if handoff.offered_to_id in (None, user.pk) or has_role(user, Role.ADMIN):
        return False
    return handoff.offered_until is None or handoff.offered_until > (now or timezone.now())


def queue_handoffs(*, user) -> QuerySet[Handoff]:
    """Open handoffs this rep may take: offered by routing to nobody or to them, or offered to a
    colleague whose turn has lapsed (an admin sees every one).

    Ordered by SLA deadline (soonest first, none last), then score (highest first), then age
    (oldest first), with the id as the keyset tie-breaker.
    """
    return (
        Handoff.objects.filter(status=HandoffStatus.OPEN)
        .filter(offer_open_to(user))
        .select_related("lead", "lead__owner", "offered_to")
        .annotate(due_key=Coalesce("due_at", Value(NO_DEADLINE, output_field=DateTimeField())))
        .order_by("due_key", "-lead__score", "opened_at", "id")
    )


def queue_page(*, user, cursor: str = "", size: int = PAGE_SIZE) -> Page:
    handoffs = queue_handoffs(user=user)
    after = _decode(cursor) if cursor else None
    if after:
        due, score, opened, pk = (
            parse_datetime(after.get("d", "")),
            after.get("s"),
            parse_datetime(after.get("o", "")),
            after.get("i"),
        )
        if due and opened and isinstance(score, int) and isinstance(pk, int):
            handoffs = handoffs.filter(
                Q(due_key__gt=due)
                | Q(due_key=due, lead__score__lt=score)
                | Q(due_key=due, lead__score=score, opened_at__gt=opened)
                | Q(due_key=due, lead__score=score, opened_at=opened, id__gt=pk)
            )
    rows = list(handoffs[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = _encode(
            {"d": last.due_key.isoformat(), "s": last.lead.score, "o": last.opened_at.isoformat(), "i": last.pk}
        )
    return Page(rows=rows, next_cursor=next_cursor)


def next_queue_handoff(*, user) -> Handoff | None:
    return queue_handoffs(user=user).first()


# ---- My leads --------------------------------------------------------------------------------

# Urgency of the next step: 0 overdue, 1 today, 2 none set, 3 later.
URGENCY_OVERDUE, URGENCY_TODAY, URGENCY_NONE, URGENCY_LATER = range(4)
URGENCY_NAMES = {URGENCY_OVERDUE: "overdue", URGENCY_TODAY: "today", URGENCY_NONE: "none", URGENCY_LATER: "later"}


def my_leads(*, user, today: date | None = None) -> QuerySet[Lead]:
    """A rep's open leads, most urgent next step first: overdue, today, none set, later."""
    today = today or timezone.localdate()
    return (
        Lead.objects.filter(owner=user, stage__in=[s.value for s in SALES_STAGES])
        .select_related("owner")
        .annotate(
            urgency=Case(
                When(next_step_due__lt=today, then=Value(URGENCY_OVERDUE)),
                When(next_step_due=today, then=Value(URGENCY_TODAY)),
                When(next_step_due__isnull=True, then=Value(URGENCY_NONE)),
                default=Value(URGENCY_LATER),
                output_field=IntegerField(),
            ),
            due_key=Coalesce("next_step_due", Value(date(9999, 12, 31), output_field=DateField())),
        )
        .order_by("urgency", "due_key", "-score", "id")
    )


def my_leads_page(*, user, page: int = 1, size: int = PAGE_SIZE) -> tuple[list[Lead], bool]:
    """A rep holds tens of leads, not thousands (the routing cap): offset pages are enough here."""
    page = max(page, 1)
    rows = list(my_leads(user=user)[(page - 1) * size : page * size + 1])
    for lead in rows:
        lead.urgency_name = URGENCY_NAMES[lead.urgency]
    return rows[:size], len(rows) > size


# ---- Service ---------------------------------------------------------------------------------


def service_search(*, query: str, limit: int = 25) -> list[Lead]:
    """Any lead or customer whose name, email or company contains every word of the query:
    customers first (whom service is usually looking for), each part newest first."""
    words = query.split()[:5]
    if not words:
        return []
    leads = containing(Lead.objects.select_related("owner"), words)
    # Two index-friendly queries (leads.text_search) instead of one sort by a CASE over every match.
    results: list[Lead] = []
    for part in (leads.filter(stage=Stage.CUSTOMER), leads.exclude(stage=Stage.CUSTOMER)):
        count = limit - len(results)
        few = matches_are_few(part, terms=words, page_rows=count + 1)
        results += first_matches(part, order=("-created_at", "-id"), count=count, matches_first=few)
        if len(results) >= limit:
            break
    return results


@dataclass
class FlagRow:
    lead: Lead
    created_at: datetime
    wants: str
    urgency: str
    note: str
    handoff: Handoff | None
    # The customer agreed to be contacted by sales; None: no flag row (a plain API transition).
    consent: bool | None = None
    outcome: tuple[str, str] = ("", "")


def my_flags(*, user, limit: int = 50) -> list[FlagRow]:
    """The upgrades this service rep flagged, newest first, with the handoff each opened. Three queries.

    The stage changes customer -> service_qualified by the rep are the record (a flag may also come
    through the API's generic transition); the UpgradeFlag row adds what they want and how urgent.
    """
    changes = list(
        StageChange.objects.filter(actor=user, from_stage=Stage.CUSTOMER, to_stage=Stage.SERVICE_QUALIFIED)
        .select_related("lead", "lead__owner")
        .order_by("-created_at", "-id")[:limit]
    )
    lead_ids = {change.lead_id for change in changes}
    handoffs: dict[int, list[Handoff]] = {}
    for handoff in Handoff.objects.filter(lead_id__in=lead_ids, kind=HandoffKind.SERVICE_TO_SALES).order_by(
        "opened_at", "id"
    ):
        handoffs.setdefault(handoff.lead_id, []).append(handoff)
    flags: dict[int, list[UpgradeFlag]] = {}
    for flag in UpgradeFlag.objects.filter(lead_id__in=lead_ids, flagged_by=user).order_by("created_at", "id"):
        flags.setdefault(flag.lead_id, []).append(flag)
    rows = []
    for change in changes:
        # The latest upgrade handoff opened since this flag (a release opens a new one), and the
        # flag details written with it.
        since = change.created_at - timedelta(seconds=5)
        handoff = next((h for h in reversed(handoffs.get(change.lead_id, [])) if h.opened_at >= since), None)
        flag = next((f for f in flags.get(change.lead_id, []) if f.created_at >= since), None)
        row = FlagRow(
            lead=change.lead,
            created_at=change.created_at,
            wants=flag.wants if flag else change.reason,
            urgency=flag.get_urgency_display() if flag else "",
            note=flag.note if flag else "",
            handoff=handoff,
            consent=flag.contact_consent if flag else None,
        )
        row.outcome = flag_outcome(row)
        rows.append(row)
    return rows


def pql_list(*, limit: int = 50) -> QuerySet[Lead]:
    """Product-qualified leads: product usage made them sales-ready."""
    return Lead.objects.filter(stage=Stage.PQL).select_related("owner").order_by("-score", "-id")[:limit]


# ---- Notifications ---------------------------------------------------------------------------


NOTIFICATION_FIELDS = ["id", "recipient_id", "text", "url", "handoff_id", "lead_id", "created_at", "read_at"]


def notifications_for(*, user, limit: int = 8) -> tuple[list[Notification], int]:
    """The newest notifications (read ones too, dimmed) and the unread count.

    One plain statement, as every page's top bar asks (compiling the ORM's query cost several
    times its round trip): the count rides on each row as a scalar subquery, which the database
    computes once (from the inbox index). No row means no unread one either.
    """
    table = Notification._meta.db_table
    items = fetch_instances(
        Notification,
        NOTIFICATION_FIELDS,
        f"SELECT {', '.join(NOTIFICATION_FIELDS)},"
        f" (SELECT COUNT(*) FROM {table} WHERE recipient_id = %s AND read_at IS NULL)"
        f" FROM {table} WHERE recipient_id = %s ORDER BY created_at DESC, id DESC LIMIT %s",
        [user.pk, user.pk, limit],
        annotations=("unread_count",),
    )
    return items, items[0].unread_count if items else 0


def flag_outcome(flag: FlagRow) -> tuple[str, str]:
    """What became of an upgrade flag, as (badge class, sentence) for the service rep."""
    handoff, lead = flag.handoff, flag.lead
    if handoff is None:
        return "badge-neutral", "No handoff was opened."
    if handoff.status == HandoffStatus.REJECTED:
        return "badge-danger", f"Turned down by sales: {handoff.rejection_reason or 'no reason given'}"
    if handoff.status == HandoffStatus.OPEN:
        if handoff.sla_breached_at:
            return "badge-danger", "Waiting in the sales queue, past its SLA"
        return "badge-warning", "Waiting in the sales queue"
    if handoff.status == HandoffStatus.CANCELLED:
        return "badge-neutral", "Handed back to the queue"
    if lead.stage == Stage.SERVICE_QUALIFIED and lead.owner_id:
        owner = lead.owner.get_full_name() or lead.owner.get_username()
        return "badge-neutral", f"Being worked by {owner}"
    if lead.stage == Stage.SERVICE_QUALIFIED:
        return "badge-warning", "Back in the sales queue"
    return "badge-success", "Upgrade closed"
