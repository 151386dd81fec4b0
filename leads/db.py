"""Prepared statements for the hot paths on PostgreSQL: the API's writes, and the small reads every
signed-in page makes (the session, the roles, the top bar's notifications; fetch_instances).

Django binds parameters client-side and never prepares (so that transaction-pooling proxies
work), which makes PostgreSQL parse, analyse and plan every statement afresh: for the one
statement of a form submission that is most of its server-side CPU. A statement run through
prepared_cursor() is prepared once per connection and then only executed. It still goes through
Django's cursor wrapper: execute wrappers, query logging and the translation of database errors
into django.db exceptions see it like any other query.

Django turns prepared statements off on its connections; settings.py turns them back on for
server-side-binding cursors only (Django's own cursors bind client-side and never prepare).
A proxy in front of PostgreSQL must keep a connection's prepared statements: PgBouncer in
session mode, or in transaction mode from 1.21 on with max_prepared_statements set.
"""

import psycopg
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections


class _PreparingCursor(psycopg.Cursor):
    """Server-side binding, and every statement prepared (psycopg keeps the prepared ones per
    connection, keyed by the statement and its parameter types)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)

    def _maybe_prepare_gen(self, pgq, *, prepare=None, binary=None):
        # psycopg records the statement it ran (cursor._query) only when it does not run a
        # prepared one; Django's query log (DEBUG, CaptureQueriesContext) reads it from there.
        self._query = pgq
        yield from super()._maybe_prepare_gen(pgq, prepare=prepare, binary=binary)


def prepared_cursor():
    """A cursor whose statements are prepared on PostgreSQL, Django's usual cursor elsewhere."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute of django.db.connection looks it up
    if db.vendor != "postgresql":
        return db.cursor()
    # What db.cursor() does before making its cursor: the health check, then connect.
    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        # _prepare_cursor wraps it as db.cursor() would (query logging when DEBUG).
        return db._prepare_cursor(_PreparingCursor(db.connection))


def read_rows(sql: str, params: list) -> list[tuple]:
    """The rows of a read-only statement, prepared on PostgreSQL (prepared_cursor).

    As the first statement of a request on a reused connection it also stands in for Django's
    health check (CONN_HEALTH_CHECKS), which would otherwise send a SELECT 1 first: a round trip
    that cost ~0.15 ms of the two processes' CPU, a tenth of a form submission's (issue 9). The
    read is sent at once; if the connection turns out broken (PostgreSQL restarted, the backend
    killed), it is closed and the read runs once more on a new connection, as the health check
    would have done before it. Only for reads: running one twice changes nothing.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if (
        db.vendor == "postgresql"
        and db.connection is not None
        and db.health_check_enabled
        and not db.health_check_done
        and not db.in_atomic_block
    ):
        db.health_check_done = True
        try:
            return _read(sql, params)
        except (OperationalError, InterfaceError):
            if db.is_usable():
                raise  # the statement failed, not the connection
            db.close()
    return _read(sql, params)


def read_row(sql: str, params: list) -> tuple | None:
    """The first row of a read-only statement (read_rows), or None."""
    rows = read_rows(sql, params)
    return rows[0] if rows else None


def _read(sql: str, params: list) -> list[tuple]:
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetch_instances(model, field_names: list[str], sql: str, params: list, *, annotations: tuple = ()) -> list:
    """Instances of `model` from a plain statement that selects `field_names` (attribute names, in
    the model's field order, as Model.from_db takes them), then one column per name in
    `annotations` (set on each instance, as annotate() does). The other fields are deferred, as
    with .only(). For small reads every page makes, where compiling the ORM's query costs several
    times its round trip in Python."""
    connection = connections[DEFAULT_DB_ALIAS]
    # What the ORM's compiler applies to each column it reads: SQLite's dates come back naive or
    # as text, a JSON column as text.
    converters = []
    for index, name in enumerate(field_names):
        column = model._meta.get_field(name).get_col(model._meta.db_table)
        for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            converters.append((index, converter, column))
    instances = []
    for row in read_rows(sql, params):
        values = list(row[: len(field_names)])
        for index, converter, column in converters:
            values[index] = converter(values[index], column, connection)
        instance = model.from_db(DEFAULT_DB_ALIAS, field_names, values)
        for name, value in zip(annotations, row[len(field_names) :], strict=True):
            setattr(instance, name, value)
        instances.append(instance)
    return instances
