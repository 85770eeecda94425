# A run's findings hold any file name and any sourcedId (issue 16): on PostgreSQL, an extra
# CSV whose name was over 20 characters, or a sourcedId over 255, made saving them fail.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0007_schedules"),
    ]

    operations = [
        migrations.AlterField(
            model_name="runissue",
            name="entity",
            field=models.TextField(blank=True),
        ),
        migrations.AlterField(
            model_name="runissue",
            name="sourced_id",
            field=models.TextField(blank=True),
        ),
    ]
