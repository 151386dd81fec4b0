"""Writes of the leads app. Every change of Lead.stage goes through lead_transition()."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from . import webhooks
from .activity import pending_marks_add
from .audit import audit_record
from .exceptions import AlreadyClaimed, OfferedToAnotherRep, ReasonRequired, TransitionNotAllowed
from .models import AuditAction, EngagementEvent, Handoff, HandoffKind, HandoffStatus, Lead, StageChange, Team
from .sales_selectors import offer_open_to
from .signals import events_stored, lead_stage_changed
from .stages import MARKETING_STAGES, SALES_STAGES, Stage, get_move, stage_label

HANDOFF_KIND_FOR_STAGE = {
    Stage.SQL: (HandoffKind.MARKETING_TO_SALES, Team.MARKETING),
    Stage.PQL: (HandoffKind.PRODUCT_TO_SALES, Team.PRODUCT),
    Stage.SERVICE_QUALIFIED: (HandoffKind.SERVICE_TO_SALES, Team.SERVICE),
}


@dataclass(frozen=True)
class TransitionResult:
    lead: Lead
    change: StageChange
    handoff: Handoff | None


def lead_transition(
    *,
    lead_id: int,
    to_stage: str,
    actor=None,
    actor_label: str = "",
    reason: str = "",
    expected_stage: str | None = None,
) -> TransitionResult:
    """Move a lead to another stage: the one door for every move, whoever asks.

    Locks the lead row, checks the move against the lifecycle table, writes the StageChange
    audit row and, entering a sales stage, opens a handoff, all in one transaction. A refused
    move raises a domain error and leaves nothing behind. `expected_stage` lets automatic
    callers say "only if it is still in this stage" (a move decided on stale data is refused).
    """
    reason = (reason or "").strip()
    with transaction.atomic():
        # NO KEY: a move changes no key column, so event batches storing events for this lead
        # (their foreign-key check takes FOR KEY SHARE) do not wait for it; other writers of the
        # lead (moves, claims, scoring) still take turns.
        lead = Lead.objects.select_for_update(no_key=True).get(pk=lead_id)
        source = lead.stage
        if expected_stage is not None and source != expected_stage:
            raise TransitionNotAllowed(
                f"The lead is now {stage_label(source)}, not {stage_label(expected_stage)}: "
                f"it was not moved to {stage_label(to_stage)}."
            )
        move = get_move(source, to_stage)
        if move is None:
            raise TransitionNotAllowed(f"A lead cannot move from {stage_label(source)} to {stage_label(to_stage)}.")
        if move.requires_reason and not reason:
            raise ReasonRequired(f"Moving a lead from {stage_label(source)} to {stage_label(to_stage)} needs a reason.")

        now = timezone.now()
        # A rep working a lead keeps it when it moves between sales stages (PQL -> SQL); any other
        # entry into a sales stage puts the lead in the queue, where whoever claims it owns it.
        stays_with_owner = source in SALES_STAGES and lead.owner_id is not None
        opens_handoff = move.target in SALES_STAGES and not stays_with_owner
        lead.stage = move.target
        lead.stage_changed_at = now
        update_fields = ["stage", "stage_changed_at", "updated_at"]
        if move.target in MARKETING_STAGES or move.target == Stage.DISQUALIFIED or opens_handoff:
            # Back with marketing, out of the funnel, or waiting in the queue: no rep owns it (a
            # customer's old owner kept across an upgrade handoff made release open a second one).
            lead.owner = None
            lead.claimed_at = None
            update_fields += ["owner", "claimed_at"]
        lead.save(update_fields=update_fields)

        change = StageChange.objects.create(
            lead=lead,
            from_stage=source,
            to_stage=move.target,
            actor=actor,
            actor_label="" if actor else (actor_label or "system"),
            reason=reason,
        )
        # The reason is free text (it may name a person): the audit entry keeps the stages only.
        audit_record(
            action=AuditAction.LEAD_MOVED,
            actor=actor,
            actor_label="" if actor else (actor_label or "system"),
            target_type="lead",
            target_id=lead.pk,
            detail={"from": source, "to": move.target.value, "stage_change_id": change.pk},
        )

        # Leaving a sales stage settles its open handoff; entering one opens a new handoff.
        closing_status = HandoffStatus.ACCEPTED if move.target == Stage.CUSTOMER else HandoffStatus.REJECTED
        open_handoffs = Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN)
        if source in SALES_STAGES and move.target not in SALES_STAGES:
            open_handoffs.update(
                status=closing_status,
                decided_by=actor,
                decided_at=now,
                rejection_reason=reason if closing_status == HandoffStatus.REJECTED else "",
            )
        handoff = None
        if opens_handoff:
            open_handoffs.update(status=HandoffStatus.CANCELLED, decided_at=now)
            kind, from_team = HANDOFF_KIND_FOR_STAGE[move.target]
            handoff = Handoff.objects.create(
                lead=lead,
                kind=kind,
                from_team=from_team,
                to_team=Team.SALES,
                reason=reason or move.label,
                opened_by=actor,
                opened_by_label="" if actor else (actor_label or "system"),
            )
            handoff_opened(handoff=handoff)

        webhooks.webhook_stage_changed(lead=lead, change=change, opened=handoff)  # outbox rows, same transaction
        transaction.on_commit(lambda: lead_stage_changed.send(sender=Lead, lead_id=lead.pk, change_id=change.pk))
    return TransitionResult(lead=lead, change=change, handoff=handoff)


def _display_name(user) -> str:
    if user is None:
        return "someone"
    return user.get_full_name() or user.get_username()


def offer_refusal(handoff: Handoff) -> str:
    """Why a rep may not claim a handoff routing offered to a colleague, and until when."""
    who = _display_name(handoff.offered_to)
    if handoff.offered_until is None:
        return f"Offered to {who} by routing, with no deadline: {who} may claim it or pass it back to the queue."
    return f"Offered to {who} until {timezone.localtime(handoff.offered_until):%Y-%m-%d %H:%M %Z}."


def lead_claim(*, lead_id: int, user) -> Handoff:
    """A rep takes a lead from the sales queue. Exactly one of many concurrent claims wins.

    The claim is a conditional UPDATE of the open handoff: one statement changes it from open to
    accepted; every other sees a row count of 0 and is refused with who was first. Nothing is
    written for a refused claim. A handoff routing offered to another rep is refused until that
    offer lapses (its offered_until), except to an admin; the condition is part of the same UPDATE,
    so a sweep re-offering it at the same moment cannot slip a claim past it.
    """
    now = timezone.now()
    with transaction.atomic():
        # Lock the lead before its handoff, in the same order as lead_transition: the other way
        # round a claim and a concurrent move of the same lead deadlock on PostgreSQL.
        lead = Lead.objects.select_for_update(no_key=True).get(pk=lead_id)
        handoff = Handoff.objects.filter(lead_id=lead_id, status=HandoffStatus.OPEN).first()
        won = 0
        if handoff is not None:
            won = (
                Handoff.objects.filter(pk=handoff.pk, status=HandoffStatus.OPEN)
                .filter(offer_open_to(user, now))
                .update(status=HandoffStatus.ACCEPTED, decided_by=user, decided_at=now)
            )
        if won != 1:
            still_open = (
                Handoff.objects.select_related("offered_to").filter(pk=handoff.pk, status=HandoffStatus.OPEN).first()
                if handoff is not None
                else None
            )
            if still_open is not None and still_open.offered_to_id not in (None, user.pk):
                raise OfferedToAnotherRep(offer_refusal(still_open))
            if lead.owner_id == user.pk:
                raise AlreadyClaimed("You have already claimed this lead.")
            if lead.owner_id is not None:
                when = f" at {lead.claimed_at:%Y-%m-%d %H:%M} UTC" if lead.claimed_at else ""
                raise AlreadyClaimed(f"Already claimed by {_display_name(lead.owner)}{when}.")
            raise TransitionNotAllowed(f"This lead is {stage_label(lead.stage)} and has no open handoff to claim.")
        lead.owner = user
        lead.claimed_at = now
        lead.save(update_fields=["owner", "claimed_at", "updated_at"])
        handoff.status = HandoffStatus.ACCEPTED
        handoff.decided_by = user
        handoff.decided_at = now
        handoff.lead = lead
        audit_record(
            action=AuditAction.LEAD_CLAIMED,
            actor=user,
            target_type="lead",
            target_id=lead.pk,
            detail={"stage": lead.stage, "handoff_id": handoff.pk},
        )
        webhooks.webhook_handoff_accepted(handoff=handoff)  # outbox row in this transaction
    return handoff


def lead_release(*, lead_id: int, user, reason: str = "") -> Handoff:
    """The owner (or an admin, by the caller's policy) gives a lead back to the sales queue."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update(no_key=True).get(pk=lead_id)
        if lead.owner_id is None:
            raise TransitionNotAllowed("This lead has no owner: there is nothing to release.")
        if lead.stage not in SALES_STAGES:
            raise TransitionNotAllowed(f"A {stage_label(lead.stage)} lead cannot go back to the sales queue.")
        if Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).exists():
            raise TransitionNotAllowed("This lead is already waiting in the sales queue.")
        previous = Handoff.objects.filter(lead=lead).order_by("-opened_at", "-id").first()
        previous_owner_id = lead.owner_id
        kind, from_team = HANDOFF_KIND_FOR_STAGE[Stage(lead.stage)]
        if previous is not None:
            kind, from_team = previous.kind, previous.from_team
        lead.owner = None
        lead.claimed_at = None
        lead.save(update_fields=["owner", "claimed_at", "updated_at"])
        handoff = Handoff.objects.create(
            lead=lead,
            kind=kind,
            from_team=from_team,
            to_team=Team.SALES,
            reason=(reason or "").strip() or f"Released by {_display_name(user)}",
            opened_by=user,
        )
        audit_record(
            action=AuditAction.LEAD_RELEASED,
            actor=user,
            target_type="lead",
            target_id=lead.pk,
            detail={"stage": lead.stage, "owner_id": previous_owner_id, "handoff_id": handoff.pk},
        )
        handoff_opened(handoff=handoff)
    return handoff


