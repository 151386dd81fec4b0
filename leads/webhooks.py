"""Outgoing webhooks: tell other systems when a lead moves (issue 7, point 3).

- An event is written as one WebhookDelivery row per subscribed endpoint, in a transaction (an
  outbox): a rolled-back change writes none, and the delivery task is enqueued only after commit.
- Every delivery is signed with HMAC-SHA256 over "<timestamp>.<body>" (docs/webhooks.md):
  `LeadCRM-Signature: t=<unix seconds>,v1=<hex digest>`.
- An attempt is claimed with a conditional UPDATE (pending/retrying -> sending): a task run twice
  or concurrently sends once. A failed attempt is retried after WEBHOOK_BACKOFF_BASE_SECONDS *
  2^(attempt-1) (capped), up to WEBHOOK_MAX_ATTEMPTS; each attempt logs status, time and error.
- An endpoint whose last WEBHOOK_PAUSE_AFTER_FAILURES attempts all failed is paused with the reason
  shown in the admin; its deliveries are held until an admin resumes it.
"""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import (
    Handoff,
    HandoffStatus,
    Lead,
    StageChange,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
)
from .stages import SALES_STAGES

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "LeadCRM-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
USER_AGENT = "LeadCRM-Webhooks/1"


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- Signing ----------------------------------------------------------------------------------


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>" with the endpoint's secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(secret=secret, timestamp=timestamp, body=body)}"


