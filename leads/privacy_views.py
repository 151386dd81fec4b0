"""Browser pages of privacy (issue 7, point 4): find a person, download everything known about them
as JSON, erase them after a confirmation that lists what goes and what stays, and see the erasure
record (which holds no personal data).

Admins only, as in the API (leads.api.data_views): an export is every personal detail at once and
an erasure cannot be undone. Views are thin: leads.privacy does the work.
"""

import json

from django import forms
from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from . import privacy
from .models import Erasure, Lead, normalize_email
from .roles import Role, role_required
from .selectors import lead_search

admin_required = role_required(Role.ADMIN, "Exporting and erasing a person's data is for admins.")


class EraseForm(forms.Form):
    reason = forms.CharField(
        label="Reference",
        required=False,
        max_length=200,
        help_text="The ticket or request number. Never personal data: it is kept in the erasure record.",
    )


def _looks_like_email(text: str) -> bool:
    try:
        validate_email(text)
    except forms.ValidationError:
        return False
    return True


@admin_required
def privacy_home(request):
    query = request.GET.get("q", "").strip()[:200]
    results, erased = [], []
    if query:
        results = list(lead_search(query=query))
        if _looks_like_email(query):
            erased = list(privacy.erasures_of_email(normalize_email(query)))
    context = {
        "query": query,
        "results": results,
        "erased": erased,
        "recent": Erasure.objects.select_related("erased_by").order_by("-created_at")[:25],
        "suppression_on": privacy.suppression_is_on(),
    }
    return render(request, "leads/privacy_home.html", context)


def _kinds(counts: dict) -> list[dict]:
    return [
        {"key": key, "count": counts.get(key, 0), "label": singular if counts.get(key, 0) == 1 else plural}
        for key, (singular, plural) in privacy.ERASED_KINDS.items()
    ]


@admin_required
def privacy_person(request, pk: int):
    """What is known about the person: the export, and the way to the erasure."""
    lead = get_object_or_404(Lead.objects.select_related("owner"), pk=pk)
    context = {"lead": lead, "kinds": _kinds(privacy.person_data_counts(lead_id=lead.pk))}
    return render(request, "leads/privacy_person.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def privacy_erase(request, pk: int):
    """The confirmation (what is deleted, what is kept), then the erasure."""
    lead = get_object_or_404(Lead.objects.select_related("owner"), pk=pk)
    form = EraseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        erasure = privacy.person_erase(lead_id=lead.pk, actor=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, f"Lead #{erasure.lead_id_erased} was erased. This record is all that is left of it.")
        return redirect("privacy-erasure", pk=erasure.pk)
    context = {
        "lead": lead,
        "kinds": _kinds(privacy.person_data_counts(lead_id=lead.pk)),
        "form": form,
        "suppression_on": privacy.suppression_is_on(),
    }
    return render(request, "leads/privacy_erase.html", context, status=400 if form.errors else 200)


@admin_required
def privacy_export(request, pk: int):
    lead = get_object_or_404(Lead.objects.only("pk"), pk=pk)
    data = privacy.person_export(lead_id=lead.pk)
    body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="lead-{lead.pk}-export.json"'
    response["Cache-Control"] = "no-store"  # personal data: never kept by a shared cache
    return response


@admin_required
def privacy_erasure(request, pk: int):
    erasure = get_object_or_404(Erasure.objects.select_related("erased_by"), pk=pk)
    context = {"erasure": erasure, "kinds": _kinds(erasure.counts or {})}
    return render(request, "leads/privacy_erasure.html", context)
