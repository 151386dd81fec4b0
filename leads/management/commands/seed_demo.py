"""`manage.py seed_demo`: demo users (one per role) and a realistic pipeline to explore.

Deterministic (random.Random(seed)) and idempotent: the leads' emails are generated from the
seed, so a second run finds them all and creates nothing; a run with a bigger --leads adds only
the missing ones. Stage moves go through leads.services.lead_transition and claims through
lead_claim, like any other move; only afterwards are the audit rows' times pushed back in bulk
so the history spreads over the last ~120 days. Events are bulk-created and the leads marked
score-stale with lead_mark_score_stale, so the scoring app recomputes them from the events.
"""

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from leads.models import (
    EngagementEvent,
    Handoff,
    HandoffKind,
    Lead,
    Note,
    NoteKind,
    SlaPolicy,
    StageChange,
    Submission,
)
from leads.roles import Role
from leads.services import lead_claim, lead_mark_score_stale, lead_transition
from leads.stages import MARKETING_STAGES, SALES_STAGES, Stage

DEMO_PASSWORD = "leadcrm-demo"
# username, first name, last name, role group
DEMO_USERS = [
    ("marketer", "Maya", "Fischer", Role.MARKETING),
    ("sales", "Daniel", "Okafor", Role.SALES),
    ("sales2", "Priya", "Raman", Role.SALES),
    ("service", "Lucas", "Moreau", Role.SERVICE),
    ("admin", "Alex", "Kim", Role.ADMIN),
]
SALES_REPS = ("sales", "sales2")
HISTORY_DAYS = 120
# Demo SLAs (hours to accept) per handoff kind, set when no SLA policy exists yet.
DEMO_SLA_HOURS = {
    HandoffKind.MARKETING_TO_SALES: 24,
    HandoffKind.PRODUCT_TO_SALES: 48,
    HandoffKind.SERVICE_TO_SALES: 24,
}


def _words(text: str) -> list[str]:
    """A compact word list; an underscore joins a two-word name ("de_Vries")."""
    return [word.replace("_", " ") for word in text.split()]


