"""Reads of the lead detail page: the stage path, the score card and the one timeline.

A fixed number of queries whatever the lead's history: one per kind of timeline entry, each
limited, merged in Python (newest first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from . import policy
from .activity import score_is_stale
from .models import EngagementEvent, EventType, Handoff, HandoffStatus, Lead, Note, StageChange
from .stages import Move, MoveKind, Stage, moves_from, stage_label

TIMELINE_LIMIT = 50
TIMELINE_KINDS = [
    ("events", "Events"),
    ("stages", "Stage changes"),
    ("handoffs", "Handoffs"),
    ("notes", "Notes"),
]
EVENT_LABELS = dict(EventType.choices)


def lead_for_detail(*, lead_id: int) -> Lead:
    return Lead.objects.select_related("owner").get(pk=lead_id)


# ---- Stage path ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathStep:
    stage: str
    label: str
    state: str  # "done", "current", "todo", "won", "lost"


def stage_path(lead: Lead, reached: set[str]) -> list[PathStep]:
    """The funnel as a chevron path: where the lead is, where it has been, what is ahead.

    `reached` holds the stages the lead has entered before (from its stage changes).
    """
    current = lead.stage
    middle = Stage.PQL if current == Stage.PQL or (Stage.PQL in reached and Stage.SQL not in reached) else Stage.SQL
    steps = [Stage.LEAD, Stage.MQL, middle, Stage.CUSTOMER]
    if current == Stage.SERVICE_QUALIFIED:
        steps.append(Stage.SERVICE_QUALIFIED)
    path = []
    if current in steps:
        position = steps.index(current)
        for index, stage in enumerate(steps):
            if index < position:
                state = "done"
            elif index == position:
                state = "won" if stage == Stage.CUSTOMER else "current"
            else:
                state = "todo"
            path.append(PathStep(stage.value, stage.label, state))
        return path
    # Disqualified: the stages it went through are done, then the lost end.
    for stage in steps:
        path.append(PathStep(stage.value, stage.label, "done" if stage in reached else "todo"))
    path.append(PathStep(current, stage_label(current), "lost"))
    return path


# ---- Score card ------------------------------------------------------------------------------


def score_card(lead: Lead, top: int = 3) -> dict:
    """The stored score explained: fit versus engagement, the rules that gave the points."""
    items = [item for item in (lead.score_breakdown or []) if isinstance(item, dict)]
    fit_items = [item for item in items if item.get("kind") == "fit"]
    engagement_items = [item for item in items if item.get("kind") == "engagement"]
    ranked = sorted((item for item in items if item.get("points")), key=lambda item: -abs(item["points"]))
    return {
        "score": lead.score,
        "fit": lead.fit_score,
        "engagement": lead.engagement_score,
        "top": ranked[:top],
        "fit_items": fit_items,
        "engagement_items": engagement_items,
        "adds_up": sum(item.get("points", 0) for item in items) == lead.score,
        "version": lead.score_ruleset_version,
        "scored_at": lead.scored_at,
        "stale": score_is_stale(lead),
        "scored": lead.scored_at is not None,
    }


# ---- Timeline --------------------------------------------------------------------------------


@dataclass
class TimelineEntry:
    kind: str  # events, stages, handoffs, notes
    at: datetime
    title: str
    detail: str = ""
    actor: str = ""
    subkind: str = ""
    stage_from: str = ""
    stage_to: str = ""
    system: bool = False  # the actor is an integration or the app, not a person


def _person(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else ""


def _event_detail(properties: dict) -> str:
    if not isinstance(properties, dict):
        return ""
    parts = [f"{key}: {value}" for key, value in list(properties.items())[:4] if value not in (None, "")]
    return " · ".join(parts)


def lead_timeline(*, lead: Lead, kinds: set[str] | None = None, limit: int = TIMELINE_LIMIT) -> list[TimelineEntry]:
    """Events, stage changes, handoffs and notes of a lead, newest first (up to `limit`)."""
    kinds = kinds or {kind for kind, _ in TIMELINE_KINDS}
    entries: list[TimelineEntry] = []
    if "events" in kinds:
        for event in EngagementEvent.objects.filter(lead=lead).order_by("-occurred_at", "-id")[:limit]:
            entries.append(
                TimelineEntry(
                    kind="events",
                    at=event.occurred_at,
                    title=EVENT_LABELS.get(event.event_type, event.event_type.replace("_", " ").capitalize()),
                    detail=_event_detail(event.properties),
                    actor=event.source,
                    subkind=event.event_type,
                    system=True,
                )
            )
    if "stages" in kinds:
        for change in (
            StageChange.objects.filter(lead=lead).select_related("actor").order_by("-created_at", "-id")[:limit]
        ):
            entries.append(
                TimelineEntry(
                    kind="stages",
                    at=change.created_at,
                    title=f"{stage_label(change.from_stage)} → {stage_label(change.to_stage)}",
                    detail=change.reason,
                    actor=change.actor_display,
                    system=change.actor_id is None,
                    stage_from=change.from_stage,
                    stage_to=change.to_stage,
                )
            )
    if "handoffs" in kinds:
        handoffs = Handoff.objects.filter(lead=lead).select_related("opened_by", "decided_by")
        for handoff in handoffs.order_by("-opened_at", "-id")[:limit]:
            status = handoff.get_status_display()
            if handoff.decided_by_id:
                status += f" by {_person(handoff.decided_by)}"
            if handoff.rejection_reason:
                status += f": {handoff.rejection_reason}"
            entries.append(
                TimelineEntry(
                    kind="handoffs",
                    at=handoff.opened_at,
                    title=f"Handoff {handoff.get_kind_display()} ({status})",
                    detail=handoff.reason,
                    actor=_person(handoff.opened_by) or handoff.opened_by_label,
                    system=handoff.opened_by_id is None,
                    subkind=handoff.status,
                )
            )
    if "notes" in kinds:
        for note in Note.objects.filter(lead=lead).select_related("author").order_by("-created_at", "-id")[:limit]:
            entries.append(
                TimelineEntry(
                    kind="notes",
                    at=note.created_at,
                    title=note.get_kind_display(),
                    detail=note.body,
                    actor=_person(note.author),
                    subkind=note.kind,
                )
            )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


def stages_reached(*, lead: Lead) -> set[str]:
    return set(StageChange.objects.filter(lead=lead).values_list("from_stage", flat=True))


# ---- Moves -----------------------------------------------------------------------------------

FORWARD_KINDS = (MoveKind.HANDOFF, MoveKind.WIN, MoveKind.PROMOTE)


def allowed_moves(*, user, lead: Lead) -> list[Move]:
    """The moves of the lifecycle table this user may make from the lead's stage, forward first."""
    moves = [move for move in moves_from(lead.stage) if policy.why_not_move(user, lead, move.target) is None]
    return sorted(moves, key=lambda move: (move.kind not in FORWARD_KINDS, move.kind == MoveKind.DISQUALIFY))


def lead_notes(*, lead: Lead) -> QuerySet[Note]:
    return Note.objects.filter(lead=lead).select_related("author")


def open_handoff(*, lead: Lead) -> Handoff | None:
    """The handoff the lead waits in the sales queue with (at most one is open), with its offer."""
    return (
        Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).select_related("offered_to").first()
        if lead.owner_id is None
        else None
    )
