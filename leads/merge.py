"""Duplicates: find likely ones, and merge two leads into one (issue 7, point 2).

Suggestions (reads): the same phone number; the same email domain and the same name; nearly the
same name at one company. The merge (a write): a marketer picks the surviving lead and, field by
field, which value to keep. In one transaction, both rows locked in id order (as every writer of
leads locks), the other lead's events, notes, stage history, handoffs, submissions and upgrade flags
move to the survivor, the other lead is deleted, a `lead_merged` event records the merge on the
survivor's timeline, and the survivor's score is marked stale (recomputed after commit from all
its events, as always). The stage is not copied: only lead_transition writes a stage.
"""

import difflib
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.utils import timezone

from .audit import audit_record
from .exceptions import LeadError
from .ingest import LEAD_ATTRIBUTION_FIELDS, LEAD_PROFILE_FIELDS
from .models import (
    AuditAction,
    EngagementEvent,
    Handoff,
    HandoffStatus,
    Lead,
    Note,
    StageChange,
    Submission,
    UpgradeFlag,
)
from .services import lead_mark_score_stale
from .stages import SALES_STAGES
from .text_search import with_company

MERGEABLE_FIELDS = ("email", *LEAD_PROFILE_FIELDS, "company_domain", "company_size", *LEAD_ATTRIBUTION_FIELDS)
MERGED_EVENT = "lead_merged"
NAME_SIMILARITY = 0.85


class MergeNotAllowed(LeadError):
    code = "merge_not_allowed"


@dataclass(frozen=True)
class Suggestion:
    lead_ids: tuple[int, int]
    reason: str


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def duplicate_suggestions(*, limit: int = 50) -> list[Suggestion]:
    """Pairs of leads that are probably one person, with why; each pair once, lowest id first."""
    found: dict[tuple[int, int], str] = {}

    def add(a: int, b: int, reason: str) -> None:
        pair = (min(a, b), max(a, b))
        found.setdefault(pair, reason)

    # Same email domain and the same first and last name (case-insensitive).
    groups = (
        Lead.objects.exclude(Q(first_name="") | Q(last_name=""))
        .annotate(first=Lower("first_name"), last=Lower("last_name"))
        .values("company_domain", "first", "last")
        .annotate(n=Count("id"))
        .filter(n__gt=1)[:limit]
    )
    for group in groups:
        ids = list(
            Lead.objects.filter(
                company_domain=group["company_domain"],
                first_name__iexact=group["first"],
                last_name__iexact=group["last"],
            ).values_list("id", flat=True)[:10]
        )
        for other in ids[1:]:
            add(ids[0], other, "Same name and email domain")

    # Same phone number (digits only, at least 7 of them).
    by_phone: dict[str, list[int]] = defaultdict(list)
    phones = Lead.objects.exclude(phone="").values("phone").annotate(n=Count("id"))
    repeated = [row["phone"] for row in phones.filter(n__gt=1)[:limit]]
    for lead_id, phone in Lead.objects.filter(phone__in=repeated).values_list("id", "phone"):
        if len(_digits(phone)) >= 7:
            by_phone[_digits(phone)].append(lead_id)
    for ids in by_phone.values():
        for other in sorted(ids)[1:]:
            add(min(ids), other, "Same phone number")

    # Nearly the same name at one company (a typo, a missing letter).
    companies = (
        Lead.objects.exclude(company="")
        .annotate(c=Lower("company"))
        .values("c")
        .annotate(n=Count("id"))
        .filter(n__gt=1, n__lte=200)[: limit * 4]
    )
    for company in companies:
        people = list(with_company(Lead.objects.all(), company["c"]).values_list("id", "first_name", "last_name")[:200])
        for index, (a, first_a, last_a) in enumerate(people):
            name_a = f"{first_a} {last_a}".strip().lower()
            for b, first_b, last_b in people[index + 1 :]:
                name_b = f"{first_b} {last_b}".strip().lower()
                if name_a and name_b and difflib.SequenceMatcher(None, name_a, name_b).ratio() >= NAME_SIMILARITY:
                    add(a, b, "Nearly the same name at the same company")
        if len(found) >= limit:
            break
    return [Suggestion(pair, reason) for pair, reason in sorted(found.items())][:limit]


