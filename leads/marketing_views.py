"""Browser pages of the marketing workspace: the MQL list, its bulk actions, saved views, export."""

from __future__ import annotations

from functools import lru_cache
from html import escape
from urllib.parse import urlencode

from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from . import bulk_jobs, charts, mql_rows, public_forms, report_selectors
from . import marketing_selectors as selectors
from .exports import csv_response, csv_rows, leads_csv_response
from .forms import (
    BULK_ACTIONS,
    BULK_TARGETS,
    DEFAULT_SORT,
    DEFAULT_STAGE,
    BulkActionForm,
    MqlFilterForm,
    ReportPeriodForm,
    SavedViewForm,
    ThankYouForm,
    WebFormKeyForm,
)
from .marketing_services import leads_bulk_move, saved_view_create, saved_view_delete
from .models import BulkMoveJob
from .navigation import fixed_url
from .roles import Role, role_required

marketing_required = role_required(Role.MARKETING, "The marketing workspace is for marketing.")


def _list_url(query: str) -> str:
    """The MQL list with this query (the path reversed once per process: every tab, chip and sort
    of the list links to it)."""
    return fixed_url("mql-list") + (f"?{query}" if query else "")


def _filter_form(data: QueryDict) -> MqlFilterForm:
    data = data.copy()
    # Absent means the default: show it selected in the form.
    data.setdefault("stage", DEFAULT_STAGE)
    data.setdefault("sort", DEFAULT_SORT)
    form = MqlFilterForm(data)
    form.is_valid()  # errors are shown beside their fields; the valid filters still apply
    return form


# The list's filter form depends on nothing but the values typed: validating its 15 fields (each
# deep-copied first) and rendering its inputs through Django's widget templates cost about a fifth
# of the page's CPU (bench/profile_list_page.py). Both happen once per distinct filter set: each
# process keeps the last few hundred.
FILTER_FIELDS_CACHED = 256
FILTER_FIELDS_TEMPLATE = "leads/partials/mql_filter_fields.html"


@lru_cache(maxsize=FILTER_FIELDS_CACHED)
def _list_filters_cached(values: tuple) -> tuple[MqlFilterForm, str]:
    form = _filter_form(QueryDict(urlencode(values, doseq=True)))
    return form, render_to_string(FILTER_FIELDS_TEMPLATE, {"form": form})


def _list_filters(data: QueryDict) -> tuple[MqlFilterForm, str]:
    """The list's filter form, validated (shared between requests: only read), and its inputs' HTML."""
    return _list_filters_cached(tuple((name, tuple(data.getlist(name))) for name in MqlFilterForm.base_fields))


@lru_cache(maxsize=FILTER_FIELDS_CACHED)
def _save_view_inputs(query: str) -> dict[str, str]:
    """The save-view form's two inputs, rendered by Django's widget templates (~1 ms): the same
    for the same filters, so each process keeps the last few hundred."""
    form = SavedViewForm(initial={"query": query})
    name = form["name"]
    return {"id": name.id_for_label, "label": name.label, "name": str(name), "query": str(form["query"])}


DATALISTS_KEY = "leadcrm:mql-datalists"


def _datalists() -> str:
    """The filter inputs' suggestions as <datalist>s (a few hundred <option>s): read and printed
    once every few minutes (selectors.DATALIST_SECONDS), not on each page view."""
    html = cache.get(DATALISTS_KEY)
    if html is None:
        html = "".join(
            f'\n      <datalist id="dl-{escape(name)}">'
            + "".join(f'<option value="{escape(str(value))}">' for value in values)
            + "</datalist>\n    "
            for name, values in selectors.filter_suggestions().items()
        )
        cache.set(DATALISTS_KEY, html, selectors.DATALIST_SECONDS)
    return mark_safe(html)  # every value was escaped when printed


