from django.conf import settings
from django.db import models
from django.db.models import Q

from .engine import FitKind, PropertyOperator


class RuleSetStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"  # an earlier published version: the history


class RuleSet(models.Model):
    """A versioned set of scoring rules and thresholds.

    At most one draft (being edited) and one published version (scoring every lead) exist; a
    published version is never edited again: publishing the draft gives it the next version number
    and archives the previous one, so every score names the exact rules that made it.
    """

    status = models.CharField(max_length=20, choices=RuleSetStatus.choices, default=RuleSetStatus.DRAFT)
    version = models.PositiveIntegerField(null=True, blank=True, unique=True, help_text="Set when published.")
    name = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)

    mql_threshold = models.IntegerField(default=60, help_text="A lead whose score reaches this becomes an MQL.")
    pql_threshold = models.IntegerField(
        default=40, help_text="A lead whose product-event points reach this becomes a PQL."
    )
    pql_event_types = models.JSONField(default=list, blank=True, help_text="Product events that count as PQL signals.")
    high_intent_event_types = models.JSONField(
        default=list, blank=True, help_text="Events that make a lead an SQL at once."
    )

    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-version", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="draft"), name="ruleset_one_draft"),
            models.UniqueConstraint(fields=["status"], condition=Q(status="published"), name="ruleset_one_published"),
            models.CheckConstraint(
                condition=Q(status="draft", version__isnull=True) | Q(~Q(status="draft"), version__isnull=False),
                name="ruleset_version_iff_published",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} ({self.status})" if self.version else f"Draft {self.pk}"

    @property
    def is_draft(self) -> bool:
        return self.status == RuleSetStatus.DRAFT


class EngagementRule(models.Model):
    ruleset = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="engagement_rules")
    name = models.CharField(max_length=200)
    event_type = models.CharField(max_length=64)
    property_key = models.CharField(max_length=100, blank=True, help_text="Optional: match on this event property.")
    property_operator = models.CharField(
        max_length=20, choices=[(op.value, op.value) for op in PropertyOperator], blank=True
    )
    property_value = models.CharField(max_length=500, blank=True)
    points = models.IntegerField(help_text="Points per matching event; negative allowed.")
    cap = models.PositiveIntegerField(null=True, blank=True, help_text="The most this rule adds to one lead.")
    half_life_days = models.FloatField(null=True, blank=True, help_text="Points halve every this many days.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(half_life_days__isnull=True) | Q(half_life_days__gt=0), name="engagement_half_life_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:+d})"


class FitRule(models.Model):
    ruleset = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="fit_rules")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=40, choices=[(kind.value, kind.value) for kind in FitKind])
    values = models.JSONField(default=list, blank=True, help_text="Substrings, industries, countries or domains.")
    threshold = models.PositiveIntegerField(null=True, blank=True, help_text="Company size at least.")
    points = models.IntegerField(help_text="Negative allowed.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:+d})"


class RescoreReason(models.TextChoices):
    PUBLISH = "publish", "Rule set published"
    DECAY = "decay", "Daily decay refresh"
    MANUAL = "manual", "Requested"


class RescoreStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"  # superseded by a newer publish


class RescoreJob(models.Model):
    """Rescoring many leads in the background, chunk by chunk, resumable from `last_lead_id`."""

    ruleset = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="rescore_jobs")
    reason = models.CharField(max_length=20, choices=RescoreReason.choices)
    status = models.CharField(max_length=20, choices=RescoreStatus.choices, default=RescoreStatus.RUNNING)
    total = models.PositiveIntegerField(default=0, help_text="Leads to rescore (counted when it started).")
    done = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0, help_text="Leads the new scores moved to another stage.")
    # Keyset cursor: chunks walk leads by id, so a restarted job continues where it stopped.
    last_lead_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "updated_at"], name="rescore_status_idx")]

    def __str__(self) -> str:
        return f"Rescore {self.pk} ({self.reason}, {self.status})"

    @property
    def progress(self) -> float:
        if self.status == RescoreStatus.DONE:
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0
