"""CSV import of leads (issue 7, point 1): read any real-world CSV, map it, check it, write it.

Steps: import_upload stores the file and sniffs it (encoding, delimiter, header, a guess of the
mapping); import_review reads every row without writing and says what would happen; import_start
queues the job; import_run (the Celery task) checks the whole file again, then writes it in chunks,
committing each with the job's progress.

- Encodings: UTF-8 with or without BOM, UTF-16 with BOM, and Windows-1252/Latin-1 — line by line,
  so a UTF-8 file with a few Latin-1 lines (two exports pasted together) reads right too.
- A file that cannot be read as CSV (binary, a quote never closed, no email column) is refused as a
  whole with a clear message before anything is written: never a half import.
- Leads are matched by normalized email (leads.models.normalize_email, as the API's ingest does),
  also between rows of the file itself (the first row of an email wins, later ones are skipped),
  so an import run twice creates nothing the second time.
- An existing lead is updated per the job's mode: fill in empty fields only, overwrite with the
  file's non-empty values, or skip. As in leads.ingest, an empty cell never erases a known value
  and attribution (source, utm_*) is first touch: it is filled in, never overwritten.
- Every row not written is an ImportRowError (line, reason, its values): the error CSV, whose
  count is the job's failed count.
"""

import codecs
import csv
import io
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import ingest, webhooks
from .activity import pending_marks_add, pending_marks_sql
from .exports import csv_cell
from .ingest import LEAD_ATTRIBUTION_FIELDS, LEAD_PROFILE_FIELDS
from .models import (
    ImportJob,
    ImportMode,
    ImportRowError,
    ImportStatus,
    Lead,
    SuppressedEmail,
    email_domain,
    normalize_email,
)
from .privacy import suppressed_emails
from .services import lead_mark_score_stale

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 500_000
CHUNK_ROWS = 2_000
SAMPLE_ROWS = 10
MAX_COMPANY_SIZE = 10_000_000  # as the API's; a larger number would not fit the column either
# A queued or running job silent this long (no run claimed it, no chunk was written) has lost its
# task: the publish failed (broker down) or the worker died. The sweeper queues it again. A run
# beats at its claim and after each chunk (2,000 rows: seconds); checking a 500,000-row file took
# 10 s on the shared 2-core dev machine. So a living run is never this quiet, and queuing one
# again would cost a second pass over the file but write and count nothing twice (import_run).
STALLED_AFTER = timedelta(minutes=5)

logger = logging.getLogger(__name__)

FULL_NAME = "full_name"  # a pseudo-field: split into first and last name
IMPORTABLE_FIELDS = [
    "email",
    "first_name",
    "last_name",
    FULL_NAME,
    "company",
    "company_domain",
    "job_title",
    "phone",
    "country",
    "industry",
    "company_size",
    "consent",
    *LEAD_ATTRIBUTION_FIELDS,
]
FIELD_LABELS = {name: name.replace("_", " ").capitalize() for name in IMPORTABLE_FIELDS}
FIELD_LABELS.update({"email": "Email (required)", "utm_source": "UTM source", "utm_medium": "UTM medium"})
FIELD_LABELS.update({"utm_campaign": "UTM campaign", "utm_term": "UTM term", "utm_content": "UTM content"})
TEXT_FIELDS = [*LEAD_PROFILE_FIELDS, "company_domain"]
TRUE_WORDS = {"1", "true", "yes", "y", "x", "ja", "oui", "opt-in", "opted in", "subscribed"}

# Header spellings seen in exports of other CRMs, trade-show scanners and spreadsheets.
SYNONYMS = {
    "email": {"email", "e-mail", "email address", "e-mail address", "mail", "emailaddress", "work email", "courriel"},
    "first_name": {"first name", "firstname", "first", "given name", "forename", "vorname", "prénom", "prenom"},
    "last_name": {"last name", "lastname", "last", "surname", "family name", "nachname", "nom"},
    FULL_NAME: {"name", "full name", "fullname", "contact", "contact name"},
    "company": {"company", "company name", "organization", "organisation", "account", "account name", "firma"},
    "company_domain": {"domain", "company domain", "website", "company website"},
    "job_title": {"job title", "title", "position", "role", "jobtitle"},
    "phone": {"phone", "phone number", "telephone", "tel", "mobile", "mobile phone", "telefon"},
    "country": {"country", "country code", "land", "pays"},
    "industry": {"industry", "sector", "branche"},
    "company_size": {"company size", "employees", "number of employees", "headcount", "size"},
    "consent": {"consent", "opt in", "opt-in", "optin", "marketing consent", "gdpr consent"},
    "source": {"source", "lead source", "origin"},
    "utm_source": {"utm source", "utm_source"},
    "utm_medium": {"utm medium", "utm_medium"},
    "utm_campaign": {"utm campaign", "utm_campaign", "campaign"},
    "utm_term": {"utm term", "utm_term"},
    "utm_content": {"utm content", "utm_content"},
}
_MAX_LENGTHS = {f.name: f.max_length for f in Lead._meta.fields if getattr(f, "max_length", None)}