@require_GET
@marketing_required
def mql_list(request):
    form, filter_fields = _list_filters(request.GET)
    filters = form.filters()
    query = selectors.filters_query(filters)
    if not form.errors and any(value == "" for value in request.GET.values()):
        # The filter form sends its empty fields too: answer with the short URL worth sharing.
        cursor = {key: request.GET[key] for key in ("after", "before") if request.GET.get(key)}
        joiner = "&" if query and cursor else ""
        return redirect(_list_url(query + joiner + urlencode(cursor)) if cursor else _list_url(query))
    leads = selectors.leads_filtered(filters=filters, user=request.user)
    page = selectors.lead_page(
        leads,
        sort_key=filters["sort"],
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
    )

    tabs = [{**view, "builtin": True} for view in selectors.builtin_views()]
    tabs += [
        {"name": v.name, "query": v.query, "id": v.pk, "builtin": False}
        for v in selectors.saved_views_for(request.user)
    ]
    for tab in tabs:
        tab["url"] = _list_url(tab["query"])
        tab["active"] = tab["query"] == query
    chips = selectors.filter_chips(filters)
    for chip in chips:
        chip["url"] = _list_url(chip["remove"])
    joiner = f"{query}&" if query else ""
    context = {
        "form": form,
        "filter_fields": filter_fields,
        "filters": filters,
        "query": query,
        "query_params": [(key, value) for key, values in QueryDict(query).lists() for value in values],
        "page": page,
        "rows_html": mql_rows.rows_html(page.rows, list_query=query),
        "tabs": tabs,
        "active_tab": next((tab for tab in tabs if tab["active"]), None),
        "chips": chips,
        "sorts": [
            {
                "key": sort.key,
                "label": sort.label,
                "url": _list_url(selectors.filters_query({**filters, "sort": sort.key})),
            }
            for sort in selectors.SORTS.values()
        ],
        "next_url": f"?{joiner}{urlencode({'after': page.next_cursor})}" if page.next_cursor else "",
        "previous_url": f"?{joiner}{urlencode({'before': page.previous_cursor})}" if page.previous_cursor else "",
        "first_url": _list_url(query),
        "datalists": _datalists(),
        "save_inputs": _save_view_inputs(query),
        "export_url": fixed_url("mql-export") + (f"?{query}" if query else ""),
        "list_url": _list_url(query),
        "return_to": request.get_full_path(),
        "bulk_jobs": bulk_jobs.bulk_jobs_in_progress(user=request.user),  # the banner: one query
    }
    return render(request, "leads/mql_list.html", context)


@require_POST
@marketing_required
def mql_bulk(request):
    """Hand off, recycle or disqualify the selected leads, or every lead matching the filters."""
    filter_form = _filter_form(request.POST)
    filters = filter_form.filters()
    back = _list_url(selectors.filters_query(filters))
    form = BulkActionForm(request.POST)
    if not form.is_valid():
        errors = [error for field_errors in form.errors.values() for error in field_errors]
        messages.error(request, "Nothing was changed. " + " ".join(errors))
        return redirect(back)
    leads = selectors.leads_filtered(filters=filters, user=request.user)
    action = form.cleaned_data["action"]
    if form.cleaned_data["scope"] == "selected":
        leads = leads.filter(pk__in=form.cleaned_data["lead"])
    elif bulk_jobs.needs_background(leads):
        job = bulk_jobs.bulk_move_job_create(
            user=request.user,
            action=action,
            to_stage=BULK_TARGETS[action],
            reason=form.cleaned_data["reason"],
            query=selectors.filters_query(filters),
        )
        return redirect("mql-bulk-job", job_id=job.pk)
    result = leads_bulk_move(
        leads=leads, to_stage=BULK_TARGETS[action], actor=request.user, reason=form.cleaned_data["reason"]
    )
    label = dict(form.fields["action"].choices)[action]
    level = messages.SUCCESS if result.updated and not result.skipped else messages.WARNING
    messages.add_message(request, level, f"{label}: {result.summary()}")
    return redirect(back)


