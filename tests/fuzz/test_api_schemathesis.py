"""Schemathesis against our own OpenAPI document (/api/schema/), in-process through the WSGI app,
with all of its checks: no 5xx, no answer that breaks the schema, no invalid input accepted, no
valid input refused, no ignored authentication.

Every operation gets MAX_EXAMPLES generated requests (plus schemathesis's deterministic coverage
cases), with a fixed seed so that CI is repeatable. Locally, explore further with e.g.
    LEADCRM_FUZZ_EXAMPLES=300 LEADCRM_FUZZ_SEED=random .venv/bin/pytest tests/fuzz/test_api_schemathesis.py
Path ids are drawn half the time from the rows made below (a lead in each stage, an open
handoff, a draft rule set with rules, an import), so the fuzzer reaches past the 404.
"""

import os
from datetime import datetime, timedelta, timezone

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import negative_data_rejection

from leads import imports
from leads.api.auth import api_key_create
from leads.models import Handoff, HandoffStatus
from scoring import services as scoring_services
from tests.factories import LeadFactory, UserFactory, lead_in_stage

MAX_EXAMPLES = int(os.environ.get("LEADCRM_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("LEADCRM_FUZZ_SEED", "8")

# --- Value formats ---------------------------------------------------------------------------
# JSON Schema cannot say "from 1970 to a day ahead of the server's clock" (the API refuses other
# event and submission times, as its schema descriptions say): date-times are drawn from that
# window, in every spelling RFC 3339 allows (offsets, lower-case t and z, up to nanoseconds).
_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2026, 1, 1), timezones=_offsets)


def _rfc3339(moment: datetime, fraction: str, separator: str, zulu: str) -> str:
    text = moment.strftime("%Y-%m-%d") + separator + moment.strftime("%H:%M:%S") + fraction
    if moment.utcoffset() == timedelta(0) and zulu:
        return text + zulu
    offset = moment.strftime("%z")
    return f"{text}{offset[:3]}:{offset[3:]}"


schemathesis.openapi.format(
    "date-time",
    st.builds(
        _rfc3339,
        _moments,
        st.sampled_from(["", ".5", ".123456", ".123456789"]),
        st.sampled_from(["T", "t"]),
        st.sampled_from(["Z", "z", ""]),
    ),
)
# JSON Schema's "uri" admits what Django's URLValidator refuses (a 300-character host name, any
# scheme); the API takes http(s) pages and checks them with that validator.
schemathesis.openapi.format(
    "uri",
    st.builds(
        "{}://{}.{}{}".format,
        st.sampled_from(["http", "https"]),
        st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
        st.sampled_from(["com", "example", "de", "co.uk"]),
        st.sampled_from(["", "/", "/pricing?utm=1", "/a/b#top", "/%3Cscript%3E"]),
    ),
)

# --- Where a check is wrong by design, narrowly ----------------------------------------------
EVENTS = "POST /api/v1/events/"


def _is_batch(body) -> bool:
    return isinstance(body, list) or (isinstance(body, dict) and isinstance(body.get("events"), list))


def batch_reports_rejected_items(ctx, response, case):
    """A batch of events is judged per item by design: an invalid item is answered 200 with that
    item `rejected` (and its valid neighbours stored), not a 400 for the whole batch. So for an
    invalid batch, instead of negative_data_rejection: a 200 must report at least one rejection."""
    if case.meta is None or not case.meta.generation.mode.is_negative or response.status_code != 200:
        return None
    body = response.json()
    assert body["rejected"] >= 1, f"An invalid batch was answered 200 with nothing rejected: {body}"
    return None


