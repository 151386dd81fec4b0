"""Writes of the sales and service workspaces: handoff outcomes, next steps, upgrade flags, SLA
deadlines and breaches, routing, notifications.

Stage changes still go through the one door (leads.services.lead_transition); this module decides
who may ask (leads.policy) and records what the workspaces add around a move. Every function is
atomic; mail leaves only after commit.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

from . import policy
from .exceptions import ConsentRequired, NotPermitted, ReasonRequired, TransitionNotAllowed
from .models import (
    Handoff,
    HandoffStatus,
    Lead,
    Notification,
    RepProfile,
    RoutingRule,
    SlaPolicy,
    StageChange,
    UpgradeFlag,
)
from .roles import Role
from .services import TransitionResult, lead_transition
from .stages import SALES_STAGES, Stage

User = get_user_model()
logger = logging.getLogger(__name__)


class RejectOutcome:
    RECYCLE = "recycle"
    DISQUALIFY = "disqualify"
    CHOICES = [(RECYCLE, "Recycle to marketing"), (DISQUALIFY, "Disqualify")]


def _require(reason: str | None) -> None:
    if reason:
        raise NotPermitted(reason)


def _lead(lead_id: int) -> Lead:
    return Lead.objects.select_related("owner").get(pk=lead_id)


# ---- Moves a rep makes from the workspaces -----------------------------------------------------


def handoff_reject(*, lead_id: int, user, outcome: str, reason: str) -> TransitionResult:
    """Turn a handoff down: back to marketing (recycle) or out of the funnel (disqualify).

    A service-qualified lead (an upgrade sales will not pursue) goes back to customer; its handoff
    is still recorded as rejected, with the reason.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("Say why you reject this handoff.")
    lead = _lead(lead_id)
    if lead.stage == Stage.SERVICE_QUALIFIED:
        target = Stage.CUSTOMER
    elif outcome == RejectOutcome.DISQUALIFY:
        target = Stage.DISQUALIFIED
    elif outcome == RejectOutcome.RECYCLE:
        target = Stage.MQL
    else:
        raise TransitionNotAllowed("Choose recycle or disqualify.")
    _require(policy.why_not_reject(user, lead, target))
    with transaction.atomic():
        open_handoff_ids = list(
            Handoff.objects.filter(lead_id=lead.pk, status=HandoffStatus.OPEN).values_list("pk", flat=True)
        )
        result = lead_transition(lead_id=lead.pk, to_stage=target, actor=user, reason=reason, expected_stage=lead.stage)
        if target == Stage.CUSTOMER and open_handoff_ids:
            # lead_transition settles a move to customer as accepted (a win); an upgrade turned
            # down is a rejection.
            Handoff.objects.filter(pk__in=open_handoff_ids).update(
                status=HandoffStatus.REJECTED, rejection_reason=reason
            )
        if lead.stage == Stage.SERVICE_QUALIFIED:
            _notify_flagger(lead, f"Sales turned down the upgrade of {lead}: {reason}")
    return result


def lead_close_won(*, lead_id: int, user, reason: str = "") -> TransitionResult:
    """Close a lead as customer (a won deal or a closed upgrade). How it was won is optional: the
    lifecycle asks a reason only of recycle, disqualify and reopen (leads.stages)."""
    reason = (reason or "").strip()
    lead = _lead(lead_id)
    _require(policy.why_not_close(user, lead))
    with transaction.atomic():
        result = lead_transition(
            lead_id=lead.pk, to_stage=Stage.CUSTOMER, actor=user, reason=reason, expected_stage=lead.stage
        )
        if lead.stage == Stage.SERVICE_QUALIFIED:
            _notify_flagger(lead, f"The upgrade of {lead} you flagged is closed" + (f": {reason}" if reason else "."))
    return result


def _notify_flagger(lead: Lead, text: str) -> None:
    """Tell the service rep who flagged this upgrade what became of it (their latest flag)."""
    flagger_id = (
        StageChange.objects.filter(lead=lead, from_stage=Stage.CUSTOMER, to_stage=Stage.SERVICE_QUALIFIED)
        .order_by("-created_at", "-id")
        .values_list("actor_id", flat=True)
        .first()
    )
    if flagger_id is not None:
        Notification.objects.create(recipient_id=flagger_id, lead=lead, text=text[:300], url=reverse("service-flags"))


def lead_set_next_step(*, lead_id: int, user, text: str, due: date | None) -> Lead:
    lead = _lead(lead_id)
    _require(policy.why_not_set_next_step(user, lead))
    Lead.objects.filter(pk=lead.pk).update(next_step=(text or "").strip()[:200], next_step_due=due)
    lead.refresh_from_db()
    return lead


@dataclass(frozen=True)
class FlagResult:
    flag: UpgradeFlag
    handoff: Handoff | None


CONSENT_TEXT = "The customer agreed to be contacted by sales."