class ImportFileError(Exception):
    """The file as a whole cannot be imported; the message says why (shown as is)."""


# --- Reading a file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sniffed:
    encoding: str
    delimiter: str
    headers: list[str]
    sample: list[list[str]]


def decode(raw: bytes) -> tuple[str, str]:
    """The file's text and the name of its encoding."""
    if raw.startswith(codecs.BOM_UTF8):
        raw, bom = raw[len(codecs.BOM_UTF8) :], "utf-8-sig"
    else:
        bom = ""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return _no_nul(raw.decode("utf-16")), "utf-16"
        except UnicodeDecodeError as exc:
            raise ImportFileError("The file says it is UTF-16 but is not.") from exc
    if b"\x00" in raw[:65536]:
        raise ImportFileError("This is not a text file (it contains NUL bytes): export it as CSV and try again.")
    try:
        return _no_nul(raw.decode("utf-8")), bom or "utf-8"
    except UnicodeDecodeError:
        pass
    # Not UTF-8 throughout: decode line by line, so UTF-8 lines stay right next to Latin-1 ones.
    lines = raw.split(b"\n")
    text_lines, utf8_non_ascii = [], 0
    for line in lines:
        try:
            text_lines.append(line.decode("utf-8"))
            utf8_non_ascii += not line.isascii()
        except UnicodeDecodeError:
            text_lines.append(line.decode("cp1252") if _is_cp1252(line) else line.decode("latin-1"))
    # Only ASCII lines read as UTF-8: the file is Windows-1252 (a superset of Latin-1's letters).
    name = "utf-8+windows-1252" if utf8_non_ascii else "windows-1252"
    return _no_nul("\n".join(text_lines)), name


