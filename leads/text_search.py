"""How a text search over leads finds its first rows at 1,000,000 leads (PostgreSQL).

A search (name, email or company contains a word) tests Lead.search_text, the four columns joined
by spaces and upper-cased, which one trigram index serves (migration 0020). Its first page can be
found two ways, and neither is always fast:

- walking the sort index (newest first, say) and testing each row it passes: it passes about
  page_rows * rows / matches rows before the page is full: cheap for a common word, the whole
  table for a word that matches nothing;
- collecting every match through the trigram index first (a heap page and a recheck each), then
  sorting only them: cheap for a rare word, 12,500 heap pages for a common last name.

Both cost about the same per row visited (~2.7 us warm), so with matches spread evenly over the
sort order matches first wins where matches * matches < page_rows * rows: below ~7,100 matches at
1,000,000 leads and 51-row pages. They rarely are: the newest leads often differ from the rest,
and a walk passes them all (a last name with 12,468 matches, below 34,000 new leads that had
none: walk 101-115 ms, matches first 32-45 ms). Matches first costs what the matches cost, in any
order; so a walk is chosen only above ten times that product (~23,000 matches there;
WALK_MARGIN). The planner estimates both counts, in one EXPLAIN, and near the limit a count over
a sample of the table's pages decides (its estimate scatters with ANALYZE's sample).
"""

import json

from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.lookups import Contains, EndsWith

from .models import Lead

# pg_trgm needs 3 characters to use its index: a shorter search term is a scan either way.
TRIGRAM_LENGTH = 3


# What Lead.search_text joins (by spaces, upper-cased).
SEARCHED_COLUMNS = ("first_name", "last_name", "email", "company")


class _UpperCasedPattern:
    """A LIKE lookup on Lead.search_text, which is stored upper-cased: only the pattern is
    upper-cased, by the database as it upper-cased the text (search_text LIKE UPPER(%s)). Its
    column is what lead_stage_search_trgm_idx indexes (migration 0020)."""

    def get_rhs_op(self, connection, rhs):
        return super().get_rhs_op(connection, f"UPPER({rhs})")


class _TextContains(_UpperCasedPattern, Contains):
    pass


class _TextEndsWith(_UpperCasedPattern, EndsWith):
    pass


def containing(leads: QuerySet, words: list[str]) -> QuerySet:
    """The leads whose first name, last name, email or company contains each word (any case).

    A word without a space is in the joined text exactly when it is in one of the columns: it
    cannot span the space between two. A word with a space (the API searches for its whole term)
    could: the joined text narrows the search (one index), each column decides."""
    for word in words:
        leads = leads.filter(_TextContains(F("search_text"), word))
        if " " in word:
            leads = leads.filter(
                Q.create([(f"{column}__icontains", word) for column in SEARCHED_COLUMNS], connector=Q.OR)
            )
    return leads


def with_company(leads: QuerySet, company: str) -> QuerySet:
    """The leads whose company is `company` in any case (company__iexact). The joined text of such a
    lead ends with a space and the company, a condition the trigram index serves: it narrows the
    search to a few candidates, company__iexact decides."""
    return leads.filter(_TextEndsWith(F("search_text"), f" {company}"), company__iexact=company)


def matches_are_few(leads: QuerySet, *, terms: list[str], page_rows: int) -> bool:
    """Whether `leads` (filtered by a text search for `terms`) has few enough matches, by the
    planner's estimate, to collect them all before sorting. The whole table's size stands for the
    rows a walk passes (an upper bound: a doubt favours matches first). One EXPLAIN (planning only,
    no rows read); False on SQLite and for terms the trigram index cannot serve."""
    if connection.vendor != "postgresql" or not any(len(term) >= TRIGRAM_LENGTH for term in terms):
        return False
    both = leads.order_by().values("pk").union(Lead.objects.order_by().values("pk"), all=True)
    plan = json.loads(both.explain(format="json"))[0]["Plan"]
    if plan["Node Type"] != "Append" or len(plan.get("Plans", ())) != 2:
        return False  # a branch the planner proved empty: nothing to collect
    searched, everything = plan["Plans"]
    matches, limit = searched["Plan Rows"], page_rows * everything["Plan Rows"] * WALK_MARGIN
    if limit / AMBIGUOUS**2 < matches * matches < limit * AMBIGUOUS**2:
        sampled = sampled_matches(leads, table_rows=everything["Plan Rows"])
        if sampled is not None:
            matches = sampled
    return matches * matches < limit


