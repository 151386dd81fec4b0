"""Writes of the marketing workspace: bulk moves, lead profile edits, notes, saved views.

Every stage change still goes through leads.services.lead_transition (one transaction per lead,
so one refused lead never undoes the others), and who may do what is asked of leads.policy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from . import policy
from .exceptions import LeadError, NotPermitted
from .models import Lead, Note, SavedView
from .services import lead_mark_score_stale, lead_transition

# A bulk action on "every lead matching the filters" moves at most this many leads per request,
# so a browser request never runs for minutes; the result line says how many are left.
BULK_LIMIT = 1000
BULK_CHUNK = 200

# Profile fields the scoring engine's fit rules read: changing one makes the score stale.
SCORED_FIELDS = frozenset({"job_title", "company_size", "industry", "country"})


@dataclass
class BulkResult:
    updated: int = 0
    skipped: Counter = field(default_factory=Counter)
    not_reached: bool = False  # the limit stopped it: more leads match

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        """ "2 updated, 1 skipped: A lead cannot move from MQL to MQL." """
        text = f"{self.updated} updated"
        if self.skipped:
            reasons = "; ".join(
                f"{reason}{f' ({count})' if count > 1 and len(self.skipped) > 1 else ''}"
                for reason, count in self.skipped.most_common()
            )
            text += f", {self.skipped_count} skipped: {reasons}"
        else:
            text += ", 0 skipped"
        if self.not_reached:
            text += f" Only the first {BULK_LIMIT} matching leads were handled: run it again for the rest."
        return text


def leads_bulk_move(
    *, leads: QuerySet[Lead], to_stage: str, actor, reason: str = "", limit: int = BULK_LIMIT
) -> BulkResult:
    """Move each lead of `leads` (walked by id in chunks) to `to_stage`, one transaction each.

    A lead the actor may not move, or that the lifecycle refuses, is skipped with the reason.
    """
    result = BulkResult()
    last_id = 0
    handled = 0
    while True:
        chunk = list(leads.filter(id__gt=last_id).order_by("id").only("id", "stage", "owner_id")[:BULK_CHUNK])
        if not chunk:
            break
        for lead in chunk:
            if handled >= limit:
                result.not_reached = True
                return result
            handled += 1
            refusal = policy.why_not_move(actor, lead, to_stage)
            if refusal:
                result.skipped[refusal] += 1
                continue
            try:
                lead_transition(
                    lead_id=lead.pk, to_stage=to_stage, actor=actor, reason=reason, expected_stage=lead.stage
                )
            except LeadError as error:
                result.skipped[error.message] += 1
            else:
                result.updated += 1
        last_id = chunk[-1].pk
    return result


def lead_update_profile(*, lead: Lead, actor, changes: dict) -> Lead:
    """Save profile fields a person edited; a change to a field fit rules read rescoring the lead."""
    refusal = policy.why_not_edit_profile(actor, lead)
    if refusal:
        raise NotPermitted(refusal)
    changed = [name for name, value in changes.items() if getattr(lead, name) != value]
    if not changed:
        return lead
    with transaction.atomic():
        for name in changed:
            setattr(lead, name, changes[name])
        lead.save(update_fields=[*changed, "updated_at"])
        if SCORED_FIELDS.intersection(changed):
            lead_mark_score_stale(lead_ids=[lead.pk])
    return lead


def note_add(*, lead: Lead, author, kind: str, body: str) -> Note:
    """A note, a logged call or a logged email on the timeline; it is the lead's latest activity
    (My leads shows and sorts by it), unless a newer event already is."""
    refusal = policy.why_not_add_note(author, lead)
    if refusal:
        raise NotPermitted(refusal)
    with transaction.atomic():
        note = Note.objects.create(lead=lead, author=author, kind=kind, body=body)
        Lead.objects.filter(pk=lead.pk).filter(
            Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=note.created_at)
        ).update(last_activity_at=note.created_at)
    return note


def saved_view_create(*, user, name: str, query: str) -> SavedView:
    """Save the list's filters under a name; saving under an existing name replaces its filters."""
    name = name.strip()
    try:
        with transaction.atomic():
            view, _ = SavedView.objects.update_or_create(user=user, name=name, defaults={"query": query})
    except IntegrityError:  # the same name saved twice at once: the other request won
        view = SavedView.objects.get(user=user, name=name)
    return view


def saved_view_delete(*, user, view_id: int) -> bool:
    """Remove one of the user's own saved views; False when they have no such view."""
    deleted, _ = SavedView.objects.filter(user=user, pk=view_id).delete()
    return bool(deleted)