def upgrade_flag(*, lead_id: int, user, wants: str, urgency: str, consent: bool, note: str = "") -> FlagResult:
    """A service rep flags a customer's upgrade interest: the lead becomes service-qualified and a
    service -> sales handoff opens in the sales queue (routing, never a rep picked by hand).

    Only with the customer's agreement to be contacted by sales: it is stored on the flag and said
    in the handoff's reason, so the rep who calls sees it on the queue's lead and its timeline."""
    wants = (wants or "").strip()
    if not wants:
        raise ReasonRequired("Say what the customer wants.")
    if consent is not True:
        raise ConsentRequired("Ask the customer first: sales contacts only customers who agreed to it.")
    lead = _lead(lead_id)
    _require(policy.why_not_flag_upgrade(user, lead))
    reason = f"Upgrade interest: {wants}" + (f" — {note.strip()}" if (note or "").strip() else "")
    reason += f"\n{CONSENT_TEXT}"
    with transaction.atomic():
        result = lead_transition(
            lead_id=lead.pk,
            to_stage=Stage.SERVICE_QUALIFIED,
            actor=user,
            reason=reason,
            expected_stage=Stage.CUSTOMER,
        )
        flag = UpgradeFlag.objects.create(
            lead=lead,
            flagged_by=user,
            wants=wants,
            urgency=urgency,
            note=(note or "").strip(),
            contact_consent=True,
            handoff=result.handoff,
        )
    return FlagResult(flag=flag, handoff=result.handoff)


# ---- SLA -------------------------------------------------------------------------------------


def sla_due_at(*, kind: str, opened_at: datetime) -> datetime | None:
    hours = SlaPolicy.objects.filter(kind=kind).values_list("hours_to_accept", flat=True).first()
    return None if hours is None else opened_at + timedelta(hours=hours)


def handoff_opened(*, handoff: Handoff) -> None:
    """Called where a handoff is created (leads.services), in its transaction: set the SLA deadline
    and, when routing is on, offer the handoff to a rep."""
    due_at = sla_due_at(kind=handoff.kind, opened_at=handoff.opened_at)
    offered_to = route_handoff(handoff=handoff)
    # The rep routing picked has the lead to themselves until the SLA deadline; past it, any rep
    # may claim it (and the sweep offers it to the next rep).
    offered_until = due_at if offered_to is not None else None
    Handoff.objects.filter(pk=handoff.pk).update(due_at=due_at, offered_to_id=offered_to, offered_until=offered_until)
    handoff.due_at, handoff.offered_to_id, handoff.offered_until = due_at, offered_to, offered_until
    if offered_to is not None:
        _notify_offer(handoff=handoff, rep_id=offered_to)


def _notify_offer(*, handoff: Handoff, rep_id: int) -> None:
    """Tell the rep routing picked. Written once, in the transaction that makes the offer (so no
    handoff link: that link is the breach notification's once-per-person key)."""
    until = handoff.offered_until
    due = f" Claim it within {_plain(timeuntil(until, depth=1))}." if until else ""
    Notification.objects.create(
        recipient_id=rep_id,
        lead_id=handoff.lead_id,
        text=f"Routing offered you {handoff.lead} ({handoff.get_kind_display()}).{due}",
        url=reverse("sales-queue"),
    )


def _plain(duration: str) -> str:
    """Django's "3\xa0hours" as plain text (notifications and emails)."""
    return duration.replace("\xa0", " ")


def sales_team():
    return User.objects.filter(is_active=True, groups__name=Role.SALES.value).distinct()


def handoff_sla_sweep(*, now: datetime | None = None) -> int:
    """Mark the open handoffs past their deadline as breached, notify the team and, if routing is
    on, offer each to the next rep. Idempotent and safe to run concurrently: the mark is a
    conditional UPDATE, and only the run whose UPDATE changed the row notifies."""
    now = now or timezone.now()
    breached = 0
    candidates = Handoff.objects.filter(status=HandoffStatus.OPEN, sla_breached_at__isnull=True, due_at__lt=now)
    # A bounded batch per run (beat runs it every minute): a backlog drains without one long run.
    for handoff_id in candidates.values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            marked = Handoff.objects.filter(
                pk=handoff_id, status=HandoffStatus.OPEN, sla_breached_at__isnull=True
            ).update(sla_breached_at=now)
            if marked != 1:
                continue
            breached += 1
            handoff = Handoff.objects.select_related("lead", "offered_to").get(pk=handoff_id)
            _notify_breach(handoff)
            if RoutingRule.objects.filter(active=True).exists():
                # The next rep, or nobody (every other rep away or full): then the whole team sees it.
                next_rep = route_handoff(handoff=handoff, exclude={handoff.offered_to_id} - {None})
                # The next rep gets a fresh turn as long as the kind's time to accept; after it
                # the lead is open to the whole team.
                until = sla_due_at(kind=handoff.kind, opened_at=now) if next_rep is not None else None
                Handoff.objects.filter(pk=handoff.pk, status=HandoffStatus.OPEN).update(
                    offered_to_id=next_rep, offered_until=until
                )
                if next_rep is not None:
                    handoff.offered_until = until
                    _notify_offer(handoff=handoff, rep_id=next_rep)
    return breached