@pytest.fixture
def api_schema(db, settings, tmp_path):
    """The schema, loaded from the running app, with ids of real rows to draw path ids from."""
    from leadcrm.wsgi import application

    settings.API_RATE_LIMIT = "1000000/minute"
    settings.VAR_DIR = tmp_path
    leads = [LeadFactory(), *(lead_in_stage(stage) for stage in ("mql", "sql", "customer"))]
    handoffs = list(Handoff.objects.filter(status=HandoffStatus.OPEN).values_list("pk", flat=True))
    scoring_services.ruleset_ensure_published()
    draft = scoring_services.ruleset_create_draft()
    rule_ids = [*draft.engagement_rules.values_list("pk", flat=True), *draft.fit_rules.values_list("pk", flat=True)]
    job = imports.import_upload(file_name="leads.csv", raw=b"email,first_name\nada@example.com,Ada\n")
    ids = sorted({*(lead.pk for lead in leads), *handoffs, job.pk})
    half = {"probability": 0.5}
    config = schemathesis.Config.from_dict(
        {
            **({"seed": int(SEED)} if SEED.isdigit() else {}),
            "generation": {
                "deterministic": SEED.isdigit(),
                "max-examples": MAX_EXAMPLES,
                # PostgreSQL cannot store NUL in text: the API refuses any \u0000 in a body with a
                # clear 400, whatever field it is in (tests/fuzz/test_hostile_input.py proves it).
                # Left in, it would make every schema-valid body with a NUL "wrongly refused".
                "allow-x00": False,
            },
            "dictionaries": {
                "ids": {"values": ids},
                "rulesets": {"values": [draft.pk, draft.pk - 1]},
                "rules": {"values": rule_ids},
                "leads": {"values": [lead.pk for lead in leads]},
            },
            "parameters": {
                "path.id": {"dictionary": "ids", **half},
                "path.lead_id": {"dictionary": "leads", **half},
                "path.ruleset_id": {"dictionary": "rulesets", **half},
                "path.rule_id": {"dictionary": "rules", **half},
                # A cursor is opaque: only one a previous page handed out is valid, so any other
                # string is rightly refused (test_hostile_input.py throws garbage cursors).
                "query.cursor": "",
            },
            "operations": [
                {
                    # A file the schema can describe only as "binary": whether it is a CSV with an
                    # email column is for the import to judge (400 with the reason, as documented).
                    "include-path": "/api/v1/imports/",
                    "include-method": "POST",
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                },
                {
                    # A partial update of a rule is judged with the rule's stored fields: an operator
                    # without a property key is refused unless the rule has one. No schema can know
                    # what is stored; POST (the same rules, nothing stored) keeps the check.
                    "include-path-regex": r"^/api/v1/scoring/rulesets/\{ruleset_id\}/\w+-rules/\{rule_id\}/$",
                    "include-method": "PATCH",
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                },
            ],
        }
    )
    # The WSGI handler closes the database connection after each request, as in production; inside
    # the test's transaction that would close it on PostgreSQL. Django's test client does the same.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=config)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_key(db):
    """A personal token of an admin with every scope: the one identity every endpoint admits."""
    admin = UserFactory(username="fuzz-admin", roles=["admin"], is_staff=True, is_superuser=True)
    return api_key_create(name="fuzz", scopes=["submit", "read", "write"], user=admin).raw_key


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api(case, admin_key):
    options = {}
    if case.operation.label == EVENTS and _is_batch(case.body):
        options = {"excluded_checks": [negative_data_rejection], "additional_checks": [batch_reports_rejected_items]}
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_key}"}, **options)


@pytest.fixture
def api_schema_few(api_schema):
    """The same schema, a handful of requests per operation: no coverage phase (hundreds of cases)."""
    api_schema.config.phases.coverage.enabled = False
    return api_schema


schema_without_credentials = schemathesis.pytest.from_fixture("api_schema_few")


@schema_without_credentials.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=2)
def test_api_without_credentials(case):
    """No credentials, or a wrong key: every operation answers 401 in the error shape, whatever
    the input (a path that names no operation at all is the API's JSON 404)."""
    for headers in ({}, {"Authorization": "Bearer lk_00000000_not-a-key"}, {"Authorization": "Basic YTpi"}):
        response = case.call(headers=headers)
        body = response.json()
        if response.status_code == 404 and body["message"] == "No such API endpoint.":
            continue
        assert response.status_code == 401, (case.operation.label, headers, response.status_code, body)
        assert set(body) == {"type", "message", "errors"}
        assert response.headers["www-authenticate"][0].startswith("Bearer")
