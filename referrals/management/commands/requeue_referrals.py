"""Verify referrals again, e.g. after a bot block or a solver outage was fixed."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from project.durations import parse_duration
from referrals import services
from referrals.models import Referral, Status


def parse_age(text: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError:
        raise CommandError(
            f"--older-than takes a number and s/m/h/d, like 90m or 1h: {text!r}"
        ) from None


class Command(BaseCommand):
    help = "Put referrals of the given states back in the verification queue."

    def add_arguments(self, parser):
        parser.add_argument(
            "--status",
            default="failed,blocked",
            help="comma-separated states to re-queue (default: failed,blocked)",
        )
        parser.add_argument(
            "--older-than", help="only referrals last updated before this age (e.g. 1h, 30m)"
        )
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def handle(self, *args, status, older_than, dry_run, **options):
        states = [s.strip() for s in status.split(",") if s.strip()]
        unknown = set(states) - set(Status.values)
        if unknown:
            raise CommandError(f"unknown states {sorted(unknown)}; known: {Status.values}")
        queryset = Referral.objects.filter(status__in=states)
        if older_than:
            queryset = queryset.filter(updated_at__lt=timezone.now() - parse_age(older_than))
        if dry_run:
            self.stdout.write(f"{queryset.count()} referrals would be re-queued.")
            return
        count = services.requeue_referrals(queryset)
        self.stdout.write(self.style.SUCCESS(f"{count} referrals re-queued."))
