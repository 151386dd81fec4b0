"""Who may do what: every role and every API key scope against every page, endpoint and move.

One table (ROUTES) lists each URL pattern of the app with the method(s) tried and the answer each
principal must get; `test_every_url_pattern_is_in_the_matrix` fails when a pattern is missing, so a
new page cannot slip in untested. MOVES_EXPECTED says which role may make which move of
leads/stages.py, tried through the lead page's form and through the API.

Answers: OK (2xx, or a redirect that is not to a login page), LOGIN (a redirect to a login page),
or the status code itself (401, 403, 404, 405, 409).

Another rep's lead: a rep who is not its owner gets 404 for it everywhere (read, change, note, move,
release, close...), in the browser and the API, exactly as for a lead that does not exist: no
guessing which ids are real. A role that may see a lead but not do something to it gets 403.

The data is built once per module inside a transaction that is rolled back at the end (what
Django's setUpTestData does); each case runs in its own savepoint, so every case starts from the
same world and the writes of one (a claim, a merge, an erasure) never leak into another.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from leads.api.auth import api_key_create
from leads.imports import import_upload
from leads.models import BulkMoveJob, Handoff, HandoffStatus, Lead, Notification, SavedView
from leads.privacy import person_erase
from leads.services import lead_claim
from leads.stages import MOVES, Stage
from scoring.models import EngagementRule, FitRule
from scoring.services import rescore_job_start, ruleset_create_draft, ruleset_ensure_published
from tests.factories import LeadFactory, UserFactory, lead_in_stage

OK, LOGIN = "ok", "login"
PEOPLE = ("marketing", "sales", "other_rep", "service", "admin")
KEYS = ("key_submit", "key_read", "key_write", "token_read")
PRINCIPALS = ("anon", *PEOPLE, *KEYS)
# Principals whose "which lead" matters: the sales rep owns world.owned; other_rep does not.
USERNAMES = {"marketing": "m-marketer", "sales": "m-rep", "other_rep": "m-rep2", "service": "m-service"}


# ---- The world ------------------------------------------------------------------------------


def build_world() -> SimpleNamespace:
    w = SimpleNamespace()
    w.users = {
        name: UserFactory(username=username, roles=[name if name != "other_rep" else "sales"])
        for name, username in USERNAMES.items()
    }
    w.users["admin"] = UserFactory(username="m-admin", roles=["admin"], is_staff=True, is_superuser=True)
    rep, rep2 = w.users["sales"], w.users["other_rep"]
    w.keys = {
        "key_submit": api_key_create(name="m-submit", scopes=["submit"]).raw_key,
        "key_read": api_key_create(name="m-read", scopes=["read"]).raw_key,
        "key_write": api_key_create(name="m-write", scopes=["write"]).raw_key,
        # A marketer's personal token limited to reading: the scope bounds what the person may do.
        "token_read": api_key_create(name="m-token", scopes=["read"], user=w.users["marketing"]).raw_key,
    }
    # The rep's own lead (claimed SQL), a lead waiting in the queue, one offered to the rep.
    w.owned = lead_in_stage("sql", email="owned@matrix.example", phone="+1 555 0100")
    lead_claim(lead_id=w.owned.pk, user=rep)
    w.queued = lead_in_stage("sql", email="queued@matrix.example")
    w.queued_handoff = Handoff.objects.get(lead=w.queued, status=HandoffStatus.OPEN)
    w.offered = lead_in_stage("sql", email="offered@matrix.example")
    w.offered_handoff = Handoff.objects.get(lead=w.offered, status=HandoffStatus.OPEN)
    Handoff.objects.filter(pk=w.offered_handoff.pk).update(offered_to=rep)
    w.customer = lead_in_stage("customer", email="customer@matrix.example")
    w.mql = lead_in_stage("mql", email="mql@matrix.example")
    w.dup_a = LeadFactory(email="dup-a@matrix.example", phone="+1 555 0199", first_name="Dup", last_name="A")
    w.dup_b = LeadFactory(email="dup-b@matrix.example", phone="+1 555 0199", first_name="Dup", last_name="B")
    w.notification = Notification.objects.create(recipient=rep, text="For the rep only", url="/sales/queue/")
    w.saved_view = SavedView.objects.create(user=w.users["marketing"], name="Mine", query="min_score=10")
    w.import_job = import_upload(
        file_name="leads.csv", raw=b"email,first_name\nimported@matrix.example,Ann\n", user=w.users["marketing"]
    )
    w.published = ruleset_ensure_published()
    w.draft = ruleset_create_draft(user=w.users["marketing"])
    w.engagement_rule = EngagementRule.objects.filter(ruleset=w.draft).first()
    w.fit_rule = FitRule.objects.filter(ruleset=w.draft).first()
    w.rescore_job = rescore_job_start(user=w.users["admin"])
    w.erasure = person_erase(lead_id=LeadFactory(email="gone@matrix.example").pk, actor=w.users["admin"], reason="T-0")
    w.bulk_job = BulkMoveJob.objects.create(
        created_by=w.users["marketing"], action="disqualify", to_stage=Stage.DISQUALIFIED, reason="Spam"
    )
    # One lead per source stage of every move; in a sales stage the rep owns it (claimed).
    w.move_leads = {}
    for source in {move.source for move in MOVES.values()}:
        lead = lead_in_stage(source.value, email=f"move-{source.value}@matrix.example")
        if source in {Stage.SQL, Stage.PQL, Stage.SERVICE_QUALIFIED}:
            lead_claim(lead_id=lead.pk, user=rep)
        w.move_leads[source] = lead
    assert rep2.pk != rep.pk
    # One signed-in session per person, made once (a login per case would write a session each time).
    w.sessions = {name: _session_for(user) for name, user in w.users.items()}
    return w


def _session_for(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once for the module, rolled back at its end (each test also runs in its own savepoint).
    Uploaded import files go to a temporary folder."""
    with (
        override_settings(VAR_DIR=tmp_path_factory.mktemp("var")),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        yield build_world()
        transaction.set_rollback(True)


def client_for(world, principal: str, *, api: bool):
    client = APIClient() if api else Client()
    if principal in world.users:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[principal]
    elif principal in world.keys:
        # Browser pages ignore keys (no session): the key is sent anyway, to prove it.
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.keys[principal]}") if api else None
        if not api:
            client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {world.keys[principal]}"
    return client


