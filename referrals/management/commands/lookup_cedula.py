"""`manage.py lookup_cedula 1020304050`: one census lookup by hand, against REGISTRADURIA_URL."""

import json as _json

from django.core.management.base import BaseCommand, CommandError

from scraping.client import CensusClient
from scraping.config import ScrapingConfig
from scraping.errors import ScrapingError


class Command(BaseCommand):
    help = "Look a cédula up on the census page and print the result or the error class."

    def add_arguments(self, parser):
        parser.add_argument("cedula")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the full result as JSON"
        )

    def handle(self, *args, cedula, as_json=False, **options):
        config = ScrapingConfig.from_env()
        self.stderr.write(f"Looking up on {config.url} (solver: {config.captcha_solver})...")
        try:
            with CensusClient(config) as client:
                result = client.lookup(cedula)
        except ValueError as exc:
            raise CommandError(f"not a cédula: {exc}") from None
        except ScrapingError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from None
        if as_json:
            self.stdout.write(_json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
            return
        self.stdout.write(self.style.SUCCESS(f"{result.cedula}: {result.status.value}"))
        for field in ("departamento", "municipio", "puesto", "direccion", "mesa", "message"):
            value = getattr(result, field)
            if value:
                self.stdout.write(f"  {field}: {value}")
