from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0012_list_indexes_owner_protect'),
    ]

    operations = [
        migrations.AddField(
            model_name='importjob',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
