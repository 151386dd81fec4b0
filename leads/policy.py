"""Who may do what: the one place for role rules, used by the browser views and the API alike.

Each `why_not_*` function returns None when the action is allowed, or a sentence saying why
not, which the caller shows as is (an error beside the button, or the API's 403 message).
Rules (issue 6, point 7): sales sees the queue and its own leads and may claim, release,
accept, reject and close; service may flag upgrade interest and follow its flags; marketing may
hand off, recycle and disqualify but not claim; admin may do everything.
"""

from django.db.models import Q, QuerySet

from .models import Lead
from .roles import Role, has_role
from .stages import MARKETING_STAGES, SALES_STAGES, MoveKind, Stage, get_move

# Which role may make which kind of move (admin may make every move).
_MARKETING_MOVES = {
    (Stage.LEAD, Stage.MQL),
    (Stage.LEAD, Stage.SQL),
    (Stage.MQL, Stage.SQL),
    (Stage.LEAD, Stage.PQL),
    (Stage.MQL, Stage.PQL),
    (Stage.LEAD, Stage.DISQUALIFIED),
    (Stage.MQL, Stage.DISQUALIFIED),
    (Stage.SQL, Stage.MQL),
    (Stage.PQL, Stage.MQL),
    (Stage.DISQUALIFIED, Stage.LEAD),
}
_SERVICE_MOVES = {(Stage.CUSTOMER, Stage.SERVICE_QUALIFIED)}


def sees_every_lead(user) -> bool:
    return has_role(user, Role.MARKETING, Role.SERVICE)


def visible_leads(user) -> QuerySet[Lead]:
    """The leads a user may open: sales sees the queue (unowned sales-stage leads) and its own."""
    leads = Lead.objects.all()
    if has_role(user, Role.MARKETING, Role.SERVICE):
        return leads
    if has_role(user, Role.SALES):
        return leads.filter(Q(owner=user) | Q(owner__isnull=True, stage__in=[s.value for s in SALES_STAGES]))
    return leads.none()


def can_view(user, lead: Lead) -> bool:
    if has_role(user, Role.MARKETING, Role.SERVICE):
        return True
    if has_role(user, Role.SALES):
        return lead.owner_id == user.pk or (lead.owner_id is None and lead.stage in SALES_STAGES)
    return False


def why_not_move(user, lead: Lead, target: str) -> str | None:
    move = get_move(lead.stage, target)
    if move is None:
        return None  # not a permission question: the transition service refuses it and says why
    if has_role(user, Role.ADMIN):
        return None
    pair = (move.source, move.target)
    if pair in _MARKETING_MOVES and has_role(user, Role.MARKETING):
        return None
    if pair in _SERVICE_MOVES and has_role(user, Role.SERVICE):
        return None
    if lead.stage in SALES_STAGES and has_role(user, Role.SALES):
        if lead.owner_id not in (None, user.pk):
            return "This lead belongs to another rep: only its owner or an admin can move it."
        if move.kind == MoveKind.WIN and lead.owner_id is None:
            # A lead is won by the rep who worked it: the queue's lead is claimed first.
            return "Claim this lead before closing it."
        if move.kind in {MoveKind.WIN, MoveKind.RECYCLE, MoveKind.DISQUALIFY, MoveKind.HANDOFF}:
            return None
    return f"Your role may not move a lead from {move.source.label} to {move.target.label}."


def why_not_claim(user, lead: Lead) -> str | None:
    if not has_role(user, Role.SALES):
        return "Only sales reps can claim leads."
    if lead.stage not in SALES_STAGES:
        return f"A {Stage(lead.stage).label} lead is not in the sales queue."
    return None


def why_not_release(user, lead: Lead) -> str | None:
    if lead.owner_id is None:
        return "This lead has no owner: there is nothing to release."
    if has_role(user, Role.ADMIN) or (has_role(user, Role.SALES) and lead.owner_id == user.pk):
        return None
    return "Only the rep who owns this lead, or an admin, can release it."


def why_not_edit_profile(user, lead: Lead) -> str | None:
    if has_role(user, Role.MARKETING):
        return None
    if has_role(user, Role.SALES) and lead.owner_id == user.pk:
        return None
    return "Your role may not edit this lead's profile."


def why_not_add_note(user, lead: Lead) -> str | None:
    return None if can_view(user, lead) else "You cannot see this lead."


def why_not_work_queue(user) -> str | None:
    """The sales queue and "My leads" are sales pages (admin holds every role)."""
    return None if has_role(user, Role.SALES) else "Only sales reps work the sales queue."


def why_not_close(user, lead: Lead) -> str | None:
    """Close as customer: the rep who claimed the lead, or an admin; the reason is asked by the service."""
    if lead.stage not in SALES_STAGES:
        return f"A {Stage(lead.stage).label} lead cannot be closed as customer."
    return why_not_move(user, lead, Stage.CUSTOMER)


def why_not_reject(user, lead: Lead, target: str) -> str | None:
    """Turn a handoff down. An upgrade sales will not pursue goes back to customer: not a win, so
    it needs no claim first (what why_not_move asks of a move to customer)."""
    if lead.stage == Stage.SERVICE_QUALIFIED and target == Stage.CUSTOMER and not has_role(user, Role.ADMIN):
        if not has_role(user, Role.SALES):
            return "Only sales reps turn down an upgrade handoff."
        if lead.owner_id not in (None, user.pk):
            return "This lead belongs to another rep: only its owner or an admin can move it."
        return None
    return why_not_move(user, lead, target)


def why_not_set_next_step(user, lead: Lead) -> str | None:
    """The next step is the owning rep's plan (an admin may fix it)."""
    if has_role(user, Role.ADMIN) or (has_role(user, Role.SALES) and lead.owner_id == user.pk):
        return None
    return "Only the rep who owns this lead sets its next step."


def why_not_flag_upgrade(user, lead: Lead) -> str | None:
    if not has_role(user, Role.SERVICE):
        return "Only service reps flag upgrade interest."
    if lead.stage != Stage.CUSTOMER:
        return f"Only a customer can be flagged for an upgrade; this lead is {Stage(lead.stage).label}."
    return None


def is_marketing_stage(stage: str) -> bool:
    return stage in MARKETING_STAGES