def handoff_opened(*, handoff: Handoff) -> None:
    """SLA deadline and routing of a new handoff (leads.handoffs; imported late: it imports us)."""
    from .handoffs import handoff_opened as open_hook

    open_hook(handoff=handoff)


def lead_mark_score_stale(*, lead_ids: list[int], nudge: bool = True) -> None:
    """Mark leads for a score recompute and nudge scoring after commit (unless told not to: the
    scoring worker re-marks a lead it could not move, for the sweeper).

    The mark (score_stale, what readers see) and the leads' pending-activity queue entries (what
    the worker takes: leads.activity) are written in the caller's transaction, next to the
    events or fields they are about: if the nudge is lost (broker down, worker killed), the
    sweeper still finds the leads in the queue.
    """
    if not lead_ids:
        return
    now = timezone.now()
    # No score_stale=False filter, on purpose: a scoring worker holds the rows of the leads it is
    # recomputing locked until it commits (clearing the mark). An unconditional UPDATE waits for
    # that commit and then marks the lead again; a filtered one would skip a still-marked row
    # without waiting, and the worker would clear a mark it never saw these events for.
    # The queue rows commit with this UPDATE: a worker that held the leads took older rows only,
    # and a later pass takes these. score_stale_since keeps the time of the first mark.
    Lead.objects.filter(pk__in=lead_ids).update(
        score_stale=True,
        score_stale_since=Case(
            When(score_stale=True, score_stale_since__isnull=False, then=F("score_stale_since")), default=Value(now)
        ),
    )
    ids = sorted(set(lead_ids))
    pending_marks_add(ids)
    if nudge:
        transaction.on_commit(lambda: events_stored.send(sender=Lead, lead_ids=ids))


