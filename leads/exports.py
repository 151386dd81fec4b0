"""CSV downloads, streamed: rows are read in keyset chunks and written as they go, so an export
of 100,000 leads never holds them all in memory (StreamingHttpResponse over a generator)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse

from .marketing_selectors import leads_iter
from .models import Lead

LEAD_COLUMNS = [
    ("id", "id"),
    ("email", "email"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("company", "company"),
    ("job_title", "job_title"),
    ("country", "country"),
    ("industry", "industry"),
    ("company_size", "company_size"),
    ("stage", "stage"),
    ("score", "score"),
    ("fit_score", "fit_score"),
    ("engagement_score", "engagement_score"),
    ("source", "source"),
    ("utm_campaign", "utm_campaign"),
    ("owner", "owner__username"),
    ("created_at", "created_at"),
    ("last_activity_at", "last_activity_at"),
    ("unsubscribed", "unsubscribed"),
]
TEXT_FIELDS = {"created_at": "created_text", "last_activity_at": "last_activity_text"}
# Cells a spreadsheet would run as a formula: prefixed with a quote (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str | int:
    """A CSV cell: empty for None, text that a spreadsheet would run as a formula quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def csv_rows(header: list[str], rows: Iterable[Iterable], *, batch: int = 1000) -> Iterator[str]:
    """CSV text in pieces of `batch` rows: few, larger writes keep the response fast."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        pending += 1
        if pending >= batch:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate(0)
            pending = 0
    yield buffer.getvalue()


def csv_response(rows: Iterator[str], *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def leads_csv_response(leads: QuerySet[Lead], *, filename: str) -> StreamingHttpResponse:
    # Times leave the database as text (ISO 8601): building a datetime per cell only to print it
    # again was a fifth of the export's time.
    leads = leads.annotate(
        created_text=Cast("created_at", output_field=CharField()),
        last_activity_text=Cast("last_activity_at", output_field=CharField()),
    )
    fields = [TEXT_FIELDS.get(source, source) for _, source in LEAD_COLUMNS[1:]]
    rows = leads_iter(leads, fields=fields, chunk_size=5000)
    return csv_response(csv_rows([name for name, _ in LEAD_COLUMNS], rows), filename=filename)