def _no_nul(text: str) -> str:
    """A NUL past the first 64 KB (or in UTF-16) would reach the database, which cannot store it."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ImportFileError(f"Line {line} contains a NUL character, which cannot be stored: remove it and try again.")
    return text


def _is_cp1252(line: bytes) -> bool:
    try:
        line.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def _delimiter(text: str) -> str:
    head = "\n".join(line for line in text[:65536].splitlines()[:50] if line.strip())
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        first = head.splitlines()[0] if head else ""
        counts = {d: first.count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _reader(text: str, delimiter: str):
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)


def _clean(cells: list[str]) -> list[str]:
    return [cell.strip() for cell in cells]


def sniff(raw: bytes) -> Sniffed:
    if not raw.strip():
        raise ImportFileError("The file is empty.")
    if len(raw) > MAX_FILE_BYTES:
        raise ImportFileError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    text, encoding = decode(raw)
    delimiter = _delimiter(text)
    rows = _reader(text, delimiter)
    headers: list[str] = []
    sample: list[list[str]] = []
    try:
        for cells in rows:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines
            if not headers:
                headers = _clean(cells)
                continue
            sample.append(_clean(cells))
            if len(sample) >= SAMPLE_ROWS:
                break
    except csv.Error as exc:
        raise ImportFileError(f"Line {rows.line_num} cannot be read as CSV: {exc}.") from exc
    if not headers:
        raise ImportFileError("The file has no header row.")
    return Sniffed(encoding=encoding, delimiter=delimiter, headers=headers, sample=sample)


def mapping_guess(headers: list[str]) -> list[str]:
    """The lead field of each column by its header ("" where none fits); a field is used once."""
    taken: set[str] = set()
    guess = []
    for header in headers:
        key = " ".join(header.lower().replace("_", " ").replace("-", " ").split())
        key_raw = header.strip().lower()
        found = ""
        for name, spellings in SYNONYMS.items():
            if name not in taken and (key in spellings or key_raw in spellings):
                found = name
                break
        if found:
            taken.add(found)
        guess.append(found)
    if "first_name" in taken or "last_name" in taken:
        guess = ["" if name == FULL_NAME else name for name in guess]
    return guess


# --- Rows -------------------------------------------------------------------------------------


@dataclass
class Row:
    line: int
    values: dict
    cells: list[str]


@dataclass
class Rejection:
    line: int
    reason: str
    cells: list[str]


@dataclass
class Checked:
    """Every row of a file, read and validated: what would be written and what would not."""

    rows: list[Row] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: list[Rejection] = field(default_factory=list)
    total: int = 0


def _row_values(cells: list[str], mapping: list[str]) -> tuple[dict, str | None]:
    values: dict = {}
    for index, name in enumerate(mapping):
        if not name or index >= len(cells):
            continue
        value = cells[index]
        if name == FULL_NAME:
            first, _, last = value.partition(" ")
            values.setdefault("first_name", first.strip())
            values.setdefault("last_name", last.strip())
            continue
        values[name] = value
    email = normalize_email(values.get("email", ""))
    if not email:
        return values, "No email address."
    try:
        validate_email(email)
    except ValidationError:
        return values, f"Not a valid email address: {values['email'][:80]}"
    values["email"] = email
    if values.get("country"):
        country = values["country"].upper()
        if len(country) != 2 or not (country.isascii() and country.isalpha()):
            return values, f"Country must be a two-letter ISO code, not {values['country'][:40]!r}."
        values["country"] = country
    if values.get("company_size"):
        size = values["company_size"].replace(",", "").replace(".", "").replace(" ", "")
        if not (size.isascii() and size.isdigit()) or int(size) > MAX_COMPANY_SIZE:
            return (
                values,
                f"Company size must be a whole number up to {MAX_COMPANY_SIZE:,}, not {values['company_size'][:40]!r}.",
            )
        values["company_size"] = int(size)
    else:
        values.pop("company_size", None)
    if "consent" in values:
        values["consent"] = values["consent"].strip().lower() in TRUE_WORDS
    if values.get("company_domain"):
        domain = values["company_domain"].lower().removeprefix("https://").removeprefix("http://")
        values["company_domain"] = domain.removeprefix("www.").split("/")[0]
    for name, value in values.items():
        limit = _MAX_LENGTHS.get(name)
        if limit and isinstance(value, str) and len(value) > limit:
            return values, f"{FIELD_LABELS.get(name, name)} is longer than {limit} characters."
    return values, None


def check_file(raw: bytes, *, encoding: str, delimiter: str, mapping: list[str]) -> Checked:
    """Read and validate every row without writing. Raises ImportFileError for a broken file."""
    if "email" not in mapping:
        raise ImportFileError("Map a column to Email: leads are matched by their email address.")
    text, _ = decode(raw)
    reader = _reader(text, delimiter)
    checked = Checked()
    first_line_of: dict[str, int] = {}
    header_seen = False
    width = len(mapping)
    line = 0
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if not header_seen:
                header_seen = True
                continue
            checked.total += 1
            if checked.total > MAX_ROWS:
                raise ImportFileError(f"The file has more than {MAX_ROWS:,} rows: split it and import the parts.")
            cells = _clean(cells)
            if len(cells) > width and any(cells[width:]):
                checked.rejected.append(Rejection(start, f"Has {len(cells)} columns; the header has {width}.", cells))
                continue
            values, error = _row_values(cells, mapping)
            if error:
                checked.rejected.append(Rejection(start, error, cells))
                continue
            email = values["email"]
            if email in first_line_of:
                checked.duplicates.append(
                    Rejection(start, f"Same email as line {first_line_of[email]}: skipped.", cells)
                )
                continue
            first_line_of[email] = start
            checked.rows.append(Row(start, values, cells))
    except csv.Error as exc:
        raise ImportFileError(f"Line {reader.line_num} cannot be read as CSV: {exc}. Nothing was imported.") from exc
    suppressed = _suppressed([row.values["email"] for row in checked.rows])
    if suppressed:
        kept = []
        for row in checked.rows:
            if row.values["email"] in suppressed:
                checked.rejected.append(
                    # No cells: the error report must not keep an erased person's data either.
                    Rejection(row.line, "This person was erased and asked not to be kept.", [])
                )
            else:
                kept.append(row)
        checked.rows = kept
        checked.rejected.sort(key=lambda r: r.line)
    return checked


def _suppressed(emails: list[str]) -> set[str]:
    found: set[str] = set()
    if not SuppressedEmail.objects.exists():
        return found  # the usual case: no hashing of every address
    for start in range(0, len(emails), 5_000):
        found |= suppressed_emails(emails[start : start + 5_000])
    return found


# --- Jobs -------------------------------------------------------------------------------------


def _imports_dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_upload(*, file_name: str, raw: bytes, user=None) -> ImportJob:
    """Store an uploaded file and what sniffing it found. Raises ImportFileError for a broken one."""
    sniffed = sniff(raw)
    path = _imports_dir() / f"{uuid.uuid4().hex}.csv"
    path.write_bytes(raw)
    return ImportJob.objects.create(
        created_by=user,
        file_name=Path(file_name or "upload.csv").name[:255],
        file_path=str(path),
        file_size=len(raw),
        encoding=sniffed.encoding,
        delimiter=sniffed.delimiter,
        headers=sniffed.headers,
        mapping=mapping_guess(sniffed.headers),
    )


def import_sample(*, job: ImportJob) -> list[list[str]]:
    return sniff(Path(job.file_path).read_bytes()).sample


def import_set_mapping(*, job_id: int, mapping: list[str], mode: str) -> ImportJob:
    """Save the columns' fields and the mode, refusing unknown fields or a field mapped twice."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status != ImportStatus.UPLOADED:
        raise ImportFileError("This import has already started: upload the file again to change it.")
    mapping = [(name or "").strip() for name in mapping][: len(job.headers)]
    mapping += [""] * (len(job.headers) - len(mapping))
    unknown = {name for name in mapping if name and name not in IMPORTABLE_FIELDS}
    if unknown:
        raise ImportFileError(f"Not a lead field: {', '.join(sorted(unknown))}.")
    used = [name for name in mapping if name]
    twice = sorted({name for name in used if used.count(name) > 1})
    if twice:
        raise ImportFileError(f"Each field can take one column; mapped twice: {', '.join(twice)}.")
    if "email" not in used:
        raise ImportFileError("Map a column to Email: leads are matched by their email address.")
    if mode not in ImportMode.values:
        raise ImportFileError(f"Unknown mode {mode!r}.")
    job.mapping, job.mode = mapping, mode
    job.save(update_fields=["mapping", "mode"])
    return job