def signature_verify(
    *, secret: str, header: str, body: bytes, tolerance: int = SIGNATURE_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """What a receiver does (docs/webhooks.md): recompute, compare in constant time, refuse old ones."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, parts.get("v1", ""))


# --- Emitting ---------------------------------------------------------------------------------
#
# Every event is written as WebhookDelivery rows in the transaction of the change it tells about
# (a transactional outbox): a rolled-back change leaves no row, a committed one always has its rows.
# The sending task is only nudged after commit; a nudge lost to a crash between the commit and the
# enqueue is picked up by the beat sweep (webhook_deliveries_sweep), which sends every due row.


def _endpoints_for(event: str, endpoints: list[WebhookEndpoint] | None = None) -> list[WebhookEndpoint]:
    if endpoints is None:
        endpoints = list(WebhookEndpoint.objects.filter(active=True))
    return [e for e in endpoints if event in (e.events or [])]


def _delivery(*, endpoint: WebhookEndpoint, event: str, event_id: uuid.UUID, payload: dict, now) -> WebhookDelivery:
    return WebhookDelivery(
        endpoint=endpoint,
        event=event,
        event_id=event_id,
        payload=payload,
        status=WebhookDeliveryStatus.HELD if endpoint.paused_at else WebhookDeliveryStatus.PENDING,
        next_attempt_at=None if endpoint.paused_at else now,
    )


def _jsonable(data: dict) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _outbox_write(deliveries: list[WebhookDelivery]) -> list[int]:
    """Insert the rows in the caller's transaction and nudge the sender once it commits."""
    if not deliveries:
        return []
    rows = WebhookDelivery.objects.bulk_create(deliveries, batch_size=1000)
    pending = [row.pk for row in rows if row.status == WebhookDeliveryStatus.PENDING]
    if pending:
        transaction.on_commit(lambda: _enqueue(pending))
    return [row.pk for row in rows]


def webhook_event_emit(*, event: str, data: dict, endpoints: list[WebhookEndpoint] | None = None) -> list[int]:
    """Write one delivery per endpoint subscribed to `event`, in the caller's transaction, and
    enqueue them after commit. Returns the delivery ids."""
    subscribed = _endpoints_for(event, endpoints)
    if not subscribed:
        return []
    event_id, now, payload = uuid.uuid4(), timezone.now(), _jsonable(data)
    return _outbox_write(
        [_delivery(endpoint=e, event=event, event_id=event_id, payload=payload, now=now) for e in subscribed]
    )


def _enqueue(delivery_ids: list[int], countdown: float = 0) -> None:
    """Queue the deliveries' tasks. Never raises when the broker is down (this runs after the commit
    of a claim or a move): the deliveries wait in the outbox, due, and the sweeper queues them once
    the broker is back."""
    from .data_tasks import webhook_deliver_task

    try:
        for delivery_id in delivery_ids:
            webhook_deliver_task.apply_async((delivery_id,), countdown=countdown or None)
    except Exception:
        if webhook_deliver_task.app.conf.task_always_eager:
            raise  # run in-process: a bug to see, not a broker outage
        logger.warning("Could not queue %s webhook deliveries; the sweeper will", len(delivery_ids), exc_info=True)


def _lead_data(lead: Lead) -> dict:
    return {
        "id": lead.pk,
        "email": lead.email,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company": lead.company,
        "stage": lead.stage,
        "score": lead.score,
        "owner_id": lead.owner_id,
    }


LEAD_DATA_FIELDS = ("id", "email", "first_name", "last_name", "company", "stage", "score", "owner_id")


def webhook_leads_created(*, lead_ids: Iterable[int]) -> int:
    """lead.created for leads just inserted, in the caller's transaction: one event (and one row
    per subscribed endpoint) per lead, written with one INSERT per thousand rows. Callers pass only
    the ids their INSERT reported as new, so an existing lead is never announced. Without a
    subscribed endpoint this costs one query on a tiny table. Returns how many rows were written."""
    ids = sorted(set(lead_ids))
    if not ids:
        return 0
    endpoints = _endpoints_for(WebhookEvent.LEAD_CREATED)
    if not endpoints:
        return 0
    now = timezone.now()
    deliveries = []
    for start in range(0, len(ids), 5000):
        for data in Lead.objects.filter(pk__in=ids[start : start + 5000]).order_by("pk").values(*LEAD_DATA_FIELDS):
            event_id, payload = uuid.uuid4(), _jsonable({"lead": data})
            deliveries += [
                _delivery(endpoint=e, event=WebhookEvent.LEAD_CREATED, event_id=event_id, payload=payload, now=now)
                for e in endpoints
            ]
    return len(_outbox_write(deliveries))


def lead_created_outbox_sql(*, lead_cte: str, lead_data: dict) -> tuple[str, list]:
    """For leads.ingest's one-statement submission on PostgreSQL: a data-modifying CTE that writes
    the lead.created rows when (and only when) the upsert CTE `lead_cte` inserted its row, for
    every subscribed endpoint. It returns (id, status) of each row: nudge the pending ones.

    Checking the subscription inside the same statement costs no extra round trip, and it reads
    the endpoints in the statement's own snapshot. `lead_data` is the new lead's payload but its
    id (the new row's values are the ones sent)."""
    delivery = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    endpoint = connection.ops.quote_name(WebhookEndpoint._meta.db_table)
    now = timezone.now()
    sql = (
        f"INSERT INTO {delivery} (endpoint_id, event, event_id, payload, status, attempts, next_attempt_at, "
        "last_error, created_at) "
        "SELECT w.id, %s, %s, jsonb_set(CAST(%s AS jsonb), '{lead,id}', to_jsonb(c.id)), "
        "CASE WHEN w.paused_at IS NULL THEN %s ELSE %s END, 0, "
        "CASE WHEN w.paused_at IS NULL THEN CAST(%s AS timestamptz) END, '', %s "
        f"FROM {lead_cte} AS c JOIN {endpoint} AS w ON w.active AND w.events @> CAST(%s AS jsonb) "
        "WHERE c.created RETURNING id, status"
    )
    params = [
        WebhookEvent.LEAD_CREATED.value,
        uuid.uuid4(),
        json.dumps({"lead": {**lead_data, "id": None}}, cls=DjangoJSONEncoder),
        WebhookDeliveryStatus.PENDING.value,
        WebhookDeliveryStatus.HELD.value,
        now,
        now,
        json.dumps([WebhookEvent.LEAD_CREATED.value]),
    ]
    return sql, params


def webhook_deliveries_nudge(delivery_ids: list[int]) -> None:
    """Enqueue the sending of deliveries written by raw SQL, after the caller's transaction commits."""
    if delivery_ids:
        transaction.on_commit(lambda: _enqueue(list(delivery_ids)))


def webhook_stage_changed(*, lead: Lead, change: StageChange, opened: Handoff | None) -> None:
    """In leads.services.lead_transition's transaction: lead.stage_changed, and what the move meant
    for scoring (score.threshold_crossed) and handoffs (opened, or settled on leaving sales).
    The common case without webhooks costs one query on a tiny table."""
    endpoints = list(WebhookEndpoint.objects.filter(active=True))
    if not endpoints:
        return
    lead_data = _lead_data(lead)
    change_data = {
        "id": change.pk,
        "from_stage": change.from_stage,
        "to_stage": change.to_stage,
        "actor": change.actor_display,
        "reason": change.reason,
        "at": change.created_at,
    }
    webhook_event_emit(
        event=WebhookEvent.STAGE_CHANGED, data={"lead": lead_data, "change": change_data}, endpoints=endpoints
    )
    if change.actor_id is None and change.actor_label == "scoring":
        webhook_event_emit(
            event=WebhookEvent.SCORE_THRESHOLD,
            data={"lead": lead_data, "stage": change.to_stage, "score": lead.score},
            endpoints=endpoints,
        )
    if opened is not None:
        event, handoff = WebhookEvent.HANDOFF_OPENED, opened
    elif change.from_stage in SALES_STAGES and change.to_stage not in SALES_STAGES:
        # lead_transition settles the open handoff with decided_at = the lead's stage_changed_at.
        handoff = (
            Handoff.objects.filter(
                lead=lead,
                decided_at=lead.stage_changed_at,
                status__in=[HandoffStatus.ACCEPTED, HandoffStatus.REJECTED],
            )
            .order_by("-id")
            .first()
        )
        accepted = handoff is not None and handoff.status == HandoffStatus.ACCEPTED
        event = WebhookEvent.HANDOFF_ACCEPTED if accepted else WebhookEvent.HANDOFF_REJECTED
    else:
        handoff = None
    if handoff is not None:
        webhook_event_emit(
            event=event, data={"lead": lead_data, "handoff": _handoff_data(handoff)}, endpoints=endpoints
        )


def _handoff_data(handoff: Handoff) -> dict:
    return {
        "id": handoff.pk,
        "kind": handoff.kind,
        "status": handoff.status,
        "reason": handoff.reason,
        "opened_at": handoff.opened_at,
        "decided_at": handoff.decided_at,
        "rejection_reason": handoff.rejection_reason,
    }


def webhook_handoff_accepted(*, handoff: Handoff) -> None:
    """A rep claimed a lead from the queue (leads.services.lead_claim, in its transaction)."""
    webhook_event_emit(
        event=WebhookEvent.HANDOFF_ACCEPTED,
        data={"lead": _lead_data(handoff.lead), "handoff": _handoff_data(handoff)},
    )


# --- Delivering -------------------------------------------------------------------------------


def backoff_seconds(attempt: int) -> float:
    """Delay before the attempt after `attempt` failed ones: base * 2^(attempt-1), capped."""
    base = float(_setting("WEBHOOK_BACKOFF_BASE_SECONDS", 30))
    cap = float(_setting("WEBHOOK_BACKOFF_MAX_SECONDS", 3600))
    return min(cap, base * 2 ** max(0, attempt - 1))


def delivery_body(delivery: WebhookDelivery) -> bytes:
    envelope = {
        "id": str(delivery.event_id),
        "type": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


def webhook_delivery_attempt(*, delivery_id: int) -> float | None:
    """Make one attempt at a due delivery. Returns the seconds until its retry, or None when there
    is nothing more to do (delivered, given up, held, or not ours to send)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status__in=[WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.RETRYING],
        next_attempt_at__lte=now,
    ).update(status=WebhookDeliveryStatus.SENDING, attempts=F("attempts") + 1)
    if claimed != 1:
        return None  # sent, being sent by another worker, or not due yet
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if endpoint.paused_at is not None or not endpoint.active:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=WebhookDeliveryStatus.HELD, attempts=F("attempts") - 1
        )
        return None

    body = delivery_body(delivery)
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "LeadCRM-Event": delivery.event,
            "LeadCRM-Delivery": str(delivery.pk),
            "LeadCRM-Event-Id": str(delivery.event_id),
            SIGNATURE_HEADER: signature_header(secret=endpoint.secret, body=body),
        },
    )
    started = time.monotonic()
    status_code, error = None, ""
    try:
        with urllib.request.urlopen(request, timeout=float(_setting("WEBHOOK_TIMEOUT_SECONDS", 10))) as response:
            status_code = response.status
    except urllib.error.HTTPError as exc:
        status_code, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"[:500]
    elapsed_ms = int((time.monotonic() - started) * 1000)
    succeeded = status_code is not None and 200 <= status_code < 300
    logger.info(
        "webhook delivery %s to endpoint %s attempt %s: %s in %s ms",
        delivery.pk,
        endpoint.pk,
        delivery.attempts,
        status_code or error,
        elapsed_ms,
    )
    return _record_attempt(
        delivery=delivery, succeeded=succeeded, status_code=status_code, error=error, elapsed_ms=elapsed_ms
    )


def _record_attempt(
    *, delivery: WebhookDelivery, succeeded: bool, status_code: int | None, error: str, elapsed_ms: int
) -> float | None:
    now = timezone.now()
    max_attempts = int(_setting("WEBHOOK_MAX_ATTEMPTS", 8))
    pause_after = int(_setting("WEBHOOK_PAUSE_AFTER_FAILURES", 20))
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        fields = {"last_status_code": status_code, "last_response_ms": elapsed_ms, "last_error": error}
        if succeeded:
            endpoint.consecutive_failures = 0
            endpoint.save(update_fields=["consecutive_failures"])
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=WebhookDeliveryStatus.SUCCEEDED, delivered_at=now, next_attempt_at=None, **fields
            )
            return None
        endpoint.consecutive_failures += 1
        update = ["consecutive_failures"]
        if endpoint.paused_at is None and endpoint.consecutive_failures >= pause_after:
            endpoint.paused_at = now
            endpoint.pause_reason = (
                f"Paused after {endpoint.consecutive_failures} failed attempts in a row; "
                f"last: {error or status_code} at {now:%Y-%m-%d %H:%M} UTC."
            )[:300]
            update += ["paused_at", "pause_reason"]
        endpoint.save(update_fields=update)
        if endpoint.paused_at is not None:
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=WebhookDeliveryStatus.HELD, next_attempt_at=None, **fields
            )
            return None
        if delivery.attempts >= max_attempts:
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=WebhookDeliveryStatus.FAILED, next_attempt_at=None, **fields
            )
            return None
        delay = backoff_seconds(delivery.attempts)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDeliveryStatus.RETRYING, next_attempt_at=now + timedelta(seconds=delay), **fields
        )
        return delay


def webhook_endpoint_resume(*, endpoint_id: int) -> int:
    """An admin resumes a paused endpoint: its held deliveries are sent again. Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(paused_at=None, pause_reason="", consecutive_failures=0)
        held = list(
            WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=WebhookDeliveryStatus.HELD).values_list(
                "pk", flat=True
            )
        )
        WebhookDelivery.objects.filter(pk__in=held).update(status=WebhookDeliveryStatus.PENDING, next_attempt_at=now)
        transaction.on_commit(lambda: _enqueue(held))
    return len(held)


def webhook_deliveries_sweep(*, stuck_after: timedelta = timedelta(minutes=10)) -> int:
    """Beat: re-enqueue deliveries whose retry is due (a lost task) and free ones left "sending" by a
    killed worker. Returns how many were enqueued."""
    now = timezone.now()
    WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.SENDING, next_attempt_at__lt=now - stuck_after).update(
        status=WebhookDeliveryStatus.RETRYING
    )
    due = list(
        WebhookDelivery.objects.filter(
            status__in=[WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.RETRYING], next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:1000]
    )
    _enqueue(due)
    return len(due)


def connect() -> None:
    """Nothing to connect any more: lead_transition writes its rows itself (webhook_stage_changed).
    Kept only while a committed leads/apps.py still calls it; remove with that call."""
