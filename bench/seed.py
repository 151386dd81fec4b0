"""The benchmark suite's data: 1,000,000 leads and 10,000,000 events at scale 1, generated inside
PostgreSQL (INSERT ... SELECT over generate_series: no row crosses the wire, no Python per row).

Realistic spreads: stages (exactly 10% MQLs, so that the MQL export is 100,000 rows at scale 1),
sources with matching UTM fields, ~200 campaigns (a few big ones, a long tail), weighted countries,
industries and job titles, ~50,000 companies (skewed: big companies have more leads) with a size
each, sales owners on the leads sales works, two years of sign-ups growing towards today, and
events whose number per lead is skewed (a heavy tail; 15% of leads have none) and whose times fall
between the lead's creation and its last activity (the lead's last event is its last_activity_at).
Events go in in time order, as they arrive in production, so a lead's events are spread over the
table as they would be, not stored side by side.

Secondary indexes of the two big tables are dropped before the load and rebuilt after it (one
sorted build per index instead of a million random insertions), foreign keys likewise (one
validating join instead of a trigger per row); then VACUUM ANALYZE.

A marker table (bench_seed) records what was seeded; a later run at the same scale reuses it and
only resets what the benchmarks added or changed (reset_to_seed), so reruns start in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models.fields import NOT_PROVIDED

from leads.models import EngagementEvent, Lead, PendingActivity

SEEDER_VERSION = 1
LEADS_AT_SCALE_1 = 1_000_000
EVENTS_AT_SCALE_1 = 10_000_000
MARKER_TABLE = "bench_seed"
STATE_TABLE = "bench_seed_lead_state"  # the seeded leads' mutable columns, to undo a run's changes
SALES_REPS = 20
MARKETER = "bench-marketer"
# Every MQL is a lead whose id ends in this digit: exactly 10% of the leads.
MQL_DIGIT = 3

# --- Distributions (value, weight) ----------------------------------------------------------

STAGES_OTHER_THAN_MQL = [
    ("lead", 62),
    ("sql", 8),
    ("pql", 5),
    ("service_qualified", 2),
    ("customer", 9),
    ("disqualified", 14),
]
SALES_OWNED_STAGES = ("sql", "pql", "service_qualified", "customer")
# (source, weight, utm_source, utm_medium, has a campaign)
SOURCES = [
    ("organic_search", 22, "google", "organic", False),
    ("paid_search", 14, "google", "cpc", True),
    ("paid_social", 10, "linkedin", "paid_social", True),
    ("email", 12, "newsletter", "email", True),
    ("content", 10, "blog", "referral", True),
    ("webinar", 8, "webinar", "event", True),
    ("referral", 6, "", "", False),
    ("event", 5, "", "", False),
    ("partner", 4, "partner", "referral", True),
    ("direct", 6, "", "", False),
    ("import", 3, "", "", False),
]
CAMPAIGNS = 200
COUNTRIES = [
    ("US", 30), ("GB", 9), ("DE", 9), ("IN", 9), ("FR", 6), ("BR", 6), ("CA", 5), ("AU", 4), ("ES", 4),
    ("NL", 3), ("JP", 3), ("IT", 3), ("SE", 2), ("PL", 2), ("MX", 2), ("SG", 1), ("IE", 1), ("CH", 1),
]  # fmt: skip
INDUSTRIES = [
    ("Software", 18), ("SaaS", 12), ("Financial Services", 10), ("Retail", 9), ("Manufacturing", 9),
    ("Health", 8), ("Technology", 8), ("Education", 7), ("E-commerce", 6), ("Media", 4), ("Logistics", 4),
    ("Government", 3), ("Non-profit", 2),
]  # fmt: skip
JOB_TITLES = [
    ("Software Engineer", 14), ("Marketing Manager", 12), ("Analyst", 10), ("Product Manager", 8),
    ("Consultant", 8), ("Operations Manager", 6), ("Director of IT", 5), ("Sales Lead", 5),
    ("Data Scientist", 5), ("VP Sales", 4), ("Student", 4), ("Designer", 4), ("CTO", 3), ("Founder", 3),
    ("Head of Growth", 3), ("CEO", 2), ("Intern", 2), ("", 2),
]  # fmt: skip
COMPANY_SIZES = [(5, 30), (20, 25), (80, 18), (300, 12), (1500, 9), (10000, 6)]
COMPANIES = 50_000
COMPANY_WORDS = [
    "Acme", "Initech", "Globex", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Wonka", "Tyrell",
    "Cyberdyne", "Soylent", "Aperture", "Massive", "Dunder", "Pied Piper", "Oscorp", "Nakatomi", "Monarch",
    "Prestige", "Sterling", "Blue Sun", "Virtucon", "Bluth", "Duff", "Gekko", "Wernham", "Nimbus", "Vertex",
    "Quantum", "Apex", "Summit", "Northwind", "Contoso", "Fabrikam", "Tailspin", "Lumen", "Helix", "Orbit",
    "Cobalt",
]  # fmt: skip
COMPANY_KINDS = [
    "Systems", "Labs", "Analytics", "Software", "Logistics", "Health", "Capital", "Retail", "Energy", "Media",
    "Robotics", "Foods", "Security", "Cloud", "Networks", "Partners", "Studios", "Bank", "Insurance", "Motors",
    "Pharma", "Telecom", "Consulting", "Group", "Works", "Dynamics", "Holdings", "Digital", "Industries",
    "Solutions",
]  # fmt: skip
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com"]
FIRST_NAMES = [
    "Ada", "Grace", "Alan", "Linus", "Barbara", "Edsger", "Margaret", "Donald", "Ken", "Radia", "John", "Mary",
    "James", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth", "David", "Susan",
    "Richard", "Jessica", "Joseph", "Sarah", "Thomas", "Karen", "Charles", "Nancy", "Daniel", "Lisa", "Matthew",
    "Sandra", "Anthony", "Emily", "Mark", "Ashley", "Paul", "Michelle", "Jürgen", "Ana", "Sofia", "Lukas",
    "Emma", "Noah", "Olivia", "Liam", "Mia", "Hiroshi", "Yuki", "Priya", "Arjun", "Chen", "Wei", "Fatima",
    "Omar", "Lucas", "Camille", "Mateo",
]  # fmt: skip
LAST_NAMES = [
    "Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Dijkstra", "Hamilton", "Knuth", "Thompson", "Perlman",
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Perez", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen",
    "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Müller", "Schmidt", "Schneider", "Fischer", "Weber",
    "Dubois", "Moreau", "Laurent", "Rossi", "Russo", "Silva", "Santos", "Tanaka", "Suzuki", "Sato", "Kumar",
    "Sharma", "Patel", "Wang", "Li", "Zhang", "Kowalski",
]  # fmt: skip
# (event type, weight, source); property variants are chosen per type below.
EVENT_TYPES = [
    ("page_view", 38, "website"),
    ("email_open", 18, "email"),
    ("email_click", 8, "email"),
    ("content_download", 5, "website"),
    ("pricing_page_view", 4, "website"),
    ("form_submitted", 3, "website"),
    ("webinar_registered", 3, "webinar"),
    ("webinar_attended", 2, "webinar"),
    ("product_active_day", 7, "product"),
    ("feature_used", 6, "product"),
    ("trial_started", 1, "product"),
    ("usage_limit_reached", 1, "product"),
    ("demo_request", 1, "website"),
    ("contact_sales", 1, "website"),
    ("upgrade_interest", 1, "product"),
    ("unsubscribe", 1, "email"),
]
PAGES = ["/", "/blog/lead-scoring", "/blog/crm-migration", "/docs/api", "/features", "/customers", "/pricing"]
NEXT_STEPS = ["Call back", "Send proposal", "Book a demo", "Follow up on trial", "Check budget", ""]
BREAKDOWN_TEMPLATES = [
    '[{"kind":"fit","rule":"Company of 50+","points":10},{"kind":"fit","rule":"Target industry","points":10},'
    '{"kind":"engagement","rule":"Page view","points":9,"events":12,"decayed":true},'
    '{"kind":"engagement","rule":"Content download","points":16,"events":2,"decayed":true}]',
    '[{"kind":"fit","rule":"Senior title","points":15},{"kind":"fit","rule":"Core market","points":5},'
    '{"kind":"engagement","rule":"Webinar attended","points":20,"events":2,"decayed":true},'
    '{"kind":"engagement","rule":"Email click","points":12,"events":4,"decayed":true}]',
    '[{"kind":"fit","rule":"Manager title","points":5},'
    '{"kind":"engagement","rule":"Email open","points":7,"events":9,"decayed":true},'
    '{"kind":"engagement","rule":"Pricing page","points":15,"events":3,"capped":true,"decayed":true}]',
    '[{"kind":"fit","rule":"Free-mail address","points":-10},'
    '{"kind":"engagement","rule":"Page view","points":4,"events":4,"decayed":true}]',
    '[{"kind":"fit","rule":"Company of 1,000+","points":5},{"kind":"fit","rule":"Company of 50+","points":10},'
    '{"kind":"engagement","rule":"Feature used","points":18,"events":11,"decayed":true},'
    '{"kind":"engagement","rule":"Product active day","points":24,"events":16,"capped":true}]',
    "[]",
]


def _literal(value) -> str:
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _weighted(random_column: str, choices: list[tuple]) -> str:
    """CASE picking choices[i][0] with probability weight / total from a uniform random column."""
    total = sum(choice[1] for choice in choices)
    parts, cumulative = [], 0.0
    for choice in choices[:-1]:
        cumulative += choice[1] / total
        parts.append(f"WHEN {random_column} < {cumulative:.6f} THEN {_literal(choice[0])}")
    return f"(CASE {' '.join(parts)} ELSE {_literal(choices[-1][0])} END)"


def _array(values: list, sql_type: str = "text") -> str:
    return f"(ARRAY[{', '.join(_literal(value) for value in values)}]::{sql_type}[])"


def _pick(random_column: str, values: list, sql_type: str = "text") -> str:
    return f"{_array(values, sql_type)}[1 + floor({random_column} * {len(values)})::int]"


# --- The marker -----------------------------------------------------------------------------


@dataclass
class SeedInfo:
    scale: float
    leads: int
    events: int
    max_lead_id: int
    max_event_id: int
    seconds: float
    seeded_at: datetime
    reused: bool = False


def _table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def seed_status() -> tuple[SeedInfo, int] | None:
    """What the marker says was seeded, and by which seeder version (None: no marker)."""
    if not _table_exists(MARKER_TABLE):
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT scale, leads, events, max_lead_id, max_event_id, seconds, seeded_at, seeder_version "
            f"FROM {MARKER_TABLE}"
        )
        row = cursor.fetchone()
    return (SeedInfo(*row[:7]), row[7]) if row else None


def _write_marker(info: SeedInfo) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (scale double precision, seeder_version integer, "
            "leads bigint, events bigint, max_lead_id bigint, max_event_id bigint, seconds double precision, "
            "seeded_at timestamptz)"
        )
        cursor.execute(f"DELETE FROM {MARKER_TABLE}")
        cursor.execute(
            f"INSERT INTO {MARKER_TABLE} (scale, seeder_version, leads, events, max_lead_id, max_event_id, seconds, "
            "seeded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [info.scale, SEEDER_VERSION, info.leads, info.events, info.max_lead_id, info.max_event_id,
             info.seconds, info.seeded_at],
        )  # fmt: skip


def _seed_is_intact(info: SeedInfo) -> bool:
    """The seeded leads and their snapshot are all there (a run may add rows, never remove them)."""
    if not _table_exists(STATE_TABLE):
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {Lead._meta.db_table} WHERE id <= %s", [info.max_lead_id])
        leads = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {STATE_TABLE}")
        snapshot = cursor.fetchone()[0]
    return leads == info.leads == snapshot


# --- Index and constraint handling around the load -------------------------------------------


def _secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the indexes that back no constraint (the primary key and
    unique constraints stay: they are what keeps the data right while it goes in)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY c.relname",
            [table],
        )
        return cursor.fetchall()


def _foreign_keys(table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            [table],
        )
        return cursor.fetchall()


# --- Generation -----------------------------------------------------------------------------


def _other_columns(model, filled: set[str]) -> tuple[list[str], list[str], dict]:
    """Columns the generator does not fill, with their Django defaults (the database has none), so
    that a column added by a later migration does not break the seeder: (columns, placeholders,
    parameters)."""
    columns, placeholders, params = [], [], {}
    for field in model._meta.concrete_fields:
        # The database writes the key and a generated column (Lead.search_text) itself.
        if field.column in filled or field.primary_key or field.generated:
            continue
        if field.default is not NOT_PROVIDED:
            value = field.get_default()
        elif field.null:
            value = None
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = datetime.now(UTC)
        else:
            value = ""
        name = f"default_{len(columns)}"
        columns.append(field.column)
        placeholders.append(f"%({name})s::{field.db_type(connection)}")
        params[name] = field.get_db_prep_save(value, connection)
    return columns, placeholders, params


def _plan_sql() -> str:
    """A temporary table with one row per lead: its id, when it was created, its last activity
    and how many events it has (n_events: a heavy-tailed share of the total, summing to it exactly)."""
    return """
    CREATE TEMP TABLE bench_plan ON COMMIT DROP AS
    WITH base AS (
        SELECT g AS id,
               %(now)s::timestamptz - interval '730 days' * power(random(), 1.6) AS created_at,
               random() AS r_active, random() AS r_last, random() AS r_weight
        FROM generate_series(1, %(leads)s) AS g
    ), weighted AS (
        SELECT id, created_at,
               created_at + (%(now)s::timestamptz - created_at) * power(r_last, 0.4) AS last_activity_at,
               CASE WHEN r_active < 0.85 THEN power(-ln(1 - r_weight), 1.7) ELSE 0 END AS weight
        FROM base
    ), cumulative AS (
        SELECT id, created_at, last_activity_at, sum(weight) OVER (ORDER BY id) AS cum FROM weighted
    ), sliced AS (
        SELECT id, created_at, last_activity_at,
               floor(%(events)s * coalesce(lag(cum) OVER (ORDER BY id), 0) / max(cum) OVER ())::bigint AS first_event,
               floor(%(events)s * cum / max(cum) OVER ())::bigint AS end_event
        FROM cumulative
    )
    SELECT id, created_at, (end_event - first_event)::int AS n_events,
           CASE WHEN end_event > first_event THEN last_activity_at END AS last_activity_at
    FROM sliced
    """


# The lead columns the generator fills, in the order of its SELECT; any other column gets its
# Django default (_other_columns).
LEAD_COLUMNS = [
    "id", "email", "first_name", "last_name", "company", "company_domain", "job_title", "phone", "country",
    "industry", "company_size", "source", "utm_source", "utm_medium", "utm_campaign", "utm_term",
    "utm_content", "consent", "consent_at", "unsubscribed", "stage", "stage_changed_at", "fit_score",
    "engagement_score", "score", "score_breakdown", "score_ruleset_version", "scored_at", "score_stale",
    "score_stale_since", "owner_id", "claimed_at", "created_at", "updated_at", "last_activity_at",
    "next_step", "next_step_due",
]  # fmt: skip


def _leads_sql(other_columns: list[str], other_placeholders: list[str]) -> str:
    source_names = [source[0] for source in SOURCES]
    weights = [(index, source[1]) for index, source in enumerate(SOURCES)]
    utm_source = _array([source[2] for source in SOURCES])
    utm_medium = _array([source[3] for source in SOURCES])
    has_campaign = _array([source[4] for source in SOURCES], "boolean")
    company = (
        f"{_array(COMPANY_WORDS)}[1 + mod(company_n, {len(COMPANY_WORDS)})] || ' ' || "
        f"{_array(COMPANY_KINDS)}[1 + mod(company_n / {len(COMPANY_WORDS)}, {len(COMPANY_KINDS)})] || "
        f"CASE WHEN company_n >= {len(COMPANY_WORDS) * len(COMPANY_KINDS)} "
        f"THEN ' ' || (company_n / {len(COMPANY_WORDS) * len(COMPANY_KINDS)}) ELSE '' END"
    )
    # The size belongs to the company, not to the lead: hash the company number into the weights.
    size = _weighted("mod(company_n * 2654435761::bigint, 1000) / 1000.0", COMPANY_SIZES)
    owned = f"stage IN ({', '.join(_literal(stage) for stage in SALES_OWNED_STAGES)}) AND r_owner < 0.8"
    return f"""
    INSERT INTO {Lead._meta.db_table} ({", ".join(LEAD_COLUMNS + other_columns)})
    SELECT id, lower(replace(first_name, 'ü', 'ue')) || '.' || lower(replace(last_name, 'ü', 'ue')) || '.' || id
               || '@' || domain,
           first_name, last_name, company, domain, job_title,
           CASE WHEN r_phone < 0.5 THEN '+1 555 ' || lpad(mod(id, 10000000)::text, 7, '0') ELSE '' END,
           country, industry, CASE WHEN r_size < 0.05 THEN NULL ELSE company_size END,
           source, utm_source, utm_medium,
           CASE WHEN has_campaign THEN 'campaign-' || floor(power(r_campaign, 2.2) * {CAMPAIGNS})::int ELSE '' END,
           CASE WHEN source = 'paid_search' THEN {_pick("r_campaign", ["crm", "lead scoring", "sales pipeline"])}
                ELSE '' END,
           '', r_consent < 0.8, CASE WHEN r_consent < 0.8 THEN created_at END, r_unsubscribed < 0.03,
           stage,
           CASE WHEN stage = 'lead' THEN created_at
                ELSE created_at + (coalesce(last_activity_at, %(now)s::timestamptz) - created_at) * r_moved END,
           fit, engagement, fit + engagement,
           {_array(BREAKDOWN_TEMPLATES, "jsonb")}[1 + mod(id, {len(BREAKDOWN_TEMPLATES)})::int],
           %(version)s, %(now)s::timestamptz - interval '1 day' * r_scored, false, NULL,
           CASE WHEN {owned} THEN (%(reps)s::int[])[1 + floor(r_rep * %(rep_count)s)::int] END,
           CASE WHEN {owned} THEN created_at + (%(now)s::timestamptz - created_at) * r_moved END,
           created_at, greatest(created_at, last_activity_at), last_activity_at,
           CASE WHEN {owned} THEN {_pick("r_rep", NEXT_STEPS)} ELSE '' END,
           CASE WHEN {owned} AND r_rep < 0.8 THEN (%(now)s::timestamptz + interval '1 day' * (r_due * 28 - 14))::date
           END
           {"".join(", " + placeholder for placeholder in other_placeholders)}
    FROM (
        SELECT *, CASE WHEN r_free < 0.12 THEN {_pick("(r_free / 0.12)", FREE_MAIL)}
                       ELSE lower(replace(company, ' ', '-')) || '.example' END AS domain,
                  greatest(0, total - fit) AS engagement
        FROM (
            SELECT *, {company} AS company,
                   {size} AS company_size,
                   {_array(source_names)}[1 + source_index] AS source,
                   {utm_source}[1 + source_index] AS utm_source,
                   {utm_medium}[1 + source_index] AS utm_medium,
                   {has_campaign}[1 + source_index] AS has_campaign,
                   -10 + floor(r_fit * 56)::int AS fit,
                   CASE stage WHEN 'mql' THEN 60 + floor(r_score * 81)::int
                              WHEN 'lead' THEN floor(r_score * 60)::int
                              WHEN 'disqualified' THEN -30 + floor(r_score * 71)::int
                              ELSE 40 + floor(r_score * 121)::int END AS total
            FROM (
                SELECT id, created_at, last_activity_at, first_name, last_name, company_n,
                       {_weighted("r_title", JOB_TITLES)} AS job_title,
                       {_weighted("r_country", COUNTRIES)} AS country,
                       {_weighted("r_industry", INDUSTRIES)} AS industry,
                       {_weighted("r_source", weights)} AS source_index,
                       CASE WHEN mod(id, 10) = {MQL_DIGIT} THEN 'mql'
                            ELSE {_weighted("r_stage", STAGES_OTHER_THAN_MQL)} END AS stage,
                       r_phone, r_size, r_campaign, r_consent, r_unsubscribed, r_moved, r_fit, r_score, r_scored,
                       r_owner, r_rep, r_due, r_free
                FROM (
                    -- Every draw once per row: a CASE over random() would draw again at each WHEN.
                    SELECT p.id, p.created_at, p.last_activity_at,
                           {_pick("random()", FIRST_NAMES)} AS first_name,
                           {_pick("random()", LAST_NAMES)} AS last_name,
                           floor(power(random(), 1.3) * {COMPANIES})::int AS company_n,
                           random() AS r_title, random() AS r_country, random() AS r_industry, random() AS r_source,
                           random() AS r_stage, random() AS r_phone, random() AS r_size, random() AS r_campaign,
                           random() AS r_consent, random() AS r_unsubscribed, random() AS r_moved, random() AS r_fit,
                           random() AS r_score, random() AS r_scored, random() AS r_owner, random() AS r_rep,
                           random() AS r_due, random() AS r_free
                    FROM bench_plan p
                ) AS draws
            ) AS drawn
        ) AS picked
    ) AS derived
    """


def _events_sql() -> str:
    types = [(index, event[1]) for index, event in enumerate(EVENT_TYPES)]
    names = _array([event[0] for event in EVENT_TYPES])
    sources = _array([event[2] for event in EVENT_TYPES])
    pages = _array(['{"url": "%s"}' % page for page in PAGES], "jsonb")  # noqa: UP031 (JSON braces)
    table = EngagementEvent._meta.db_table
    return f"""
    INSERT INTO {table} (event_type, occurred_at, properties, source, external_id, received_at, lead_id)
    SELECT event_type, occurred_at,
           CASE event_type
               WHEN 'page_view' THEN {pages}[1 + floor(r_detail * {len(PAGES)})::int]
               WHEN 'email_open' THEN jsonb_build_object('campaign', 'campaign-' || floor(r_detail * 20)::int)
               WHEN 'email_click' THEN jsonb_build_object('campaign', 'campaign-' || floor(r_detail * 20)::int)
               WHEN 'content_download' THEN '{{"asset": "crm-buyers-guide.pdf"}}'::jsonb
               WHEN 'feature_used' THEN jsonb_build_object('feature', {_pick("r_detail", ["import", "api", "reports", "workflows"])})
               ELSE '{{}}'::jsonb END,
           source,
           CASE WHEN r_external < 0.6 THEN source || '-' || lead_id || '-' || k END,
           occurred_at + interval '1 second' * floor(r_detail * 30),
           lead_id
    FROM (
        SELECT p.id AS lead_id, k, {names}[1 + type_index] AS event_type, {sources}[1 + type_index] AS source,
               CASE WHEN k = p.n_events THEN p.last_activity_at
                    ELSE p.created_at + (p.last_activity_at - p.created_at) * r_time END AS occurred_at,
               r_detail, r_external
        FROM (
            SELECT *, {_weighted("r_type", types)} AS type_index
            FROM (
                SELECT p.*, k, random() AS r_type, random() AS r_time, random() AS r_detail, random() AS r_external
                FROM bench_plan p CROSS JOIN LATERAL generate_series(1, p.n_events) AS k
                WHERE p.n_events > 0
            ) AS draws
        ) AS p
    ) AS e
    ORDER BY occurred_at
    """  # noqa: E501


def _users() -> list[int]:
    """The sales reps who own leads, and the marketer the list benchmarks sign in as."""
    users = get_user_model()
    sales, marketing = Group.objects.get(name="sales"), Group.objects.get(name="marketing")
    reps = []
    for number in range(1, SALES_REPS + 1):
        rep, _ = users.objects.get_or_create(username=f"bench-rep-{number:02d}", defaults={"first_name": "Rep"})
        rep.groups.add(sales)
        reps.append(rep.pk)
    marketer, _ = users.objects.get_or_create(username=MARKETER)
    marketer.groups.add(marketing)
    return reps


def seed(*, scale: float, vacuum: bool = True, say: Callable[[str], None] = print) -> SeedInfo:
    """Replace every lead and event with a fresh seed at `scale` (1.0: 1,000,000 leads and
    10,000,000 events), in one transaction: a failure leaves the database as it was."""
    from scoring.services import ruleset_ensure_published

    leads = max(1, round(LEADS_AT_SCALE_1 * scale))
    events = round(EVENTS_AT_SCALE_1 * scale)
    started = time.monotonic()
    now = datetime.now(UTC).replace(microsecond=0)
    lead_table, event_table = Lead._meta.db_table, EngagementEvent._meta.db_table

    def step(label: str, sql: str, params=None) -> None:
        step_started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        say(f"  {label}: {time.monotonic() - step_started:.1f}s")

    with transaction.atomic():
        version = ruleset_ensure_published().version
        reps = _users()
        with connection.cursor() as cursor:
            # Session settings for the load only (SET LOCAL ends with the transaction).
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cursor.execute("SET LOCAL work_mem = '256MB'")
            if events < 500_000:  # compiling the generator costs more than it saves on a small seed
                cursor.execute("SET LOCAL jit = off")
            cursor.execute("SELECT setseed(0.42)")
        indexes = _secondary_indexes(lead_table) + _secondary_indexes(event_table)
        foreign_keys = [(event_table, *fk) for fk in _foreign_keys(event_table)] + [
            (lead_table, *fk) for fk in _foreign_keys(lead_table)
        ]
        step(f"empty the lead tables ({len(indexes)} secondary indexes, {len(foreign_keys)} foreign keys dropped)",
             f"TRUNCATE {lead_table} RESTART IDENTITY CASCADE; "
             + "".join(f"DROP INDEX {name}; " for name, _ in indexes)
             + "".join(f"ALTER TABLE {table} DROP CONSTRAINT {name}; " for table, name, _ in foreign_keys))  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_plan")  # a seed earlier in the same transaction
        step(f"plan {leads:,} leads and {events:,} events", _plan_sql(), {"now": now, "leads": leads, "events": events})
        other_columns, other_placeholders, other_params = _other_columns(Lead, set(LEAD_COLUMNS))
        step(
            f"insert {leads:,} leads",
            _leads_sql(other_columns, other_placeholders),
            {"now": now, "version": version, "reps": reps, "rep_count": len(reps), **other_params},
        )
        step(f"insert {events:,} events in time order", _events_sql())
        step(
            "reset the lead id sequence",
            f"SELECT setval(pg_get_serial_sequence('{lead_table}', 'id'), (SELECT max(id) FROM {lead_table}))",
        )
        for name, definition in indexes:
            step(f"index {name}", definition)
        for table, name, definition in foreign_keys:
            step(f"foreign key {name}", f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        step(
            "snapshot of the seeded leads' changeable columns",
            f"DROP TABLE IF EXISTS {STATE_TABLE}; CREATE TABLE {STATE_TABLE} AS SELECT {', '.join(STATE_COLUMNS)} "
            f"FROM {lead_table}; ALTER TABLE {STATE_TABLE} ADD PRIMARY KEY (id)",
        )
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {event_table}")
            event_count, max_event_id = cursor.fetchone()
        info = SeedInfo(
            scale=scale, leads=leads, events=event_count, max_lead_id=leads, max_event_id=max_event_id,
            seconds=0.0, seeded_at=now,
        )  # fmt: skip
        _write_marker(info)
    if vacuum:
        step("VACUUM ANALYZE", f"VACUUM ANALYZE {lead_table}, {event_table}")
    else:
        step("ANALYZE", f"ANALYZE {lead_table}, {event_table}")
    info.seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {MARKER_TABLE} SET seconds = %s", [info.seconds])
    return info


# Columns of a seeded lead that the benchmarks change (scores, moves, activity, owners).
STATE_COLUMNS = [
    "id", "stage", "stage_changed_at", "fit_score", "engagement_score", "score", "score_breakdown",
    "score_ruleset_version", "scored_at", "score_stale", "score_stale_since", "owner_id", "claimed_at",
    "updated_at", "last_activity_at", "unsubscribed", "next_step", "next_step_due",
]  # fmt: skip


def reset_to_seed(info: SeedInfo, *, vacuum: bool = True) -> dict[str, int]:
    """Undo what earlier benchmark runs added or changed: rows after the seed go, seeded leads get
    their seeded values back. Returns how many rows of each kind were removed or restored."""
    lead_table, event_table = Lead._meta.db_table, EngagementEvent._meta.db_table
    # Tables the seed leaves empty and the benchmarks fill (submissions, stage changes, handoffs...),
    # and the scoring queue, which names its leads without a foreign key: a run that stops before
    # the worker drained it (--skip scoring) must not leave the next one a backlog of removed leads.
    others = sorted(
        {rel.related_model._meta.db_table for rel in Lead._meta.related_objects} - {event_table}
        | {PendingActivity._meta.db_table},
    )
    counts = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(others)} CASCADE")
        cursor.execute(f"DELETE FROM {event_table} WHERE id > %s", [info.max_event_id])
        counts["events removed"] = cursor.rowcount
        cursor.execute(f"DELETE FROM {lead_table} WHERE id > %s", [info.max_lead_id])
        counts["leads removed"] = cursor.rowcount
        changed = [column for column in STATE_COLUMNS if column != "id"]
        cursor.execute(
            f"UPDATE {lead_table} AS l SET ({', '.join(changed)}) = ({', '.join('s.' + c for c in changed)}) "
            f"FROM {STATE_TABLE} AS s WHERE l.id = s.id AND "
            f"(l.stage, l.score, l.scored_at, l.score_stale, l.owner_id, l.last_activity_at, l.updated_at, "
            f"l.unsubscribed) IS DISTINCT FROM (s.stage, s.score, s.scored_at, s.score_stale, s.owner_id, "
            f"s.last_activity_at, s.updated_at, s.unsubscribed)"
        )
        counts["leads restored"] = cursor.rowcount
        cursor.execute("DELETE FROM leads_apikey WHERE name LIKE 'bench %%'")
    if any(counts.values()):
        with connection.cursor() as cursor:
            cursor.execute(f"{'VACUUM ' if vacuum else ''}ANALYZE {lead_table}, {event_table}")
    return counts


def seed_or_reuse(*, scale: float, reseed: bool, vacuum: bool = True, say: Callable[[str], None] = print) -> SeedInfo:
    """The seed at `scale`: reused (and reset) when the marker says it is there, else made.

    A database holding leads without a marker is not the bench's: refuse to wipe it unless told.
    """
    status = seed_status()
    info, version = status if status else (None, None)
    if (
        info is not None
        and not reseed
        and version == SEEDER_VERSION
        and abs(info.scale - scale) < 1e-12
        and _seed_is_intact(info)
    ):
        counts = reset_to_seed(info, vacuum=vacuum)
        done = ", ".join(f"{count:,} {what}" for what, count in counts.items() if count) or "nothing to undo"
        say(f"Reusing the seed of {info.seeded_at:%Y-%m-%d %H:%M} ({info.leads:,} leads, {info.events:,} events, "
            f"seeded in {info.seconds:.0f}s); reset: {done}")  # fmt: skip
        info.reused = True
        return info
    if info is None and not reseed and Lead.objects.exists():
        raise SystemExit(
            f"The bench database holds {Lead.objects.count():,} leads that the bench did not seed: refusing to "
            "wipe them. Point BENCH_DATABASE_URL at a database of its own, or pass --reseed to replace them."
        )
    say(f"Seeding {round(LEADS_AT_SCALE_1 * scale):,} leads and {round(EVENTS_AT_SCALE_1 * scale):,} events "
        f"(scale {scale:g})")  # fmt: skip
    return seed(scale=scale, vacuum=vacuum, say=say)
