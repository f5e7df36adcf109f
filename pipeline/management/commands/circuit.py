"""`manage.py circuit [--probe | --close] [--key KEY]`: see or resume a circuit breaker (one per
census source and egress address)."""

import getpass

from django.core.management.base import BaseCommand

from pipeline import resume
from pipeline.egress import circuit_breaker, source_key, sources


class Command(BaseCommand):
    help = (
        "Show the circuit breaker; --probe ends the cool-down and sends one probe lookup now; "
        "--close closes it outright. Both are audited (log and alert)."
    )

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--probe", action="store_true", help="half-open now + one lookup")
        action.add_argument("--close", action="store_true", help="close now, no probe")
        parser.add_argument(
            "--key",
            help="circuit key, egress@source (default: the preferred census source's from this "
            "machine); every source's circuit is listed",
        )

    def handle(self, *args, probe, close, key, **options):
        actor = f"{getpass.getuser()} (manage.py circuit)"
        if probe:
            done = resume.probe_now(actor, key)
            if not done.was_open:
                self.stdout.write("circuit already closed: nothing to probe")
            else:
                self.stdout.write(f"cool-down ended; probe lookup: referral {done.probe_referral}")
        elif close:
            done = resume.close_now(actor, key)
            self.stdout.write("circuit closed" if done.was_open else "circuit already closed")
        own = {source_key(source) for source in sources()}
        keys = sorted({*own, *([key] if key else []), *resume.circuit_keys()})
        for name in keys:
            status = circuit_breaker(name).status()
            line = f"{name}: {status.state}"
            if status.state != "closed":
                line += f" ({status.seconds_left:.0f} s left) {status.reason}"
            self.stdout.write(line)
