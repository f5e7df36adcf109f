"""`manage.py census_probe [--source S]`: the drift canary by hand (no consulta, no captcha)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ops import canary
from scraping.client import CensusClient


class Command(BaseCommand):
    help = (
        "Load each census page (CENSUS_SOURCES) without submitting a lookup or solving a "
        "captcha, check what the client relies on, record it (/ops/) and alert on drift."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", choices=settings.SCRAPING.sources, help="only this one")

    def handle(self, *args, source=None, **options):
        config = settings.SCRAPING
        names = [source] if source else list(config.sources)
        # The browser's event loop runs on this thread while the client is open: the database
        # is written once it is closed.
        with CensusClient(config) as client:
            probes = [client.probe(name) for name in names]
        entries = canary.run(lambda: probes)
        for entry in entries:
            line = f"{entry['source']}: {entry['state']}"
            if entry["problems"]:
                line += " — " + "; ".join(entry["problems"])
            if entry["snapshot"]:
                line += f" (page saved: snapshot {entry['snapshot']})"
            self.stdout.write(line)
        if any(entry["state"] != "ok" for entry in entries):
            raise CommandError("at least one census page is not as the client expects")
