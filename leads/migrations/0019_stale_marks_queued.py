"""The scoring worker finds marked leads through the pending-activity queue, not an index on the
lead (issue 9, scoring throughput).

lead_stale_idx (score_stale_since WHERE score_stale) was how the worker found marked leads. A
rescore clears the mark, which changed a column that index names, so every rescore of a marked
lead wrote a new entry in each of the lead's ~23 indexes even when the score did not move: 0 of
500 updates were HOT (351-385 ms; 27 ms and ~497 HOT without the index). Every mark now also
queues its leads (leads.activity), and the worker takes queue rows only. The leads marked before
this migration are queued here, before the index goes, so nothing marked is lost.
"""

from django.db import migrations

# Leads per queue row, as leads.activity.MARK_ROW_LEADS (written out: a migration must not change
# with the app's code).
ROW_LEADS = 1_000


def queue_marked_leads(apps, schema_editor):
    """Queue every lead marked score_stale, in rows of at most ROW_LEADS leads with no activity
    time (the worker then leaves last_activity_at as it is)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "INSERT INTO leads_pendingactivity (activity, lead_count, queued_at) "
            "SELECT jsonb_agg(jsonb_build_object('l', id) ORDER BY id), count(*), now() "
            f"FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / {ROW_LEADS} AS chunk "
            "FROM leads_lead WHERE score_stale) AS marked GROUP BY chunk"
        )
        return
    from django.utils import timezone

    Lead = apps.get_model("leads", "Lead")
    PendingActivity = apps.get_model("leads", "PendingActivity")
    ids = list(Lead.objects.filter(score_stale=True).order_by("id").values_list("id", flat=True))
    now = timezone.now()
    PendingActivity.objects.bulk_create(
        PendingActivity(activity=[{"l": lead_id} for lead_id in chunk], lead_count=len(chunk), queued_at=now)
        for chunk in (ids[start : start + ROW_LEADS] for start in range(0, len(ids), ROW_LEADS))
    )


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0018_drop_submission_form_name_indexes"),
    ]

    operations = [
        # Going back leaves the queue rows: the worker scores those leads once more, harmlessly.
        migrations.RunPython(queue_marked_leads, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="lead", name="lead_stale_idx"),
    ]
