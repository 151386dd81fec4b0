"""One trigram index for the text search instead of four (issue 9, API text search), PostgreSQL only.

A search word matched a lead when one of four columns contained it: four GIN indexes (migration
0017), ORed in a bitmap, and four UPPER() + LIKE tests per row where PostgreSQL walks the sort
index instead. The search now tests the four columns joined by spaces (leads.text_search.
SearchedText, whose SQL must stay this index's expression): one index, one test per row. Every
lead insert and every lead update that is not HOT (a score, an event's activity) writes one GIN
entry set instead of four.

The stage still leads (btree_gin, migration 0017): the MQL list searches among one stage.

The planner estimates a word's matches (leads.text_search.matches_are_few) from a sample of the
indexed texts, every one of them different (the email is in it), so from the share of the
histogram's entries that contain the word. At the default 100 entries a last name on 1.2% of the
leads (12,500 of 1,000,000) was in none of them after 3 ANALYZE runs of 4: estimated at 103 rows,
its 12,500 matches were collected first (EXPLAIN ANALYZE 290 ms) instead of walking the order
(130 ms). With 1,000 entries it was estimated at 11,700-13,500. The cost: ANALYZE of leads_lead
samples 300,000 rows instead of 30,000 (about ten times as long).
"""

from django.db import migrations

COLUMNS = ["email", "first_name", "last_name", "company"]
SEARCHED_TEXT = "(first_name || ' ' || last_name || ' ' || email || ' ' || company)"


def create_joined_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS lead_stage_search_trgm_idx ON leads_lead "
        f"USING gin (stage, UPPER({SEARCHED_TEXT}::text) gin_trgm_ops)"
    )
    schema_editor.execute("ALTER INDEX lead_stage_search_trgm_idx ALTER COLUMN 2 SET STATISTICS 1000")
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS lead_stage_{column}_trgm_idx")


def restore_column_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS lead_stage_{column}_trgm_idx ON leads_lead "
            f"USING gin (stage, UPPER({column}::text) gin_trgm_ops)"
        )
    schema_editor.execute("DROP INDEX IF EXISTS lead_stage_search_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("leads", "0018_drop_submission_form_name_indexes")]

    operations = [migrations.RunPython(create_joined_index, restore_column_indexes)]
