from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Concat, Lower, Upper
from django.utils import timezone

from .stages import STAGE_CHOICES, Stage


def normalize_email(value: str) -> str:
    """The identity of a lead: case and surrounding white space never make a second lead."""
    return (value or "").strip().lower()


def email_domain(email: str) -> str:
    return email.rpartition("@")[2] if "@" in email else ""


class Team(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    SALES = "sales", "Sales"
    SERVICE = "service", "Service"
    PRODUCT = "product", "Product"


class Lead(models.Model):
    # On PostgreSQL, unique=True also makes Django add a varchar_pattern_ops "_like" index; no query
    # needs it (email search is the text search's, served by lead_stage_search_trgm_idx;
    # nothing runs LIKE 'x%' on emails), so migration 0015 drops it: one index fewer written by every
    # non-HOT lead update.
    # An AlterField of email would create it again: drop it again in that migration.
    email = models.EmailField(max_length=254, unique=True, help_text="Stored normalized: trimmed, lower case.")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=200, blank=True)
    company_domain = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code.")
    industry = models.CharField(max_length=100, blank=True)
    company_size = models.PositiveIntegerField(null=True, blank=True, help_text="Number of employees.")

    source = models.CharField(max_length=100, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)

    consent = models.BooleanField(default=False, help_text="Consent to marketing communication.")
    consent_at = models.DateTimeField(null=True, blank=True)
    unsubscribed = models.BooleanField(default=False)

    # Only the transition service (leads.services.lead_transition) writes stage.
    stage = models.CharField(max_length=20, choices=STAGE_CHOICES, default=Stage.LEAD)
    stage_changed_at = models.DateTimeField(auto_now_add=True)

    # Score fields are written by the scoring app. score_stale is what readers see ("being
    # rescored"); the worker finds its work in the pending-activity queue, which every mark also
    # writes, in the same transaction (leads.services.lead_mark_score_stale): no index names
    # score_stale, so a rescore that clears it and leaves the score alone is a HOT update.
    fit_score = models.IntegerField(default=0)
    engagement_score = models.IntegerField(default=0)
    score = models.IntegerField(default=0)
    score_breakdown = models.JSONField(default=list, blank=True)
    score_ruleset_version = models.PositiveIntegerField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    score_stale = models.BooleanField(default=False)
    score_stale_since = models.DateTimeField(null=True, blank=True)

    # PROTECT: deleting a rep would silently drop their sales-stage leads out of every queue.
    # A leaving rep is off-boarded instead (leads.services.rep_offboard: leads back to the queue,
    # account deactivated); a user who still owns leads cannot be deleted.
    # No index of its own (db_index=False): lead_owner_stage_idx and lead_owner_next_step_idx
    # start with owner and serve every owner lookup, and each index is one more entry written by
    # every lead update that is not HOT (an event batch touches ~1,000 leads; migration 0015).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_leads",
        db_index=False,
    )
    claimed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # The owner's next step (sales workspace, "My leads" sorts by how urgent it is).
    next_step = models.CharField(max_length=200, blank=True)
    next_step_due = models.DateField(null=True, blank=True)
    # What the text search tests (leads.text_search): the searched columns joined by spaces, upper
    # case. Stored, so that a search walking the newest leads tests one LIKE per row instead of
    # building and upper-casing the text for each; lead_stage_search_trgm_idx indexes it
    # (migration 0020). The database writes it: inserts with explicit columns must leave it out
    # (field.generated).
    search_text = models.GeneratedField(
        expression=Upper(
            Concat(
                "first_name",
                models.Value(" "),
                "last_name",
                models.Value(" "),
                "email",
                models.Value(" "),
                "company",
                output_field=models.TextField(),
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
    )

    class Meta:
        indexes = [
            # List pages filter by stage and sort by score / recency / activity with id as the
            # keyset tie-breaker: each sort has its index so deep pages stay cheap.
            models.Index(fields=["stage", "-score", "-id"], name="lead_stage_score_idx"),
            models.Index(fields=["stage", "-created_at", "-id"], name="lead_stage_created_idx"),
            # The MQL list's usual narrowing (source and country, by score): the page is an index
            # range in list order and the capped count an index-only scan. Without it PostgreSQL
            # took the facets' GIN bitmap and visited every match on the heap twice (page, count):
            # 16 ms against 0.5 ms at 1,000,000 leads (issue 9).
            models.Index(fields=["stage", "source", "country", "-score", "-id"], name="lead_stage_src_ctry_score_idx"),
            # Last activity sorts put the leads without any last, in both directions. On PostgreSQL
            # these two are created DESC NULLS LAST (migration 0012; SQLite has no NULLS LAST in an
            # index) so that the order and its index agree: PostgreSQL's DESC alone means NULLS
            # FIRST. The lists walk the rows with a value, then those without (by id).
            models.Index(fields=["stage", "-last_activity_at", "-id"], name="lead_stage_activity_idx"),
            models.Index(fields=["-last_activity_at", "-id"], name="lead_activity_idx"),
            models.Index(fields=["-score", "-id"], name="lead_score_idx"),
            models.Index(fields=["-created_at", "-id"], name="lead_created_idx"),
            models.Index(fields=["company_size"], name="lead_size_idx"),
            models.Index(fields=["owner", "stage"], name="lead_owner_stage_idx"),
            # My leads: a rep's leads by the due date of their next step.
            models.Index(fields=["owner", "next_step_due", "id"], name="lead_owner_next_step_idx"),
            models.Index(fields=["source"], name="lead_source_idx"),
            models.Index(fields=["utm_campaign"], name="lead_campaign_idx"),
            models.Index(fields=["country"], name="lead_country_idx"),
            models.Index(fields=["industry"], name="lead_industry_idx"),
            models.Index(fields=["company_domain"], name="lead_domain_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="lead_email_lowercase"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def save(self, *args, **kwargs):
        # Normalization is part of the identity, not business logic: enforce it on every path.
        self.email = normalize_email(self.email)
        if not self.company_domain and self.email:
            self.company_domain = email_domain(self.email)
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def stage_label(self) -> str:
        return Stage(self.stage).label


class StageChange(models.Model):
    """The audit row of every move, written in the transaction that makes it."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=20, choices=STAGE_CHOICES)
    to_stage = models.CharField(max_length=20, choices=STAGE_CHOICES)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Who moved it when no person did: "scoring", "api:<key name>", "import", "system".
    actor_label = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-created_at"], name="stagechange_lead_idx"),
            # Reports count moves into a stage over a period.
            models.Index(fields=["to_stage", "created_at"], name="stagechange_to_stage_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage} -> {self.to_stage}"

    @property
    def actor_display(self) -> str:
        if self.actor_id:
            return self.actor.get_full_name() or self.actor.get_username()
        return self.actor_label or "system"


class HandoffKind(models.TextChoices):
    MARKETING_TO_SALES = "marketing_to_sales", "Marketing → Sales"
    PRODUCT_TO_SALES = "product_to_sales", "Product → Sales"
    SERVICE_TO_SALES = "service_to_sales", "Service → Sales"


class HandoffStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class Handoff(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="handoffs")
    kind = models.CharField(max_length=30, choices=HandoffKind.choices)
    from_team = models.CharField(max_length=20, choices=Team.choices)
    to_team = models.CharField(max_length=20, choices=Team.choices, default=Team.SALES)
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=HandoffStatus.choices, default=HandoffStatus.OPEN)
    opened_at = models.DateTimeField(auto_now_add=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_by_label = models.CharField(max_length=100, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, help_text="When it must be accepted (the SLA).")
    # Routing may offer the handoff to one rep before anyone claims it.
    offered_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Only that rep (or an admin) may claim it until then; past it any rep may. Empty with an
    # offer: no SLA deadline, the offer stands until the rep passes it back.
    offered_until = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    sla_breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["status", "due_at"], name="handoff_status_due_idx"),
            # A lead's handoffs newest first and the admin's list, each in its full order (id breaks ties).
            models.Index(fields=["lead", "-opened_at", "-id"], name="handoff_lead_opened_idx"),
            models.Index(fields=["-opened_at", "-id"], name="handoff_opened_idx"),
        ]
        constraints = [
            # At most one open handoff per lead: the queue never shows a lead twice.
            models.UniqueConstraint(fields=["lead"], condition=Q(status="open"), name="handoff_one_open_per_lead"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for lead {self.lead_id} ({self.status})"


class NoteKind(models.TextChoices):
    NOTE = "note", "Note"
    CALL = "call", "Call"
    EMAIL = "email", "Email"


class Note(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=10, choices=NoteKind.choices, default=NoteKind.NOTE)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="note_lead_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on lead {self.lead_id}"


class Submission(models.Model):
    """A form submission stored exactly as received, next to the lead it created or updated."""

    lead = models.ForeignKey(Lead, null=True, on_delete=models.SET_NULL, related_name="submissions")
    # No index of its own: submission_form_idx starts with it (the admin's filter, DISTINCT).
    form_name = models.CharField(max_length=200)
    payload = models.JSONField(help_text="The raw body as received.")
    page_url = models.URLField(max_length=2000, blank=True)
    submitted_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    api_key = models.ForeignKey("ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_lead = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["form_name", "-received_at"], name="submission_form_idx")]

    def __str__(self) -> str:
        return f"{self.form_name} at {self.received_at:%Y-%m-%d %H:%M}"


class EventType(models.TextChoices):
    PAGE_VIEW = "page_view", "Page view"
    EMAIL_OPEN = "email_open", "Email open"
    EMAIL_CLICK = "email_click", "Email click"
    CONTENT_DOWNLOAD = "content_download", "Content download"
    WEBINAR_REGISTERED = "webinar_registered", "Webinar registered"
    WEBINAR_ATTENDED = "webinar_attended", "Webinar attended"
    FORM_SUBMITTED = "form_submitted", "Form submitted"
    PRICING_PAGE_VIEW = "pricing_page_view", "Pricing page view"
    DEMO_REQUEST = "demo_request", "Demo request"
    CONTACT_SALES = "contact_sales", "Contact sales"
    TRIAL_STARTED = "trial_started", "Trial started"
    PRODUCT_ACTIVE_DAY = "product_active_day", "Product active day"
    FEATURE_USED = "feature_used", "Feature used"
    USAGE_LIMIT_REACHED = "usage_limit_reached", "Usage limit reached"
    UPGRADE_INTEREST = "upgrade_interest", "Upgrade interest"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"


class EngagementEvent(models.Model):
    """One thing a lead did. Scores are always recomputed from these rows, never incremented."""

    # No index of its own (db_index=False): event_lead_time_id_idx starts with lead and serves the
    # lookups by lead (scoring, the cascade, merges) as well; one index fewer per inserted event.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events", db_index=False)
    # Not limited to EventType: custom types that scoring rules refer to are allowed.
    event_type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=100, blank=True, help_text="The integration that sent it.")
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 (NULL: no id, never a duplicate)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        # A lead's events in the list's full order (-occurred_at, -id): keyset pages walk it.
        indexes = [models.Index(fields=["lead", "-occurred_at", "-id"], name="event_lead_time_id_idx")]
        constraints = [
            # An external id makes an event idempotent per source: a resend is a duplicate.
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="event_unique_external_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} for lead {self.lead_id}"


class PendingActivity(models.Model):
    """New events not yet scored: an append-only queue, a row per write of events.

    An event batch appends one of these (every lead it names, with the latest time of its events)
    in the events' transaction, instead of updating up to a thousand lead rows: each such update
    rewrites the row and an entry in each of the lead's ~20 indexes, and waits on any lead a
    scoring worker holds. The scoring worker takes queue rows, scores their leads and moves their
    last_activity_at in one write per lead (leads.activity.pending_activity_take). Stale marks
    (leads.services.lead_mark_score_stale) append rows too, with no activity time: the queue is
    where the worker and the sweeper find all their work. Rows are only inserted and deleted: a
    worker that dies rolls its take back, and the sweeper drains what a lost nudge left behind.
    """

    # [{"l": lead id, "a": latest occurred_at}, ...], "a" absent for a mark, and in a row a take put
    # back, "o": the id of the row the lead first came in (leads.activity._TAKE_SQL). No foreign key (the
    # events' own foreign key checked the leads; an erased or merged-away lead's entries are simply
    # skipped). PostgreSQL indexes it with GIN (jsonb_path_ops, migration 0016) for "is this lead
    # queued?".
    activity = models.JSONField()
    lead_count = models.PositiveIntegerField(help_text="Entries in activity: how many leads the row names.")
    queued_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Pending activity of {len(self.activity)} lead(s), queued {self.queued_at:%Y-%m-%d %H:%M:%S}"


class ApiKey(models.Model):
    """A key an integration sends as `Authorization: Bearer <key>`; only its hash is stored."""

    class Scope(models.TextChoices):
        SUBMIT = "submit", "Submit submissions and events"
        READ = "read", "Read leads and the pipeline"
        WRITE = "write", "Move leads"

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="The key's first characters, to find it.")
    key_hash = models.CharField(max_length=64, help_text="SHA-256 of the whole key.")
    scopes = models.JSONField(default=list)
    # A form-scoped public key may only post submissions for this form (for plain HTML forms).
    form_name = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="personal_tokens",
        help_text="Set for a person's personal token: the key acts as that user.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first answer to a request sent with an Idempotency-Key, replayed on retries."""

    scope = models.CharField(max_length=100, help_text="Who sent it: the key or user it belongs to.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


# ---- Sales and service workspaces (issue 6): SLAs, notifications, upgrade flags, routing -------


class SlaPolicy(models.Model):
    """How long sales has to accept a handoff of one kind. Edited by admins; no row: no deadline."""

    kind = models.CharField(max_length=30, choices=HandoffKind.choices, unique=True)
    hours_to_accept = models.PositiveIntegerField(help_text="Hours from opening to acceptance.")

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.hours_to_accept} h"


class Notification(models.Model):
    """An in-app message to one person, shown in the top bar until read."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    handoff = models.ForeignKey(Handoff, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # The lead the text names: erasing the lead (privacy) takes its notifications with it.
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox_idx")]
        constraints = [
            # The SLA sweep may run twice or concurrently: one breach notifies each person once.
            models.UniqueConstraint(fields=["recipient", "handoff"], name="notification_once_per_handoff"),
        ]

    def __str__(self) -> str:
        return f"To {self.recipient_id}: {self.text}"


class UpgradeUrgency(models.TextChoices):
    LOW = "low", "This quarter"
    MEDIUM = "medium", "This month"
    HIGH = "high", "This week"


class UpgradeFlag(models.Model):
    """A service rep's "this customer wants more": what, how urgent, and the handoff it opened."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="upgrade_flags")
    flagged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    wants = models.CharField(max_length=200)
    urgency = models.CharField(max_length=10, choices=UpgradeUrgency.choices, default=UpgradeUrgency.MEDIUM)
    note = models.TextField(blank=True)
    # The customer agreed to be contacted by sales (asked by the service rep before flagging).
    # False on flags made before this was recorded.
    contact_consent = models.BooleanField(default=False)
    handoff = models.OneToOneField(Handoff, null=True, on_delete=models.SET_NULL, related_name="upgrade_flag")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["flagged_by", "-created_at", "-id"], name="upgradeflag_by_idx")]

    def __str__(self) -> str:
        return f"Upgrade interest of lead {self.lead_id}: {self.wants}"


class RepProfile(models.Model):
    """What routing needs to know about a sales rep: away or not, territories, capacity."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rep_profile")
    away = models.BooleanField(default=False, help_text="An away rep is offered no leads.")
    territories = models.CharField(
        max_length=200, blank=True, help_text="ISO country codes separated by commas, e.g. DE,AT,CH."
    )
    max_open_leads = models.PositiveIntegerField(
        null=True, blank=True, help_text="Cap on open leads; empty: the routing rule's cap applies."
    )
    # Round-robin fairness: the rep offered a lead longest ago goes next.
    last_offered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"Rep profile of {self.user}"

    @property
    def territory_codes(self) -> set[str]:
        return {code.strip().upper() for code in self.territories.split(",") if code.strip()}


class RoutingRule(models.Model):
    """An admin's rule: which handoffs it takes (kind, country, company size) and who gets them.

    Rules are tried in order; the first that matches the lead picks the rep by round-robin among
    its pool. No active rule: routing is off and handoffs wait in the queue for a claim.
    """

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0, help_text="Rules are tried from the lowest position.")
    active = models.BooleanField(default=True)
    kind = models.CharField(max_length=30, choices=HandoffKind.choices, blank=True, help_text="Empty: any kind.")
    countries = models.CharField(max_length=200, blank=True, help_text="Country codes, comma-separated; empty: any.")
    min_company_size = models.PositiveIntegerField(null=True, blank=True)
    max_company_size = models.PositiveIntegerField(null=True, blank=True)
    by_territory = models.BooleanField(
        default=False, help_text="Only reps whose territories include the lead's country."
    )
    reps = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", help_text="Empty: every sales rep."
    )
    max_open_leads = models.PositiveIntegerField(default=50, help_text="A rep with this many open leads gets none.")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class SavedView(models.Model):
    """A marketer's named filter of the MQL list: the list's query string, shown as a tab."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=60)
    # The normalized query string of the list (filters and sort, never a cursor).
    query = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="savedview_unique_name_per_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"


# ---- Data in and out (issue 7): webhooks, privacy, CSV import ---------------------------------


class WebhookEvent(models.TextChoices):
    LEAD_CREATED = "lead.created", "Lead created"
    STAGE_CHANGED = "lead.stage_changed", "Stage changed"
    HANDOFF_OPENED = "handoff.opened", "Handoff opened"
    HANDOFF_ACCEPTED = "handoff.accepted", "Handoff accepted"
    HANDOFF_REJECTED = "handoff.rejected", "Handoff rejected"
    SCORE_THRESHOLD = "score.threshold_crossed", "Score crossed a threshold"


class WebhookEndpoint(models.Model):
    """An admin's receiver of outgoing webhooks: where, signed with which secret, for which events."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, help_text="Signs every delivery (HMAC-SHA256); shared with the receiver.")
    events = models.JSONField(default=list, help_text="The WebhookEvent values it receives.")
    active = models.BooleanField(default=True)
    # Set when it kept failing: no delivery is attempted until an admin resumes it.
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Waiting to retry"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    HELD = "held", "Held (endpoint paused)"


class WebhookDelivery(models.Model):
    """One event for one endpoint, written in the transaction of the change it tells about: a
    rolled-back change leaves no delivery. The log of its attempts is on the row."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    event_id = models.UUIDField(help_text="The same for every endpoint of one event: receivers dedup on it.")
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=WebhookDeliveryStatus.choices, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_response_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint_idx"),
            # The sweeper looks for deliveries whose retry is due (a lost task).
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "retrying"]),
                name="webhookdelivery_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id} ({self.status})"