@dataclass(frozen=True)
class Review:
    total: int
    create: int
    update: int
    skip: int
    fail: int
    rejected: list[Rejection]


def import_review(*, job: ImportJob) -> Review:
    """What running the job would do, without writing anything."""
    checked = check_file(
        Path(job.file_path).read_bytes(), encoding=job.encoding, delimiter=job.delimiter, mapping=job.mapping
    )
    emails = [row.values["email"] for row in checked.rows]
    existing = 0
    for start in range(0, len(emails), 5_000):
        existing += Lead.objects.filter(email__in=emails[start : start + 5_000]).count()
    new = len(emails) - existing
    skip = len(checked.duplicates) + (existing if job.mode == ImportMode.SKIP else 0)
    update = 0 if job.mode == ImportMode.SKIP else existing
    return Review(checked.total, new, update, skip, len(checked.rejected), checked.rejected)


def import_start(*, job_id: int) -> ImportJob:
    """Queue the job (after commit); starting it twice queues it once."""
    with transaction.atomic():
        queued = ImportJob.objects.filter(pk=job_id, status=ImportStatus.UPLOADED).update(
            status=ImportStatus.QUEUED, heartbeat_at=timezone.now()
        )
        if queued:
            transaction.on_commit(lambda: _enqueue(job_id))
    return ImportJob.objects.get(pk=job_id)


def _enqueue(job_id: int) -> None:
    """Send the task. The broker may be down (after the commit, in a request or in the sweeper): the
    job stays queued and the sweeper (import_jobs_sweep) queues it again once it is silent."""
    from .data_tasks import import_run_task

    try:
        import_run_task.delay(job_id)
    except Exception:
        if import_run_task.app.conf.task_always_eager:
            raise  # run in-process: a bug to see, not a broker outage
        logger.warning("Could not queue import job %s; the sweeper will", job_id, exc_info=True)


