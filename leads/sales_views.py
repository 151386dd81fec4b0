"""The sales workspace in the browser: the queue, claims, handoff outcomes, My leads, notes and
notifications. Views validate, ask leads.policy, call one service and render; a refusal is shown
in place (a 409/400/403 fragment for htmx, a message and a redirect otherwise)."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import handoffs, policy, sales_selectors
from .exceptions import AlreadyClaimed, LeadError, NotPermitted
from .models import Handoff, HandoffStatus, Lead, Notification
from .services import lead_claim, lead_release


class InvalidInput(LeadError):
    """A form value the browser sent is not usable (a 400 beside the form)."""

    code = "invalid_input"


def lead_url(lead_id: int) -> str:
    """The lead's detail page (the marketing workspace's), or "" while it does not exist."""
    try:
        return reverse("lead-detail", args=[lead_id])
    except NoReverseMatch:
        return ""


def _refuse_unless_sales(request) -> None:
    if reason := policy.why_not_work_queue(request.user):
        raise NotPermitted(reason)


def _visible_lead(request, lead_id: int) -> Lead:
    """404 for a lead the user may not see: another rep's lead does not exist for them."""
    lead = get_object_or_404(Lead.objects.select_related("owner"), pk=lead_id)
    if not policy.can_view(request.user, lead):
        raise Http404("No such lead.")
    return lead