FIRST_NAMES = _words(
    "Emma Liam Olivia Noah Ava Elijah Sophia Lucas Mia Mateo Amelia Ethan Harper Leo Isabella Oliver "
    "Aisha Omar Fatima Yusuf Hana Kenji Yuki Haruto Mei Wei Li Chen Priya Arjun Ananya Rohan Sofia Diego "
    "Valentina Carlos Lucia Javier Camila Pedro Ingrid Lars Astrid Nils Freya Jonas Lena Felix Anna Paul "
    "Clara Hugo Chloé Louis Manon Jules Giulia Marco Chiara Luca Zofia Jakub Marta Tomasz Aoife Conor "
    "Niamh Sean Grace Daniel Sarah Michael Jessica David Laura James Emily Samuel Rachel Nathan Hannah "
    "Kwame Amara Chidi Zanele Thabo Maria"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Garcia Miller Davis Rodriguez Martinez Wilson Anderson Taylor Thomas "
    "Moore Martin Lee Thompson White Harris Clark Lewis Walker Hall Young King Wright Lopez Hill Scott "
    "Green Adams Baker Nelson Carter Mitchell Müller Schmidt Schneider Fischer Weber Becker Hoffmann "
    "Dubois Laurent Bernard Moreau Lefebvre Rossi Russo Ferrari Bianchi Romano Fernández González Sánchez "
    "Pérez Silva Santos Oliveira Costa Jansen de_Vries van_Dijk Bakker Andersson Johansson Nilsson Larsen "
    "Hansen Nowak Kowalski Wiśniewski O'Brien Murphy Kelly Walsh Patel Sharma Singh Gupta Iyer Nair "
    "Tanaka Suzuki Sato Watanabe Kim Park Choi Nguyen Tran Wang Zhang Liu Okafor Mensah Adeyemi Dlamini "
    "Mbeki Haddad Khalil Cohen Levi"
)
COMPANY_PREFIXES = _words(
    "North Blue Bright Clear Silver Iron Green Swift Summit Harbor Red Pine Stone Atlas Nova Lumen Vertex "
    "Cedar Orbit Polar Quartz Sterling Oak Beacon Crest Delta Echo Falcon Granite Horizon Juniper "
    "Keystone Maple Meridian Nimbus Onyx Prairie River Sable Tidal Union Willow Aurora Cobalt Ember"
)
COMPANY_STEMS = _words("wind peak line path field gate bridge forge wave stack point light works leaf crest view")
# company name suffix -> industry
COMPANY_KINDS = {
    "Analytics": "Software",
    "Software": "Software",
    "Labs": "Software",
    "Cloud": "Software",
    "Systems": "IT Services",
    "Consulting": "Professional Services",
    "Partners": "Professional Services",
    "Logistics": "Logistics",
    "Freight": "Logistics",
    "Health": "Healthcare",
    "Medical": "Healthcare",
    "Capital": "Financial Services",
    "Pay": "Financial Services",
    "Retail": "Retail",
    "Foods": "Food & Beverage",
    "Energy": "Energy",
    "Robotics": "Manufacturing",
    "Manufacturing": "Manufacturing",
    "Media": "Media",
    "Learning": "Education",
}
# (ISO code, weight, top-level domain)
COUNTRIES = [
    ("US", 30, "com"),
    ("GB", 10, "co.uk"),
    ("DE", 9, "de"),
    ("FR", 6, "fr"),
    ("CA", 6, "ca"),
    ("IN", 6, "in"),
    ("NL", 4, "nl"),
    ("AU", 4, "com.au"),
    ("BR", 4, "com.br"),
    ("SE", 3, "se"),
    ("ES", 3, "es"),
    ("IT", 3, "it"),
    ("IE", 2, "ie"),
    ("SG", 2, "sg"),
    ("JP", 2, "jp"),
    ("PL", 2, "pl"),
    ("CH", 2, "ch"),
    ("DK", 1, "dk"),
]
COMPANY_SIZES = [(8, 10), (25, 16), (60, 18), (150, 18), (400, 14), (900, 10), (2500, 8), (8000, 4), (25000, 2)]
JOB_TITLES = [
    ("Marketing Manager", 10),
    ("Head of Growth", 6),
    ("VP Marketing", 5),
    ("Demand Generation Manager", 6),
    ("Marketing Operations Manager", 5),
    ("Chief Marketing Officer", 2),
    ("Content Marketing Manager", 4),
    ("Revenue Operations Lead", 4),
    ("Sales Director", 4),
    ("Head of Sales", 3),
    ("Account Executive", 3),
    ("CEO", 3),
    ("Founder", 3),
    ("CTO", 2),
    ("Product Manager", 4),
    ("Customer Success Manager", 3),
    ("Operations Manager", 3),
    ("IT Manager", 2),
    ("Marketing Coordinator", 4),
    ("Consultant", 2),
    ("Software Engineer", 2),
    ("Student", 1),
]
# source -> (weight, [(utm_source, utm_medium, utm_campaign), ...])
SOURCES = {
    "organic_search": (18, [("google", "organic", "")]),
    "paid_search": (14, [("google", "cpc", "brand-search-2026"), ("google", "cpc", "competitor-keywords-q4")]),
    "paid_social": (
        12,
        [("linkedin", "paid_social", "abm-enterprise-q4"), ("linkedin", "paid_social", "ebook-b2b-benchmarks")],
    ),
    "content": (12, [("blog", "content", "ebook-b2b-benchmarks"), ("blog", "content", "guide-lead-scoring")]),
    "webinar": (8, [("zoom", "webinar", "webinar-scoring-101"), ("zoom", "webinar", "webinar-revops-roundtable")]),
    "email": (8, [("newsletter", "email", "newsletter-october"), ("newsletter", "email", "newsletter-november")]),
    "referral": (6, [("partner-portal", "referral", "partner-referral-program")]),
    "event": (5, [("saastr", "event", "saastr-europa-2026"), ("web-summit", "event", "web-summit-2026")]),
    "free_trial": (10, [("website", "product", "free-trial-launch")]),
    "website": (7, [("", "", "")]),
}
FREE_EMAIL_DOMAINS = ["gmail.com", "outlook.com", "proton.me"]
BLOG_PAGES = [
    "/blog/what-is-an-mql",
    "/blog/lead-scoring-models",
    "/blog/b2b-funnel-benchmarks-2026",
    "/blog/sales-marketing-sla",
    "/blog/utm-naming-conventions",
    "/customers/northwind",
    "/features/scoring",
    "/features/handoffs",
    "/integrations",
]
ASSETS = ["ebook-b2b-benchmarks-2026", "guide-lead-scoring", "checklist-sla-handoffs", "report-state-of-revops"]
WEBINARS = ["Lead scoring 101", "RevOps roundtable: MQL to SQL", "From trial to paid: PQL playbook"]
EMAIL_CAMPAIGNS = ["newsletter-october", "newsletter-november", "nurture-scoring-1", "nurture-scoring-2"]
FEATURES = ["scoring_rules", "sales_queue", "csv_import", "api_keys", "reports", "webhooks"]
FORMS = {
    "content": "Ebook download",
    "webinar": "Webinar registration",
    "free_trial": "Free trial signup",
    "email": "Newsletter signup",
    "event": "Event badge scan",
    "paid_search": "Contact us",
    "paid_social": "Ebook download",
}