@require_GET
@marketing_required
def mql_bulk_job(request, job_id: int):
    """A background bulk move: its progress (the page polls its own fragment) and then its result."""
    job = BulkMoveJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None:
        return render(request, "leads/bulk_job_missing.html", {"job_id": job_id}, status=404)
    label = dict(BULK_ACTIONS).get(job.action, job.action)
    context = {
        "job": job,
        "label": label,
        "summary": bulk_jobs.bulk_move_job_summary(job),
        "reasons": bulk_jobs.bulk_job_reasons(job),
        "filters_in_words": bulk_jobs.bulk_job_filters_in_words(job),
        "starter": bulk_jobs.bulk_job_starter_name(job),
        "list_url": _list_url(job.query),
        "running": job.status in bulk_jobs.NOT_DONE,
    }
    template = "leads/bulk_job_progress.html" if request.htmx else "leads/bulk_job.html"
    return render(request, template, context)


@require_GET
@marketing_required
def mql_export(request):
    """The filtered list (or the selected leads) as a CSV file, streamed."""
    filters = _filter_form(request.GET).filters()
    leads = selectors.leads_filtered(filters=filters, user=request.user)
    ids = [int(value) for value in request.GET.getlist("lead") if value.isdigit()]
    if ids and request.GET.get("scope") != "all":
        leads = leads.filter(pk__in=ids)
    return leads_csv_response(leads, filename="leads.csv")


@require_POST
@marketing_required
def saved_view_save(request):
    form = SavedViewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The view was not saved: give it a name (up to 60 characters).")
        return redirect(_list_url(request.POST.get("query", "")))
    # Store the filters in their normalized form, whatever the browser sent.
    filters = _filter_form(QueryDict(form.cleaned_data["query"])).filters()
    query = selectors.filters_query(filters)
    view = saved_view_create(user=request.user, name=form.cleaned_data["name"], query=query)
    messages.success(request, f"Saved the view “{view.name}”.")
    return redirect(_list_url(query))


@require_POST
@marketing_required
def saved_view_remove(request, view_id: int):
    if not saved_view_delete(user=request.user, view_id=view_id):
        raise Http404("No such saved view.")  # another person's view is not theirs to remove
    messages.success(request, "The view was removed.")
    return redirect("mql-list")


# ---- Reports ---------------------------------------------------------------------------------

REPORT_TABLES = {
    "funnel": (
        ["step", "leads", "% of previous step", "% of created"],
        lambda data: (
            [[row["label"], row["count"], row["step"], row["total"]] for row in data["funnel"]["rows"]]
            + [[row["label"], row["count"], "", row["total"]] for row in data["funnel"]["side"]]
        ),
    ),
    "time-in-stage": (
        ["stage", "moves out", "median days", "p90 days"],
        lambda data: [[row["label"], row["moves"], row["median_days"], row["p90_days"]] for row in data["time"]],
    ),
    "weekly": (
        ["week", "leads created", "promoted to MQL", "promoted to SQL"],
        lambda data: [[row["week"].isoformat(), row["created"], row["mql"], row["sql"]] for row in data["weekly"]],
    ),
    "by-source": (
        ["source", "leads", "MQL", "MQL %", "SQL", "SQL %", "customers", "won %"],
        lambda data: [
            [r["source"], r["leads"], r["mql"], r["mql_rate"], r["sql"], r["sql_rate"], r["won"], r["won_rate"]]
            for r in data["sources"]
        ],
    ),
}


def _report_period(request) -> tuple[ReportPeriodForm, report_selectors.Period]:
    period = report_selectors.default_period()
    data = request.GET if request.GET.get("start") or request.GET.get("end") else None
    owners = report_selectors.lead_owners()
    form = ReportPeriodForm(data, initial={"start": period.start, "end": period.end}, owners=owners)
    if data is not None and form.is_valid():
        period = report_selectors.Period(
            form.cleaned_data["start"], form.cleaned_data["end"], form.cleaned_data["owner"] or ""
        )
    return form, period


