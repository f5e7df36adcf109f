"""Verifying one referral against the census: claim it, look it up, store what came back.

Called by the Celery task (referrals.tasks.verify_referral). What each outcome becomes:

- an answer from the census (found, not in census, cancelled, in review) → a final state;
- a retryable error (network, throttling, captcha) → `retrying`, and the exception goes back to
  the task, whose `autoretry_for` schedules the next try (bounded; a Retry-After wins);
- a bot block → `blocked`, circuit breaker opened, one alert;
- solver unavailable, changed page, refused request → `failed` with an alert;
- anything unexpected, a hard time limit, a lost worker past its retries → `failed` with an
  alert, through `fail_referral` (wired to Celery's task_failure signal).

Before touching the site the run must pass the circuit breaker (else it raises `Deferred` and the
task re-publishes itself for later, without spending a retry) and hold the referral's run lock.
Right before each consulta the client waits for a slot of the global rate limit
(`pace_submission`), so the gap the site sees is between submissions.
"""

import contextlib
import logging
import random
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import LockError

from scraping import client as census_client
from scraping.circuit import CircuitBreaker
from scraping.errors import (
    RETRYABLE_ERRORS,
    BotDetectedError,
    CaptchaError,
    CaptchaSolverUnavailable,
    NetworkError,
    PageChangedError,
    RateLimitedError,
    RequestRefusedError,
    ScrapingError,
)
from scraping.ratelimit import NoSlotError, RateSlots
from scraping.results import CensusResult, CensusStatus

from .alerts import raise_alert
from .connections import redis_client
from .models import Referral, ScrapeAttempt, Status

logger = logging.getLogger(__name__)

CENSUS_TO_STATUS = {
    CensusStatus.FOUND: Status.VERIFIED,
    CensusStatus.NOT_IN_CENSUS: Status.NOT_FOUND,
    CensusStatus.CANCELLED_DECEASED: Status.CANCELLED,
    CensusStatus.CANCELLED_OTHER: Status.CANCELLED,
    CensusStatus.PENDING_REVIEW: Status.IN_REVIEW,
}

# What the user reads when a referral could not be verified (never a traceback).
USER_MESSAGES = {
    NetworkError: "La Registraduría no respondió. Lo intentaremos de nuevo automáticamente.",
    RateLimitedError: "La Registraduría pidió esperar. Lo intentaremos de nuevo automáticamente.",
    CaptchaError: "No pudimos pasar el captcha. Lo intentaremos de nuevo automáticamente.",
    BotDetectedError: "La Registraduría bloqueó la consulta. Nuestro equipo fue alertado.",
    CaptchaSolverUnavailable: "El servicio de captcha no está disponible. "
    "Nuestro equipo fue alertado.",
    PageChangedError: "La página de la Registraduría cambió. Nuestro equipo fue alertado.",
    RequestRefusedError: "La Registraduría rechazó la consulta.",
}
UNEXPECTED_MESSAGE = "Error inesperado al verificar. Nuestro equipo fue alertado."
RETRIES_EXHAUSTED_MESSAGE = (
    "No pudimos consultar la Registraduría después de varios intentos. Nuestro equipo fue alertado."
)


