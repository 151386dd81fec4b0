"""Writes behind the integrations API: form submissions, engagement events, idempotent retries.

Built for volume (thousands of submissions and tens of thousands of events a second on a small
machine), so each write is a handful of statements whatever its size:

- a lead is found or created by its normalized email with one INSERT ... ON CONFLICT (email)
  DO UPDATE: race-free (20 concurrent submissions of a new email make one lead, the others wait on
  the unique index and then update it) and one round trip instead of SELECT + INSERT/UPDATE;
- a batch of events costs one SELECT per way of naming leads, one INSERT for the leads it
  creates, one multi-row INSERT ... ON CONFLICT DO NOTHING for the events (the unique
  (source, external_id) index decides what is a duplicate, even between concurrent batches), which
  on PostgreSQL also appends the scoring queue's row for their leads (leads.activity) — never a
  statement per event, and no UPDATE of the leads;
- rows are written in a fixed order (emails, then (source, external id), then lead ids, sorted), so
  two concurrent batches lock in the same order and do not deadlock; a deadlock or serialization
  failure that still happens is retried.

Every write is one transaction, and scoring hears about new events only after it commits.
"""

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from . import webhooks
from .activity import (
    pending_activity_add,
    pending_activity_insert,
    pending_activity_sql,
    pending_mark_one_sql,
    pending_marks_add,
    pending_marks_sql,
)
from .db import prepared_cursor
from .exceptions import Suppressed
from .json_text import json_text
from .models import (
    ApiKey,
    EngagementEvent,
    EventType,
    IdempotencyRecord,
    Lead,
    Submission,
    SuppressedEmail,
    WebhookDeliveryStatus,
    email_domain,
)
from .privacy import email_hash, suppressed_emails
from .services import lead_mark_score_stale
from .signals import events_stored
from .stages import Stage

# Profile fields: a new non-empty value wins, an empty one never erases what is known.
LEAD_PROFILE_FIELDS = ("first_name", "last_name", "company", "job_title", "phone", "country", "industry")
# Attribution is first touch: kept once known (every touch stays in its raw Submission).
LEAD_ATTRIBUTION_FIELDS = ("source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
LEAD_WRITABLE_FIELDS = (*LEAD_PROFILE_FIELDS, "company_domain", "company_size", *LEAD_ATTRIBUTION_FIELDS)

# PostgreSQL errors after which the same transaction, run again, is expected to succeed.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
WRITE_ATTEMPTS = 3
UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"


# --- Idempotency and transactions ------------------------------------------------------------


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was first used with another request body."""


@dataclass(frozen=True)
class Idempotency:
    scope: str  # whose key it is: "key:<api key id>" or "user:<user id>"
    key: str
    request_hash: str

    @classmethod
    def for_request(cls, *, scope: str, key: str, method: str, path: str, body: bytes) -> "Idempotency":
        digest = hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()
        return cls(scope=scope, key=key, request_hash=digest)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    replayed: bool = False


def write_once(
    *, work: Callable[[], tuple[int, dict]], idempotency: Idempotency | None = None, single_statement: bool = False
) -> Answer:
    """Run `work` in one transaction and return its (status, body).

    With an Idempotency-Key the answer is stored in the same transaction, as its last statement.
    A concurrent or later request with the same key blocks on (or meets) the unique (scope, key)
    index, gets an IntegrityError, is rolled back whole, and replays the stored answer: one record,
    identical answers. Storing last rather than first keeps the common case at one extra statement.

    `single_statement` says that `work` writes with one SQL statement, which is atomic on its own:
    without an Idempotency-Key it then runs in autocommit, sparing the BEGIN and COMMIT round trips.
    """
    if single_statement and idempotency is None and connection.get_autocommit():
        return Answer(*work())
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                status, body = work()
                if idempotency is not None:
                    IdempotencyRecord.objects.create(
                        scope=idempotency.scope,
                        key=idempotency.key,
                        request_hash=idempotency.request_hash,
                        response_status=status,
                        response_body=body,
                    )
            return Answer(status=status, body=_canonical(body) if idempotency is not None else body)
        except IntegrityError as exc:
            if attempt < WRITE_ATTEMPTS and getattr(exc.__cause__, "sqlstate", None) == FOREIGN_KEY_VIOLATION:
                # A lead deleted (erased, merged away) by a transaction that committed after this one
                # looked it up: run again, and the lookups see it gone (its item is rejected).
                continue
            if idempotency is None:
                raise
            record = IdempotencyRecord.objects.filter(scope=idempotency.scope, key=idempotency.key).first()
            if record is None:
                raise
            if record.request_hash != idempotency.request_hash:
                raise IdempotencyKeyReused() from None
            return Answer(status=record.response_status, body=_canonical(record.response_body), replayed=True)
        except OperationalError as exc:
            if attempt < WRITE_ATTEMPTS and getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES:
                continue
            raise
    raise AssertionError("unreachable")


def _canonical(body: dict) -> dict:
    """Keys in sorted order: jsonb stores the replayed body in its own key order, and the first
    answer and its replays must be identical byte for byte."""
    return json.loads(json.dumps(body, sort_keys=True))


def _announce_events_stored(lead_ids) -> None:
    """Tell scoring after commit (the same announcement lead_mark_score_stale makes).

    The statements here already queued the leads they touch for the worker, in the same
    transaction as the events (a PendingActivity row; a lead they mark score_stale is queued
    too), so only the announcement is left to do.
    """
    ids = sorted(set(lead_ids))
    if ids:
        transaction.on_commit(functools.partial(events_stored.send, sender=Lead, lead_ids=ids))


def _is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def _adapt_datetime(value: datetime | None):
    return connection.ops.adapt_datetimefield_value(value)


# --- Leads ----------------------------------------------------------------------------------


def _lead_columns() -> list:
    # The database writes a generated column (Lead.search_text) and refuses a value for it.
    return [f for f in Lead._meta.concrete_fields if not f.primary_key and not f.generated]


@functools.cache
def _lead_defaults(vendor: str) -> dict:
    """The model's default of every other column, adapted for the database once per process."""
    return {
        f.column: f.get_db_prep_save(f.get_default(), connection)
        for f in _lead_columns()
        if not (getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))
    }