def _back(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def _forbidden(request, error: LeadError):
    if request.htmx:
        return render(request, "leads/sales_refusal.html", {"message": error.message}, status=403)
    return render(request, "leads/sales_forbidden.html", {"message": error.message}, status=403)


# ---- Queue -----------------------------------------------------------------------------------


@login_required
def queue(request):
    try:
        _refuse_unless_sales(request)
    except NotPermitted as error:
        return _forbidden(request, error)
    page = sales_selectors.queue_page(user=request.user, cursor=request.GET.get("cursor", ""))
    return render(
        request,
        "leads/sales_queue.html",
        {
            "rows": page.rows,
            "next_cursor": page.next_cursor,
            "first_page": not request.GET.get("cursor"),
            "reject_outcomes": handoffs.RejectOutcome.CHOICES,
        },
    )


def _claimed_by_text(lead: Lead) -> str:
    who = lead.owner.get_full_name() or lead.owner.get_username() if lead.owner else "a colleague"
    ago = ""
    if lead.claimed_at:
        recent = timezone.now() - lead.claimed_at < timedelta(minutes=1)
        ago = " just now" if recent else f" {naturaltime(lead.claimed_at)}"
    return f"Already claimed by {who}{ago}"


@login_required
@require_POST
def claim(request, handoff_id: int):
    """One click: the first rep wins the lead; everyone else sees who did, and the next lead."""
    handoff = get_object_or_404(Handoff.objects.select_related("lead"), pk=handoff_id)
    lead = handoff.lead
    if reason := policy.why_not_claim(request.user, lead):
        return _forbidden(request, NotPermitted(reason))
    context = {"handoff": handoff, "lead": lead, "lead_url": lead_url(lead.pk)}
    try:
        if handoff.status != HandoffStatus.OPEN:
            # Someone settled this handoff already: say who, do not touch the lead's new handoff.
            raise AlreadyClaimed("This handoff is no longer open.")
        lead_claim(lead_id=lead.pk, user=request.user)
    except LeadError as error:
        lead = Lead.objects.select_related("owner").get(pk=lead.pk)
        message = _claimed_by_text(lead) if lead.owner_id not in (None, request.user.pk) else error.message
        if lead.owner_id == request.user.pk:
            message = "You already own this lead."
        context.update(lead=lead, message=message if message.endswith(".") else f"{message}.")
        if not request.htmx:
            messages.error(request, message)
            return redirect("sales-queue")
        return render(request, "leads/sales_queue_row_taken.html", context, status=409)
    if not request.htmx:
        messages.success(request, f"You claimed {lead}.")
        return redirect(lead_url(lead.pk) or "sales-my-leads")
    return render(request, "leads/sales_queue_row_claimed.html", context)


@login_required
@require_POST
def pass_offer(request, handoff_id: int):
    """A rep passes on a lead routing offered them: it goes back to the whole team's queue."""
    handoff = get_object_or_404(Handoff.objects.select_related("lead"), pk=handoff_id)
    try:
        _refuse_unless_sales(request)
        handoffs.handoff_decline_offer(handoff_id=handoff.pk, user=request.user)
    except LeadError as error:
        return _refused(request, error, handoff.lead)
    return _done(request, handoff.lead, f"{handoff.lead} is back in the team's queue.", fallback=reverse("sales-queue"))


@login_required
@require_POST
def reject(request, lead_id: int):
    lead = _visible_lead(request, lead_id)
    try:
        _refuse_unless_sales(request)
        handoffs.handoff_reject(
            lead_id=lead.pk,
            user=request.user,
            outcome=request.POST.get("outcome", ""),
            reason=request.POST.get("reason", ""),
        )
    except LeadError as error:
        return _refused(request, error, lead)
    return _done(request, lead, f"{lead} was handed back: {request.POST.get('reason', '').strip()}")


@login_required
@require_POST
def release(request, lead_id: int):
    lead = _visible_lead(request, lead_id)
    try:
        if reason := policy.why_not_release(request.user, lead):
            raise NotPermitted(reason)
        lead_release(lead_id=lead.pk, user=request.user, reason=request.POST.get("reason", ""))
    except LeadError as error:
        return _refused(request, error, lead)
    return _done(request, lead, f"{lead} is back in the sales queue.", fallback=reverse("sales-my-leads"))


@login_required
@require_POST
def close_won(request, lead_id: int):
    lead = _visible_lead(request, lead_id)
    try:
        handoffs.lead_close_won(lead_id=lead.pk, user=request.user, reason=request.POST.get("reason", ""))
    except LeadError as error:
        return _refused(request, error, lead)
    return _done(request, lead, f"{lead} is a customer now.")


@login_required
@require_POST
def next_step(request, lead_id: int):
    lead = _visible_lead(request, lead_id)
    due_text = request.POST.get("due", "").strip()
    due = parse_date(due_text) if due_text else None
    if due_text and due is None:
        return _refused(request, InvalidInput("Give the date as YYYY-MM-DD."), lead)
    try:
        handoffs.lead_set_next_step(lead_id=lead.pk, user=request.user, text=request.POST.get("text", ""), due=due)
    except LeadError as error:
        return _refused(request, error, lead)
    return _done(request, lead, "Next step saved.")


def _refused(request, error: LeadError, lead: Lead):
    if isinstance(error, NotPermitted) and not request.htmx:
        return _forbidden(request, error)  # a refusal is a 403 with or without JavaScript
    status = 403 if isinstance(error, NotPermitted) else 409
    if error.code in {"reason_required", "invalid_input", "consent_required"}:
        status = 400
    if request.htmx:
        return render(request, "leads/sales_refusal.html", {"message": error.message, "lead": lead}, status=status)
    messages.error(request, error.message)
    return redirect(_back(request, lead_url(lead.pk) or reverse("sales-queue")))


def _done(request, lead: Lead, message: str, fallback: str = ""):
    messages.success(request, message)
    target = _back(request, fallback or lead_url(lead.pk) or reverse("sales-my-leads"))
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


# ---- My leads --------------------------------------------------------------------------------


@login_required
def my_leads(request):
    try:
        _refuse_unless_sales(request)
    except NotPermitted as error:
        return _forbidden(request, error)
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    rows, has_next = sales_selectors.my_leads_page(user=request.user, page=page)
    for lead in rows:
        lead.detail_url = lead_url(lead.pk)
    return render(
        request,
        "leads/sales_my_leads.html",
        {"rows": rows, "page": page, "has_next": has_next},
    )


# ---- Notifications ---------------------------------------------------------------------------


def notifications_context(request) -> dict:
    """Context processor: the top bar's notifications (leadcrm/settings.py TEMPLATES)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    items, unread = sales_selectors.notifications_for(user=user)
    return {"notifications": items, "notifications_unread": unread}


@login_required
def notification_open(request, notification_id: int):
    """Following a notification marks it read."""
    notification = get_object_or_404(Notification, pk=notification_id, recipient=request.user)
    handoffs.notification_mark_read(user=request.user, notification_id=notification.pk)
    return redirect(notification.url or "home")


@login_required
@require_POST
def notifications_read_all(request):
    handoffs.notification_mark_read(user=request.user)
    return redirect(_back(request, reverse("home")))
