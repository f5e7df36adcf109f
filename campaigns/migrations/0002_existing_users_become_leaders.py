"""Accounts made before campaigns existed become leaders of one default team, so their
referrals stay theirs and a manager (`manage.py create_manager`) sees them all."""

from django.conf import settings
from django.db import migrations

DEFAULT_TEAM = "Equipo inicial"


def existing_users_become_leaders(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Team = apps.get_model("campaigns", "Team")
    Membership = apps.get_model("campaigns", "Membership")
    users = User.objects.filter(membership__isnull=True).order_by("pk")
    if not users.exists():
        return
    team, _ = Team.objects.get_or_create(name=DEFAULT_TEAM)
    Membership.objects.bulk_create(
        [Membership(user=user, role="leader", team=team) for user in users.iterator()]
    )


def undo(apps, schema_editor):
    Membership = apps.get_model("campaigns", "Membership")
    Team = apps.get_model("campaigns", "Team")
    Membership.objects.filter(team__name=DEFAULT_TEAM, role="leader").delete()
    Team.objects.filter(name=DEFAULT_TEAM, coordinator__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(existing_users_become_leaders, undo)]
