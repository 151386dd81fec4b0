"""Two indexes that every submission writes and no query needs (issue 9, single submissions).

Submission.form_name had an index of its own, and on PostgreSQL Django adds a second one beside
it (varchar_pattern_ops, for LIKE 'x%', which nothing runs on form names). submission_form_idx
(form_name, -received_at) starts with form_name and serves what the plain one did: the admin's
filter by form and its list of distinct form names.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0017_lead_text_search_by_stage"),
    ]

    operations = [
        migrations.AlterField(
            model_name="submission",
            name="form_name",
            field=models.CharField(max_length=200),
        ),
    ]