def _lead_row(*, email: str, now: datetime, values: dict) -> dict:
    """Every column of a new lead: the model's defaults, then the given values, adapted for the DB.

    Built from the model so a column another app adds later (with a default) is filled too.
    """
    defaults = _lead_defaults(connection.vendor)
    row = {}
    for model_field in _lead_columns():
        name = model_field.attname
        if name in values:
            row[model_field.column] = model_field.get_db_prep_save(values[name], connection)
        elif model_field.column in defaults:
            row[model_field.column] = defaults[model_field.column]
        else:  # auto_now / auto_now_add
            row[model_field.column] = model_field.get_db_prep_save(now, connection)
    row["email"] = email
    return row


def _lead_db_types() -> dict[str, str]:
    return {f.column: f.db_type(connection) for f in _lead_columns()}


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


@functools.cache
def _lead_upsert_sql(
    vendor: str, columns: tuple[str, ...], literals: tuple[tuple[str, str], ...] = (), guard: str = ""
) -> str:
    """`columns` take a parameter each; `literals` are (column, SQL literal) pairs written into the
    statement; with a `guard` (an SQL condition) nothing is inserted or updated unless it holds."""
    table = _quoted(Lead._meta.db_table)
    keep_unless_empty = [
        f"{_quoted(c)} = CASE WHEN EXCLUDED.{_quoted(c)} <> '' THEN EXCLUDED.{_quoted(c)} ELSE t.{_quoted(c)} END"
        for c in LEAD_PROFILE_FIELDS
    ]
    first_touch = [
        f"{_quoted(c)} = CASE WHEN t.{_quoted(c)} = '' THEN EXCLUDED.{_quoted(c)} ELSE t.{_quoted(c)} END"
        for c in LEAD_ATTRIBUTION_FIELDS
    ]
    created = "(xmax = 0)" if vendor == "postgresql" else "created_at"
    names = ", ".join(_quoted(c) for c in (*columns, *(column for column, _ in literals)))
    values = ", ".join(["%s"] * len(columns) + [literal for _, literal in literals])
    source = f"SELECT {values} WHERE {guard}" if guard else f"VALUES ({values})"
    return (
        f"INSERT INTO {table} AS t ({names}) {source} "
        "ON CONFLICT (email) DO UPDATE SET "
        + ", ".join(
            [
                *keep_unless_empty,
                *first_touch,
                # The domain derived from the email never replaces a known one; a given one does.
                "company_domain = CASE WHEN t.company_domain = '' OR %s THEN EXCLUDED.company_domain "
                "ELSE t.company_domain END",
                "company_size = COALESCE(EXCLUDED.company_size, t.company_size)",
                # Consent is given by a submission, never withdrawn by one that lacks the box.
                "consent = (t.consent OR EXCLUDED.consent)",
                "consent_at = CASE WHEN EXCLUDED.consent AND NOT t.consent THEN EXCLUDED.consent_at "
                "ELSE t.consent_at END",
                "last_activity_at = CASE WHEN t.last_activity_at IS NULL "
                "OR t.last_activity_at < EXCLUDED.last_activity_at THEN EXCLUDED.last_activity_at "
                "ELSE t.last_activity_at END",
                "score_stale = TRUE",
                "score_stale_since = CASE WHEN t.score_stale THEN t.score_stale_since "
                "ELSE EXCLUDED.score_stale_since END",
                "updated_at = EXCLUDED.updated_at",
            ]
        )
        + f" RETURNING id, stage, {created} AS created"
    )