class Erasure(models.Model):
    """The record that a person was erased: who asked, when, what went. No personal data: the
    email is kept only as a keyed hash, so the erasure can be proven without knowing the address."""

    lead_id_erased = models.BigIntegerField(help_text="The id the lead had.")
    email_hash = models.CharField(max_length=64, db_index=True)
    erased_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    erased_by_label = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=200, blank=True, help_text="A ticket reference; never personal data.")
    counts = models.JSONField(default=dict, help_text="How many rows of each kind were deleted or anonymized.")
    suppressed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Erasure of lead {self.lead_id_erased} at {self.created_at:%Y-%m-%d %H:%M}"


class SuppressedEmail(models.Model):
    """An erased person's email, as a keyed hash: a later submission with it is refused."""

    email_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.email_hash[:12]


class ImportMode(models.TextChoices):
    UPDATE_EMPTY = "update_empty", "Fill in empty fields only"
    OVERWRITE = "overwrite", "Overwrite with the file's values"
    SKIP = "skip", "Skip existing leads"


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """A CSV import: the stored file, how to read and map it, and its progress and counts."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    file_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500, help_text="The upload as received, under VAR_DIR/imports.")
    file_size = models.PositiveBigIntegerField(default=0)
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=2, blank=True)
    headers = models.JSONField(default=list)
    # One lead field (or "") per column, in column order.
    mapping = models.JSONField(default=list)
    mode = models.CharField(max_length=20, choices=ImportMode.choices, default=ImportMode.UPDATE_EMPTY)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    error = models.TextField(blank=True, help_text="Why the whole file was refused.")
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The last sign of life of a queued or running job (queued, claimed by a run, a chunk written,
    # or queued again): the sweeper queues the task again for a job silent for too long.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk}: {self.file_name} ({self.status})"

    @property
    def percent(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class ImportRowError(models.Model):
    """A row the import did not write, with its line in the file and why: the error report."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField()
    reason = models.CharField(max_length=300)
    values = models.JSONField(default=list)

    class Meta:
        ordering = ["job", "line", "id"]
        indexes = [models.Index(fields=["job", "line"], name="importrowerror_job_line_idx")]

    def __str__(self) -> str:
        return f"Import {self.job_id} line {self.line}: {self.reason}"


