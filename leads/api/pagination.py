"""Keyset (cursor) pagination: page 1,000 costs what page 1 costs.

The cursor is the (sort value, id) of the last row shown; the next page is the rows after it in
(sort value, id) order, found with a row comparison that walks the matching index. Offsets (and
DRF's CursorPagination, which falls back to offsets among equal sort values: a million leads with
score 0 are one long tie) grow slower with every page.

A nullable sort field (last activity) puts the rows without a value last in either direction, and
is walked in two segments, each one index range: the rows with a value (the cursor is an index
condition on them), then the rows without one by id. One ORDER BY ... NULLS LAST with an
`OR field IS NULL` in the cursor would not be an index condition: every deep page would scan the
rows before it. A page is one query, or two where it reaches the rows without a value.

Walking the sort index pays for every row it passes that the filters refuse. Where the caller
knows the matching rows are few (a selective text search: the trigram index finds them all at
once), `match_first` finds the matches first and sorts only them (see _first_rows).
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import BooleanField, F
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from ..text_search import first_matches

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Ordering:
    field: str
    descending: bool
    nullable: bool = False
    is_datetime: bool = False


class KeysetPagination:
    cursor_param = "cursor"
    limit_param = "limit"

    def __init__(self, *, orderings: dict[str, Ordering], default: str, table: str):
        self.orderings = orderings
        self.default = default
        self.table = table

    # --- request parsing ---

    def ordering_for(self, request) -> tuple[str, Ordering]:
        name = request.query_params.get("ordering") or self.default
        if name not in self.orderings:
            raise serializers.ValidationError({"ordering": [f"One of: {', '.join(self.orderings)}."]})
        return name, self.orderings[name]

    def limit_for(self, request) -> int:
        raw = request.query_params.get(self.limit_param)
        if raw is None:
            return DEFAULT_LIMIT
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
            raise serializers.ValidationError({self.limit_param: [f"An integer from 1 to {MAX_LIMIT}."]})
        return int(raw)

    def decode_cursor(self, raw: str, ordering: Ordering):
        try:
            name, value, last_id = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
            if not isinstance(last_id, int) or isinstance(last_id, bool):
                raise ValueError
            if name != ordering.field:
                raise ValueError
            if value is not None:
                if ordering.is_datetime:
                    value = parse_datetime(value)
                    if value is None:
                        raise ValueError
                elif not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError
            return value, last_id
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise serializers.ValidationError(
                {self.cursor_param: ["Invalid cursor (cursors are only valid with the ordering that made them)."]}
            ) from None

    @staticmethod
    def encode_cursor(field: str, value, last_id: int) -> str:
        if isinstance(value, datetime):
            value = value.isoformat()
        raw = json.dumps([field, value, last_id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    # --- query ---

    def _after(self, ordering: Ordering, value, last_id: int):
        column = f"{connection.ops.quote_name(self.table)}.{connection.ops.quote_name(ordering.field)}"
        pk = f"{connection.ops.quote_name(self.table)}.{connection.ops.quote_name('id')}"
        op = "<" if ordering.descending else ">"
        if ordering.is_datetime:
            value = connection.ops.adapt_datetimefield_value(value)
        sql = f"(({column}, {pk}) {op} (%s, %s))"
        return RawSQL(sql, [value, last_id], output_field=BooleanField())

    @staticmethod
    def _order(queryset, ordering: Ordering, *, by_id_only: bool = False):
        id_order = "-id" if ordering.descending else "id"
        if by_id_only:
            return queryset.order_by(id_order)
        # The index is (field DESC NULLS LAST, id DESC); scanned backwards it is ASC NULLS FIRST.
        # Where NULLs are filtered out, naming the index's own NULL placement lets it serve the order.
        field = F(ordering.field)
        if not ordering.nullable:
            sort = field.desc() if ordering.descending else field.asc()
        else:
            sort = field.desc(nulls_last=True) if ordering.descending else field.asc(nulls_first=True)
        return queryset.order_by(sort, id_order)

    def _first_rows(self, query, ordering: Ordering, count: int, *, match_first: bool, by_id_only: bool = False):
        """The first `count` rows of `query` in the ordering's order.

        match_first: the rows matching `query`'s filters are collected first (a MATERIALIZED CTE
        is a fence the planner cannot push the ORDER BY ... LIMIT through), then sorted, and the
        page is fetched by id. Otherwise PostgreSQL may walk the sort index and test each row it
        passes: fast where matches are common, but where they are rare (or where the newest rows
        all fail to match) it reads thousands of rows for a page of 50.
        """
        if not match_first:
            return list(self._order(query, ordering, by_id_only=by_id_only)[:count])
        # NULLs are filtered out of each segment before this: a plain order is the same order.
        direction = "-" if ordering.descending else ""
        fields = ("id",) if by_id_only else (ordering.field, "id")
        return first_matches(query, order=tuple(direction + field for field in fields), count=count, matches_first=True)

    def _rows(self, queryset, ordering: Ordering, cursor: tuple | None, count: int, match_first: bool) -> list:
        if cursor is not None and cursor[0] is not None:
            after = queryset.filter(self._after(ordering, *cursor))
        else:
            after = queryset
        if not ordering.nullable:
            return self._first_rows(after, ordering, count, match_first=match_first)
        rows = []
        if cursor is None or cursor[0] is not None:
            with_value = after.filter(**{f"{ordering.field}__isnull": False})
            rows = self._first_rows(with_value, ordering, count, match_first=match_first)
        if len(rows) < count:
            without_value = queryset.filter(**{f"{ordering.field}__isnull": True})
            if cursor is not None and cursor[0] is None:
                without_value = without_value.filter(**{"id__lt" if ordering.descending else "id__gt": cursor[1]})
            rows += self._first_rows(
                without_value, ordering, count - len(rows), match_first=match_first, by_id_only=True
            )
        return rows

    def paginate(self, queryset, request, *, match_first: bool = False) -> tuple[list, str | None]:
        """(rows of this page, the cursor of the next page or None). Rows are model instances or,
        from a .values() queryset, dicts. match_first: see _first_rows."""
        _, ordering = self.ordering_for(request)
        limit = self.limit_for(request)
        raw_cursor = request.query_params.get(self.cursor_param)
        cursor = self.decode_cursor(raw_cursor, ordering) if raw_cursor else None
        if cursor is not None and cursor[0] is None and not ordering.nullable:
            raise serializers.ValidationError(
                {self.cursor_param: ["Invalid cursor (cursors are only valid with the ordering that made them)."]}
            )
        rows = self._rows(queryset, ordering, cursor, limit + 1, match_first)
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        last = rows[-1]
        if isinstance(last, dict):
            return rows, self.encode_cursor(ordering.field, last[ordering.field], last["id"])
        return rows, self.encode_cursor(ordering.field, getattr(last, ordering.field), last.pk)

    def response(self, request, data: list, next_cursor: str | None) -> Response:
        next_url = None
        if next_cursor:
            next_url = replace_query_param(request.build_absolute_uri(), self.cursor_param, next_cursor)
        return Response({"next": next_url, "next_cursor": next_cursor, "results": data})
