"""The audit log page (admins only): who did what, when, filterable by actor, action and date."""

from urllib.parse import urlencode

from django import forms
from django.shortcuts import render
from django.urls import reverse

from .audit import AuditFilters, audit_page
from .models import AuditAction
from .roles import Role, role_required


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Actor", help_text="A username or 'api key lk_...'")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *AuditAction.choices])
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("class", "select" if name == "action" else "input")

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def filters(self) -> AuditFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return AuditFilters(
            actor=(data.get("actor") or "").strip(),
            action=data.get("action") or "",
            since=data.get("since"),
            until=data.get("until"),
        )


@role_required(Role.ADMIN, "The audit log is for admins.")
def audit_log(request):
    form = AuditFilterForm(request.GET)
    filters = form.filters()
    cursor = request.GET.get("cursor", "")
    page = audit_page(filters=filters, cursor=cursor)
    query = {key: value for key, value in request.GET.items() if key != "cursor" and value}
    next_url = "?" + urlencode({**query, "cursor": page.next_cursor}) if page.next_cursor else ""
    first_url = reverse("audit-log") + ("?" + urlencode(query) if query else "")
    return render(
        request,
        "leads/audit_log.html",
        {
            "form": form,
            "entries": page.entries,
            "next_url": next_url,
            "first_url": first_url,
            "first_page": not cursor,
            "filtered": bool(query),
        },
        status=200 if form.is_valid() else 400,
    )
