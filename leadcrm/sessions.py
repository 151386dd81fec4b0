"""Django's database sessions, read with one plain statement instead of a compiled ORM query.

Every signed-in page reads its session first. Building that query through the ORM (a queryset,
its filters, the compiler) costs about five times the round trip itself in Python, ~1 M
instructions per page (bench/profile_list_page.py). The statement below is the one the ORM
writes, on the same table: the sessions, their cookies, their expiry and everything that writes
them (login, logout, the session middleware's save) are Django's, unchanged.
"""

from django.contrib.sessions.backends import db
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from leads.db import read_row


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        connection = connections[DEFAULT_DB_ALIAS]
        table = connection.ops.quote_name(self.model._meta.db_table)
        # An expired session reads as absent, as with the ORM's query.
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        # A page's first statement: it is also the connection's health check (leads.db.read_rows).
        row = read_row(
            f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s", [self.session_key, now]
        )
        if row is None:
            self._session_key = None
            return None
        return self.model(session_key=self.session_key, session_data=row[0])