def outcome(response) -> str | int:
    if response.status_code in (301, 302, 303) and "/login/" in response.get("Location", ""):
        return LOGIN
    if 200 <= response.status_code < 400:
        return OK
    return response.status_code


# ---- The table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # the URL pattern's name (or its regex when it has none)
    method: str
    url: object  # callable(world) -> str
    expected: dict
    data: object = None  # callable(world) -> dict, or a dict
    api: bool = False
    htmx: bool = False
    fmt: str = "json"
    label: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.name}{'/' + self.label if self.label else ''}"


def page(name, method, url, *, data=None, anon=LOGIN, htmx=False, label="", **people):
    """A browser page: keys are no session, so they get what a visitor gets."""
    people.setdefault("other_rep", people.get("sales"))
    expected = {"anon": anon, **people, **dict.fromkeys(KEYS, anon)}
    return Route(name, method, url, expected, data=data, htmx=htmx, label=label)


def api(name, method, url, *, data=None, anon=401, fmt="json", label="", **expected):
    expected.setdefault("other_rep", expected.get("sales"))
    return Route(name, method, url, {"anon": anon, **expected}, data=data, api=True, fmt=fmt, label=label)


def every(answer) -> dict:
    return dict.fromkeys(PEOPLE, answer)


MARKETING_PAGE = {"marketing": OK, "sales": 403, "service": 403, "admin": OK}
SALES_PAGE = {"marketing": 403, "sales": OK, "service": 403, "admin": OK}
SERVICE_PAGE = {"marketing": 403, "sales": 403, "service": OK, "admin": OK}
ADMIN_PAGE = {"marketing": 403, "sales": 403, "service": 403, "admin": OK}
# The rep's own lead: marketing and service see every lead; other_rep gets 404 (not theirs).
OWN_LEAD_READ = {"marketing": OK, "sales": OK, "other_rep": 404, "service": OK, "admin": OK}
# A sales action on the rep's own lead (release, close, next step, reject): the owner and admin.
OWN_LEAD_SALES_ACTION = {"marketing": 403, "sales": OK, "other_rep": 404, "service": 403, "admin": OK}
# Scoring API: marketing and admins (people only: an integration key is not a marketer).
SCORING_READ = {
    **every(403),
    "marketing": OK,
    "admin": OK,
    "key_submit": 403,
    "key_read": 403,
    "key_write": 403,
    "token_read": OK,
}
SCORING_WRITE = {**SCORING_READ, "token_read": 403}  # a read-only token may not change rules
NO_KEYS = {"key_submit": 403, "key_read": 403, "key_write": 403, "token_read": 403}
READ_KEYS = {"key_submit": 403, "key_read": OK, "key_write": 403, "token_read": OK}
WRITE_KEYS_PEOPLE_ONLY = NO_KEYS

lead = lambda attr: lambda w: getattr(w, attr).pk  # noqa: E731


def u(template, *attrs):
    """u("/leads/{}/", "owned") -> a url builder filled with world ids."""
    return lambda w: template.format(*(_id(w, attr) for attr in attrs))


def _id(w, attr: str) -> int:
    value = w
    for part in attr.split("."):
        value = getattr(value, part)
    return value.pk


