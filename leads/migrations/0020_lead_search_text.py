"""The text search tests a stored column instead of an expression (issue 9, API text search).

A common word's search walks the newest leads and tests each (about 38,000 rows for "hopper" at
1,000,000 leads): with migration 0019's expression index PostgreSQL built and upper-cased the
joined text for every row it passed, most of the query's time. Lead.search_text is that text,
written by the database when a lead is inserted or its searched columns change: the walk tests one
LIKE on a stored value. The trigram index keeps its name and moves from the expression to the
column; the search (leads.text_search) tests the column.

Adding the column rewrites leads_lead and its indexes under an exclusive lock (PostgreSQL computes
it for every lead; SQLite remakes the table): 265 s with the index at 1,000,000 leads, loaded machine.

The planner estimates a word's matches (leads.text_search.matches_are_few) from a sample of the
texts, every one of them different (the email is in it), so from the share of the histogram's
entries that contain it: the estimate comes in steps of one entry's share, and below one entry it is
about 100 rows. Measured on this column at 1,034,000 leads, "hopper" (12,468 matches): with the
default 101 entries, 103 rows in 2 ANALYZE runs of 6 (and "lovelace", 12,948, in 1 of 6), so its
matches would be collected first instead of walking the order; with 1,001 entries 12,420-14,490.
The cost: ANALYZE of leads_lead samples 300,000 rows instead of 30,000 (52-62 s instead of 3-5 s on
this loaded machine), as with migration 0019's target on the expression, which goes with its index.
"""

from django.db import migrations, models
from django.db.models.functions import Concat, Upper

OLD_EXPRESSION = "UPPER((first_name || ' ' || last_name || ' ' || email || ' ' || company)::text)"


def index_the_column(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS lead_stage_search_trgm_idx")
    schema_editor.execute(
        "CREATE INDEX lead_stage_search_trgm_idx ON leads_lead USING gin (stage, search_text gin_trgm_ops)"
    )
    schema_editor.execute("ALTER TABLE leads_lead ALTER COLUMN search_text SET STATISTICS 1000")


def index_the_expression(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS lead_stage_search_trgm_idx")
    schema_editor.execute(
        f"CREATE INDEX lead_stage_search_trgm_idx ON leads_lead USING gin (stage, {OLD_EXPRESSION} gin_trgm_ops)"
    )
    schema_editor.execute("ALTER INDEX lead_stage_search_trgm_idx ALTER COLUMN 2 SET STATISTICS 1000")


class Migration(migrations.Migration):
    dependencies = [("leads", "0019_lead_text_search_one_index")]

    operations = [
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
        migrations.RunPython(index_the_column, index_the_expression),
    ]