def _notify_breach(handoff: Handoff) -> None:
    lead = handoff.lead
    waited = _plain(timesince(handoff.opened_at, depth=1))
    text = f"SLA breached: {lead} ({handoff.get_kind_display()}) has waited {waited} in the sales queue."
    url = reverse("sales-queue")
    recipients = list(sales_team())
    Notification.objects.bulk_create(
        [Notification(recipient=user, text=text, url=url, handoff=handoff, lead=lead) for user in recipients],
        ignore_conflicts=True,
    )
    emails = [user.email for user in recipients if user.email]
    if emails:
        body = f"{text}\n\nOpen the sales queue: {settings.SITE_URL.rstrip('/')}{url}\n"
        messages = [(f"[LeadCRM] {text[:120]}", body, settings.DEFAULT_FROM_EMAIL, [email]) for email in emails]
        transaction.on_commit(lambda: _send(messages))


def _send(messages: list[tuple]) -> None:
    # The breach is marked and notified in-app already: a mail server that is down must not undo
    # that or make the sweep retry (and mail twice); say so in the log instead.
    try:
        send_mass_mail(messages)
    except OSError:
        logger.warning("SLA breach email not sent to %d recipient(s)", len(messages), exc_info=True)


def notification_mark_read(*, user, notification_id: int | None = None) -> int:
    """Mark one notification (or all of the user's) as read; returns how many changed."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())


# ---- Routing ---------------------------------------------------------------------------------


def _codes(value: str) -> set[str]:
    return {code.strip().upper() for code in (value or "").split(",") if code.strip()}


def _rule_matches(rule: RoutingRule, lead: Lead, kind: str) -> bool:
    if rule.kind and rule.kind != kind:
        return False
    if rule.countries and (lead.country or "").upper() not in _codes(rule.countries):
        return False
    size = lead.company_size
    if rule.min_company_size is not None and (size is None or size < rule.min_company_size):
        return False
    return not (rule.max_company_size is not None and (size is None or size > rule.max_company_size))


def route_handoff(*, handoff: Handoff, exclude: set[int] | frozenset = frozenset()) -> int | None:
    """The id of the rep the first matching active rule offers this handoff to, or None (routing off,
    no rule matches, or every rep is away or at their cap). Round-robin: the rep offered a lead
    longest ago (or never) goes next."""
    rules = list(RoutingRule.objects.filter(active=True).prefetch_related("reps"))
    if not rules:
        return None
    lead = handoff.lead
    for rule in rules:
        if not _rule_matches(rule, lead, handoff.kind):
            continue
        pool = list(rule.reps.all()) if rule.reps.exists() else list(sales_team())
        rep_id = _next_rep(rule, pool, lead, exclude)
        if rep_id is not None:
            return rep_id
    return None


def _next_rep(rule: RoutingRule, pool: list, lead: Lead, exclude) -> int | None:
    ids = [user.pk for user in pool if user.is_active and user.pk not in exclude]
    if not ids:
        return None
    profiles = {p.user_id: p for p in RepProfile.objects.filter(user_id__in=ids)}
    open_counts = dict(
        User.objects.filter(pk__in=ids)
        .annotate(
            n=Count("owned_leads", filter=Q(owned_leads__stage__in=[s.value for s in SALES_STAGES]), distinct=True)
        )
        .values_list("pk", "n")
    )
    offered = dict(
        Handoff.objects.filter(status=HandoffStatus.OPEN, offered_to_id__in=ids)
        .values_list("offered_to_id")
        .annotate(n=Count("id"))
        .values_list("offered_to_id", "n")
    )
    eligible = []
    for user_id in ids:
        profile = profiles.get(user_id)
        if profile is not None and profile.away:
            continue
        if rule.by_territory and (profile is None or (lead.country or "").upper() not in profile.territory_codes):
            continue
        cap = (
            profile.max_open_leads
            if profile is not None and profile.max_open_leads is not None
            else rule.max_open_leads
        )
        if open_counts.get(user_id, 0) + offered.get(user_id, 0) >= cap:
            continue
        last = profile.last_offered_at if profile is not None else None
        eligible.append((last is not None, last or timezone.now(), user_id))
    if not eligible:
        return None
    eligible.sort()
    chosen = eligible[0][2]
    RepProfile.objects.update_or_create(user_id=chosen, defaults={"last_offered_at": timezone.now()})
    return chosen


def handoff_decline_offer(*, handoff_id: int, user) -> None:
    """A rep passes on a lead routing offered them: it goes back to the shared queue."""
    changed = Handoff.objects.filter(pk=handoff_id, status=HandoffStatus.OPEN, offered_to=user).update(
        offered_to=None, offered_until=None
    )
    if changed != 1:
        raise TransitionNotAllowed("This lead is not offered to you any more.")