@require_GET
@marketing_required
def reports(request):
    form, period = _report_period(request)
    table = request.GET.get("csv", "")
    if table in REPORT_TABLES:
        # Only the table asked for is computed.
        compute = {
            "funnel": lambda: {"funnel": report_selectors.funnel(period=period)},
            "time-in-stage": lambda: {"time": report_selectors.time_in_stage(period=period)},
            "weekly": lambda: {"weekly": report_selectors.weekly(period=period)},
            "by-source": lambda: {"sources": report_selectors.by_source(period=period)},
        }[table]
        header, rows = REPORT_TABLES[table]
        filename = f"{table}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
        return csv_response(csv_rows(header, rows(compute())), filename=filename)
    funnel = report_selectors.funnel(period=period)
    weekly = report_selectors.weekly(period=period)
    period_query = urlencode({"start": period.start.isoformat(), "end": period.end.isoformat(), "owner": period.owner})
    context = {
        "form": form,
        "period": period,
        "owner_label": dict(form.fields["owner"].choices).get(period.owner, "") if period.owner else "",
        "funnel": funnel,
        "funnel_chart": charts.funnel_svg(rows=funnel["rows"]),
        "time": report_selectors.time_in_stage(period=period),
        "weekly": weekly,
        "weekly_chart": charts.columns_svg(
            labels=[row["week"].strftime("%-d %b") for row in weekly],
            series=[
                ("created", "chart-bar-muted", [row["created"] for row in weekly]),
                ("to MQL", "chart-bar", [row["mql"] for row in weekly]),
                ("to SQL", "chart-bar chart-stage-sql", [row["sql"] for row in weekly]),
            ],
        ),
        "sources": report_selectors.by_source(period=period),
        "csv_urls": {name.replace("-", "_"): f"?{period_query}&csv={name}" for name in REPORT_TABLES},
    }
    return render(request, "leads/reports.html", context)


@require_GET
@marketing_required
def forms_list(request):
    """Forms seen in submissions and web forms with a public key, each with its HTML snippet."""
    seen = selectors.forms_seen()
    keys = public_forms.public_form_keys()
    known = {row["form_name"] for row in seen}
    forms = seen + [
        {"form_name": name, "submissions": 0, "new_leads": 0, "last_received": None}
        for name in sorted(keys)
        if name not in known
    ]
    # The thank-you page a marketer typed for one form's snippet (nothing is stored: the snippet carries it).
    thank_you = ThankYouForm(request.GET) if "form" in request.GET else None
    thank_you_ok = thank_you is not None and thank_you.is_valid()
    action_url = request.build_absolute_uri(reverse("public-form-post"))
    for form in forms:
        api_key = keys.get(form["form_name"])
        form["key"] = api_key
        if api_key is None:
            continue
        mine = thank_you is not None and request.GET.get("form") == form["form_name"]
        url = thank_you.cleaned_data["thank_you"] if mine and thank_you_ok else ""
        form["thank_you_form"] = thank_you if mine else ThankYouForm(initial={"form": form["form_name"]})
        form["snippet"] = public_forms.snippet_html(api_key=api_key, action_url=action_url, thank_you=url)
        form["open"] = mine
    context = {"forms": forms, "new_form": WebFormKeyForm(initial={"action": "create"})}
    return render(request, "leads/forms_list.html", context)


@require_POST
@marketing_required
def form_key_action(request):
    """Create, rotate or disable a web form's public key."""
    form = WebFormKeyForm(request.POST)
    if not form.is_valid():
        errors = [f"{form.fields[name].label}: {error}" for name, errs in form.errors.items() for error in errs]
        messages.error(request, "Nothing was changed. " + " ".join(errors))
        return redirect("marketing-forms")
    name = form.cleaned_data["form_name"]
    action = form.cleaned_data["action"]
    if action == "create":
        public_forms.public_form_key_create(form_name=name, created_by=request.user)
        messages.success(request, f"The web form “{name}” has a public key: copy its HTML snippet below.")
    elif action == "rotate":
        public_forms.public_form_key_rotate(form_name=name, created_by=request.user)
        messages.warning(
            request, f"New key for “{name}”: the old one no longer works. Paste the new snippet on your website."
        )
    elif public_forms.public_form_key_disable(form_name=name, actor=request.user):
        messages.success(request, f"The web form “{name}” no longer accepts submissions.")
    else:
        messages.warning(request, f"“{name}” had no active key.")
    return redirect(reverse("marketing-forms") + f"#form-{slugify(name)}")