# Final stage -> weight. The path to each is chosen in _plan_path.
STAGE_WEIGHTS = [
    (Stage.LEAD, 38),
    (Stage.MQL, 22),
    (Stage.SQL, 9),
    (Stage.PQL, 6),
    (Stage.CUSTOMER, 11),
    (Stage.SERVICE_QUALIFIED, 3),
    (Stage.DISQUALIFIED, 11),
]
DISQUALIFY_REASONS = [
    "Student, not a buyer",
    "Competitor researching us",
    "No budget this year",
    "Company too small for our plans",
    "Duplicate of an existing contact",
    "Unresponsive after 5 attempts",
]
RECYCLE_REASONS = [
    "Not ready to buy: revisit next quarter",
    "Evaluating in Q2, keep nurturing",
    "Champion left the company",
]
WIN_REASONS = ["Closed won: annual plan", "Closed won: team plan", "Closed won: enterprise, 3 years"]
UPGRADE_REASONS = [
    "Wants 20 more seats for the EU team",
    "Asked about the enterprise SSO add-on",
    "Hitting the API limit every month",
]
UPGRADE_WIN_REASONS = ["Upgrade closed: 20 more seats", "Upgrade closed: enterprise SSO add-on"]
NOTE_BODIES = [
    "Intro call booked for Thursday. Interested in scoring and SLAs.",
    "Sent pricing and a case study. Decision maker is the VP Marketing.",
    "Left a voicemail, will follow up by email.",
    "Demo went well; they want a trial for the whole team.",
    "Procurement needs a security questionnaire before signing.",
    "Budget approved for next quarter.",
]


@dataclass
class Step:
    """One thing that happens to a planned lead: a stage move or a claim, at a time."""

    at: datetime
    to_stage: str = ""  # empty: a claim
    actor: str = ""  # a demo username, or empty for an automatic move
    actor_label: str = ""
    reason: str = ""


@dataclass
class Plan:
    lead: Lead
    created: datetime  # kept apart: bulk_create stamps auto_now_add fields with "now"
    final_stage: Stage
    steps: list[Step] = field(default_factory=list)
    events: list[tuple[str, datetime, dict]] = field(default_factory=list)
    form: str = ""
    keep_in_queue: bool = False  # never claimed: the demo's sales queue is never empty


