"""The scoring rules editor in the browser: draft rules and thresholds, what-if preview, publish,
and the rescore's progress. Each view validates, calls one scoring service or selector, renders."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from leads.charts import histogram_svg
from leads.exceptions import LeadError
from leads.models import EventType, Lead
from leads.roles import Role, has_role

from . import engine, selectors, services
from .forms import EngagementRuleForm, FitRuleForm, ThresholdsForm, describe_engagement_rule, describe_fit_rule
from .models import EngagementRule, FitRule, RescoreJob
from .preview import ruleset_preview

RULE_FORMS = {"engagement": EngagementRuleForm, "fit": FitRuleForm}
RULE_MODELS = {"engagement": EngagementRule, "fit": FitRule}
RULE_SERVICES = {
    "engagement": (services.engagement_rule_create, services.engagement_rule_update, services.engagement_rule_delete),
    "fit": (services.fit_rule_create, services.fit_rule_update, services.fit_rule_delete),
}


def marketing_required(view):
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not has_role(request.user, Role.MARKETING):
            raise PermissionDenied("Only marketing and admins manage scoring.")
        return view(request, *args, **kwargs)

    return wrapper


def _page_url(anchor: str = "") -> str:
    return reverse("scoring-rules") + (f"#{anchor}" if anchor else "")


def _rows(ruleset, group: str, bound: dict) -> list[dict]:
    rules = ruleset.engagement_rules.all() if group == "engagement" else ruleset.fit_rules.all()
    describe = describe_engagement_rule if group == "engagement" else describe_fit_rule
    rows = []
    for rule in rules:
        form = bound.get((group, rule.pk))
        if form is None and ruleset.is_draft:
            form = RULE_FORMS[group](instance=rule, prefix=f"{group}-{rule.pk}")
        rows.append(
            {
                "rule": rule,
                "condition": describe(rule),
                "form": form,
                "open": (group, rule.pk) in bound,
            }
        )
    return rows


def _preview_context(ruleset) -> dict:
    result = ruleset_preview(ruleset=ruleset)
    for row in result["stages"]:
        row["delta"] = row["proposed"] - row["current"]
    mql = next(row for row in result["stages"] if row["stage"] == "mql")
    return {
        "preview": result,
        "preview_mql_delta": mql["delta"],
        "histogram": histogram_svg(
            labels=result["histogram_buckets"],
            current=result["current"]["histogram"],
            proposed=result["proposed"]["histogram"],
            threshold=result["thresholds"]["mql"],
        ),
    }


def _render(request, *, status: int = 200, bound: dict | None = None, thresholds_form=None, preview: bool = False):
    bound = bound or {}
    draft = selectors.ruleset_draft()
    published = selectors.ruleset_published()
    ruleset = draft or published
    if ruleset is not None:
        ruleset = selectors.ruleset_get(ruleset_id=ruleset.pk)
    job = selectors.rescore_job_list().first()
    context = {
        "ruleset": ruleset,
        "draft": draft,
        "published": published,
        "engagement_rows": _rows(ruleset, "engagement", bound) if ruleset else [],
        "fit_rows": _rows(ruleset, "fit", bound) if ruleset else [],
        "new_engagement_form": bound.get(("engagement", None)) or EngagementRuleForm(prefix="engagement-new"),
        "new_fit_form": bound.get(("fit", None)) or FitRuleForm(prefix="fit-new"),
        "new_open": {group for group, rule_id in bound if rule_id is None},
        "thresholds_form": thresholds_form
        or (
            ThresholdsForm(initial={"mql_threshold": ruleset.mql_threshold, "pql_threshold": ruleset.pql_threshold})
            if ruleset
            else None
        ),
        "job": job,
        "event_types": EventType.choices,
    }
    if preview and draft is not None:
        context.update(_preview_context(ruleset))
    return render(request, "scoring/rules.html", context, status=status)


@require_GET
@marketing_required
def rules_page(request):
    return _render(request, preview=request.GET.get("preview") == "1")


def _test_lead(ruleset, query: str) -> dict:
    """Score one lead with the draft, rule by rule, next to its stored score ("test a lead")."""
    query = query.strip()
    if not query:
        return {}
    leads = Lead.objects.all()
    lead = (leads.filter(pk=int(query)) if query.isdigit() else leads.filter(email=query.lower())).first()
    if lead is None:
        return {"test_query": query, "test_error": f"No lead has the id or email “{query}”."}
    rules = selectors.engine_ruleset(ruleset)
    row = Lead.objects.filter(pk=lead.pk).values_list(*selectors.LEAD_FACT_FIELDS).get()
    facts = selectors.lead_facts(row)
    events = selectors.events_by_lead([lead.pk], rules).get(lead.pk, ())
    result = engine.score_lead(facts, events, rules, timezone.now().timestamp())
    return {
        "test_query": query,
        "test_lead": lead,
        "test_result": result,
        "test_stage": engine.projected_stage(facts, result, rules),
    }


@require_GET
@marketing_required
def preview_panel(request):
    """The what-if preview of the draft, as a fragment for htmx (the page embeds the same)."""
    draft = selectors.ruleset_draft()
    if draft is None:
        raise Http404("There is no draft to preview.")
    ruleset = selectors.ruleset_get(ruleset_id=draft.pk)
    if "lead" in request.GET:
        context = {"draft": draft, **_test_lead(ruleset, request.GET["lead"])}
        return render(request, "scoring/_test_lead.html", context)
    context = {"draft": draft, **_preview_context(ruleset)}
    return render(request, "scoring/_preview.html", context)


@require_POST
@marketing_required
def draft_create(request):
    services.ruleset_create_draft(user=request.user)
    messages.success(request, "A draft copy of the published rules is ready. Nothing changes until you publish.")
    return redirect(_page_url())


@require_POST
@marketing_required
def draft_discard(request):
    draft = selectors.ruleset_draft()
    if draft is not None:
        services.ruleset_discard_draft(ruleset=draft)
        messages.success(request, "The draft was discarded.")
    return redirect(_page_url())


def _draft_or_message(request):
    draft = selectors.ruleset_draft()
    if draft is None:
        messages.error(request, "There is no draft: the published rules cannot change. Start a draft first.")
    return draft


@require_POST
@marketing_required
def thresholds_update(request):
    draft = _draft_or_message(request)
    if draft is None:
        return redirect(_page_url())
    form = ThresholdsForm(request.POST)
    if not form.is_valid():
        return _render(request, status=422, thresholds_form=form)
    services.ruleset_update(ruleset=draft, **form.cleaned_data)
    messages.success(request, "Thresholds saved in the draft.")
    return redirect(_page_url("thresholds"))


@require_POST
@marketing_required
def rule_save(request, group: str, rule_id: int | None = None):
    """Add a rule to the draft (rule_id None) or change one of its rules."""
    draft = _draft_or_message(request)
    if draft is None:
        return redirect(_page_url())
    create, update, _ = RULE_SERVICES[group]
    rule = None
    rule_id = int(rule_id) if rule_id is not None else None
    if rule_id is not None:
        rule = RULE_MODELS[group].objects.filter(pk=rule_id, ruleset=draft).first()
        if rule is None:
            raise Http404("No such rule in the draft.")
    prefix = f"{group}-{rule_id}" if rule_id else f"{group}-new"
    form = RULE_FORMS[group](request.POST, instance=rule, prefix=prefix)
    if not form.is_valid():
        return _render(request, status=422, bound={(group, rule_id): form})
    try:
        if rule is None:
            create(ruleset=draft, **form.rule_fields())
        else:
            update(rule=rule, **form.rule_fields())
    except LeadError as error:
        messages.error(request, error.message)
        return redirect(_page_url(group))
    messages.success(request, f"Rule “{form.cleaned_data['name']}” saved in the draft.")
    return redirect(_page_url(group))


@require_POST
@marketing_required
def rule_delete(request, group: str, rule_id: int):
    draft = _draft_or_message(request)
    if draft is None:
        return redirect(_page_url())
    rule = RULE_MODELS[group].objects.filter(pk=int(rule_id), ruleset=draft).first()
    if rule is not None:
        RULE_SERVICES[group][2](rule=rule)
        messages.success(request, f"Rule “{rule.name}” removed from the draft.")
    return redirect(_page_url(group))


@require_POST
@marketing_required
def publish(request):
    draft = _draft_or_message(request)
    if draft is None:
        return redirect(_page_url())
    try:
        job = services.ruleset_publish(ruleset_id=draft.pk, user=request.user)
    except LeadError as error:
        messages.error(request, error.message)
        return redirect(_page_url())
    messages.success(request, f"Published as version {job.ruleset.version}. Every lead is being rescored.")
    return redirect(_page_url("rescore"))


@require_GET
@marketing_required
def rescore_progress(request, job_id: int):
    """The progress bar of a rescore job; htmx polls it until the job is over."""
    try:
        job = selectors.rescore_job_get(job_id=job_id)
    except RescoreJob.DoesNotExist:
        raise Http404("No such rescore job.") from None
    return render(request, "scoring/_rescore.html", {"job": job})
