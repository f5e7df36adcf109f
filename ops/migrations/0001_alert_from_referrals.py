# The Alert model moved from the referrals app to ops. Its table stays `referrals_alert`:
# only Django's idea of which app owns it changes (no rows move, nothing is dropped).

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("referrals", "0004_alert_moves_to_ops"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Alert",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("key", models.CharField(db_index=True, max_length=200)),
                        ("title", models.CharField(max_length=200)),
                        ("body", models.TextField()),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("delivered_at", models.DateTimeField(blank=True, null=True)),
                        ("delivery_error", models.CharField(blank=True, max_length=300)),
                    ],
                    options={"ordering": ["-created_at"], "db_table": "referrals_alert"},
                ),
            ],
            database_operations=[],
        ),
    ]
