"""The audit log: who did what, when (issue 8, point 8).

`audit_record()` is the one way to write an entry. Callers invoke it inside the transaction of
the action they record, so an action and its entry commit (or roll back) together. An entry
never holds a lead's personal data: ids, stages, counts and reasons chosen from a list, never a
name or an email, so it survives the erasure of the person it is about.

Reads for the admins' page (leads/audit_views.py) are here too: a filtered, keyset-paginated list.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import user_logged_in, user_login_failed
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import AuditAction, AuditEntry

# Keys that would carry a person's data: refused in `detail`, so a careless caller fails in its
# tests instead of leaking an email into a table that erasure keeps.
PERSONAL_KEYS = frozenset(
    {"email", "first_name", "last_name", "name", "full_name", "phone", "company", "job_title", "payload", "values"}
)
PAGE_SIZE = 50


def actor_label_for(actor=None, actor_label: str = "") -> str:
    if actor_label:
        return actor_label[:150]
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()[:150]
    return ""


def audit_record(
    *,
    action: AuditAction | str,
    actor=None,
    actor_label: str = "",
    target_type: str = "",
    target_id: int | None = None,
    detail: dict | None = None,
) -> AuditEntry:
    """Write one audit entry. Call it inside the action's own transaction.

    actor: the user who acted (None for the system, an integration key or an anonymous attempt);
    actor_label: who it was when there is no user ("api key lk_1a2b3c4d", "scoring"), or a
    snapshot that overrides the username.
    """
    detail = dict(detail or {})
    leaked = PERSONAL_KEYS.intersection(detail)
    if leaked:
        raise ValueError(f"An audit entry keeps no personal data; remove {', '.join(sorted(leaked))} from detail.")
    action = AuditAction(action)
    user = actor if actor is not None and getattr(actor, "pk", None) is not None else None
    return AuditEntry.objects.create(
        action=action,
        actor=user,
        actor_label=actor_label_for(actor, actor_label),
        target_type=target_type,
        target_id=target_id,
        detail=detail,
    )


def api_key_label(api_key) -> str:
    return f"api key {api_key.prefix}"


# ---- Logins (Django's auth signals) ----------------------------------------------------------


def _client_address(request) -> str:
    if request is None:
        return ""
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or ""


def _on_login(sender, request, user, **kwargs) -> None:
    audit_record(
        action=AuditAction.LOGIN,
        actor=user,
        target_type="user",
        target_id=user.pk,
        detail={"ip": _client_address(request)},
    )


def _on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # There is no user: the username tried is the actor's label (it may not exist). Django has
    # already masked the password in `credentials`; nothing else of it is kept.
    tried = str(credentials.get("username") or "")[:150]
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        actor_label=tried,
        target_type="user",
        detail={"ip": _client_address(request)},
    )


def connect() -> None:
    """Called once from LeadsConfig.ready()."""
    user_logged_in.connect(_on_login, dispatch_uid="leads.audit.login")
    user_login_failed.connect(_on_login_failed, dispatch_uid="leads.audit.login_failed")


# ---- Reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None


def _encode(at: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"at": at.isoformat(), "id": pk}).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int] | None:
    try:
        value = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        at, pk = parse_datetime(value["at"]), value["id"]
    except (ValueError, TypeError, KeyError):
        return None
    return (at, pk) if at is not None and isinstance(pk, int) else None


def audit_entries(*, filters: AuditFilters) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.select_related("actor").order_by("-at", "-id")
    if filters.actor:
        entries = entries.filter(actor_label=filters.actor)
    if filters.action:
        entries = entries.filter(action=filters.action)
    tz = timezone.get_current_timezone()
    if filters.since:
        entries = entries.filter(at__gte=datetime.combine(filters.since, time.min, tzinfo=tz))
    if filters.until:
        entries = entries.filter(at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=tz))
    return entries


def audit_page(*, filters: AuditFilters, cursor: str = "", size: int = PAGE_SIZE) -> AuditPage:
    """Newest first; the cursor is the (at, id) of the last entry shown, so a page costs one
    indexed query however deep it is, and new entries never shift the pages that follow."""
    entries = audit_entries(filters=filters)
    after = _decode(cursor) if cursor else None
    if after:
        at, pk = after
        entries = entries.filter(Q(at__lt=at) | Q(at=at, id__lt=pk))
    rows = list(entries[: size + 1])
    next_cursor = _encode(rows[size - 1].at, rows[size - 1].pk) if len(rows) > size else None
    return AuditPage(entries=rows[:size], next_cursor=next_cursor)
