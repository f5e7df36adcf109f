"""`manage.py lookup_cedula 1020304050 [--json]`: one census lookup by hand, on the census
sources of CENSUS_SOURCES in order: the first that answers gives the result (and is named)."""

import json as _json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scraping.client import CensusClient
from scraping.errors import ScrapingError


class Command(BaseCommand):
    help = (
        "Look a cédula up on the census pages (CENSUS_SOURCES, first that answers) and print "
        "the result and its source, or each source's error class."
    )

    def add_arguments(self, parser):
        parser.add_argument("cedula")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the full result as JSON"
        )

    def handle(self, *args, cedula, as_json=False, **options):
        config = settings.SCRAPING
        errors = []
        with CensusClient(config) as client:
            for source in config.sources:
                self.stderr.write(
                    f"Looking up on {source} ({config.url_for(source)}, "
                    f"solver: {config.captcha_solver})..."
                )
                try:
                    result = client.lookup(cedula, source=source)
                    break
                except ValueError as exc:
                    raise CommandError(f"not a cédula: {exc}") from None
                except ScrapingError as exc:
                    errors.append(f"{source}: {type(exc).__name__}: {exc}")
                    self.stderr.write(errors[-1])
            else:
                raise CommandError("no census source answered: " + " | ".join(errors))
        if as_json:
            self.stdout.write(_json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
            return
        self.stdout.write(
            self.style.SUCCESS(f"{result.cedula}: {result.status.value} (from {result.source})")
        )
        for field in ("departamento", "municipio", "puesto", "direccion", "mesa", "message"):
            value = getattr(result, field)
            if value:
                self.stdout.write(f"  {field}: {value}")