PROFILE = {"first_name": "Ann", "last_name": "Lee", "company": "Acme", "country": "US"}

ROUTES: list[Route] = [
    # -- Public and account pages
    page("login", "GET", u("/login/"), anon=OK, **every(OK)),
    page("logout", "POST", u("/logout/"), **every(LOGIN)),
    page("home", "GET", u("/"), **every(OK)),
    page("search", "GET", u("/search/?q=matrix"), **every(OK)),
    page("public-form-post", "POST", u("/forms/submit/"), data={"email": "x@matrix.example"}, anon=403, **every(403)),
    page("public-form-thanks", "GET", u("/forms/thanks/"), anon=OK, **every(OK)),
    page("api-schema", "GET", u("/api/schema/"), anon=OK, **every(OK)),
    page("api-docs", "GET", u("/api/docs/"), anon=OK, **every(OK)),
    page("admin:index", "GET", u("/admin/"), **{**every(LOGIN), "admin": OK}),
    page("audit-log", "GET", u("/audit/"), **ADMIN_PAGE),
    # -- Privacy (admins)
    page("privacy", "GET", u("/privacy/?q=owned@matrix.example"), **ADMIN_PAGE),
    page("privacy-person", "GET", u("/privacy/leads/{}/", "owned"), **ADMIN_PAGE),
    page("privacy-export", "GET", u("/privacy/leads/{}/export.json", "owned"), **ADMIN_PAGE),
    page("privacy-erase", "GET", u("/privacy/leads/{}/erase/", "owned"), **ADMIN_PAGE),
    page("privacy-erase", "POST", u("/privacy/leads/{}/erase/", "owned"), data={"reason": "T-1"}, **ADMIN_PAGE),
    page("privacy-erasure", "GET", u("/privacy/erasures/{}/", "erasure"), **ADMIN_PAGE),
    # -- Marketing workspace
    page("mql-list", "GET", u("/marketing/mqls/"), **MARKETING_PAGE),
    page("mql-bulk", "POST", u("/marketing/mqls/bulk/"), data={}, **MARKETING_PAGE),
    page("mql-export", "GET", u("/marketing/mqls/export.csv"), **MARKETING_PAGE),
    page("mql-bulk-job", "GET", u("/marketing/mqls/bulk/{}/", "bulk_job"), **MARKETING_PAGE),
    page("marketing-reports", "GET", u("/marketing/reports/"), **MARKETING_PAGE),
    page("marketing-forms", "GET", u("/marketing/forms/"), **MARKETING_PAGE),
    page(
        "marketing-form-key",
        "POST",
        u("/marketing/forms/key/"),
        data={"form_name": "", "action": "create"},
        **MARKETING_PAGE,
    ),
    page(
        "mql-view-save", "POST", u("/marketing/views/"), data={"name": "Hot", "query": "min_score=50"}, **MARKETING_PAGE
    ),
    # The marketer's own saved view: anyone else (an admin included) has no such view.
    page("mql-view-delete", "POST", u("/marketing/views/{}/delete/", "saved_view"), **{**MARKETING_PAGE, "admin": 404}),
    page("duplicate-list", "GET", u("/marketing/duplicates/"), **MARKETING_PAGE),
    page("merge-leads", "GET", u("/marketing/duplicates/{}/{}/", "dup_a", "dup_b"), **MARKETING_PAGE),
    page(
        "merge-leads",
        "POST",
        u("/marketing/duplicates/{}/{}/", "dup_a", "dup_b"),
        data=lambda w: {"survivor": w.dup_a.pk},
        **MARKETING_PAGE,
    ),
    page("import-list", "GET", u("/imports/"), **MARKETING_PAGE),
    page("import-new", "GET", u("/imports/new/"), **MARKETING_PAGE),
    page("import-map", "GET", u("/imports/{}/map/", "import_job"), **MARKETING_PAGE),
    page("import-review", "GET", u("/imports/{}/review/", "import_job"), **MARKETING_PAGE),
    page("import-job", "GET", u("/imports/{}/", "import_job"), **MARKETING_PAGE),
    page("import-errors", "GET", u("/imports/{}/errors.csv", "import_job"), **MARKETING_PAGE),
    # -- Scoring rules (marketing)
    page("scoring-rules", "GET", u("/scoring/"), **MARKETING_PAGE),
    page("scoring-preview", "GET", u("/scoring/preview/"), **MARKETING_PAGE),
    page("scoring-draft-create", "POST", u("/scoring/draft/"), **MARKETING_PAGE),
    page("scoring-draft-discard", "POST", u("/scoring/draft/discard/"), **MARKETING_PAGE),
    page(
        "scoring-thresholds",
        "POST",
        u("/scoring/draft/thresholds/"),
        data={"mql_threshold": 40, "pql_threshold": 30},
        **MARKETING_PAGE,
    ),
    page(
        "scoring-rule-add",
        "POST",
        u("/scoring/draft/engagement/"),
        data={"engagement-new-name": "Visits", "engagement-new-event_type": "page_view", "engagement-new-points": 2},
        **MARKETING_PAGE,
    ),
    page(
        "scoring-rule-edit",
        "POST",
        lambda w: f"/scoring/draft/fit/{w.fit_rule.pk}/",
        data=lambda w: {
            f"fit-{w.fit_rule.pk}-{k}": v
            for k, v in {"name": "US", "kind": "country_in", "values_text": "US", "points": 5}.items()
        },
        **MARKETING_PAGE,
    ),
    page(
        "scoring-rule-delete",
        "POST",
        lambda w: f"/scoring/draft/engagement/{w.engagement_rule.pk}/delete/",
        **MARKETING_PAGE,
    ),
    page("scoring-publish", "POST", u("/scoring/publish/"), **MARKETING_PAGE),
    page("scoring-rescore", "GET", u("/scoring/rescore/{}/", "rescore_job"), **MARKETING_PAGE),
    # -- The lead page (the rep's own lead)
    page("lead-detail", "GET", u("/leads/{}/", "owned"), **OWN_LEAD_READ),
    page("lead-profile", "POST", u("/leads/{}/profile/", "owned"), data=PROFILE, **{**OWN_LEAD_READ, "service": 403}),
    page(
        "lead-note-add",
        "POST",
        u("/leads/{}/notes/", "owned"),
        data={"kind": "note", "body": "Called."},
        **OWN_LEAD_READ,
    ),
    page(
        "lead-move",
        "POST",
        u("/leads/{}/move/", "owned"),
        data={"to_stage": "mql", "reason": "Not now"},
        **{**OWN_LEAD_READ, "service": 403},
    ),
    # -- Sales workspace (htmx, as the pages send them)
    page("sales-queue", "GET", u("/sales/queue/"), **SALES_PAGE),
    page("sales-my-leads", "GET", u("/sales/my-leads/"), **SALES_PAGE),
    page("sales-claim", "POST", u("/sales/queue/{}/claim/", "queued_handoff"), htmx=True, **SALES_PAGE),
    page(
        "sales-pass",
        "POST",
        u("/sales/queue/{}/pass/", "offered_handoff"),
        htmx=True,
        **{**SALES_PAGE, "other_rep": 409, "admin": 409},
    ),
    page(
        "sales-reject",
        "POST",
        u("/sales/leads/{}/reject/", "owned"),
        htmx=True,
        data={"outcome": "recycle", "reason": "Not a fit"},
        **OWN_LEAD_SALES_ACTION,
    ),
    page("sales-release", "POST", u("/sales/leads/{}/release/", "owned"), htmx=True, **OWN_LEAD_SALES_ACTION),
    page("sales-release", "POST", u("/sales/leads/{}/release/", "owned"), label="no-js", **OWN_LEAD_SALES_ACTION),
    page(
        "sales-close",
        "POST",
        u("/sales/leads/{}/close/", "owned"),
        htmx=True,
        data={"reason": "Signed"},
        **OWN_LEAD_SALES_ACTION,
    ),
    page(
        "sales-next-step",
        "POST",
        u("/sales/leads/{}/next-step/", "owned"),
        htmx=True,
        data={"text": "Call back", "due": ""},
        **OWN_LEAD_SALES_ACTION,
    ),
    # -- Service workspace
    page("service-search", "GET", u("/service/find/?q=customer"), **SERVICE_PAGE),
    page("service-flags", "GET", u("/service/flags/"), **SERVICE_PAGE),
    page("service-pqls", "GET", u("/service/pqls/"), **SERVICE_PAGE),
    page(
        "service-flag",
        "POST",
        u("/service/leads/{}/flag/", "customer"),
        htmx=True,
        data={"wants": "More seats", "urgency": "medium", "consent": "1"},
        **{"marketing": 403, "sales": 404, "service": OK, "admin": OK},
    ),
    # -- Notifications (the rep's own)
    page(
        "notification-open",
        "GET",
        u("/notifications/{}/", "notification"),
        **{**every(404), "sales": OK, "other_rep": 404},
    ),
    page("notifications-read-all", "POST", u("/notifications/read/"), **every(OK)),
    # -- API: front door
    api(
        "api-submissions",
        "POST",
        u("/api/v1/submissions/"),
        data={"form_name": "contact", "email": "new@matrix.example"},
        **{
            **every(403),
            "marketing": OK,
            "admin": OK,
            "key_submit": OK,
            "key_read": 403,
            "key_write": 403,
            "token_read": 403,
        },
    ),
    api(
        "api-events",
        "POST",
        u("/api/v1/events/"),
        data={"email": "owned@matrix.example", "event_type": "page_view"},
        **{
            **every(403),
            "marketing": OK,
            "admin": OK,
            "key_submit": OK,
            "key_read": 403,
            "key_write": 403,
            "token_read": 403,
        },
    ),
    # -- API: leads
    api("api-leads", "GET", u("/api/v1/leads/"), **every(OK), **READ_KEYS),
    api("api-pipeline", "GET", u("/api/v1/pipeline/"), **every(OK), **READ_KEYS),
    api("api-lead", "GET", u("/api/v1/leads/{}/", "owned"), **OWN_LEAD_READ, **READ_KEYS),
    api(
        "api-lead",
        "PATCH",
        u("/api/v1/leads/{}/", "owned"),
        data={"job_title": "CTO"},
        **{**OWN_LEAD_READ, "service": 403},
        key_submit=403,
        key_read=403,
        key_write=OK,
        token_read=403,
    ),
    api("api-lead-events", "GET", u("/api/v1/leads/{}/events/", "owned"), **OWN_LEAD_READ, **READ_KEYS),
    api(
        "api-lead-transition",
        "POST",
        u("/api/v1/leads/{}/transition/", "owned"),
        data={"to_stage": "mql", "reason": "Not now"},
        **{**OWN_LEAD_READ, "service": 403},
        key_submit=403,
        key_read=403,
        key_write=OK,
        token_read=403,
    ),
    api("api-lead-claim", "POST", u("/api/v1/leads/{}/claim/", "queued"), **SALES_PAGE, **NO_KEYS),
    api("api-lead-release", "POST", u("/api/v1/leads/{}/release/", "owned"), **OWN_LEAD_SALES_ACTION, **NO_KEYS),
    api(
        "api-lead-notes",
        "POST",
        u("/api/v1/leads/{}/notes/", "owned"),
        data={"body": "Called."},
        **OWN_LEAD_READ,
        **NO_KEYS,
    ),
    api(
        "api-lead-reject",
        "POST",
        u("/api/v1/leads/{}/reject/", "owned"),
        data={"outcome": "recycle", "reason": "Not a fit"},
        **OWN_LEAD_SALES_ACTION,
        **NO_KEYS,
    ),
    api(
        "api-lead-close",
        "POST",
        u("/api/v1/leads/{}/close/", "owned"),
        data={"reason": "Signed"},
        **OWN_LEAD_SALES_ACTION,
        **NO_KEYS,
    ),
    api(
        "api-lead-next-step",
        "POST",
        u("/api/v1/leads/{}/next-step/", "owned"),
        data={"text": "Call back"},
        **OWN_LEAD_SALES_ACTION,
        **NO_KEYS,
    ),
    api(
        "api-lead-upgrade-interest",
        "POST",
        u("/api/v1/leads/{}/upgrade-interest/", "customer"),
        data={"wants": "More seats", "consent": True},
        **{**every(403), "service": OK, "admin": OK},
        **NO_KEYS,
    ),
    # -- API: sales and notifications
    api("api-sales-queue", "GET", u("/api/v1/sales/queue/"), **SALES_PAGE, **NO_KEYS),
    api("api-sales-my-leads", "GET", u("/api/v1/sales/my-leads/"), **SALES_PAGE, **NO_KEYS),
    api("api-handoff-accept", "POST", u("/api/v1/handoffs/{}/accept/", "queued_handoff"), **SALES_PAGE, **NO_KEYS),
    api(
        "api-handoff-pass",
        "POST",
        u("/api/v1/handoffs/{}/pass/", "offered_handoff"),
        **{**SALES_PAGE, "other_rep": 409, "admin": 409},
        **NO_KEYS,
    ),
    api("api-notifications", "GET", u("/api/v1/notifications/"), **every(OK), **{**NO_KEYS, "token_read": OK}),
    api("api-notifications-read", "POST", u("/api/v1/notifications/read/"), **every(OK), **NO_KEYS),
    # -- API: privacy, duplicates, merge, imports
    api(
        "api-privacy-export",
        "GET",
        u("/api/v1/leads/{}/privacy/export/", "owned"),
        **ADMIN_PAGE,
        other_rep=403,
        **NO_KEYS,
    ),
    api(
        "api-privacy-erase",
        "POST",
        u("/api/v1/leads/{}/privacy/erase/", "owned"),
        data={"reason": "T-1"},
        **ADMIN_PAGE,
        other_rep=403,
        **NO_KEYS,
    ),
    api("api-lead-duplicates", "GET", u("/api/v1/leads/duplicates/"), **MARKETING_PAGE, **READ_KEYS),
    api(
        "api-lead-merge",
        "POST",
        u("/api/v1/leads/{}/merge/", "dup_a"),
        data=lambda w: {"other_id": w.dup_b.pk},
        **MARKETING_PAGE,
        **NO_KEYS,
    ),
    api(
        "api-imports",
        "POST",
        u("/api/v1/imports/"),
        fmt="multipart",
        data=lambda w: {"file": io.BytesIO(b"email\nnew-import@matrix.example\n")},
        **MARKETING_PAGE,
        key_submit=403,
        key_read=403,
        key_write=OK,
        token_read=403,
    ),
    api("api-import", "GET", u("/api/v1/imports/{}/", "import_job"), **MARKETING_PAGE, **READ_KEYS),
    api(
        "api-import-start",
        "POST",
        u("/api/v1/imports/{}/start/", "import_job"),
        data={},
        **MARKETING_PAGE,
        key_submit=403,
        key_read=403,
        key_write=OK,
        token_read=403,
    ),
    api("api-import-errors", "GET", u("/api/v1/imports/{}/errors/", "import_job"), **MARKETING_PAGE, **READ_KEYS),
    api("api/v1/*", "GET", u("/api/v1/no-such-thing/"), anon=404, **every(404), **dict.fromkeys(KEYS, 404)),
    # -- API: scoring
    api("ruleset-list", "GET", u("/api/v1/scoring/rulesets/"), **SCORING_READ),
    api("ruleset-draft", "POST", u("/api/v1/scoring/rulesets/draft/"), **SCORING_WRITE),
    api("ruleset-detail", "GET", u("/api/v1/scoring/rulesets/{}/", "draft"), **SCORING_READ),
    api(
        "ruleset-detail",
        "PATCH",
        u("/api/v1/scoring/rulesets/{}/", "draft"),
        data={"mql_threshold": 45},
        **SCORING_WRITE,
    ),
    api("ruleset-detail", "DELETE", u("/api/v1/scoring/rulesets/{}/", "draft"), **SCORING_WRITE),
    api("engagement-rule-list", "GET", u("/api/v1/scoring/rulesets/{}/engagement-rules/", "draft"), **SCORING_READ),
    api(
        "engagement-rule-list",
        "POST",
        u("/api/v1/scoring/rulesets/{}/engagement-rules/", "draft"),
        data={"name": "Visits", "event_type": "page_view", "points": 3},
        **SCORING_WRITE,
    ),
    api(
        "engagement-rule-detail",
        "GET",
        lambda w: f"/api/v1/scoring/rulesets/{w.draft.pk}/engagement-rules/{w.engagement_rule.pk}/",
        **SCORING_READ,
    ),
    api(
        "engagement-rule-detail",
        "PATCH",
        lambda w: f"/api/v1/scoring/rulesets/{w.draft.pk}/engagement-rules/{w.engagement_rule.pk}/",
        data={"points": 4},
        **SCORING_WRITE,
    ),
    api(
        "engagement-rule-detail",
        "DELETE",
        lambda w: f"/api/v1/scoring/rulesets/{w.draft.pk}/engagement-rules/{w.engagement_rule.pk}/",
        **SCORING_WRITE,
    ),
    api("fit-rule-list", "GET", u("/api/v1/scoring/rulesets/{}/fit-rules/", "draft"), **SCORING_READ),
    api(
        "fit-rule-list",
        "POST",
        u("/api/v1/scoring/rulesets/{}/fit-rules/", "draft"),
        data={"name": "DE", "kind": "country_in", "values": ["DE"], "points": 3},
        **SCORING_WRITE,
    ),
    api(
        "fit-rule-detail",
        "GET",
        lambda w: f"/api/v1/scoring/rulesets/{w.draft.pk}/fit-rules/{w.fit_rule.pk}/",
        **SCORING_READ,
    ),
    api(
        "fit-rule-detail",
        "PATCH",
        lambda w: f"/api/v1/scoring/rulesets/{w.draft.pk}/fit-rules/{w.fit_rule.pk}/",
        data={"points": 4},
        **SCORING_WRITE,
    ),
    api(
        "fit-rule-detail",
        "DELETE",
        lambda w: f"/api/v1/scoring/rulesets/{w.draft.pk}/fit-rules/{w.fit_rule.pk}/",
        **SCORING_WRITE,
    ),
    api("ruleset-preview", "GET", u("/api/v1/scoring/rulesets/{}/preview/", "draft"), **SCORING_READ),
    api("ruleset-publish", "POST", u("/api/v1/scoring/rulesets/{}/publish/", "draft"), **SCORING_WRITE),
    api("rescore-job-list", "GET", u("/api/v1/scoring/rescore-jobs/"), **SCORING_READ),
    api("rescore-job-detail", "GET", u("/api/v1/scoring/rescore-jobs/{}/", "rescore_job"), **SCORING_READ),
    api("lead-score", "GET", u("/api/v1/scoring/leads/{}/score/", "owned"), **{**SCORING_READ, "other_rep": 403}),
    api(
        "api/v1/scoring/*",
        "GET",
        u("/api/v1/scoring/no-such-thing/"),
        anon=404,
        **every(404),
        **dict.fromkeys(KEYS, 404),
    ),
]