def import_jobs_sweep(*, now: datetime | None = None) -> int:
    """Beat: queue the task again for every queued or running job silent for STALLED_AFTER (its
    message was never published, or its worker died). Returns how many were queued.

    Each is first marked with a conditional UPDATE (heartbeat_at = now, while it is still silent),
    whose row count says whether this sweep or a concurrent one queues it; the mark also restarts
    the wait, so a job whose task is lost again is queued again one STALLED_AFTER later, not on
    every sweep. A copy queued for a job that is in fact running is harmless (import_run)."""
    now = now or timezone.now()
    cutoff = now - STALLED_AFTER
    silent = Q(status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING]) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    queued = 0
    for job_id in ImportJob.objects.filter(silent).order_by("pk").values_list("pk", flat=True)[:100]:
        if ImportJob.objects.filter(silent, pk=job_id).update(heartbeat_at=now):
            logger.info("Import job %s was silent since before %s: queued again", job_id, cutoff)
            _enqueue(job_id)
            queued += 1
    return queued


def import_run(*, job_id: int) -> ImportJob:
    """Check the whole file, then write it chunk by chunk, each chunk committed with the progress.

    Safe under Celery redelivery (two copies of the task, at once or one after the other, or a
    copy re-run after a lost worker): the job row is the cursor. Each step locks it and runs only
    if the job still stands where that step starts (the rejected rows are recorded while
    total_rows is 0; chunk n is written while processed_rows says the chunks before it are done),
    and commits its writes with the cursor's move. A second copy finds the steps done and skips
    them, so no count is reset or doubled and a re-run resumes after the last committed chunk.
    """
    claimed = ImportJob.objects.filter(pk=job_id, status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING]).update(
        status=ImportStatus.RUNNING, started_at=Coalesce(F("started_at"), timezone.now()), heartbeat_at=timezone.now()
    )
    job = ImportJob.objects.get(pk=job_id)
    if not claimed:
        return job  # done, failed, or never started
    try:
        checked = check_file(
            Path(job.file_path).read_bytes(), encoding=job.encoding, delimiter=job.delimiter, mapping=job.mapping
        )
    except (ImportFileError, OSError) as exc:
        # Only a job still running fails: a copy that finished meanwhile has deleted the file.
        ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
            status=ImportStatus.FAILED, error=str(exc), finished_at=timezone.now()
        )
        job.refresh_from_db()
        if job.status == ImportStatus.FAILED:
            _forget_file(job)
        return job

    not_written = sorted(checked.rejected + checked.duplicates, key=lambda r: r.line)
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status == ImportStatus.RUNNING and job.total_rows == 0:
            ImportRowError.objects.bulk_create(
                [ImportRowError(job=job, line=r.line, reason=r.reason, values=r.cells) for r in checked.rejected],
                batch_size=2_000,
            )
            ImportJob.objects.filter(pk=job.pk).update(
                total_rows=checked.total,
                failed_count=len(checked.rejected),
                skipped_count=len(checked.duplicates),
                processed_rows=len(not_written),
                heartbeat_at=timezone.now(),
            )
    for start in range(0, len(checked.rows), CHUNK_ROWS):
        chunk = checked.rows[start : start + CHUNK_ROWS]
        with transaction.atomic():
            # The lock makes a concurrent copy wait here, then see the chunk done and skip it.
            job = ImportJob.objects.select_for_update().get(pk=job.pk)
            if job.status != ImportStatus.RUNNING or job.processed_rows != len(not_written) + start:
                continue  # written by another copy (or the job is no longer running)
            created, updated, skipped = _write_chunk(chunk, mode=job.mode)
            ImportJob.objects.filter(pk=job.pk).update(
                processed_rows=F("processed_rows") + len(chunk),
                created_count=F("created_count") + created,
                updated_count=F("updated_count") + updated,
                skipped_count=F("skipped_count") + skipped,
                heartbeat_at=timezone.now(),
            )
    finished = ImportJob.objects.filter(
        pk=job.pk, status=ImportStatus.RUNNING, processed_rows=len(not_written) + len(checked.rows)
    ).update(status=ImportStatus.DONE, finished_at=timezone.now())
    job.refresh_from_db()
    if finished:
        _forget_file(job)
    return job


def _forget_file(job: ImportJob) -> None:
    """The upload is personal data: once the job is over, its rows are leads or error rows."""
    Path(job.file_path).unlink(missing_ok=True)