def _backdate(model, objects, fields: list[str]) -> None:
    """Write the planned timestamps of rows this command just created.

    Plain UPDATE ... WHERE id = %s with executemany: bulk_update() builds CASE expressions whose
    compilation took most of the command's time for a few thousand rows. Only timestamps are
    written here, never a stage or an owner, so no rule of the services is bypassed.
    """
    ops = connection.ops
    columns = [model._meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{ops.quote_name(column.column)} = %s" for column in columns)
    sql = f"UPDATE {ops.quote_name(model._meta.db_table)} SET {assignments} WHERE id = %s"
    params = [[*(ops.adapt_datetimefield_value(getattr(obj, name)) for name in fields), obj.pk] for obj in objects]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _at(event: tuple) -> datetime:
    return event[1]


def _weighted(rng: random.Random, pairs):
    items, weights = zip(*pairs, strict=True)
    return rng.choices(items, weights=weights, k=1)[0]


class Command(BaseCommand):
    help = "Create demo users (one per role) and a realistic demo pipeline. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=2000, help="How many demo leads (default 2000).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed: the same seed, the same data.")

    def handle(self, *args, leads: int, seed: int, **options):
        if leads < 0:
            raise CommandError("--leads must be zero or more.")
        started = time.monotonic()
        now = timezone.now().replace(microsecond=0)
        with transaction.atomic():
            users = self._users()
            for kind, hours in DEMO_SLA_HOURS.items():
                SlaPolicy.objects.get_or_create(kind=kind, defaults={"hours_to_accept": hours})
            plans = self._plan(seed, leads, now)
            existing = set(
                Lead.objects.filter(email__in=[plan.lead.email for plan in plans]).values_list("email", flat=True)
            )
            plans = [plan for plan in plans if plan.lead.email not in existing]
            if plans:
                self._write(plans, users, now)
        counts = dict.fromkeys(Stage, 0)
        for stage in Lead.objects.values_list("stage", flat=True):
            counts[Stage(stage)] += 1
        summary = ", ".join(f"{stage.label} {counts[stage]}" for stage in Stage)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {len(plans)} new lead(s), {len(existing)} already there "
                f"({time.monotonic() - started:.1f}s). Pipeline: {summary}."
            )
        )
        self.stdout.write(f"Demo logins (password {DEMO_PASSWORD}): " + ", ".join(u[0] for u in DEMO_USERS))

    # ---- Users ----------------------------------------------------------------------------

    def _users(self) -> dict:
        User = get_user_model()
        users = {}
        for username, first, last, role in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last, "email": f"{username}@leadcrm.example"},
            )
            if created:
                # Only on creation: a second run never resets a password someone changed.
                user.set_password(DEMO_PASSWORD)
                if role == Role.ADMIN:
                    user.is_staff = user.is_superuser = True
                user.save()
            try:
                group = Group.objects.get(name=role.value)
            except Group.DoesNotExist:
                raise CommandError(f"The role group {role.value!r} is missing: run `manage.py migrate`.") from None
            user.groups.add(group)
            users[username] = user
        return users

    # ---- Planning (pure: no database) -------------------------------------------------------

    def _companies(self, rng: random.Random) -> list[dict]:
        companies, seen = [], set()
        kinds = list(COMPANY_KINDS)
        while len(companies) < 420:
            base = rng.choice(COMPANY_PREFIXES) + rng.choice(COMPANY_STEMS)
            kind = rng.choice(kinds)
            if base in seen:
                continue
            seen.add(base)
            country, _, tld = _weighted(rng, [((c, w, t), w) for c, w, t in COUNTRIES])
            if rng.random() < 0.5:
                tld = "io" if COMPANY_KINDS[kind] == "Software" else "com"
            companies.append(
                {
                    "name": f"{base} {kind}",
                    "domain": f"{base.lower()}.{tld}",
                    "industry": COMPANY_KINDS[kind],
                    "size": _weighted(rng, COMPANY_SIZES),
                    "country": country,
                }
            )
        return companies

    def _plan(self, seed: int, count: int, now: datetime) -> list[Plan]:
        companies = self._companies(random.Random(seed))
        emails: set[str] = set()
        plans = []
        for index in range(count):
            # One generator per lead: lead n is the same whatever --leads says, so a bigger run
            # only adds leads, and no decision of one lead shifts the dice of the next.
            rng = random.Random(f"{seed}:{index}")
            company = rng.choice(companies)
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            domain = company["domain"] if rng.random() > 0.06 else rng.choice(FREE_EMAIL_DOMAINS)
            local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
            local = local.translate(str.maketrans("éáíóúüöäśńł", "eaiouuoasnl"))
            email, n = f"{local}@{domain}", 1
            while email in emails:
                n += 1
                email = f"{local}{n}@{domain}"
            emails.add(email)
            source = _weighted(rng, [(name, weight) for name, (weight, _) in SOURCES.items()])
            utm_source, utm_medium, utm_campaign = rng.choice(SOURCES[source][1])
            # Newer leads are more frequent than old ones, as in a growing funnel.
            age = timedelta(seconds=HISTORY_DAYS * 86400 * rng.random() ** 1.3)
            created = now - age
            lead = Lead(
                email=email,
                first_name=first,
                last_name=last,
                company=company["name"],
                company_domain=company["domain"],
                job_title=_weighted(rng, JOB_TITLES),
                phone=f"+1 555 01{rng.randint(0, 99):02d}" if rng.random() < 0.4 else "",
                country=company["country"],
                industry=company["industry"],
                company_size=company["size"],
                source=source,
                utm_source=utm_source,
                utm_medium=utm_medium,
                utm_campaign=utm_campaign,
                consent=rng.random() < 0.8,
                created_at=created,
                stage_changed_at=created,
            )
            if lead.consent:
                lead.consent_at = created
            final = _weighted(rng, STAGE_WEIGHTS)
            forced = index < len(Stage)
            if forced:
                final = list(Stage)[index]  # even a tiny demo shows every stage, and a queue
            elif lead.job_title == "Student":
                final = Stage.DISQUALIFIED
            plan = Plan(lead=lead, created=created, final_stage=final, form=FORMS.get(source, ""), keep_in_queue=forced)
            self._plan_path(rng, plan, now)
            self._plan_events(rng, plan, now)
            plans.append(plan)
        return plans

    def _plan_path(self, rng: random.Random, plan: Plan, now: datetime) -> None:
        """The moves (and claims) that take the lead to its final stage, at increasing times."""
        final = plan.final_stage
        rep = rng.choice(SALES_REPS)
        if final == Stage.LEAD:
            return
        if final == Stage.MQL:
            path = ["mql"] if rng.random() < 0.85 else ["mql", "sql", "claim", "recycle"]
        elif final == Stage.SQL:
            path = [*rng.choice([["mql", "sql"], ["mql", "sql"], ["sql"]]), "claim?"]
        elif final == Stage.PQL:
            path = [*rng.choice([["pql"], ["pql"], ["mql", "pql"]]), "claim?"]
        elif final in (Stage.CUSTOMER, Stage.SERVICE_QUALIFIED):
            path = [*rng.choice([["mql", "sql"], ["mql", "sql"], ["sql"], ["pql"]]), "claim", "customer"]
            upgraded = rng.random() < 0.15
            if final == Stage.CUSTOMER and upgraded:
                path += ["service_qualified", "claim", "upgrade_won"]
            if final == Stage.SERVICE_QUALIFIED:
                path += ["service_qualified", "claim?"]
        else:
            path = rng.choice([["disqualify"], ["disqualify"], ["mql", "disqualify"], ["mql", "sql", "claim", "dq"]])

        created = plan.created
        span = (now - created).total_seconds()
        # Times for each step, spread over the lead's life and ordered; a short first delay.
        fractions = sorted(rng.uniform(0.05, 0.95) for _ in path)
        times = [created + timedelta(seconds=span * f) for f in fractions]
        last_stage = Stage.LEAD
        for index, (name, at) in enumerate(zip(path, times, strict=True)):
            if name in ("claim", "claim?"):
                # A rep claims within hours of the handoff (before the next move); the newest stay
                # in the queue, and a few old ones too: they are the SLA breaches.
                opened = plan.steps[-1].at
                next_at = times[index + 1] if index + 1 < len(times) else now
                delay = timedelta(hours=rng.choice([0.5, 1, 2, 3, 5, 8, 14, 20, 30, 40]))
                left_waiting = rng.random() < 0.08
                if name == "claim?" and (now - opened < timedelta(hours=36) or left_waiting or plan.keep_in_queue):
                    continue
                at = min(opened + delay, opened + (next_at - opened) / 2)
                plan.steps.append(Step(at=at, actor=rep))
                continue
            if name == "mql":
                step = (
                    Step(at, Stage.MQL, actor_label="scoring", reason="Score reached the MQL threshold")
                    if rng.random() < 0.7
                    else Step(at, Stage.MQL, actor="marketer", reason="Attended the webinar, good fit")
                )
            elif name == "sql":
                step = (
                    Step(at, Stage.SQL, actor_label="api:website", reason="Requested a demo")
                    if last_stage == Stage.LEAD or rng.random() < 0.4
                    else Step(at, Stage.SQL, actor="marketer", reason="Pricing page three times this week; fits ICP")
                )
            elif name == "pql":
                step = Step(at, Stage.PQL, actor_label="scoring", reason="Product usage past the PQL threshold")
            elif name == "customer":
                step = Step(at, Stage.CUSTOMER, actor=rep, reason=rng.choice(WIN_REASONS))
            elif name == "upgrade_won":
                step = Step(at, Stage.CUSTOMER, actor=rep, reason=rng.choice(UPGRADE_WIN_REASONS))
            elif name == "service_qualified":
                step = Step(at, Stage.SERVICE_QUALIFIED, actor="service", reason=rng.choice(UPGRADE_REASONS))
            elif name == "recycle":
                step = Step(at, Stage.MQL, actor=rep, reason=rng.choice(RECYCLE_REASONS))
            elif name == "dq":
                step = Step(at, Stage.DISQUALIFIED, actor=rep, reason=rng.choice(DISQUALIFY_REASONS[2:]))
            else:  # disqualify by marketing
                reasons = DISQUALIFY_REASONS[:2] if plan.lead.job_title == "Student" else DISQUALIFY_REASONS
                step = Step(at, Stage.DISQUALIFIED, actor="marketer", reason=rng.choice(reasons))
            plan.steps.append(step)
            last_stage = step.to_stage

    def _plan_events(self, rng: random.Random, plan: Plan, now: datetime) -> None:
        """An engagement history that explains the path: content first, intent before the moves."""
        created = plan.created
        events = plan.events

        def at_between(start: datetime, end: datetime) -> datetime:
            end = max(end, start + timedelta(minutes=1))
            return start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))

        def page(at):
            events.append(("page_view", at, {"url": rng.choice(BLOG_PAGES)}))

        intensity = {
            Stage.LEAD: (1, 5),
            Stage.MQL: (5, 14),
            Stage.SQL: (7, 16),
            Stage.PQL: (6, 12),
            Stage.CUSTOMER: (8, 18),
            Stage.SERVICE_QUALIFIED: (10, 20),
            Stage.DISQUALIFIED: (1, 6),
        }[plan.final_stage]
        if plan.form:
            events.append(("form_submitted", created, {"form": plan.form}))
        for _ in range(rng.randint(*intensity)):
            at = at_between(created, now)
            kind = rng.random()
            if kind < 0.45:
                page(at)
            elif kind < 0.7:
                events.append(("email_open", at, {"campaign": rng.choice(EMAIL_CAMPAIGNS)}))
            elif kind < 0.82:
                events.append(("email_click", at, {"campaign": rng.choice(EMAIL_CAMPAIGNS)}))
            elif kind < 0.92:
                events.append(("content_download", at, {"asset": rng.choice(ASSETS)}))
            else:
                webinar = rng.choice(WEBINARS)
                events.append(("webinar_registered", at, {"webinar": webinar}))
                if rng.random() < 0.6:
                    events.append(("webinar_attended", at + timedelta(days=2), {"webinar": webinar}))
        for step in plan.steps:
            before = step.at - timedelta(minutes=rng.randint(5, 600))
            before = max(before, created)
            if step.to_stage == Stage.MQL and step.actor_label == "scoring":
                events.append(("pricing_page_view", before, {"url": "/pricing"}))
            elif step.to_stage == Stage.SQL:
                events.append(("pricing_page_view", before - timedelta(hours=1), {"url": "/pricing"}))
                events.append((rng.choice(["demo_request", "contact_sales"]), before, {"form": "Book a demo"}))
            elif step.to_stage == Stage.PQL:
                start = max(created, step.at - timedelta(days=rng.randint(5, 20)))
                events.append(("trial_started", start, {"plan": "team-trial"}))
                for day in range(rng.randint(3, 12)):
                    events.append(("product_active_day", start + timedelta(days=day, hours=3), {}))
                for feature in rng.sample(FEATURES, rng.randint(2, 4)):
                    events.append(("feature_used", at_between(start, step.at), {"feature": feature}))
                if rng.random() < 0.5:
                    events.append(("usage_limit_reached", before, {"limit": "seats"}))
            elif step.to_stage == Stage.SERVICE_QUALIFIED:
                events.append(("upgrade_interest", before, {"via": "support ticket"}))
        plan.events = sorted(((kind, max(created, min(at, now)), props) for kind, at, props in events), key=_at)

    # ---- Writing ----------------------------------------------------------------------------

    def _write(self, plans: list[Plan], users: dict, now: datetime) -> None:
        leads = Lead.objects.bulk_create([plan.lead for plan in plans], batch_size=500)
        for plan, lead in zip(plans, leads, strict=True):
            plan.lead = lead
            plan.lead.last_activity_at = max((at for _, at, _ in plan.events), default=None)
        # created_at is auto_now_add: bulk_create stamped "now", so put the planned times back.
        for plan in plans:
            plan.lead.created_at = plan.lead.stage_changed_at = plan.created
        _backdate(Lead, leads, ["created_at", "stage_changed_at", "last_activity_at"])

        events = EngagementEvent.objects.bulk_create(
            [
                EngagementEvent(lead=plan.lead, event_type=kind, occurred_at=at, properties=props, source="demo")
                for plan in plans
                for kind, at, props in plan.events
            ],
            batch_size=1000,
        )
        # Received when they happened: scoring treats events received after the last stage change
        # as fresh intent, and a demo history must not look like a burst that arrived just now.
        for event in events:
            event.received_at = event.occurred_at
        _backdate(EngagementEvent, events, ["received_at"])
        submissions = Submission.objects.bulk_create(
            [
                Submission(
                    lead=plan.lead,
                    form_name=plan.form,
                    payload={
                        "email": plan.lead.email,
                        "first_name": plan.lead.first_name,
                        "last_name": plan.lead.last_name,
                        "company": plan.lead.company,
                        "utm_campaign": plan.lead.utm_campaign,
                    },
                    page_url=f"https://www.leadcrm.example/{plan.form.lower().replace(' ', '-')}",
                    submitted_at=plan.created,
                    created_lead=True,
                )
                for plan in plans
                if plan.form
            ],
            batch_size=500,
        )
        for submission in submissions:
            submission.received_at = submission.submitted_at
        _backdate(Submission, submissions, ["received_at"])

        self._apply_steps(plans, users, now)
        self._notes(plans, users, now)
        lead_mark_score_stale(lead_ids=[plan.lead.pk for plan in plans])

    def _apply_steps(self, plans: list[Plan], users: dict, now: datetime) -> None:
        """Every move through lead_transition, every claim through lead_claim; then backdate."""
        change_times: list[StageChange] = []
        handoff_times: dict[int, Handoff] = {}
        lead_times: list[Lead] = []
        sla_hours = dict(SlaPolicy.objects.values_list("kind", "hours_to_accept"))
        for plan in plans:
            if not plan.steps:
                continue
            open_handoff: Handoff | None = None
            claimed_at = None
            for step in plan.steps:
                actor = users.get(step.actor)
                if not step.to_stage:
                    lead_claim(lead_id=plan.lead.pk, user=actor)
                    if open_handoff is not None:
                        open_handoff.decided_at = step.at
                        open_handoff = None
                    claimed_at = step.at
                    continue
                result = lead_transition(
                    lead_id=plan.lead.pk,
                    to_stage=step.to_stage,
                    actor=actor,
                    actor_label=step.actor_label,
                    reason=step.reason,
                )
                change_times.append(StageChange(pk=result.change.pk, created_at=step.at))
                leaves_sales = step.to_stage not in SALES_STAGES
                if open_handoff is not None and (leaves_sales or result.handoff is not None):
                    open_handoff.decided_at = step.at  # settled by the move (won, rejected, cancelled)
                    open_handoff = None
                if result.handoff is not None:
                    # The deadline the SLA policy gives, counted from the planned opening time.
                    hours = sla_hours.get(result.handoff.kind)
                    open_handoff = Handoff(
                        pk=result.handoff.pk,
                        opened_at=step.at,
                        due_at=step.at + timedelta(hours=hours) if hours is not None else None,
                        decided_at=None,
                    )
                    handoff_times[open_handoff.pk] = open_handoff
                if step.to_stage in MARKETING_STAGES or step.to_stage == Stage.DISQUALIFIED or result.handoff:
                    claimed_at = None
            lead_times.append(Lead(pk=plan.lead.pk, stage_changed_at=plan.steps[-1].at, claimed_at=claimed_at))
            # A claim as the last step does not change the stage: the time is the last move's.
            moves = [step for step in plan.steps if step.to_stage]
            lead_times[-1].stage_changed_at = moves[-1].at
        _backdate(StageChange, change_times, ["created_at"])
        _backdate(Handoff, list(handoff_times.values()), ["opened_at", "due_at", "decided_at"])
        _backdate(Lead, lead_times, ["stage_changed_at", "claimed_at"])

    def _notes(self, plans: list[Plan], users: dict, now: datetime) -> None:
        notes, times = [], []
        rng = random.Random(len(plans))
        for plan in plans:
            claims = [step for step in plan.steps if not step.to_stage]
            if not claims or rng.random() < 0.4:
                continue
            claim = claims[0]
            for i in range(rng.randint(1, 3)):
                times.append(min(now, claim.at + timedelta(hours=2 + 20 * i)))
                notes.append(
                    Note(
                        lead=plan.lead,
                        author=users[claim.actor],
                        kind=rng.choice([NoteKind.NOTE, NoteKind.CALL, NoteKind.EMAIL]),
                        body=rng.choice(NOTE_BODIES),
                    )
                )
        created = Note.objects.bulk_create(notes, batch_size=500)
        for note, at in zip(created, times, strict=True):
            note.created_at = at
        _backdate(Note, created, ["created_at"])
