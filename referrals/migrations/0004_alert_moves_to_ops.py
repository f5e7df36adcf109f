# The Alert model moved to the ops app (ops/migrations/0001): the referrals app forgets it
# without dropping its table, which ops now owns under the same name.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("referrals", "0003_import_batch"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Alert")],
            database_operations=[],
        ),
    ]