@dataclass(frozen=True)
class MergeResult:
    survivor: Lead
    merged_lead_id: int
    moved: dict


def lead_merge(
    *, survivor_id: int, other_id: int, take_from_other: list[str] | None = None, actor=None, actor_label: str = ""
) -> MergeResult:
    """Merge `other` into `survivor`: the fields named in `take_from_other` take the other's value,
    every other field keeps the survivor's (an empty one is filled from the other)."""
    take = set(take_from_other or [])
    unknown = take - set(MERGEABLE_FIELDS)
    if unknown:
        raise MergeNotAllowed(f"Not a field that can be merged: {', '.join(sorted(unknown))}.")
    if survivor_id == other_id:
        raise MergeNotAllowed("A lead cannot be merged with itself.")
    with transaction.atomic():
        leads = Lead.objects.select_for_update().filter(pk__in=[survivor_id, other_id]).order_by("pk")
        locked = {lead.pk: lead for lead in leads}
        if survivor_id not in locked or other_id not in locked:
            raise Lead.DoesNotExist("No such lead.")
        survivor, other = locked[survivor_id], locked[other_id]
        if other.owner_id and survivor.owner_id and other.owner_id != survivor.owner_id:
            raise MergeNotAllowed("Both leads are owned by different reps: release one of them first.")

        taken = {}
        for name in MERGEABLE_FIELDS:
            mine, theirs = getattr(survivor, name), getattr(other, name)
            if theirs in ("", None):
                continue
            if (name in take or mine in ("", None)) and mine != theirs:
                taken[name] = theirs
        survivor.consent = survivor.consent or other.consent
        survivor.consent_at = survivor.consent_at or other.consent_at
        survivor.unsubscribed = survivor.unsubscribed or other.unsubscribed  # an unsubscribe is always kept
        if other.last_activity_at and (
            not survivor.last_activity_at or other.last_activity_at > survivor.last_activity_at
        ):
            survivor.last_activity_at = other.last_activity_at
        survivor.owner_id = survivor.owner_id or other.owner_id

        # At most one open handoff per lead, and only for a lead in a sales stage: the survivor's
        # stage decides, so the other's open handoff is cancelled unless the survivor waits for one.
        survivor_waits = survivor.stage in SALES_STAGES and not survivor.owner_id
        if not survivor_waits or Handoff.objects.filter(lead=survivor, status=HandoffStatus.OPEN).exists():
            Handoff.objects.filter(lead=other, status=HandoffStatus.OPEN).update(
                status=HandoffStatus.CANCELLED, decided_at=timezone.now(), rejection_reason="Merged into another lead"
            )
        moved = {
            "events": EngagementEvent.objects.filter(lead=other).update(lead=survivor),
            "notes": Note.objects.filter(lead=other).update(lead=survivor),
            "stage_changes": StageChange.objects.filter(lead=other).update(lead=survivor),
            "handoffs": Handoff.objects.filter(lead=other).update(lead=survivor),
            "submissions": Submission.objects.filter(lead=other).update(lead=survivor),
            "upgrade_flags": UpgradeFlag.objects.filter(lead=other).update(lead=survivor),
        }
        other_email = other.email
        other.delete()  # before the survivor may take its email (unique)
        for name, value in taken.items():
            setattr(survivor, name, value)
        survivor.save()
        EngagementEvent.objects.create(
            lead=survivor,
            event_type=MERGED_EVENT,
            occurred_at=timezone.now(),
            source="merge",
            properties={
                "merged_lead_id": other_id,
                "merged_email": other_email,
                "fields_taken": sorted(taken),
                "moved": ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in moved.items() if count),
                "by": (actor.get_username() if actor else actor_label) or "system",
            },
        )
        lead_mark_score_stale(lead_ids=[survivor.pk])
        # Ids and field names only: the merged lead's email stays out of the audit log.
        audit_record(
            action=AuditAction.LEADS_MERGED,
            actor=actor,
            actor_label="" if actor else (actor_label or "system"),
            target_type="lead",
            target_id=survivor.pk,
            detail={"merged_lead_id": other_id, "fields_taken": sorted(taken), "moved": moved},
        )
    return MergeResult(survivor=survivor, merged_lead_id=other_id, moved=moved)
