"""Prometheus metrics of the product, computed when Prometheus scrapes `/metrics`.

Read from the database and Redis at scrape time (one collector, no per-process counters): every
web process answers with the same numbers, whichever worker process did the work. Counters are
counts of stored rows (attempts, webhook attempts), so they only go down if rows are deleted,
which Prometheus reads as a counter reset.
"""

import time

import redis
from django.db.models import Case, Count, Min, Q, Sum, Value, When
from django.utils import timezone
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.utils import floatToGoString

from pipeline import broker, captcha_pool
from pipeline.dispatch import Queue
from pipeline.egress import circuit_breaker, source_key, sources
from project.connections import redis_client
from referrals.models import Referral, ScrapeAttempt, Status
from scraping.circuit import CircuitBreaker, CircuitState
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

from . import monitoring

# Seconds; a lookup's hard limit is 180 s by default.
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 180)
CIRCUIT_PREFIX = "scraping:circuit:"
CIRCUIT_SUFFIXES = (":open", ":failures", ":probe")


def _referrals():
    by_status = dict(Referral.objects.order_by().values_list("status").annotate(n=Count("pk")))
    family = GaugeMetricFamily("cedula_referrals", "Referrals by status", labels=["status"])
    for status in Status.values:
        family.add_metric([status], by_status.get(status, 0))
    yield family
    delayed = Referral.objects.filter(
        status__in=Status.in_flight(), stale_flagged_at__isnull=False
    ).count()
    yield GaugeMetricFamily(
        "cedula_referrals_delayed", "In-flight referrals flagged delayed by the sweep", delayed
    )
    oldest = Referral.objects.filter(status__in=Status.in_flight()).aggregate(m=Min("created_at"))
    age = (timezone.now() - oldest["m"]).total_seconds() if oldest["m"] else 0.0
    yield GaugeMetricFamily(
        "cedula_oldest_in_flight_seconds",
        "Age of the oldest referral still pending, verifying or retrying (0 when none)",
        age,
    )


def _lookups():
    origin = Case(
        When(referral__import_batch__isnull=False, then=Value("import")), default=Value("direct")
    )
    # Finished attempts only: a running one changes its outcome when it ends, and a counter
    # per outcome must never go down.
    rows = (
        ScrapeAttempt.objects.exclude(outcome=ScrapeAttempt.Outcome.RUNNING)
        .order_by()
        .annotate(origin=origin)
        .values_list("outcome", "origin", "source")
        .annotate(n=Count("pk"))
    )
    lookups = CounterMetricFamily(
        "cedula_lookups",
        "Census lookups (verification runs) by outcome, by the census page they went to "
        "(source: consultacenso, wsp) and by where the referral came from (origin: import, a "
        "bulk import; direct: the form or the API)",
        labels=["outcome", "source", "origin"],
    )
    retries = 0
    for outcome, origin_, source, n in rows:
        lookups.add_metric([outcome, source or "unknown", origin_], n)
        if outcome == ScrapeAttempt.Outcome.RETRY:
            retries += n
    yield lookups
    yield CounterMetricFamily(
        "cedula_lookup_retries", "Lookups that ended in a retryable error", retries
    )
    finished = ScrapeAttempt.objects.filter(duration_ms__isnull=False)
    aggregates = finished.aggregate(
        count=Count("pk"),
        total_ms=Sum("duration_ms"),
        **{
            f"le_{i}": Count("pk", filter=Q(duration_ms__lte=bound * 1000))
            for i, bound in enumerate(DURATION_BUCKETS)
        },
    )
    buckets = [(floatToGoString(b), aggregates[f"le_{i}"]) for i, b in enumerate(DURATION_BUCKETS)]
    buckets.append(("+Inf", aggregates["count"]))
    yield HistogramMetricFamily(
        "cedula_lookup_duration_seconds",
        "Duration of finished lookups",
        buckets=buckets,
        sum_value=(aggregates["total_ms"] or 0) / 1000,
    )


def _limiter_keys() -> set[str]:
    keys = set()
    for raw in redis_client().scan_iter(match=f"{CIRCUIT_PREFIX}*", count=500):
        name = raw.decode()[len(CIRCUIT_PREFIX) :]
        for suffix in CIRCUIT_SUFFIXES:
            if name.endswith(suffix):
                keys.add(name[: -len(suffix)])
    return keys