@dataclass(frozen=True)
class LeadUpsert:
    lead_id: int
    stage: str
    created: bool


def lead_upsert(*, email: str, fields: dict, consent: bool = False, activity_at: datetime | None = None) -> LeadUpsert:
    """Create the lead of `email` or update it, in the caller's transaction; marks its score stale.

    `email` must be normalized. `fields` holds LEAD_WRITABLE_FIELDS; empty strings and None mean
    "not given" and never erase a known value.
    """
    now = timezone.now()
    sql, params, row = _lead_upsert_statement(
        email=email, fields=fields, consent=consent, activity_at=activity_at, now=now
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        lead_id, stage, created = cursor.fetchone()
    pending_marks_add([lead_id])  # the upsert marked it stale: the worker finds it in the queue
    if not _is_postgresql():
        # SQLite has no xmax: the row is new when its created_at is the one just sent.
        if isinstance(created, datetime):
            created = created.replace(tzinfo=None) == now.astimezone(UTC).replace(tzinfo=None)
        else:
            created = created == row["created_at"]
    return LeadUpsert(lead_id=lead_id, stage=stage, created=bool(created))


def _lead_upsert_statement(
    *, email: str, fields: dict, consent: bool, activity_at: datetime | None, now: datetime
) -> tuple[str, list, dict]:
    values, explicit_domain = _lead_upsert_values(
        email=email, fields=fields, consent=consent, activity_at=activity_at, now=now
    )
    row = _lead_row(email=email, now=now, values=values)
    sql = _lead_upsert_sql(connection.vendor, tuple(row))
    return sql, [*row.values(), explicit_domain], row


def _lead_upsert_values(
    *, email: str, fields: dict, consent: bool, activity_at: datetime | None, now: datetime
) -> tuple[dict, bool]:
    """What an upsert writes into a lead (by attribute name), and whether the domain was given."""
    values = {name: fields.get(name) or "" for name in (*LEAD_PROFILE_FIELDS, *LEAD_ATTRIBUTION_FIELDS)}
    explicit_domain = (fields.get("company_domain") or "").strip().lower()
    values["company_domain"] = explicit_domain or email_domain(email)
    values["company_size"] = fields.get("company_size")
    values["consent"] = bool(consent)
    values["consent_at"] = now if consent else None
    values["stage"] = Stage.LEAD.value
    values["score_stale"] = True
    values["score_stale_since"] = now
    values["last_activity_at"] = activity_at or now
    return values, bool(explicit_domain)


def _leads_for_emails(emails: set[str]) -> tuple[dict[str, int], set[str], list[int]]:
    """Lead ids by email, creating the leads that do not exist yet (sorted, so concurrent batches
    insert the same new emails in the same order), except for suppressed emails. Returns the ids
    by email, the suppressed emails and the ids this call inserted.

    Only an address without a lead can be on the suppression list (an erasure deletes the lead
    and suppresses its address; nothing creates a lead for a suppressed one), so only the new
    addresses are hashed and looked up: in a steady stream of events for known leads, none.
    """
    found = _lead_ids_by_email(emails)
    unknown = emails - found.keys()
    suppressed = suppressed_emails(sorted(unknown)) if unknown else set()
    missing = sorted(unknown - suppressed)
    if not missing:
        return found, suppressed, []
    now = timezone.now()
    if _is_postgresql():
        inserted = _leads_create_postgresql(missing, now)
        found.update(inserted)
        raced = set(missing) - found.keys()
        if raced:  # created by a concurrent request after our SELECT: read them now that they committed
            found.update(_lead_ids_by_email(raced))
        return found, suppressed, list(inserted.values())
    rows = [
        _lead_row(
            email=email,
            now=now,
            values={"company_domain": email_domain(email), "score_stale": True, "score_stale_since": now},
        )
        for email in missing
    ]
    columns = list(rows[0])
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {_quoted(Lead._meta.db_table)} ({', '.join(_quoted(c) for c in columns)}) "
        f"VALUES {', '.join([placeholders] * len(rows))} ON CONFLICT (email) DO NOTHING RETURNING email, id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row.values()])
        inserted = dict(cursor.fetchall())
    pending_marks_add(inserted.values())  # created marked stale: queued for the worker too
    found.update(inserted)
    raced = set(missing) - found.keys()
    if raced:  # created by a concurrent request after our SELECT: read them now that they committed
        found.update(dict(Lead.objects.filter(email__in=raced).values_list("email", "id")))
    return found, suppressed, list(inserted.values())


def _lead_ids_by_email(emails: set[str]) -> dict[str, int]:
    if not _is_postgresql():
        return dict(Lead.objects.filter(email__in=emails).values_list("email", "id"))
    # One JSON parameter instead of IN (%s, %s, ...): a thousand placeholders cost more to
    # render client-side than the query costs to run. Prepared, with the document bound rather
    # than quoted into the statement's text: ~1 ms less Python a batch of 1,000 (py-spy).
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT email, id FROM {_quoted(Lead._meta.db_table)} "
            "WHERE email = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))",
            [_json(sorted(emails))],
        )
        return dict(cursor.fetchall())