def events_record(*, lead: Lead, events: list[dict], source: str = "") -> list[EngagementEvent]:
    """Store engagement events of one lead and mark its score stale, in one transaction.

    Each item of `events` has event_type, occurred_at and optionally properties and external_id.
    """
    with transaction.atomic():
        rows = EngagementEvent.objects.bulk_create(
            [
                EngagementEvent(
                    lead=lead,
                    event_type=item["event_type"],
                    occurred_at=item["occurred_at"],
                    properties=item.get("properties") or {},
                    source=source,
                    external_id=item.get("external_id"),
                )
                for item in events
            ]
        )
        latest = max((row.occurred_at for row in rows), default=None)
        if latest is not None:
            Lead.objects.filter(pk=lead.pk).filter(
                Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=latest)
            ).update(last_activity_at=latest)
        lead_mark_score_stale(lead_ids=[lead.pk])
    return rows


@dataclass(frozen=True)
class OffboardResult:
    released: list[int]
    offers_withdrawn: int


def rep_offboard(*, user, by) -> OffboardResult:
    """A rep leaves: each of their open (sales-stage) leads goes back to the sales queue through
    lead_release, offers routed to them are withdrawn, and their account is deactivated.

    One transaction: either every lead is back in the queue and the account is off, or nothing
    changed (a lead that cannot be released raises TransitionNotAllowed naming it). The leads they
    own in other stages (customers, disqualified) keep them as their owner, as history; that and
    Lead.owner's PROTECT is why a rep is deactivated, never deleted.
    """
    name = _display_name(user)
    reason = f"{name} left the team: released by {_display_name(by)} at off-boarding"
    with transaction.atomic():
        # First: routing (run by each release) must not offer a lead back to them.
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        lead_ids = list(
            Lead.objects.filter(owner=user, stage__in=[stage.value for stage in SALES_STAGES])
            .order_by("id")
            .values_list("id", flat=True)
        )
        for lead_id in lead_ids:
            try:
                lead_release(lead_id=lead_id, user=by, reason=reason)
            except TransitionNotAllowed as error:
                raise TransitionNotAllowed(f"Lead {lead_id}: {error} Nothing was changed.") from error
        # An open handoff routed to them would wait out its exclusive offer: the queue gets it now.
        withdrawn = Handoff.objects.filter(status=HandoffStatus.OPEN, offered_to=user).update(
            offered_to=None, offered_until=None
        )
    return OffboardResult(released=lead_ids, offers_withdrawn=withdrawn)