def _circuits():
    own = circuit_breaker()
    state = GaugeMetricFamily(
        "cedula_circuit_state",
        "Circuit breaker per limiter key (egress address @ census source): 1 for its current state",
        labels=["limiter_key", "state"],
    )
    left = GaugeMetricFamily(
        "cedula_circuit_open_seconds_left",
        "Seconds until an open circuit lets a probe through",
        labels=["limiter_key"],
    )
    for key in sorted(_limiter_keys() | {source_key(source) for source in sources()}):
        breaker = CircuitBreaker(
            own.client,
            cooldown=own.cooldown,
            failure_threshold=own.failure_threshold,
            probe_lease=own.probe_lease_ms / 1000,
            limiter_key=key,
        )
        status = breaker.status()
        for s in CircuitState:
            state.add_metric([key, s.value], 1 if status.state == s else 0)
        left.add_metric([key], status.seconds_left)
    yield state
    yield left


def _captcha():
    figures = captcha_pool.dashboard_figures()
    tokens = GaugeMetricFamily(
        "cedula_captcha_pool_tokens", "Captcha pool tokens ready and being solved", labels=["state"]
    )
    tokens.add_metric(["ready"], figures["ready"])
    tokens.add_metric(["solving"], figures["solving"])
    yield tokens
    last_2h = captcha_pool.token_pool().spend_over(hours=2)
    window = GaugeMetricFamily(
        "cedula_captcha_tokens_last_2h",
        "Captcha tokens in the last two hours (the product's waste alert window), by kind",
        labels=["kind"],
    )
    for kind in ("solved_ahead", "solved_inline", "used", "wasted", "solve_failures"):
        window.add_metric([kind], getattr(last_2h, kind))
    yield window
    yield GaugeMetricFamily(
        "cedula_captcha_spend_usd_last_24h",
        "What the captcha solver charged in the last 24 hours (USD)",
        figures["day"].cost_usd,
    )
    if figures["balance"] is not None:
        yield GaugeMetricFamily(
            "cedula_captcha_balance_usd", "The solver's last reported balance", figures["balance"]
        )
    yield GaugeMetricFamily(
        "cedula_captcha_pool_enabled",
        "1 when the captcha token pool is on",
        int(figures["enabled"]),
    )


def _queues():
    counts = broker.work_counts()
    depth = GaugeMetricFamily("cedula_queue_depth", "Messages waiting per queue", labels=["queue"])
    messages = GaugeMetricFamily(
        "cedula_queue_messages",
        "Messages per queue: waiting in its list, held by a worker (running or reserved), "
        "scheduled (held until a countdown: deferred or retrying work)",
        labels=["queue", "state"],
    )
    for queue, figures in counts.items():
        depth.add_metric([queue], figures["waiting"])
        for state in ("waiting", "held", "scheduled"):
            messages.add_metric([queue, state], figures[state])
    yield depth
    yield messages
    consumers = GaugeMetricFamily(
        "cedula_queue_consumers", "Workers consuming each queue", labels=["queue"]
    )
    counts = monitoring.queue_consumers()
    for queue in Queue:
        consumers.add_metric([str(queue)], counts.get(str(queue), 0))
    yield consumers
    heartbeat = monitoring.last_heartbeat()
    if heartbeat is not None:
        yield GaugeMetricFamily(
            "cedula_beat_heartbeat_age_seconds",
            "Seconds since beat's heartbeat task last ran (absent: never)",
            max(0.0, time.time() - heartbeat),
        )


def _webhooks():
    attempts = CounterMetricFamily(
        "cedula_webhook_attempts", "Webhook POSTs by result", labels=["result"]
    )
    by_ok = dict(WebhookAttempt.objects.order_by().values_list("ok").annotate(n=Count("pk")))
    attempts.add_metric(["ok"], by_ok.get(True, 0))
    attempts.add_metric(["failed"], by_ok.get(False, 0))
    yield attempts
    deliveries = GaugeMetricFamily(
        "cedula_webhook_deliveries", "Webhook events by delivery state", labels=["state"]
    )
    by_state = dict(WebhookDelivery.objects.order_by().values_list("state").annotate(n=Count("pk")))
    for state in WebhookDelivery.State.values:
        deliveries.add_metric([state], by_state.get(state, 0))
    yield deliveries
    yield GaugeMetricFamily(
        "cedula_webhook_endpoints_disabled",
        "Webhook endpoints disabled after failing for WEBHOOK_DISABLE_AFTER",
        WebhookEndpoint.objects.filter(disabled_at__isnull=False).count(),
    )


class ProductCollector:
    def collect(self):
        yield from _referrals()
        yield from _lookups()
        yield from _webhooks()
        try:
            yield from _circuits()
            yield from _captcha()
            yield from _queues()
        except redis.RedisError:
            # The database figures above still answer; this says why the rest is missing.
            yield GaugeMetricFamily("cedula_redis_up", "Redis answered this scrape", 0)
        else:
            yield GaugeMetricFamily("cedula_redis_up", "Redis answered this scrape", 1)


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProductCollector())
    return generate_latest(registry)