def _write_chunk(rows: list[Row], *, mode: str) -> tuple[int, int, int]:
    """Create the new leads and update the known ones of one chunk; returns (created, updated, skipped)."""
    by_email = {row.values["email"]: row for row in rows}
    existing = {lead.email: lead for lead in Lead.objects.filter(email__in=list(by_email))}
    new_rows = [row for email, row in by_email.items() if email not in existing]
    created_ids = _create(new_rows)
    raced = [row for row in new_rows if row.values["email"] not in created_ids]
    if raced:  # created by someone else since our SELECT: they are existing leads now
        existing.update(
            {lead.email: lead for lead in Lead.objects.filter(email__in=[r.values["email"] for r in raced])}
        )
    updated_leads, skipped = [], 0
    changed_fields: set[str] = set()
    for email, lead in existing.items():
        if email not in by_email:
            continue
        if mode == ImportMode.SKIP:
            skipped += 1
            continue
        changed = _apply(lead, by_email[email].values, overwrite=mode == ImportMode.OVERWRITE)
        if changed:
            changed_fields |= changed
            updated_leads.append(lead)
        else:
            skipped += 1  # nothing new for this lead: counted as skipped, not as an update
    if updated_leads and connection.vendor == "postgresql":
        _update_postgresql(updated_leads, sorted(changed_fields))  # marks them stale too
        ingest._announce_events_stored([lead.pk for lead in updated_leads])
    elif updated_leads:
        now = timezone.now()
        for lead in updated_leads:
            lead.updated_at = now
        Lead.objects.bulk_update(updated_leads, [*sorted(changed_fields), "updated_at"], batch_size=500)
        lead_mark_score_stale(lead_ids=[lead.pk for lead in updated_leads])
    # New leads are inserted already marked stale: queue them for the worker and tell scoring
    # (after commit) about them.
    pending_marks_add(created_ids.values())
    ingest._announce_events_stored(created_ids.values())
    webhooks.webhook_leads_created(lead_ids=created_ids.values())  # in the chunk's transaction
    return len(created_ids), len(updated_leads), skipped


CREATE_BATCH = 500  # rows per INSERT: 500 x ~36 columns stays under SQLite's and PostgreSQL's parameter limits


def _create(rows: list[Row]) -> dict[str, int]:
    """Insert new leads with multi-row INSERT ... ON CONFLICT (email) DO NOTHING RETURNING: one
    statement per 500 rows instead of the ORM's per-field preparation (ten times slower here).
    Every other column gets the model's default, as leads.ingest builds its rows; an email that a
    concurrent writer created meanwhile is simply not returned, and the caller updates it."""
    if not rows:
        return {}
    now = timezone.now()
    template = ingest._lead_row(email="", now=now, values={"score_stale": True, "score_stale_since": now})
    columns = list(template)
    adapt = connection.ops.adapt_datetimefield_value
    now_db = adapt(now)
    table = connection.ops.quote_name(Lead._meta.db_table)
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    if connection.vendor == "postgresql":
        return _create_postgresql(rows, template, now)
    created: dict[str, int] = {}
    for start in range(0, len(rows), CREATE_BATCH):
        params: list = []
        batch = rows[start : start + CREATE_BATCH]
        for row in batch:
            values = dict(template)
            for name, value in row.values.items():
                if name != "consent":
                    values[name] = value
            values["email"] = email = row.values["email"]
            values["company_domain"] = row.values.get("company_domain") or email_domain(email)
            values["source"] = row.values.get("source") or "import"
            if row.values.get("consent"):
                values["consent"], values["consent_at"] = True, now_db
            params.extend(values[c] for c in columns)
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        sql = (
            f"INSERT INTO {table} ({quoted}) VALUES {', '.join([placeholders] * len(batch))} "
            "ON CONFLICT (email) DO NOTHING RETURNING email, id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            created.update(dict(cursor.fetchall()))
    return created


VARYING_COLUMNS = (
    "email",
    "company_domain",
    "source",
    *(name for name in TEXT_FIELDS if name != "company_domain"),
    *(name for name in LEAD_ATTRIBUTION_FIELDS if name != "source"),
    "company_size",
    "consent",
    "consent_at",
)


def _create_postgresql(rows: list[Row], template: dict, now) -> dict[str, int]:
    """PostgreSQL: one INSERT ... SELECT FROM jsonb_to_recordset(one JSON parameter) per chunk, as
    leads.ingest creates leads (thousands of client-side placeholders cost more than the insert)."""
    types = ingest._lead_db_types()
    constants = [c for c in template if c not in VARYING_COLUMNS]
    record_types = {"company_size": "integer", "consent": "boolean", "consent_at": "timestamptz"}
    record = ", ".join(f"{c} {record_types.get(c, 'text')}" for c in VARYING_COLUMNS)
    columns = [*VARYING_COLUMNS, *constants]
    select = [f"u.{c}" for c in VARYING_COLUMNS] + [f"CAST(%s AS {types[c]})" for c in constants]
    sql = (
        f"INSERT INTO {connection.ops.quote_name(Lead._meta.db_table)} "
        f"({', '.join(connection.ops.quote_name(c) for c in columns)}) "
        f"SELECT {', '.join(select)} FROM jsonb_to_recordset(%s::jsonb) AS u({record}) "
        "ORDER BY u.email ON CONFLICT (email) DO NOTHING RETURNING email, id"
    )
    stamp = now.isoformat()
    records = []
    for row in rows:
        values = row.values
        record_row = {name: values.get(name) or "" for name in VARYING_COLUMNS}
        record_row["company_domain"] = values.get("company_domain") or email_domain(values["email"])
        record_row["source"] = values.get("source") or "import"
        record_row["company_size"] = values.get("company_size")
        record_row["consent"] = bool(values.get("consent"))
        record_row["consent_at"] = stamp if values.get("consent") else None
        records.append(record_row)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*(template[c] for c in constants), ingest._json(records)])
        return dict(cursor.fetchall())


