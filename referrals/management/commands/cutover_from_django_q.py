"""Carry a running Django-Q2 portal over to this one (docs/CUTOVER.md): dry run unless --apply."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from referrals import cutover


class Command(BaseCommand):
    help = (
        "Import the users and referrals of a Django-Q2 portal and publish, once, the "
        "verification of what was in flight. Dry run unless --apply."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", required=True, help="the old database's URL (opened read-only)"
        )
        parser.add_argument("--mapping", help="TOML file overriding referrals/cutover_mapping.toml")
        parser.add_argument("--apply", action="store_true", help="write (default: dry run)")
        parser.add_argument(
            "--watch",
            type=float,
            default=3.0,
            help="seconds to watch django_q_ormq for a qcluster still consuming it (default 3)",
        )

    def handle(self, *args, source, mapping, apply, watch, **options):
        secret_key = settings.CUTOVER_SOURCE_SECRET_KEY
        if not secret_key:
            raise CommandError(
                "set CUTOVER_SOURCE_SECRET_KEY to the old portal's SECRET_KEY: Django-Q2 "
                "signs its queued tasks with it"
            )
        try:
            loaded = cutover.Mapping.load(mapping)
            database = cutover.SourceDatabase(source)
            try:
                result = cutover.plan(database, loaded, secret_key=secret_key, watch_seconds=watch)
            finally:
                database.close()
            if apply:
                cutover.apply(result)
        except cutover.CutoverRefused as exc:
            self.stdout.write(cutover.report(result, applied=False))
            raise CommandError(f"--apply refused, nothing written:\n{exc}") from None
        except cutover.CutoverError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(cutover.report(result, applied=apply))
