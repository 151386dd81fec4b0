"""Trigram indexes for the API's text search (GET /api/v1/leads/?q=...), PostgreSQL only.

The search is `icontains`, which Django renders on PostgreSQL as UPPER(col::text) LIKE UPPER(%s):
a GIN trigram index on exactly that expression serves it, substring or not, at any table size.
SQLite (development) has no such index type: the SQL runs only on PostgreSQL.
"""

from django.db import migrations

COLUMNS = ["email", "first_name", "last_name", "company"]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS lead_{column}_trgm_idx ON leads_lead "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS lead_{column}_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("leads", "0002_roles")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
