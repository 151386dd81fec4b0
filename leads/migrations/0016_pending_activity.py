"""The pending-activity queue (issue 9): event batches append one row instead of updating a
thousand lead rows; the scoring worker folds the rows into the leads (leads.activity).

On PostgreSQL a GIN index (jsonb_path_ops) answers "has this lead events in the queue?" for the
lead page and the API's stale flag; it costs about half a millisecond per batch of 1,000.
"""

from django.db import migrations, models


def create_gin_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS pending_activity_gin_idx ON leads_pendingactivity "
        "USING gin (activity jsonb_path_ops)"
    )


def drop_gin_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS pending_activity_gin_idx")


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0015_drop_redundant_lead_event_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingActivity",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("activity", models.JSONField()),
                ("lead_count", models.PositiveIntegerField(help_text="Entries in activity: a take sizes its share by it.")),
                ("queued_at", models.DateTimeField()),
            ],
        ),
        migrations.RunPython(create_gin_index, drop_gin_index),
    ]