class AuditAction(models.TextChoices):
    LOGIN = "login", "Logged in"
    LOGIN_FAILED = "login_failed", "Login failed"
    API_KEY_CREATED = "api_key_created", "API key created"
    API_KEY_REVOKED = "api_key_revoked", "API key revoked"
    LEAD_MOVED = "lead_moved", "Lead moved"
    LEAD_CLAIMED = "lead_claimed", "Lead claimed"
    LEAD_RELEASED = "lead_released", "Lead released"
    LEADS_MERGED = "leads_merged", "Leads merged"
    RULESET_PUBLISHED = "ruleset_published", "Scoring rules published"
    PERSON_ERASED = "person_erased", "Person erased"


class AuditEntry(models.Model):
    """Who did what, when: one row per security- or pipeline-relevant action (leads/audit.py).

    Written in the same transaction as the action it records. It holds no personal data of a
    lead (ids and stages, never a name or an email), so it is kept when a person is erased; the
    target is a plain id, not a foreign key, for the same reason. The actor's username is a
    snapshot: the row still says who it was after the user is renamed or deleted.
    """

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A username, "api key lk_1a2b3c4d", "scoring", or the username a failed login tried.
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    target_type = models.CharField(max_length=30, blank=True)
    target_id = models.BigIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        # The audit page lists newest first with a keyset on (at, id), filtered by action or actor.
        indexes = [
            models.Index(fields=["-at", "-id"], name="auditentry_at_idx"),
            models.Index(fields=["action", "-at", "-id"], name="auditentry_action_at_idx"),
            models.Index(fields=["actor_label", "-at", "-id"], name="auditentry_actor_at_idx"),
            models.Index(fields=["target_type", "target_id"], name="auditentry_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action}"


class BulkMoveStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"  # stopped: its runs kept breaking off without moving on


class BulkMoveJob(models.Model):
    """A bulk move of every lead matching the MQL list's filters, too many to move in a request:
    run in the background by leads.bulk_jobs, chunk by chunk, each lead through lead_transition."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20)
    to_stage = models.CharField(max_length=20, choices=STAGE_CHOICES)
    reason = models.TextField(blank=True)
    query = models.CharField(max_length=2000, blank=True, help_text="The list's filters, as in its URL.")
    status = models.CharField(max_length=10, choices=BulkMoveStatus.choices, default=BulkMoveStatus.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Leads matching when it started.")
    done = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=dict, help_text="{reason: count}")
    failed = models.JSONField(default=dict, help_text="{error: count}")
    # Keyset cursor, written in the same transaction as each move: a rerun continues after it.
    last_lead_id = models.BigIntegerField(default=0)
    # Runs in a row that broke off with an error before moving on (leads.bulk_jobs: the job stops
    # as failed at MAX_FAILURES), and the last such error, for an admin.
    failures = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # The run holding the job: a second run of the task finds the lease taken and stops.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Bulk {self.action} {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == BulkMoveStatus.DONE:
            return 100
        return min(100, int(100 * self.done / self.total)) if self.total else 0

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    @property
    def failed_count(self) -> int:
        return sum(self.failed.values())
