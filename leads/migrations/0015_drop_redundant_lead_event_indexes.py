"""Three indexes that no query needs but every write maintains (issue 9, event batches).

An event batch updates ~1,000 leads, and those updates are not HOT (last_activity_at and
score_stale_since are indexed), so each one writes an entry in every index of the lead table;
each stored event writes one in every index of the event table. Dropped:

- leads_engagementevent(lead_id): event_lead_time_id_idx (lead, -occurred_at, -id) starts with
  lead_id and serves the same lookups (scoring's lead_id = ANY(...) and ranges, the cascade);
- leads_lead(owner_id): lead_owner_stage_idx and lead_owner_next_step_idx start with owner_id;
- leads_lead(email varchar_pattern_ops), the "_like" index Django adds beside a unique varchar on
  PostgreSQL: nothing filters on LIKE 'x%' over email but the benchmark's own lead pick (which
  lead_email_trgm_idx or a scan serves); search is icontains (the trigram index). The unique
  index on email, which ON CONFLICT (email) needs, stays.
"""

from django.conf import settings
from django.db import migrations, models


def _like_index_name(schema_editor) -> str:
    return schema_editor._create_index_name("leads_lead", ["email"], suffix="_like")


def drop_email_like_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(_like_index_name(schema_editor))}")


def create_email_like_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    name = schema_editor.quote_name(_like_index_name(schema_editor))
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON leads_lead (email varchar_pattern_ops)")


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0014_lead_stage_source_country_score_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="engagementevent",
            name="lead",
            field=models.ForeignKey(
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name="events",
                to="leads.lead",
            ),
        ),
        migrations.AlterField(
            model_name="lead",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.PROTECT,
                related_name="owned_leads",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(drop_email_like_index, create_email_like_index),
    ]