def user_message(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        if cls in USER_MESSAGES:
            return USER_MESSAGES[cls]
    return UNEXPECTED_MESSAGE


@dataclass
class Deferred(Exception):
    """The site may not be touched now (circuit open, no rate slot): run again in `countdown`."""

    countdown: float
    reason: str


def rate_slots() -> RateSlots:
    return RateSlots(redis_client(), settings.SCRAPING_MIN_INTERVAL, settings.SCRAPING_LIMITER_KEY)


def circuit_breaker() -> CircuitBreaker:
    return CircuitBreaker(
        redis_client(),
        cooldown=settings.CIRCUIT_COOLDOWN,
        failure_threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
        probe_lease=settings.SCRAPING_CLAIM_LEASE,
        limiter_key=settings.SCRAPING_LIMITER_KEY,
    )


def max_attempts() -> int:
    """Claims allowed per referral: every retry, plus slack for runs lost with their worker."""
    return settings.SCRAPING_MAX_RETRIES + 3


# --- the run ---------------------------------------------------------------------------------


def verify_referral(referral_id: int, holder: str) -> str:
    """One run of the verification of `referral_id` by task run `holder` (the task id)."""
    referral = Referral.objects.filter(pk=referral_id).only("status").first()
    if referral is None or referral.status in Status.final():
        return "skipped"

    breaker = circuit_breaker()
    allowed, wait = breaker.allow(holder)
    if not allowed:
        raise Deferred(wait + random.uniform(0, 5), "circuit breaker open")

    # One live run per referral, whatever the messages: a duplicate comes back after the
    # holder's lease. The hard time limit ends every run before its lease, so a run killed
    # with its worker frees the referral when the lease runs out.
    run_lock = redis_client().lock(
        f"scraping:run:{referral_id}", timeout=settings.SCRAPING_CLAIM_LEASE, blocking=False
    )
    if not run_lock.acquire():
        lease_left = max(redis_client().pttl(run_lock.name), 1000) / 1000
        raise Deferred(lease_left + random.uniform(0, 2), "another run holds this referral")
    try:
        return _run(referral_id, holder, breaker)
    finally:
        with contextlib.suppress(LockError):
            run_lock.release()


def pace_submission() -> None:
    """The scraping client's pacer: runs on the browser thread right before each consulta."""
    rate_slots().wait_for_slot(settings.SCRAPING_SLOT_MAX_WAIT)


def _run(referral_id: int, holder: str, breaker: CircuitBreaker) -> str:
    attempt = claim_referral(referral_id, holder)
    if attempt is None:
        logger.info("referral %s reached a final state meanwhile; skipping", referral_id)
        return "skipped"
    referral = attempt.referral
    if referral.attempts > max_attempts():
        exc = RuntimeError(f"gave up after {referral.attempts - 1} attempts")
        _finish(
            attempt,
            Status.FAILED,
            ScrapeAttempt.Outcome.FAILED,
            error=exc,
            message=RETRIES_EXHAUSTED_MESSAGE,
        )
        raise_alert(
            "retries-exhausted",
            "Referidos sin verificar tras varios intentos",
            f"Referral {referral_id}: {exc}",
        )
        return Status.FAILED

    try:
        result = census_client.lookup_cedula(referral.cedula)
    except SoftTimeLimitExceeded:
        hung = NetworkError("the page hung past the soft time limit")
        _retry_later(attempt, breaker, hung)
        raise hung from None
    except RETRYABLE_ERRORS as exc:
        _retry_later(attempt, breaker, exc)
        raise
    except BotDetectedError as exc:
        _finish(attempt, Status.BLOCKED, ScrapeAttempt.Outcome.BLOCKED, error=exc)
        if breaker.trip(f"bot block: {exc}"):
            raise_alert(
                "circuit-open",
                "La Registraduría nos bloqueó: verificaciones en pausa",
                f"Bot block on referral {referral_id}: {exc}. The circuit breaker is open for "
                f"{settings.CIRCUIT_COOLDOWN} s; no lookups until then. Blocked referrals can "
                "be verified again from the admin once the cause is fixed.",
            )
        return Status.BLOCKED
    except (CaptchaSolverUnavailable, PageChangedError, RequestRefusedError) as exc:
        message = user_message(exc)
        if isinstance(exc, RequestRefusedError):
            message = f"{message} {exc}"[:300]
        _finish(attempt, Status.FAILED, ScrapeAttempt.Outcome.FAILED, error=exc, message=message)
        raise_alert(
            f"scraping-{type(exc).__name__}",
            f"Verificación detenida: {type(exc).__name__}",
            f"Referral {referral_id}: {exc}. Ops must act; then verify the failed referrals "
            "again (admin action or `manage.py requeue_referrals --status failed`).",
        )
        return Status.FAILED

    status = CENSUS_TO_STATUS[result.status]
    outcome = ScrapeAttempt.Outcome.FOUND if result.is_found else ScrapeAttempt.Outcome.NOT_FOUND
    _finish(attempt, status, outcome, result=result)
    if breaker.record_success():
        raise_alert(
            "circuit-closed",
            "Verificaciones reanudadas",
            "A lookup succeeded after the cool-down: the circuit breaker is closed.",
        )
    return status


def claim_referral(referral_id: int, holder: str) -> ScrapeAttempt | None:
    """Mark the referral `verifying` for `holder` with one conditional UPDATE.

    The caller holds the referral's run lock, so no other run is alive: any in-flight state is
    claimable, `verifying` included (its run died). A final state is never claimed again.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = Referral.objects.filter(pk=referral_id, status__in=Status.in_flight()).update(
            status=Status.VERIFYING,
            claimed_by=holder,
            claimed_at=now,
            last_attempt_at=now,
            attempts=F("attempts") + 1,
            stale_flagged_at=None,
        )
        if not claimed:
            return None
        # An attempt still "running" belongs to a run that died: close it for the record.
        ScrapeAttempt.objects.filter(
            referral_id=referral_id, outcome=ScrapeAttempt.Outcome.RUNNING
        ).update(
            outcome=ScrapeAttempt.Outcome.FAILED,
            error_class="WorkerLost",
            error_message="the run ended without reporting (worker killed or timed out)",
            finished_at=now,
        )
        return ScrapeAttempt.objects.select_related("referral").create(
            referral_id=referral_id, task_id=holder
        )


def _retry_later(attempt: ScrapeAttempt, breaker: CircuitBreaker, exc: ScrapingError) -> None:
    """A retryable failure: record it and hand the referral back to the queue as `retrying`."""
    _finish(attempt, Status.RETRYING, ScrapeAttempt.Outcome.RETRY, error=exc, final=False)
    if isinstance(exc, NoSlotError):
        return  # our own politeness, not trouble at the site
    if breaker.record_failure(f"{type(exc).__name__}: {exc}"):
        raise_alert(
            "circuit-open",
            "La Registraduría falla repetidamente: verificaciones en pausa",
            f"{settings.CIRCUIT_FAILURE_THRESHOLD} consecutive failures (last: "
            f"{type(exc).__name__}: {exc}). Circuit open for {settings.CIRCUIT_COOLDOWN} s.",
        )


def _finish(
    attempt: ScrapeAttempt,
    status: str,
    outcome: str,
    *,
    error: BaseException | None = None,
    message: str | None = None,
    result: CensusResult | None = None,
    final: bool = True,
) -> None:
    """Store the outcome of a run, if the run still holds its claim."""
    now = timezone.now()
    fields = {"status": status, "claimed_at": None, "updated_at": now}
    if final:
        fields.update(finished_at=now, claimed_by="")
    if error is not None:
        fields["last_error"] = (message or user_message(error))[:300]
    if result is not None:
        fields.update(last_error="", **census_fields(result))
    with transaction.atomic():
        stored = Referral.objects.filter(
            pk=attempt.referral_id, status=Status.VERIFYING, claimed_by=attempt.task_id
        ).update(**fields)
        attempt.finished_at = now
        attempt.duration_ms = round((now - attempt.started_at).total_seconds() * 1000)
        attempt.outcome = outcome
        if error is not None:
            attempt.error_class = type(error).__name__
            attempt.error_message = str(error)[:300]
        attempt.save()
    if not stored:
        logger.warning(
            "run %s lost its claim on referral %s; outcome %s not stored",
            attempt.task_id,
            attempt.referral_id,
            outcome,
        )


def census_fields(result: CensusResult) -> dict:
    return {
        "census_status": result.status.value,
        "census_message": result.message[:500],
        "departamento": result.departamento[:100],
        "municipio": result.municipio[:100],
        "puesto": result.puesto[:200],
        "direccion": result.direccion[:200],
        "mesa": result.mesa[:20],
        "fecha_ingreso": result.fecha_ingreso[:40],
        "coddivipol": result.coddivipol[:40],
        "latitude": result.latitude,
        "longitude": result.longitude,
        "map_url": result.map_url[:500],
        "census_raw": result.raw,
    }


# --- when the task itself failed ------------------------------------------------------------


def fail_referral(referral_id: int, exc: BaseException) -> None:
    """The task failed for good (retries exhausted, unexpected error, hard time limit, lost
    worker): the referral must not stay in flight. Wired to Celery's task_failure signal."""
    exhausted = isinstance(exc, RETRYABLE_ERRORS)
    message = RETRIES_EXHAUSTED_MESSAGE if exhausted else UNEXPECTED_MESSAGE
    now = timezone.now()
    with transaction.atomic():
        updated = Referral.objects.filter(pk=referral_id, status__in=Status.in_flight()).update(
            status=Status.FAILED,
            last_error=message,
            finished_at=now,
            claimed_by="",
            claimed_at=None,
            updated_at=now,
        )
        ScrapeAttempt.objects.filter(
            referral_id=referral_id, outcome=ScrapeAttempt.Outcome.RUNNING
        ).update(
            outcome=ScrapeAttempt.Outcome.FAILED,
            error_class=type(exc).__name__,
            error_message=str(exc)[:300],
            finished_at=now,
        )
    if updated:
        kind = "retries-exhausted" if exhausted else f"task-failed-{type(exc).__name__}"
        raise_alert(
            kind,
            "Referidos marcados como fallidos" if exhausted else "Fallo inesperado al verificar",
            f"Referral {referral_id} failed: {type(exc).__name__}: {exc}",
        )
