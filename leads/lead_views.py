"""The lead detail page: profile, score card, stage path, timeline, notes and the moves a user may make.

Every form posts to its own URL; a success redirects back to the page (at the section it came
from), a refusal or an invalid form renders the page again with the message beside the field
or the button it is about.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from . import lead_selectors as selectors
from . import marketing_selectors, policy
from .exceptions import LeadError, NotPermitted
from .forms import LeadProfileForm, MoveForm, MqlFilterForm, NoteForm
from .handoffs import lead_close_won
from .marketing_services import lead_update_profile, note_add
from .models import Lead
from .roles import Role, has_role
from .sales_selectors import offered_to_another
from .services import lead_transition, offer_refusal
from .stages import SALES_STAGES, MoveKind, get_move, stage_label


def _visible_lead(request, lead_id: int) -> Lead:
    try:
        lead = selectors.lead_for_detail(lead_id=lead_id)
    except Lead.DoesNotExist:
        raise Http404("No such lead.") from None
    if not policy.can_view(request.user, lead):
        # The same answer as a lead that does not exist: no guessing which ids are real.
        raise Http404("No such lead.")
    return lead


def _render(request, lead: Lead, *, status: int = 200, **overrides):
    show = request.GET.get("show", "")
    kinds = {show} if show in dict(selectors.TIMELINE_KINDS) else None
    can_edit = policy.why_not_edit_profile(request.user, lead) is None
    moves = selectors.allowed_moves(user=request.user, lead=lead)
    context = {
        **_header_action(request.user, lead, moves),
        "lead": lead,
        "path": selectors.stage_path(lead, selectors.stages_reached(lead=lead)),
        "card": selectors.score_card(lead),
        "timeline": selectors.lead_timeline(lead=lead, kinds=kinds),
        "timeline_kinds": selectors.TIMELINE_KINDS,
        "timeline_show": show if kinds else "",
        "can_edit": can_edit,
        "profile_form": LeadProfileForm(instance=lead) if can_edit else None,
        "note_form": NoteForm(),
        "moves": moves,
        "move_error": None,
        "back_url": _back_url(request),
        "can_manage_privacy": has_role(request.user, Role.ADMIN),
        **_list_neighbours(request, lead),
    }
    context.update(overrides)
    return render(request, "leads/lead_detail.html", context, status=status)


def _header_action(user, lead: Lead, moves: list) -> dict:
    """The header's one primary action (UX.md screen 4): Claim for a lead waiting in the sales queue
    (or why this rep may not: routing offered it to a colleague), Close as customer for its owner
    (a confirmation, no reason asked: leads.stages asks one only of recycle, disqualify and reopen),
    else the first forward move that needs no reason."""
    handoff = selectors.open_handoff(lead=lead)
    claim_refusal = ""
    if handoff is not None and policy.why_not_claim(user, lead) is None:
        if offered_to_another(handoff, user):
            claim_refusal = offer_refusal(handoff)
        return {
            "queue_handoff": handoff,
            "claim_handoff": None if claim_refusal else handoff,
            "claim_refusal": claim_refusal,
            "close_move": None,
            "primary_move": None,
            "win_move": next((move for move in moves if move.kind == MoveKind.WIN), None),
        }
    close_move = next((move for move in moves if move.kind == MoveKind.WIN), None)
    others = [move for move in moves if move.kind != MoveKind.WIN]
    primary = None if close_move or not others or others[0].requires_reason else others[0]
    return {
        "queue_handoff": handoff,
        "claim_handoff": None,
        "claim_refusal": "",
        "close_move": close_move,
        "primary_move": primary,
        "win_move": close_move,
    }


def _back_url(request) -> str:
    """Back to the list the person came from, when it was one of ours."""
    list_url = reverse("mql-list")
    if "list" in request.GET:
        query = request.GET["list"]
        return list_url + (f"?{query}" if query else "")
    referer = request.headers.get("Referer", "")
    if list_url in referer:
        return list_url + referer.split(list_url, 1)[1]
    return ""


def _list_neighbours(request, lead: Lead) -> dict:
    """Previous and next lead of the MQL list the person came from (?list=<its query string>)."""
    if "list" not in request.GET or not has_role(request.user, Role.MARKETING):
        return {}
    query = request.GET["list"]
    form = MqlFilterForm(QueryDict(query))
    form.is_valid()
    filters = form.filters()
    leads = marketing_selectors.leads_filtered(filters=filters, user=request.user)
    previous, following = marketing_selectors.lead_neighbours(leads, sort_key=filters["sort"], lead=lead)
    suffix = "?" + urlencode({"list": query})

    def link(other):
        return reverse("lead-detail", args=[other.pk]) + suffix if other else ""

    return {"previous_url": link(previous), "next_url": link(following)}


@require_GET
@login_required
def lead_detail(request, lead_id: int):
    return _render(request, _visible_lead(request, lead_id))


@require_POST
@login_required
def lead_profile_update(request, lead_id: int):
    lead = _visible_lead(request, lead_id)
    refusal = policy.why_not_edit_profile(request.user, lead)
    if refusal:
        messages.error(request, refusal)
        return _render(request, lead, status=403)  # refused: 403, with the reason on the page
    form = LeadProfileForm(request.POST, instance=Lead.objects.get(pk=lead.pk))
    if not form.is_valid():
        return _render(request, lead, status=422, profile_form=form)
    lead_update_profile(lead=lead, actor=request.user, changes=form.cleaned_data)
    messages.success(request, "Profile saved.")
    return redirect(reverse("lead-detail", args=[lead.pk]) + "#profile")


@require_POST
@login_required
def lead_note_add(request, lead_id: int):
    lead = _visible_lead(request, lead_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _render(request, lead, status=422, note_form=form)
    try:
        note_add(lead=lead, author=request.user, kind=form.cleaned_data["kind"], body=form.cleaned_data["body"])
    except NotPermitted as error:
        form.add_error(None, error.message)
        return _render(request, lead, status=403, note_form=form)
    messages.success(request, f"{form.cleaned_data['kind'].capitalize()} added to the timeline.")
    return redirect(reverse("lead-detail", args=[lead.pk]) + "#notes")


@require_POST
@login_required
def lead_move(request, lead_id: int):
    """Make one move of the lifecycle table; a refusal is shown beside the move's button."""
    lead = _visible_lead(request, lead_id)
    form = MoveForm(request.POST)
    if not form.is_valid():
        error = {"target": "", "message": "Choose a stage to move to."}
        return _render(request, lead, status=422, move_error=error)
    target = form.cleaned_data["to_stage"]
    reason = form.cleaned_data["reason"].strip()
    error = None
    status = 409  # a conflict with the lead's state; 403 when the role may not make the move
    refusal = policy.why_not_move(request.user, lead, target)
    move = get_move(lead.stage, target)
    if refusal:
        error, status = refusal, 403
    elif move is not None and move.requires_reason and not reason:
        error = f"Say why you move this lead to {stage_label(target)}: the reason is kept in its history."
    else:
        try:
            if move is not None and move.kind == MoveKind.WIN and lead.stage in SALES_STAGES:
                # Closing as customer has its own door (it tells service what became of an upgrade).
                lead_close_won(lead_id=lead.pk, user=request.user, reason=reason)
                messages.success(request, f"{lead} is a customer now.")
                return redirect("lead-detail", lead_id=lead.pk)
            # expected_stage: a move chosen on a page that was already out of date is refused.
            lead_transition(
                lead_id=lead.pk,
                to_stage=target,
                actor=request.user,
                reason=reason,
                expected_stage=request.POST.get("from_stage") or lead.stage,
            )
        except LeadError as refused:
            error = refused.message
            status = 403 if isinstance(refused, NotPermitted) else 409
    if error:
        lead.refresh_from_db()
        # Beside its button when the page shows that move; otherwise at the top of the actions.
        shown = any(move.target == target for move in selectors.allowed_moves(user=request.user, lead=lead))
        error = {"target": target if shown else "", "message": error, "reason": reason}
        return _render(request, lead, status=status, move_error=error)
    messages.success(request, f"Moved to {stage_label(target)}.")
    return redirect("lead-detail", lead_id=lead.pk)
