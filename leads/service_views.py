"""The service workspace: find a lead or customer, flag upgrade interest, follow the flags, PQLs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from . import handoffs, sales_selectors
from .exceptions import LeadError, NotPermitted
from .models import UpgradeUrgency
from .roles import Role, has_role
from .sales_views import InvalidInput, _forbidden, _refused, _visible_lead, lead_url


def _refuse_unless_service(request) -> None:
    if not has_role(request.user, Role.SERVICE):
        raise NotPermitted("Only service reps use the service workspace.")


@login_required
def search(request):
    try:
        _refuse_unless_service(request)
    except NotPermitted as error:
        return _forbidden(request, error)
    query = request.GET.get("q", "").strip()
    results = list(sales_selectors.service_search(query=query)) if query else []
    for lead in results:
        lead.detail_url = lead_url(lead.pk)
    return render(request, "leads/service_search.html", {"query": query, "results": results})


@login_required
@require_POST
def flag_upgrade(request, lead_id: int):
    lead = _visible_lead(request, lead_id)
    urgency = request.POST.get("urgency", UpgradeUrgency.MEDIUM)
    try:
        if urgency not in UpgradeUrgency.values:
            raise InvalidInput("Choose how urgent it is.")
        handoffs.upgrade_flag(
            lead_id=lead.pk,
            user=request.user,
            wants=request.POST.get("wants", ""),
            urgency=urgency,
            consent=request.POST.get("consent") == "1",
            note=request.POST.get("note", ""),
        )
    except LeadError as error:
        return _refused(request, error, lead)
    detail = lead_url(lead.pk)
    confirmation = f"{lead} is in the sales queue now: the next free rep takes it from there."
    if detail:
        confirmation = format_html('{} <a href="{}">View the lead</a>.', confirmation, detail)
    messages.success(request, confirmation)
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": reverse("service-flags")})
    return redirect(reverse("service-flags"))


@login_required
def my_flags(request):
    try:
        _refuse_unless_service(request)
    except NotPermitted as error:
        return _forbidden(request, error)
    flags = sales_selectors.my_flags(user=request.user)
    for flag in flags:
        flag.detail_url = lead_url(flag.lead.pk)
    return render(request, "leads/service_flags.html", {"flags": flags})


@login_required
def pql_list(request):
    try:
        _refuse_unless_service(request)
    except NotPermitted as error:
        return _forbidden(request, error)
    leads = list(sales_selectors.pql_list())
    for lead in leads:
        lead.detail_url = lead_url(lead.pk)
    return render(request, "leads/service_pqls.html", {"leads": leads})