def _cases():
    for route in ROUTES:
        assert set(route.expected) == set(PRINCIPALS), f"{route.id}: {set(PRINCIPALS) ^ set(route.expected)}"
        for principal in PRINCIPALS:
            yield pytest.param(route, principal, id=f"{route.id}-{principal}")


@pytest.mark.parametrize(("route", "principal"), list(_cases()))
def test_the_answer_is_the_expected_one(world, db, route, principal):
    client = client_for(world, principal, api=route.api)
    data = route.data(world) if callable(route.data) else route.data
    url = route.url(world)
    headers = {"HTTP_HX_REQUEST": "true"} if route.htmx else {}
    method = getattr(client, route.method.lower())
    if route.api:
        response = method(url, data, format=route.fmt) if data is not None or route.method != "GET" else method(url)
    else:
        response = method(url, data or {}, **headers)
    assert outcome(response) == route.expected[principal], (
        response.status_code,
        response.get("Location"),
        response.content[:300],
    )


# ---- Every pattern is in the table ----------------------------------------------------------


def url_patterns(resolver=None, prefix: str = ""):
    """(name or regex, route) of every URL pattern, Django's admin counted once as admin:index."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            if getattr(pattern, "app_name", None) == "admin":
                yield "admin:index", prefix + str(pattern.pattern)
                continue
            yield from url_patterns(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            # An unnamed pattern (the APIs' JSON 404 for any other path) is known by its prefix.
            yield pattern.name or f"{prefix}*", prefix + str(pattern.pattern)


def test_every_url_pattern_is_in_the_matrix():
    in_table = {route.name for route in ROUTES}
    missing = sorted(f"{name} ({path})" for name, path in url_patterns() if name not in in_table)
    assert not missing, "add these to ROUTES in tests/security/test_permission_matrix.py: " + ", ".join(missing)
    gone = in_table - {name for name, _ in url_patterns()}
    assert not gone, f"ROUTES names patterns that no longer exist: {sorted(gone)}"


# ---- Every move x role, through the lead page and the API -----------------------------------

# Who may make each move (admin may make every one). In a sales stage the lead is the rep's own
# (claimed); other_rep must get 404 for it. Outside the sales stages no rep sees it (404).
MOVE_ROLES: dict[tuple[Stage, Stage], set[str]] = {
    (Stage.LEAD, Stage.MQL): {"marketing"},
    (Stage.LEAD, Stage.SQL): {"marketing"},
    (Stage.LEAD, Stage.PQL): {"marketing"},
    (Stage.LEAD, Stage.DISQUALIFIED): {"marketing"},
    (Stage.MQL, Stage.SQL): {"marketing"},
    (Stage.MQL, Stage.PQL): {"marketing"},
    (Stage.MQL, Stage.DISQUALIFIED): {"marketing"},
    (Stage.SQL, Stage.CUSTOMER): {"sales"},
    (Stage.SQL, Stage.MQL): {"marketing", "sales"},
    (Stage.SQL, Stage.DISQUALIFIED): {"sales"},
    (Stage.PQL, Stage.SQL): {"sales"},
    (Stage.PQL, Stage.CUSTOMER): {"sales"},
    (Stage.PQL, Stage.MQL): {"marketing", "sales"},
    (Stage.PQL, Stage.DISQUALIFIED): {"sales"},
    (Stage.SERVICE_QUALIFIED, Stage.CUSTOMER): {"sales"},
    (Stage.CUSTOMER, Stage.SERVICE_QUALIFIED): {"service"},
    (Stage.DISQUALIFIED, Stage.LEAD): {"marketing"},
}
SALES_STAGES = {Stage.SQL, Stage.PQL, Stage.SERVICE_QUALIFIED}


def move_expected(move, principal: str) -> str | int:
    if principal == "anon":
        return LOGIN
    if principal in ("sales", "other_rep") and move.source not in SALES_STAGES:
        return 404  # a rep sees only the queue and their own leads
    if principal == "other_rep":
        return 404  # the rep's lead: not theirs
    return OK if principal == "admin" or principal in MOVE_ROLES[(move.source, move.target)] else 403


def move_expected_api(move, principal: str) -> str | int:
    if principal == "anon":
        return 401
    if principal in KEYS:
        return OK if principal == "key_write" else 403  # an integration key with write may make any move
    return move_expected(move, principal)


def test_the_move_table_covers_every_move():
    assert set(MOVE_ROLES) == set(MOVES)


MOVE_CASES = [
    pytest.param(move, principal, id=f"{move.source.value}->{move.target.value}-{principal}")
    for move in MOVES.values()
    for principal in ("anon", *PEOPLE)
]
MOVE_API_CASES = [
    pytest.param(move, principal, id=f"{move.source.value}->{move.target.value}-{principal}")
    for move in MOVES.values()
    for principal in PRINCIPALS
]


@pytest.mark.parametrize(("move", "principal"), MOVE_CASES)
def test_each_move_on_the_lead_page(world, db, move, principal):
    lead = world.move_leads[move.source]
    client = client_for(world, principal, api=False)
    response = client.post(f"/leads/{lead.pk}/move/", {"to_stage": move.target.value, "reason": "Matrix"})
    expected = move_expected(move, principal)
    assert outcome(response) == expected, response.content[:300]
    stage = Lead.objects.values_list("stage", flat=True).get(pk=lead.pk)
    assert stage == (move.target if expected == OK else move.source)


@pytest.mark.parametrize(("move", "principal"), MOVE_API_CASES)
def test_each_move_through_the_api(world, db, move, principal):
    lead = world.move_leads[move.source]
    client = client_for(world, principal, api=True)
    response = client.post(
        f"/api/v1/leads/{lead.pk}/transition/", {"to_stage": move.target.value, "reason": "Matrix"}, format="json"
    )
    expected = move_expected_api(move, principal)
    assert outcome(response) == expected, response.content[:300]
    stage = Lead.objects.values_list("stage", flat=True).get(pk=lead.pk)
    assert stage == (move.target if expected == OK else move.source)


# ---- What a refused request leaves behind: nothing ------------------------------------------


def test_another_reps_attempts_change_nothing(world, db):
    """The other rep tries everything on the rep's lead, in the browser and the API: all refused as
    "no such lead", and the lead, its notes and its owner are as they were."""
    owned = world.owned
    before = Lead.objects.values().get(pk=owned.pk)
    notes = owned.notes.count()
    browser = client_for(world, "other_rep", api=False)
    rest = client_for(world, "other_rep", api=True)
    answers = [
        browser.get(f"/leads/{owned.pk}/").status_code,
        browser.post(f"/leads/{owned.pk}/profile/", PROFILE).status_code,
        browser.post(f"/leads/{owned.pk}/notes/", {"kind": "note", "body": "Mine now"}).status_code,
        browser.post(f"/leads/{owned.pk}/move/", {"to_stage": "disqualified", "reason": "x"}).status_code,
        browser.post(f"/sales/leads/{owned.pk}/release/").status_code,
        browser.post(f"/sales/leads/{owned.pk}/close/").status_code,
        rest.get(f"/api/v1/leads/{owned.pk}/").status_code,
        rest.patch(f"/api/v1/leads/{owned.pk}/", {"job_title": "x"}, format="json").status_code,
        rest.post(f"/api/v1/leads/{owned.pk}/notes/", {"body": "Mine now"}, format="json").status_code,
        rest.post(
            f"/api/v1/leads/{owned.pk}/transition/", {"to_stage": "mql", "reason": "x"}, format="json"
        ).status_code,
        rest.post(f"/api/v1/leads/{owned.pk}/release/", {}, format="json").status_code,
    ]
    assert answers == [404] * len(answers)
    assert Lead.objects.values().get(pk=owned.pk) == before
    assert owned.notes.count() == notes


def test_the_api_lists_a_rep_only_the_leads_they_may_open(world, db):
    listed = client_for(world, "other_rep", api=True).get("/api/v1/leads/?page_size=200").json()["results"]
    ids = {lead["id"] for lead in listed}
    assert world.owned.pk not in ids and world.queued.pk in ids
    mine = client_for(world, "sales", api=True).get("/api/v1/leads/?page_size=200").json()["results"]
    assert world.owned.pk in {lead["id"] for lead in mine}


def test_search_shows_a_rep_only_the_leads_they_may_open(world, db):
    rep2 = client_for(world, "other_rep", api=False)
    found = rep2.get("/search/?q=owned@matrix.example").context["results"]
    assert found == []
    rep = client_for(world, "sales", api=False)
    assert [lead.pk for lead in rep.get("/search/?q=owned@matrix.example").context["results"]] == [world.owned.pk]


def test_the_pipeline_page_shows_a_rep_only_moves_of_leads_they_may_open(world, db):
    """The home page's recent moves name leads: another rep's are not among them for a rep."""
    shown = {change.lead_id for change in client_for(world, "other_rep", api=False).get("/").context["recent_changes"]}
    assert world.owned.pk not in shown
    assert shown <= set(Lead.objects.filter(owner__isnull=True, stage__in=SALES_STAGES).values_list("pk", flat=True))
    everything = client_for(world, "marketing", api=False).get("/").context["recent_changes"]
    assert len(everything) == 15  # marketing sees the latest moves of every lead