def _update_postgresql(leads: list[Lead], fields: list[str]) -> None:
    """One UPDATE ... FROM jsonb_to_recordset for a chunk's changed leads (bulk_update's CASE per
    row and field was 10x slower), marking their scores stale and queueing them for the worker
    (leads.activity) in the same statement."""
    table = connection.ops.quote_name(Lead._meta.db_table)
    record_types = {"company_size": "integer", "consent": "boolean", "consent_at": "timestamptz"}
    record = ", ".join(["id bigint", *(f"{name} {record_types.get(name, 'text')}" for name in fields)])
    assignments = ", ".join(f"{connection.ops.quote_name(name)} = u.{name}" for name in fields)
    rows = [
        {"id": lead.pk, **{name: _json_value(getattr(lead, name)) for name in fields}}
        for lead in sorted(leads, key=lambda lead: lead.pk)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH updated AS (UPDATE {table} SET {assignments}, updated_at = %s, score_stale = TRUE, "
            f"score_stale_since = CASE WHEN {table}.score_stale THEN {table}.score_stale_since ELSE %s END "
            f"FROM jsonb_to_recordset(%s::jsonb) AS u({record}) WHERE {table}.id = u.id RETURNING {table}.id) "
            + pending_marks_sql(leads="SELECT id FROM updated"),
            [timezone.now(), timezone.now(), ingest._json(rows), timezone.now()],
        )


def _json_value(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def _apply(lead: Lead, values: dict, *, overwrite: bool) -> set[str]:
    """Copy a row's values onto a known lead; returns the changed fields. An empty value never
    erases; attribution is first touch; consent is given, never withdrawn, by an import."""
    changed = set()
    for name in TEXT_FIELDS:
        value = values.get(name) or ""
        current = getattr(lead, name)
        if value and value != current and (overwrite or not current):
            setattr(lead, name, value)
            changed.add(name)
    for name in LEAD_ATTRIBUTION_FIELDS:
        value = values.get(name) or ""
        if value and not getattr(lead, name):
            setattr(lead, name, value)
            changed.add(name)
    size = values.get("company_size")
    if size is not None and size != lead.company_size and (overwrite or lead.company_size is None):
        lead.company_size = size
        changed.add("company_size")
    if values.get("consent") and not lead.consent:
        lead.consent, lead.consent_at = True, timezone.now()
        changed |= {"consent", "consent_at"}
    return changed


def import_error_rows(*, job: ImportJob):
    return ImportRowError.objects.filter(job=job).order_by("line", "id")


def import_error_csv(*, job: ImportJob, out) -> int:
    """Write the error report (line, reason, then the row's cells under the file's headers) to
    `out`; returns how many rows it holds (the job's failed count)."""
    writer = csv.writer(out)
    writer.writerow(["line", "reason", *map(csv_cell, job.headers)])
    count = 0
    for error in import_error_rows(job=job).iterator(chunk_size=2_000):
        # Cells a spreadsheet would run as a formula (=, +, -, @) are quoted, as in every export.
        writer.writerow([error.line, csv_cell(error.reason), *map(csv_cell, error.values)])
        count += 1
    return count
