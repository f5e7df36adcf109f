"""The drift canary: each census page loaded and checked, never submitted.

Every CENSUS_CANARY_EVERY (beat → the scraping worker, whose browser loads the pages) and on
`manage.py census_probe`, each source's page is loaded in a fresh context and checked for what
the client relies on (`scraping.flow.LookupFlow.inspect`: the form and its fields, the captcha
widget and its site key, the elections list, the submit control) without typing, solving a
captcha or sending a consulta. Each source's last look is kept in Redis for /ops/; a page that
drifted raises one alert per incident (resolved when the page matches again) with a saved,
size-capped copy of the page (`CensusPageSnapshot`) for the maintainer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import redis
from django.conf import settings

from project.connections import redis_client
from scraping import client as census_client
from scraping.results import SourceProbe

from .alerts import raise_alert, resolve_alerts
from .models import Alert, CensusPageSnapshot

logger = logging.getLogger(__name__)

PROBE_KEY = "scraping:canary:{source}"
SNAPSHOT_CAP = 200_000  # characters of a drifted page kept
SNAPSHOTS_KEPT = 20  # per source; older copies are deleted


def run(probe: Callable[[], list[SourceProbe]] | None = None) -> list[dict]:
    """Look at every census source and record what was seen. `probe` defaults to the process's
    census client (on its browser thread)."""
    probes = (probe or census_client.probe_sources)()
    return [record(seen) for seen in probes]


def record(seen: SourceProbe) -> dict:
    entry = {
        "source": seen.source,
        "state": seen.state,
        "problems": seen.problems,
        "site_key": seen.site_key,
        "submit": seen.submit,
        "checked_at": time.time(),
        "snapshot": None,
    }
    alert_key = f"census-drift:{seen.source}"
    if seen.drifted:
        snapshot = CensusPageSnapshot.objects.create(
            source=seen.source,
            url=seen.url,
            problems="\n".join(seen.problems),
            html=seen.html[:SNAPSHOT_CAP],
        )
        entry["snapshot"] = snapshot.pk
        _keep_recent(seen.source)
        if not Alert.objects.filter(key=alert_key, resolved_at__isnull=True).exists():
            raise_alert(
                alert_key,
                f"La página {seen.source} cambió (canario)",
                f"The drift canary loaded {seen.url} and it no longer has what the client relies "
                f"on: {'; '.join(seen.problems)}. A copy of the page is saved "
                f"({settings.SITE_URL}/admin/ops/censuspagesnapshot/{snapshot.pk}/change/). "
                "What to edit: docs/CENSUS_SITE.md, 'When the page changes next'.",
            )
    elif seen.state == "ok":
        resolve_alerts(alert_key)
    logger.info("census canary %s: %s %s", seen.source, seen.state, seen.problems)
    try:
        redis_client().set(PROBE_KEY.format(source=seen.source), json.dumps(entry))
    except redis.RedisError:
        logger.warning("could not record the canary's look at %s", seen.source, exc_info=True)
    return entry


def _keep_recent(source: str) -> None:
    old = CensusPageSnapshot.objects.filter(source=source).order_by("-taken_at")[SNAPSHOTS_KEPT:]
    CensusPageSnapshot.objects.filter(pk__in=list(old.values_list("pk", flat=True))).delete()


def last_probes() -> dict[str, dict]:
    """Each source's last look by the canary, for /ops/ (absent: never looked at)."""
    sources = settings.SCRAPING.sources
    raw = redis_client().mget([PROBE_KEY.format(source=s) for s in sources])
    return {s: json.loads(v) for s, v in zip(sources, raw, strict=True) if v is not None}