# Collecting costs what the matches cost, whatever their order; a walk passes page_rows * rows /
# matches rows only where the matches are spread evenly over the sort order, and the newest leads
# often are not like the rest (a campaign's import, the bench's 34,000 new leads with no
# "hopper": the walk passed 37,877 rows, 101-115 ms, against 32-45 ms collecting its 12,468
# matches). A walk is chosen only where collecting would cost WALK_MARGIN times as much as the
# even walk (above ~23,000 matches at 1,000,000 leads and 50-row pages).
WALK_MARGIN = 10
# The planner's estimate of a word's matches comes from ANALYZE's sample of search_text and
# scatters ("hopper": 6,209 to 17,592 over twelve ANALYZE runs). Within a factor AMBIGUOUS of
# the limit a count over SAMPLE_PERCENT of the table's pages decides (~10-15 ms at 1,000,000
# leads; 10,500 to 15,900 for hopper), and over at least SAMPLE_ROWS rows' worth of pages: 1% of
# a small table is a page or none (a count of 0 for 2,000 matches among 3,000 leads), and
# counting a small table whole is cheap.
AMBIGUOUS = 2
SAMPLE_PERCENT = 1
SAMPLE_ROWS = 10_000


def sampled_matches(leads: QuerySet, *, table_rows: float) -> int | None:
    """`leads`' size estimated from a sample of the lead table's pages (TABLESAMPLE SYSTEM):
    SAMPLE_PERCENT of them, more for a table of under 100 x SAMPLE_ROWS rows (`table_rows`, the
    planner's estimate), the whole table under SAMPLE_ROWS. None where the query reads the table
    more than once (a subquery on it, say)."""
    sql, params = leads.order_by().values("pk").query.sql_with_params()
    table = f"FROM {connection.ops.quote_name(Lead._meta.db_table)}"
    if sql.count(table) != 1:
        return None
    percent = min(100.0, max(float(SAMPLE_PERCENT), 100.0 * SAMPLE_ROWS / max(table_rows, 1)))
    if percent < 100:
        sql = sql.replace(table, f"{table} TABLESAMPLE SYSTEM ({percent})")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql}) AS sampled", params)
        return round(cursor.fetchone()[0] * 100 / percent)


def first_matches(leads: QuerySet, *, order: tuple[str, ...], count: int, matches_first: bool) -> list:
    """The first `count` rows of `leads` in `order` (field names, "-" for descending, non-null
    fields). matches_first: collect the matches in a MATERIALIZED CTE (a fence the planner cannot
    push the ORDER BY ... LIMIT through), sort only them, then fetch the page by id; otherwise let
    PostgreSQL walk the sort index."""
    ordered = leads.order_by(*order)
    if not matches_first:
        return list(ordered[:count])
    quote = connection.ops.quote_name
    columns = [field.lstrip("-") for field in order]
    matches_sql, params = leads.order_by().values_list(*columns).query.sql_with_params()
    order_by = ", ".join(f"{quote(field.lstrip('-'))} {'DESC' if field.startswith('-') else 'ASC'}" for field in order)
    page_ids = RawSQL(
        f"WITH matches ({', '.join(map(quote, columns))}) AS MATERIALIZED ({matches_sql}) "
        f"SELECT {quote('id')} FROM matches ORDER BY {order_by} LIMIT %s",
        (*params, count),
    )
    return list(ordered.filter(pk__in=page_ids))
