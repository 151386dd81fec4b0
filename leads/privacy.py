"""A person's data out and gone (issue 7, point 4): export everything known as JSON, erase it.

Erasure deletes the lead and everything hanging off it (events, notes, stage history, handoffs,
upgrade flags; submissions, whose raw payloads hold personal data; webhook deliveries that carried
the lead) in one transaction, and writes an Erasure row that proves it without personal data: the
email is kept only as an HMAC keyed with SECRET_KEY. With PRIVACY_SUPPRESS_ERASED the same hash
goes on the suppression list, and a later submission or import of the address is refused.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.db import connection, transaction
from django.forms.models import model_to_dict

from .audit import audit_record
from .models import (
    AuditAction,
    EngagementEvent,
    Erasure,
    Handoff,
    Lead,
    Note,
    StageChange,
    Submission,
    SuppressedEmail,
    UpgradeFlag,
    WebhookDelivery,
    normalize_email,
)

EXPORT_FORMAT_VERSION = 1


def email_hash(email: str) -> str:
    """A keyed hash of the normalized email: comparable, not reversible without the key."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, normalize_email(email).encode(), hashlib.sha256).hexdigest()


def email_is_suppressed(email: str) -> bool:
    return SuppressedEmail.objects.filter(email_hash=email_hash(email)).exists()


def suppressed_emails(emails: list[str]) -> set[str]:
    """Which of these (normalized) emails are on the suppression list: one query for a batch.

    Every submission and event batch runs this. On PostgreSQL it is a plain indexed SELECT with
    the hashes as one JSON parameter: the ORM's IN (%s, ...) with a placeholder per hash cost more
    CPU than the rest of a 1,000-event batch's Python side (compiled, then rendered value by value).
    """
    by_hash = {email_hash(email): email for email in emails}
    if not by_hash:
        return set()
    if connection.vendor != "postgresql":
        hits = SuppressedEmail.objects.filter(email_hash__in=list(by_hash)).values_list("email_hash", flat=True)
        return {by_hash[h] for h in hits}
    table = connection.ops.quote_name(SuppressedEmail._meta.db_table)
    with connection.cursor() as cursor:
        if len(by_hash) == 1:
            cursor.execute(f"SELECT email_hash FROM {table} WHERE email_hash = %s", list(by_hash))
        else:
            hashes = "ARRAY(SELECT jsonb_array_elements_text(%s::jsonb))"
            params = [json.dumps(list(by_hash))]
            cursor.execute(f"SELECT email_hash FROM {table} WHERE email_hash = ANY({hashes})", params)
        return {by_hash[h] for (h,) in cursor.fetchall()}


def _rows(queryset, fields: list[str]) -> list[dict]:
    return list(queryset.order_by("pk").values(*fields))


def person_export(*, lead_id: int) -> dict:
    """Everything LeadCRM knows about the person of one lead, as JSON-ready data."""
    lead = Lead.objects.get(pk=lead_id)
    profile = model_to_dict(lead, exclude=["owner", "score_breakdown"])
    profile.update(
        owner=lead.owner.get_username() if lead.owner_id else None,
        created_at=lead.created_at,
        updated_at=lead.updated_at,
        stage_changed_at=lead.stage_changed_at,
        score_breakdown=lead.score_breakdown,
    )
    return {
        "format_version": EXPORT_FORMAT_VERSION,
        "profile": profile,
        "submissions": _rows(
            Submission.objects.filter(lead_id=lead_id),
            ["id", "form_name", "payload", "page_url", "submitted_at", "received_at"],
        ),
        "events": _rows(
            EngagementEvent.objects.filter(lead_id=lead_id),
            ["id", "event_type", "occurred_at", "properties", "source", "external_id", "received_at"],
        ),
        "stage_history": _rows(
            StageChange.objects.filter(lead_id=lead_id),
            ["id", "from_stage", "to_stage", "actor__username", "actor_label", "reason", "created_at"],
        ),
        "handoffs": _rows(
            Handoff.objects.filter(lead_id=lead_id),
            ["id", "kind", "from_team", "to_team", "status", "reason", "opened_at", "decided_at", "rejection_reason"],
        ),
        "notes": _rows(Note.objects.filter(lead_id=lead_id), ["id", "kind", "body", "author__username", "created_at"]),
        "upgrade_flags": _rows(
            UpgradeFlag.objects.filter(lead_id=lead_id), ["id", "wants", "urgency", "note", "created_at"]
        ),
    }


