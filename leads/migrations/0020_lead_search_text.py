"""The text search tests one stored column with one trigram index (issue 9, API text search).

A search word matched a lead when one of four columns contained it: four GIN indexes (migration
0017), ORed in a bitmap, and four UPPER() + LIKE tests per row where PostgreSQL walks the sort
index instead (about 38,000 rows for a common last name at 1,000,000 leads, most of the query's
time). Lead.search_text is the four columns joined by spaces, upper case, written by the database
when a lead is inserted or one of them changes; the search (leads.text_search) tests one LIKE on
it, through one index. Every lead insert and every lead update that is not HOT writes one GIN entry
set instead of four.

Measured at 1,000,000 leads (a copy of the bench's seed, loaded machine): the "hopper" page query
53-56 ms of database CPU with the four columns, 25 ms with the column; the whole API request in
process 92-98 ms median against 53-57 ms.

The stage still leads (btree_gin, migration 0017): the MQL list searches among one stage. The old
indexes are dropped first, so that adding the column (which rewrites leads_lead and rebuilds its
indexes under an exclusive lock) does not rebuild them too: plan a maintenance window at scale.

The planner estimates a word's matches (leads.text_search.matches_are_few) from a sample of the
texts, every one of them different (the email is in it), so from the share of the histogram's
entries that contain it: the estimate comes in steps of one entry's share, and below one entry it is
about 100 rows. Measured on this column at 1,034,000 leads, "hopper" (12,468 matches): with the
default 101 entries, 103 rows in 2 ANALYZE runs of 6 (and "lovelace", 12,948, in 1 of 6), so its
matches would be collected first instead of walking the order; with 1,001 entries 12,420-14,490.
The cost: ANALYZE of leads_lead samples 300,000 rows instead of 30,000 (52-62 s instead of 3-5 s on
a loaded machine).
"""

from django.db import migrations, models
from django.db.models.functions import Concat, Upper

COLUMNS = ["email", "first_name", "last_name", "company"]


def drop_column_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS lead_stage_{column}_trgm_idx")


def create_column_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS lead_stage_{column}_trgm_idx ON leads_lead "
            f"USING gin (stage, UPPER({column}::text) gin_trgm_ops)"
        )


def index_the_search_text(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX lead_stage_search_trgm_idx ON leads_lead USING gin (stage, search_text gin_trgm_ops)"
    )
    schema_editor.execute("ALTER TABLE leads_lead ALTER COLUMN search_text SET STATISTICS 1000")


def drop_search_text_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS lead_stage_search_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("leads", "0019_stale_marks_queued")]

    operations = [
        migrations.RunPython(drop_column_indexes, create_column_indexes),
        migrations.AddField(
            model_name="lead",
            name="search_text",
            field=models.GeneratedField(
                db_persist=True,
                expression=Upper(
                    Concat(
                        "first_name",
                        models.Value(" "),
                        "last_name",
                        models.Value(" "),
                        "email",
                        models.Value(" "),
                        "company",
                        output_field=models.TextField(),
                    )
                ),
                output_field=models.TextField(),
            ),
        ),
        migrations.RunPython(index_the_search_text, drop_search_text_index),
    ]
