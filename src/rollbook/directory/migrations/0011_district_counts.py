"""A district's overview counts, maintained (directory/counts.py, decision 0011). No row is
filled here: a missing row is counted by its first reader."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0010_search_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="DistrictCounts",
            fields=[
                (
                    "district",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="directory.district",
                    ),
                ),
                ("students_active", models.BigIntegerField(default=0)),
                ("students_archived", models.BigIntegerField(default=0)),
                ("guardians", models.BigIntegerField(default=0)),
                ("staff", models.BigIntegerField(default=0)),
                ("classes", models.BigIntegerField(default=0)),
                ("stale", models.BooleanField(default=True)),
                ("counted_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name_plural": "district counts",
            },
        ),
    ]
