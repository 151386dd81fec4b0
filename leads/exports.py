"""CSV downloads, streamed: rows are read in keyset chunks and written as they go, so an export
of 100,000 leads never holds them all in memory (StreamingHttpResponse over a generator)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
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
]
# Cells a spreadsheet would run as a formula: prefixed with a quote (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer inside a generator."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> str | int:
    if value is None:
        return ""
    if isinstance(value, int):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


def csv_response(rows: Iterator[str], *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def leads_csv_response(leads: QuerySet[Lead], *, filename: str) -> StreamingHttpResponse:
    fields = [source for _, source in LEAD_COLUMNS[1:]]
    rows = leads_iter(leads, fields=fields)
    return csv_response(csv_rows([name for name, _ in LEAD_COLUMNS], rows), filename=filename)