def person_erase(*, lead_id: int, actor=None, actor_label: str = "", reason: str = "") -> Erasure:
    """Delete a person's data and record the erasure without it, in one transaction."""
    suppress = suppression_is_on()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        hashed = email_hash(lead.email)
        counts = {
            "events": EngagementEvent.objects.filter(lead_id=lead_id).count(),
            "stage_changes": StageChange.objects.filter(lead_id=lead_id).count(),
            "handoffs": Handoff.objects.filter(lead_id=lead_id).count(),
            "notes": Note.objects.filter(lead_id=lead_id).count(),
            "upgrade_flags": UpgradeFlag.objects.filter(lead_id=lead_id).count(),
        }
        # Submissions outlive their lead (SET_NULL) for statistics; their payloads are personal.
        counts["submissions"], _ = Submission.objects.filter(lead_id=lead_id).delete()
        # Outgoing webhook payloads carried the lead's profile.
        counts["webhook_deliveries"], _ = WebhookDelivery.objects.filter(payload__lead__id=lead_id).delete()
        counts["was_unsubscribed"] = lead.unsubscribed
        lead.delete()
        if suppress:
            SuppressedEmail.objects.get_or_create(email_hash=hashed)
        erasure = Erasure.objects.create(
            lead_id_erased=lead_id,
            email_hash=hashed,
            erased_by=actor,
            erased_by_label="" if actor else (actor_label or "system"),
            reason=(reason or "").strip()[:200],
            counts=counts,
            suppressed=suppress,
        )
        # The lead's own audit entries stay (they hold no personal data); this one says it went.
        audit_record(
            action=AuditAction.PERSON_ERASED,
            actor=actor,
            actor_label="" if actor else (actor_label or "system"),
            target_type="lead",
            target_id=lead_id,
            detail={"erasure_id": erasure.pk, "reference": erasure.reason, "suppressed": suppress},
        )
        return erasure


def suppression_lift(*, email: str) -> bool:
    """The person asks to be known again (e.g. signs up anew by hand): remove the address."""
    deleted, _ = SuppressedEmail.objects.filter(email_hash=email_hash(email)).delete()
    return bool(deleted)


# --- Reads for the privacy pages ----------------------------------------------------------------

# What person_erase deletes, in the words the confirmation uses (key of Erasure.counts -> label).
ERASED_KINDS = {
    "submissions": ("form submission", "form submissions (with their raw payloads)"),
    "events": ("engagement event", "engagement events (visits, email opens, consent and unsubscribe events)"),
    "stage_changes": ("stage change", "stage changes"),
    "handoffs": ("handoff", "handoffs"),
    "notes": ("note", "notes"),
    "upgrade_flags": ("upgrade flag", "upgrade flags"),
    "webhook_deliveries": ("webhook delivery", "webhook deliveries that carried the lead"),
}


def person_data_counts(*, lead_id: int) -> dict[str, int]:
    """How many rows of each kind person_erase would delete with the lead (ERASED_KINDS order)."""
    return {
        "submissions": Submission.objects.filter(lead_id=lead_id).count(),
        "events": EngagementEvent.objects.filter(lead_id=lead_id).count(),
        "stage_changes": StageChange.objects.filter(lead_id=lead_id).count(),
        "handoffs": Handoff.objects.filter(lead_id=lead_id).count(),
        "notes": Note.objects.filter(lead_id=lead_id).count(),
        "upgrade_flags": UpgradeFlag.objects.filter(lead_id=lead_id).count(),
        "webhook_deliveries": WebhookDelivery.objects.filter(payload__lead__id=lead_id).count(),
    }


def suppression_is_on() -> bool:
    return bool(getattr(settings, "PRIVACY_SUPPRESS_ERASED", True))


def erasures_of_email(email: str):
    """The erasure records of an address (found by its keyed hash: the address itself is not kept)."""
    return Erasure.objects.filter(email_hash=email_hash(email)).select_related("erased_by").order_by("-created_at")