def _existing_lead_ids(lead_ids: set[int]) -> set[int]:
    if not _is_postgresql():
        return set(Lead.objects.filter(pk__in=lead_ids).values_list("id", flat=True))
    with prepared_cursor() as cursor:  # as _lead_ids_by_email
        cursor.execute(
            f"SELECT id FROM {_quoted(Lead._meta.db_table)} "
            "WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)::bigint))",
            [_json(sorted(lead_ids))],
        )
        return {row[0] for row in cursor.fetchall()}


def _leads_create_postgresql(emails: list[str], now: datetime) -> dict[str, int]:
    """New leads for sorted emails in one INSERT ... SELECT FROM jsonb_to_recordset: one JSON
    parameter, every other column one constant, whatever the number of leads. They are created
    marked stale and queued for the worker (leads.activity) by the same statement."""
    template = _lead_row(email="", now=now, values={"score_stale": True, "score_stale_since": now})
    types = _lead_db_types()
    varying = ("email", "company_domain")
    constants = [c for c in template if c not in varying]
    columns = [*varying, *constants]
    select = ["u.email", "u.company_domain"] + [f"CAST(%s AS {types[c]})" for c in constants]
    sql = (
        f"WITH created AS (INSERT INTO {_quoted(Lead._meta.db_table)} ({', '.join(_quoted(c) for c in columns)}) "
        f"SELECT {', '.join(select)} FROM jsonb_to_recordset(%s::jsonb) AS u(email text, company_domain text) "
        "ORDER BY u.email ON CONFLICT (email) DO NOTHING RETURNING email, id), "
        f"queued AS ({pending_marks_sql(leads='SELECT id FROM created')}) "
        "SELECT email, id FROM created"
    )
    params = [template[c] for c in constants] + [
        _json([{"email": e, "company_domain": email_domain(e)} for e in emails]),
        now,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


# --- Submissions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionResult:
    lead_id: int
    stage: str
    created: bool
    submission_id: int
    event_id: int


def submission_is_single_statement() -> bool:
    """True where submission_ingest writes with one statement (see write_once)."""
    return _is_postgresql()


def submission_ingest(
    *,
    form_name: str,
    email: str,
    fields: dict,
    consent: bool,
    page_url: str,
    submitted_at: datetime,
    payload: dict,
    api_key: ApiKey | None = None,
    source: str = "",
) -> SubmissionResult:
    """Store a form submission: the lead (created or updated), the raw submission and a
    form_submitted event, all or nothing; scoring is told after commit. An address on the
    suppression list (a person who was erased) is refused and nothing is stored."""
    if _is_postgresql():  # checks the suppression list in its one statement
        return _submission_ingest_postgresql(
            form_name=form_name,
            email=email,
            fields=fields,
            consent=consent,
            page_url=page_url,
            submitted_at=submitted_at,
            payload=payload,
            api_key=api_key,
            source=source,
        )
    if suppressed_emails([email]):
        raise Suppressed(SUPPRESSED_MESSAGE)
    with transaction.atomic(savepoint=False):
        lead = lead_upsert(email=email, fields=fields, consent=consent, activity_at=submitted_at)
        submission = Submission.objects.create(
            lead_id=lead.lead_id,
            form_name=form_name,
            payload=payload,
            page_url=page_url,
            submitted_at=submitted_at,
            api_key=api_key,
            created_lead=lead.created,
        )
        event = EngagementEvent.objects.create(
            lead_id=lead.lead_id,
            event_type=EventType.FORM_SUBMITTED,
            occurred_at=submitted_at,
            properties={"form_name": form_name, "page_url": page_url, "submission_id": submission.pk},
            source=source,
        )
        if lead.created:
            webhooks.webhook_leads_created(lead_ids=[lead.lead_id])
        _announce_events_stored([lead.lead_id])
    return SubmissionResult(
        lead_id=lead.lead_id,
        stage=lead.stage,
        created=lead.created,
        submission_id=submission.pk,
        event_id=event.pk,
    )


def _submission_ingest_postgresql(
    *,
    form_name: str,
    email: str,
    fields: dict,
    consent: bool,
    page_url: str,
    submitted_at: datetime,
    payload: dict,
    api_key: ApiKey | None,
    source: str,
) -> SubmissionResult:
    """The same three writes as one statement (data-modifying CTEs): the hot path of the API pays
    one round trip and no ORM machinery for them."""
    now = timezone.now()
    upsert_sql, upsert_params = _submission_upsert_statement(
        email=email, fields=fields, consent=consent, activity_at=submitted_at, now=now
    )
    # lead.created for every subscribed endpoint, written by the same statement when the upsert
    # inserted the row: no extra round trip, and nothing at all when no endpoint subscribes.
    outbox_sql, outbox_params = webhooks.lead_created_outbox_sql(
        lead_cte="l", lead_data=_new_lead_data(email=email, fields=fields)
    )
    sql = (
        f"WITH l AS ({upsert_sql}), "
        f"s AS (INSERT INTO {_quoted(Submission._meta.db_table)} "
        "(lead_id, form_name, payload, page_url, submitted_at, received_at, api_key_id, created_lead) "
        "SELECT l.id, %s, CAST(%s AS jsonb), %s, %s, %s, %s, l.created FROM l RETURNING id, lead_id), "
        f"e AS (INSERT INTO {_quoted(EngagementEvent._meta.db_table)} "
        "(lead_id, event_type, occurred_at, properties, source, external_id, received_at) "
        "SELECT s.lead_id, %s, %s, "
        "jsonb_build_object('form_name', %s::text, 'page_url', %s::text, 'submission_id', s.id), %s, NULL, %s "
        "FROM s RETURNING id), "
        f"q AS ({pending_mark_one_sql(lead='l')}), "
        f"d AS ({outbox_sql}) "
        "SELECT l.id, l.stage, l.created, s.id, e.id, ARRAY(SELECT id FROM d WHERE status = %s) FROM l, s, e"
    )
    params = [
        *upsert_params,
        form_name,
        _json(payload),
        page_url,
        submitted_at,
        now,
        api_key.pk if api_key is not None else None,
        EventType.FORM_SUBMITTED.value,
        submitted_at,
        form_name,
        page_url,
        source,
        now,
        now,  # the lead's queue row (q)
        *outbox_params,
        WebhookDeliveryStatus.PENDING.value,
    ]
    # One statement: atomic by itself, in the caller's transaction or in autocommit.
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:  # the guard: the address is on the suppression list, and nothing was written
        raise Suppressed(SUPPRESSED_MESSAGE)
    lead_id, stage, created, submission_id, event_id, deliveries = row
    webhooks.webhook_deliveries_nudge(deliveries)
    _announce_events_stored([lead_id])
    return SubmissionResult(
        lead_id=lead_id, stage=stage, created=bool(created), submission_id=submission_id, event_id=event_id
    )


def _submission_upsert_statement(
    *, email: str, fields: dict, consent: bool, activity_at: datetime, now: datetime
) -> tuple[str, list]:
    """The lead upsert of a submission on PostgreSQL, as a CTE of its one statement.

    The columns a submission never sets (scores, owner, next step, ...) get the model's defaults as
    literals written once per process into the statement: fewer parameters to send and to adapt,
    and only the columns a submission sets are prepared per request. The guard refuses an address
    on the suppression list (by its keyed hash) in the same statement, instead of a query of its own.
    """
    values, explicit_domain = _lead_upsert_values(
        email=email, fields=fields, consent=consent, activity_at=activity_at, now=now
    )
    values["email"] = email
    varying, literals = _submission_lead_layout(connection.vendor)
    guard = f"NOT EXISTS (SELECT 1 FROM {_quoted(SuppressedEmail._meta.db_table)} WHERE email_hash = %s)"
    sql = _lead_upsert_sql(connection.vendor, tuple(f.column for f, _ in varying), literals, guard)
    # Every varying column but the auto_now ones is in `values`.
    row = []
    for f, plain in varying:
        value = values.get(f.attname, now)
        row.append(value if plain else f.get_db_prep_save(value, connection))
    # In the order of their placeholders: the varying columns, the guard's hash, then the upsert's
    # trailing explicit-domain flag.
    return sql, [*row, email_hash(email), explicit_domain]


# What a submission writes into a lead: the rest of its columns are the model's defaults.
_SUBMISSION_LEAD_VALUES = frozenset(
    {*LEAD_PROFILE_FIELDS, *LEAD_ATTRIBUTION_FIELDS, "company_domain", "company_size", "consent", "consent_at"}
    | {"stage", "score_stale", "score_stale_since", "last_activity_at", "email"}
)


# Field types whose values (str, int, bool, aware datetime: what a submission holds after
# validation) psycopg adapts exactly as Django's per-field preparation would: sent as they are,
# since preparing 25 values through their fields cost ~5% of a submission's CPU.
_PLAIN_FIELD_TYPES = frozenset(
    {"CharField", "EmailField", "TextField", "BooleanField", "DateTimeField", "IntegerField", "PositiveIntegerField"}
)


@functools.cache
def _submission_lead_layout(vendor: str) -> tuple[tuple, tuple[tuple[str, str], ...]]:
    """The lead fields a submission sends a value for (its values and the auto_now timestamps), each
    with whether its value is sent as it is, and the (column, SQL literal) of every other column:
    its default, fixed for the process."""
    defaults = _lead_defaults(vendor)
    constants = tuple(
        f.column for f in _lead_columns() if f.column in defaults and f.column not in _SUBMISSION_LEAD_VALUES
    )
    varying = tuple(
        (f, f.get_internal_type() in _PLAIN_FIELD_TYPES) for f in _lead_columns() if f.column not in constants
    )
    return varying, _lead_default_literals(vendor, constants)


@functools.cache
def _lead_default_literals(vendor: str, columns: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Each column's default as the SQL literal the client-side binding would send for it."""
    defaults = _lead_defaults(vendor)
    return tuple((c, connection.ops.compose_sql("%s", [defaults[c]]).replace("%", "%%")) for c in columns)


def _new_lead_data(*, email: str, fields: dict) -> dict:
    """The webhook payload of the lead a submission creates (its id comes from the INSERT)."""
    data = {name: fields.get(name) or "" for name in ("first_name", "last_name", "company")}
    return {"email": email, **data, "stage": Stage.LEAD.value, "score": 0, "owner_id": None}


# --- Events ---------------------------------------------------------------------------------


class EventStatus:
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(slots=True)  # a batch makes a thousand: slots make each quicker to build
class EventInput:
    """One validated event; exactly one of lead_id and email is set. The API builds it with
    positional arguments (leads.api.serializers.validate_event): keep the fields' order."""

    event_type: str
    occurred_at: datetime
    properties: dict = field(default_factory=dict)
    lead_id: int | None = None
    email: str | None = None
    source: str = ""
    external_id: str | None = None


# An event's outcome is a dict in the shape the API reports it: {"index", "status", and "lead_id"
# (accepted, duplicate) or "errors" (rejected)}. A batch makes a thousand of them, and a dataclass
# per event, converted to that dict afterwards, cost more than the rest of its outcome.
EventOutcome = dict


SUPPRESSED_MESSAGE = "This person asked to be forgotten: LeadCRM does not store their address again."


def events_ingest(*, items: list[tuple[int, EventInput]]) -> list[EventOutcome]:
    """Store validated events (with their index in the request) in one transaction.

    A lead named by email that does not exist is created; a lead id that does not exist rejects
    its item only; an event whose (source, external_id) is already stored, or repeated earlier in
    the batch, is a duplicate. Returns one outcome per item, in the given order.
    """
    outcomes: dict[int, EventOutcome] = {}
    with transaction.atomic(savepoint=False):
        wanted_ids = {item.lead_id for _, item in items if item.lead_id is not None}
        known_ids = _existing_lead_ids(wanted_ids) if wanted_ids else set()
        emails = {item.email for _, item in items if item.email is not None}
        lead_by_email, suppressed, created_ids = _leads_for_emails(emails) if emails else ({}, set(), [])
        # Only leads this INSERT created are announced (once per lead), in this transaction.
        webhooks.webhook_leads_created(lead_ids=created_ids)

        rows: list[tuple[int, int, EventInput]] = []  # (index, lead id, item)
        seen: set[tuple[str, str]] = set()
        for index, item in items:
            lead_id = item.lead_id
            if lead_id is None:
                if item.email in suppressed:
                    outcomes[index] = _rejected(index, "email", SUPPRESSED_MESSAGE)
                    continue
                lead_id = lead_by_email[item.email]
            elif lead_id not in known_ids:
                outcomes[index] = _rejected(index, "lead_id", f"No lead with id {lead_id}.")
                continue
            if item.external_id is not None:
                identity = (item.source, item.external_id)
                if identity in seen:
                    outcomes[index] = {"index": index, "status": EventStatus.DUPLICATE, "lead_id": lead_id}
                    continue
                seen.add(identity)
            rows.append((index, lead_id, item))

        already_stored = _events_insert(rows)  # on PostgreSQL, it also queues the leads' activity
        accepted: dict[int, datetime] = {}  # lead id: its latest accepted event
        unsubscribed: set[int] = set()
        for index, lead_id, item in rows:
            if already_stored and item.external_id is not None and (item.source, item.external_id) in already_stored:
                outcomes[index] = {"index": index, "status": EventStatus.DUPLICATE, "lead_id": lead_id}
                continue
            outcomes[index] = {"index": index, "status": EventStatus.ACCEPTED, "lead_id": lead_id}
            if lead_id not in accepted or accepted[lead_id] < item.occurred_at:
                accepted[lead_id] = item.occurred_at
            if item.event_type == "unsubscribe":  # EventType.UNSUBSCRIBE, without the enum lookup per event
                unsubscribed.add(lead_id)
        if unsubscribed:
            # An unsubscribe is respected at once, not only by its (negative) scoring rule.
            Lead.objects.filter(pk__in=unsubscribed, unsubscribed=False).update(unsubscribed=True)
        if accepted:
            if not _is_postgresql():  # PostgreSQL's INSERT queued them already
                # Not an UPDATE of each lead: one queue row for the batch, taken by the scoring worker.
                pending_activity_add(accepted)
            _announce_events_stored(accepted)
    return [outcomes[index] for index, _ in items]


def _rejected(index: int, field_name: str, message: str) -> EventOutcome:
    return {"index": index, "status": EventStatus.REJECTED, "errors": {field_name: [message]}}


def _events_insert(rows: list[tuple[int, int, EventInput]]) -> set[tuple[str, str]]:
    """One INSERT for all rows; returns the (source, external_id) pairs it did not store because
    an event with that identity is stored already (rows repeated within the batch never get here)."""
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda row: (row[2].external_id is None, row[2].source, row[2].external_id or ""))
    if _is_postgresql():
        return _events_insert_postgresql(ordered)
    now = _adapt_datetime(timezone.now())
    placeholders = "(%s, %s, %s, %s, %s, %s, %s)"
    params: list = []
    for _, lead_id, item in ordered:
        params += [
            lead_id,
            item.event_type,
            _adapt_datetime(item.occurred_at),
            json.dumps(item.properties, ensure_ascii=False, separators=(",", ":")),
            item.source,
            item.external_id,
            now,
        ]
    sql = (
        f"INSERT INTO {_quoted(EngagementEvent._meta.db_table)} "
        "(lead_id, event_type, occurred_at, properties, source, external_id, received_at) "
        f"VALUES {', '.join([placeholders] * len(ordered))} "
        "ON CONFLICT DO NOTHING RETURNING source, external_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        stored = {(source, external_id) for source, external_id in cursor.fetchall() if external_id is not None}
    return _identities(ordered) - stored


def _identities(rows: list[tuple[int, int, EventInput]]) -> set[tuple[str, str]]:
    return {(item.source, item.external_id) for _, _, item in rows if item.external_id is not None}


# --- Lead fields ----------------------------------------------------------------------------


def lead_update_fields(*, lead_id: int, changes: dict) -> None:
    """Change editable fields of a lead (PATCH): fit rules read them, so the score is marked stale."""
    editable = {*LEAD_WRITABLE_FIELDS, "unsubscribed"}
    unknown = set(changes) - editable
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        lead = Lead.objects.select_for_update(no_key=True).get(pk=lead_id)
        for name, value in changes.items():
            setattr(lead, name, value)
        lead.save(update_fields=[*changes, "company_domain", "updated_at"])
        lead_mark_score_stale(lead_ids=[lead.pk])


def _events_insert_postgresql(ordered: list[tuple[int, int, EventInput]]) -> set[tuple[str, str]]:
    """One statement, whatever the batch size: INSERT ... SELECT FROM jsonb_to_recordset(one JSON
    parameter), which also appends the scoring queue's row for the leads of the rows it stored
    (leads.activity).

    A JSON document is the cheapest way to ship many rows through a query: it is encoded in C and
    PostgreSQL parses it fast, while thousands of placeholders (or array parameters) are rendered
    value by value in Python. It travels as a bound parameter (prepared_cursor), not escaped into
    the statement's text and lexed again by the server.

    Most batches hold no event stored before, so the first try is a plain INSERT, in a savepoint:
    ON CONFLICT DO NOTHING would look every row up in each unique index before inserting it (a
    fifth of the statement's work), while a plain INSERT checks uniqueness as it adds the index
    entry. A unique violation (a resent batch, an id stored before, a concurrent batch that
    committed the same ids first) rolls the savepoint back and the batch runs again with ON
    CONFLICT DO NOTHING, which skips what is stored and says which rows it wrote.

    When every row is stored, the queue row is known beforehand and travels as a parameter:
    PostgreSQL parses it for ~17 M instructions a batch less than it took to build it from the
    stored rows (callgrind). The retry has PostgreSQL build it from the rows it did store.
    """
    now = timezone.now()
    insert_params = [
        now,
        _json(
            [
                {
                    "lead_id": lead_id,
                    "event_type": item.event_type,
                    "occurred_at": item.occurred_at,
                    "properties": item.properties,
                    "source": item.source,
                    "external_id": item.external_id,
                }
                for _, lead_id, item in ordered
            ]
        ),
    ]
    latest: dict[int, datetime] = {}  # lead id: its latest event, for the queue row
    for _, lead_id, item in ordered:
        if lead_id not in latest or latest[lead_id] < item.occurred_at:
            latest[lead_id] = item.occurred_at
    queue_sql, queue_params = pending_activity_insert(latest)
    try:
        with transaction.atomic(), prepared_cursor() as cursor:
            cursor.execute(
                f"WITH stored AS ({_events_insert_sql(connection.vendor)}) {queue_sql}", insert_params + queue_params
            )
        return set()
    except IntegrityError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
    with prepared_cursor() as cursor:
        cursor.execute(
            f"WITH stored AS ({_events_insert_sql(connection.vendor)} ON CONFLICT DO NOTHING "
            "RETURNING lead_id, occurred_at, source, external_id), "
            f"queued AS ({pending_activity_sql(events='stored')}) "
            "SELECT source, external_id FROM stored WHERE external_id IS NOT NULL",
            [*insert_params, now],
        )
        stored = set(cursor.fetchall())
    return _identities(ordered) - stored


@functools.cache
def _events_insert_sql(vendor: str) -> str:
    """The INSERT of _events_insert_postgresql; its parameters: the time received, the rows."""
    return (
        f"INSERT INTO {_quoted(EngagementEvent._meta.db_table)} "
        "(lead_id, event_type, occurred_at, properties, source, external_id, received_at) "
        "SELECT u.lead_id, u.event_type, u.occurred_at, u.properties, u.source, u.external_id, %s "
        "FROM jsonb_to_recordset(%s::jsonb) "
        "AS u(lead_id bigint, event_type text, occurred_at timestamptz, properties jsonb, "
        "source text, external_id text)"
    )


_json = json_text


# --- Retention ------------------------------------------------------------------------------

IDEMPOTENCY_RETENTION = timedelta(days=1)


def idempotency_records_purge(*, older_than: timedelta = IDEMPOTENCY_RETENTION) -> int:
    """Forget stored answers older than the retry window (a day, as with most payment APIs):
    a retry after that is a new request. Returns how many were deleted."""
    cutoff = timezone.now() - older_than
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
