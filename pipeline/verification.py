"""Verifying one referral against the census: claim it, look it up, store what came back.

Called by the Celery task (pipeline.tasks.verify_referral). What each outcome becomes:

- an answer from the census (found, not in census, cancelled, in review) → a final state;
- a retryable error (network, throttling, captcha) → `retrying`, and the exception goes back to
  the task, whose `autoretry_for` schedules the next try (bounded; a Retry-After wins);
- a bot block → `blocked`, circuit breaker opened, one alert;
- solver unavailable, refused request → `failed` with an alert; a changed page too, once
  PAGE_CHANGED_CONFIRMATIONS lookups in a row saw it (before that it is retried);
- anything unexpected, a hard time limit, a lost worker past its retries → `failed` with an
  alert, through `fail_referral` (wired to Celery's task_failure signal).

Before touching the site the run picks its census source: the first of CENSUS_SOURCES whose
circuit breaker lets it through (else it raises `Deferred` and the task re-publishes itself for
later, without spending a retry); then it holds the referral's run lock. Right before each
consulta the client waits for a slot of that source's polite rate (`pace_submission`), so the
gap each site sees is between submissions.

Failover: each source has its own circuit. A bot block, a confirmed changed page or repeated
failures open the circuit of the source that showed them; while another source's circuit is
closed, the referral goes straight back to the queue (deferred, no retry spent) and the next
lookups use that source. A census answer (found or not) never moves anything. After the
cool-down the preferred source's half-open probe is the first lookup that comes: its answer
closes the circuit and lookups go back to it.
"""

import contextlib
import json
import logging
import random
import re
import threading
import time
from dataclasses import dataclass

from celery.exceptions import Reject, SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop
from kombu.exceptions import OperationalError
from redis.exceptions import LockError, RedisError

from ops.alerts import raise_alert, resolve_alerts
from project.connections import redis_client
from referrals.links import safe_map_url
from referrals.models import Referral, ScrapeAttempt, Status
from referrals.services import requeue_referrals
from scraping import client as census_client
from scraping.circuit import CircuitBreaker, CircuitState
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
from scraping.ratelimit import NoSlotError, SlotWaitCancelled
from scraping.results import CensusResult, CensusStatus
from webhooks import events as webhook_events

from . import captcha_pool
from .egress import source_breaker, sources

logger = logging.getLogger(__name__)

CENSUS_TO_STATUS = {
    CensusStatus.FOUND: Status.VERIFIED,
    CensusStatus.NOT_IN_CENSUS: Status.NOT_FOUND,
    CensusStatus.CANCELLED_DECEASED: Status.CANCELLED,
    CensusStatus.CANCELLED_OTHER: Status.CANCELLED,
    CensusStatus.PENDING_REVIEW: Status.IN_REVIEW,
}

# What the user reads when a referral could not be verified (never a traceback). Stored in
# Spanish in `last_error` and translated where shown (referrals.explanations): marked only here.
USER_MESSAGES = {
    NetworkError: gettext_noop(
        "La Registraduría no respondió. Lo intentaremos de nuevo automáticamente."
    ),
    RateLimitedError: gettext_noop(
        "La Registraduría pidió esperar. Lo intentaremos de nuevo automáticamente."
    ),
    CaptchaError: gettext_noop(
        "No pudimos pasar el captcha. Lo intentaremos de nuevo automáticamente."
    ),
    BotDetectedError: gettext_noop(
        "La Registraduría bloqueó la consulta. Nuestro equipo fue alertado."
    ),
    CaptchaSolverUnavailable: gettext_noop(
        "El servicio de captcha no está disponible. Nuestro equipo fue alertado."
    ),
    PageChangedError: gettext_noop(
        "La página de la Registraduría cambió. Nuestro equipo fue alertado."
    ),
    RequestRefusedError: gettext_noop("La Registraduría rechazó la consulta."),
}
UNEXPECTED_MESSAGE = gettext_noop("Error inesperado al verificar. Nuestro equipo fue alertado.")
# A task that failed because Redis (the broker) was away, not because of the referral.
BROKER_ERRORS = (RedisError, OperationalError)
RETRIES_EXHAUSTED_MESSAGE = gettext_noop(
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


def max_attempts() -> int:
    """Claims allowed per referral: every retry, plus slack for runs lost with their worker."""
    return settings.SCRAPING_MAX_RETRIES + 3


# --- the run ---------------------------------------------------------------------------------


def verify_referral(referral_id: int, holder: str) -> str:
    """One run of the verification of `referral_id` by task run `holder` (the task id)."""
    referral = Referral.objects.filter(pk=referral_id).only("status").first()
    if referral is None or referral.status in Status.final():
        return "skipped"

    try:
        return _gatekept_run(referral_id, holder)
    except SoftTimeLimitExceeded as exc:
        # The lookup handles its own soft limit (`_run`); this one came while the run chose its
        # source, claimed the referral or stored its outcome. Each write is a transaction, done
        # or not, so a later try settles it: a referral already final is skipped, one still
        # claimed is handed back as `retrying`. Not the site's failure: its circuit does not
        # count it. (What came after a final write, an alert or a probe's success, is not
        # redone: the next lookup that meets the same state raises or records it again.)
        late = RunOutOfTime("the run's soft time limit came outside the lookup")
        _hand_back(referral_id, holder, late)
        raise late from exc
    except RedisError as exc:
        # Redis away for a moment (restart, failover, network): nothing at the site went wrong
        # and the referral's answer, if any, is stored; a later try settles it.
        raise RedisBlip(f"Redis unavailable during the run: {type(exc).__name__}") from exc


class RedisBlip(NetworkError):
    """Our own Redis was unavailable during a run: retryable, and no sign of the site's health."""


class RunOutOfTime(NetworkError):
    """The run's soft time limit came outside the lookup (our own bookkeeping, on a busy
    machine): retryable, and no sign of the site's health."""


def _hand_back(referral_id: int, holder: str, error: RunOutOfTime) -> None:
    """A run that ran out of time outside its lookup: its referral, if still claimed by it,
    goes back to `retrying`, and its attempt is closed as a retry (not a lost worker, which
    counts as a failure on /ops/)."""
    now = timezone.now()
    with transaction.atomic():
        Referral.objects.filter(pk=referral_id, status=Status.VERIFYING, claimed_by=holder).update(
            status=Status.RETRYING, claimed_at=None, updated_at=now
        )
        ScrapeAttempt.objects.filter(
            referral_id=referral_id, task_id=holder, outcome=ScrapeAttempt.Outcome.RUNNING
        ).update(
            outcome=ScrapeAttempt.Outcome.RETRY,
            error_class=type(error).__name__,
            error_message=str(error)[:300],
            finished_at=now,
        )


def choose_source(holder: str) -> tuple[str, CircuitBreaker]:
    """The first census source whose circuit lets `holder` through (a half-open one makes it
    its probe), or `Deferred` until the soonest one may."""
    waits = []
    for source in sources():
        breaker = source_breaker(source)
        allowed, wait = breaker.allow(holder)
        if allowed:
            return source, breaker
        waits.append(wait)
    raise Deferred(min(waits) + random.uniform(0, 5), "circuit breaker open")


def _fallback_for(source: str) -> str | None:
    """Another source whose circuit is not open (lookups can move there), or None."""
    for other in sources():
        if other != source and source_breaker(other).status().state is not CircuitState.OPEN:
            return other
    return None


def _gatekept_run(referral_id: int, holder: str) -> str:
    source, breaker = choose_source(holder)

    # One live run per referral, whatever the messages: a duplicate comes back after the
    # holder's lease. The lease is short and renewed while this process lives: a run killed
    # with its process (SIGKILL, OOM, the hard time limit) frees the referral within one lease.
    run_lock = redis_client().lock(
        run_lock_name(referral_id),
        timeout=settings.SCRAPING_RUN_LOCK_LEASE,
        blocking=False,
        thread_local=False,  # renewed from another thread (LeaseRenewal)
    )
    if not run_lock.acquire():
        lease_left = max(redis_client().pttl(run_lock.name), 1000) / 1000
        raise Deferred(lease_left + random.uniform(0, 2), "another run holds this referral")
    renewal = LeaseRenewal(run_lock)
    release = True
    started = time.monotonic()
    logger.info("verify start referral=%s", referral_id)
    outcome = "error"
    try:
        outcome = _run(referral_id, holder, breaker, source)
        return outcome
    except LookupStillRunning as still:
        # A cancelled lookup still inside one long browser call (a solve stops at once): it
        # will never submit, but the lock is left to expire on its own lease rather than freed
        # while it lives.
        release = False
        outcome = f"retry ({type(still.error).__name__})"
        raise still.error from None
    except ScrapingError as exc:
        outcome = f"retry ({type(exc).__name__})"
        raise
    except Deferred as deferral:  # e.g. no rate slot in time: nothing reached the site
        outcome = f"deferred ({deferral.reason})"
        raise
    except SoftTimeLimitExceeded:
        outcome = "retry (RunOutOfTime)"
        raise
    finally:
        # The lease first: a soft limit landing in the log line must not leave the renewal
        # thread holding the referral for as long as this process lives.
        try:
            renewal.stop()
            if release:
                with contextlib.suppress(LockError, RedisError):
                    run_lock.release()
        finally:
            logger.info(
                "verify end referral=%s outcome=%s duration=%.1fs",
                referral_id,
                outcome,
                time.monotonic() - started,
            )


class LookupStillRunning(Exception):
    def __init__(self, error: ScrapingError):
        self.error = error


def _cancel_wait() -> float:
    """How long a run past its soft limit waits for its cancelled lookup: until shortly
    before the hard limit would kill the process."""
    return max(1.0, settings.SCRAPING_TASK_TIME_LIMIT - settings.SCRAPING_TASK_SOFT_TIME_LIMIT - 5)


def run_lock_name(referral_id: int) -> str:
    return f"scraping:run:{referral_id}"


def run_is_live(referral_id: int) -> bool:
    """A run of this referral holds its lock now (a live run renews it; a dead one's expires)."""
    return bool(redis_client().exists(run_lock_name(referral_id)))


class LeaseRenewal:
    """Renews a Redis lock every third of its lease from a thread, until stopped."""

    def __init__(self, lock):
        self.lock = lock
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._renew, name="run-lock-renewal", daemon=True)
        self.thread.start()

    def _renew(self) -> None:
        while not self.stopped.wait(self.lock.timeout / 3):
            try:
                self.lock.reacquire()
            except LockError:
                logger.error("run lock %s was lost while the run lived", self.lock.name)
                return
            except RedisError:  # a blip: the next renewal comes well before the lease ends
                logger.warning("could not renew run lock %s", self.lock.name, exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)


def _run(referral_id: int, holder: str, breaker: CircuitBreaker, source: str) -> str:
    attempt = claim_referral(referral_id, holder, source)
    if attempt is None:
        logger.info("referral %s reached a final state meanwhile; skipping", referral_id)
        return "skipped"
    if attempt.referral.attempts > max_attempts():
        return _give_up(attempt)
    try:
        result = census_client.lookup_cedula(attempt.referral.cedula, source=source)
    except SoftTimeLimitExceeded:
        # The lookup goes on on the browser thread: cancel it (it never sends its consulta)
        # and wait for it, so the run lock is released only once nothing of this run is left.
        cancelled = census_client.cancel_lookup(wait=_cancel_wait())
        if isinstance(cancelled.error, SlotWaitCancelled | NoSlotError):
            # The run's time ran out in our own pacing (the slot held by our other lookups,
            # or by a killed worker's consulta until its hold ends): nothing reached the site,
            # so no attempt and no failure are counted against it.
            return _slot_missed(attempt, cancelled.error.retry_after)
        hung = NetworkError("the page hung past the soft time limit")
        _retry_later(attempt, breaker, hung)
        if not cancelled.ended:
            raise LookupStillRunning(hung) from None
        raise hung from None
    except RedisError as exc:  # e.g. the pacer's slot, on the browser thread
        blip = RedisBlip(f"Redis unavailable during the lookup: {type(exc).__name__}")
        _finish(attempt, Status.RETRYING, ScrapeAttempt.Outcome.RETRY, error=blip, final=False)
        raise blip from exc
    except NoSlotError as exc:
        return _slot_missed(attempt, exc.retry_after)
    except RETRYABLE_ERRORS as exc:
        _retry_later(attempt, breaker, exc)
        raise
    except BotDetectedError as exc:
        return _blocked(attempt, breaker, exc)
    except PageChangedError as exc:
        if not _page_change_confirmed(source):
            unsure = NetworkError(f"page looked changed, not yet confirmed: {exc}")
            unsure.body = exc.body
            _finish(
                attempt, Status.RETRYING, ScrapeAttempt.Outcome.RETRY, error=unsure, final=False
            )
            raise unsure from exc
        if _fallback_for(source) is not None:
            return _source_changed(attempt, breaker, exc)
        return _stopped(attempt, exc)
    except (CaptchaSolverUnavailable, RequestRefusedError) as exc:
        return _stopped(attempt, exc)
    return _answered(attempt, breaker, result)


# --- one handler per outcome -------------------------------------------------------------------


def _answered(attempt: ScrapeAttempt, breaker: CircuitBreaker, result: CensusResult) -> str:
    """The census answered (found or not): a final state, and the circuit may close."""
    status = CENSUS_TO_STATUS[result.status]
    outcome = ScrapeAttempt.Outcome.FOUND if result.is_found else ScrapeAttempt.Outcome.NOT_FOUND
    _finish(attempt, status, outcome, result=result)
    source = attempt.source
    try:
        # The page works: a later odd page starts afresh.
        redis_client().delete(page_changed_key(source))
        closed = breaker.record_success(attempt.task_id)
    except RedisError:  # the answer is stored; the next success records it
        logger.warning("could not record a success with the circuit breaker", exc_info=True)
        return status
    if closed:
        requeued = requeue_blocked_referrals()
        raise_alert(
            f"circuit-closed:{source}",
            f"Verificaciones reanudadas ({source})",
            f"A lookup on {source} succeeded after the cool-down: its circuit breaker is "
            f"closed and lookups use it again. {requeued} blocked referrals went back to the "
            "queue.",
        )
        resolve_alerts(f"circuit-open:{source}", f"circuit-closed:{source}")
    return status


def requeue_blocked_referrals() -> int:
    """The block ended: the referrals it stopped go back to the queue, oldest first (bounded:
    the rest follow at the next closing, or from the admin)."""
    oldest = Referral.objects.filter(status=Status.BLOCKED).order_by("finished_at")
    ids = list(oldest.values_list("pk", flat=True)[: settings.BLOCKED_REQUEUE_MAX])
    return requeue_referrals(Referral.objects.filter(pk__in=ids, status=Status.BLOCKED))


def _slot_missed(attempt: ScrapeAttempt, retry_after: float | None):
    """No polite slot in time (other workers took them), or the run's time ran out waiting for
    one: our own pacing, not a try at the site (the consulta never left). Undo the claim's
    count, keep no attempt, and defer until the slot frees: no retry spent, no failure
    counted."""
    with transaction.atomic():
        Referral.objects.filter(
            pk=attempt.referral_id, status=Status.VERIFYING, claimed_by=attempt.task_id
        ).update(
            status=Status.RETRYING,
            attempts=F("attempts") - 1,
            claimed_at=None,
            updated_at=timezone.now(),
        )
        attempt.delete()
    raise Deferred((retry_after or 1.0) + random.uniform(0, 2), "no rate slot in time")


def page_changed_key(source: str) -> str:
    return f"scraping:page-changed:in-a-row:{source}"


def _page_change_confirmed(source: str) -> bool:
    """Count one more lookup in a row that saw `source`'s page changed; True once enough
    agree."""
    key = page_changed_key(source)
    pipe = redis_client().pipeline()
    pipe.incr(key)
    pipe.expire(key, 3600)
    seen, _ = pipe.execute()
    return seen >= settings.PAGE_CHANGED_CONFIRMATIONS


def _give_up(attempt: ScrapeAttempt) -> str:
    """More claims than retries allow (runs lost with their workers): failed, with an alert."""
    exc = RuntimeError(f"gave up after {attempt.referral.attempts - 1} attempts")
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
        f"Referral {attempt.referral_id}: {exc}",
    )
    return Status.FAILED


def _blocked(attempt: ScrapeAttempt, breaker: CircuitBreaker, exc: BotDetectedError) -> str:
    """A bot block: the referral is `blocked` and the circuit opens (one alert).

    When the circuit was already open (this run was the half-open probe, or left before another
    worker met the block) the block is known and alerted: the referral waits for its end like
    every other (deferred, its claim not counted) instead of being blocked one more.

    While another source's circuit is closed, the referral is not blocked at all: it goes back
    to the queue at once and is looked up there."""
    source = attempt.source
    if breaker.status().state is not CircuitState.CLOSED:
        breaker.trip(f"bot block (again): {exc}")  # a failed probe: a new cool-down
        fallback = _fallback_for(source)
        _defer_to(attempt, exc, ScrapeAttempt.Outcome.BLOCKED)
        if fallback is not None:
            raise Deferred(1 + random.uniform(0, 2), f"{source} still blocked: {fallback} next")
        raise Deferred(settings.CIRCUIT_COOLDOWN + random.uniform(0, 5), "still blocked")
    opened = breaker.trip(f"bot block: {exc}")
    fallback = _fallback_for(source)
    if opened:
        raise_alert(
            f"circuit-open:{source}",
            f"La Registraduría nos bloqueó en {source}"
            + (f": seguimos con {fallback}" if fallback else ": verificaciones en pausa"),
            f"Bot block on {source}, referral {attempt.referral_id}: {exc}. Its circuit breaker "
            f"is open for {settings.CIRCUIT_COOLDOWN} s; "
            + (
                f"lookups go to {fallback} meanwhile, and back to {source} when its probe gets "
                "an answer."
                if fallback
                else "no lookups until then. Blocked referrals go back to the queue when a "
                "probe gets an answer again."
            ),
        )
    if fallback is not None:
        _defer_to(attempt, exc, ScrapeAttempt.Outcome.BLOCKED)
        raise Deferred(random.uniform(0, 1), f"{source} blocked: {fallback} next")
    _finish(attempt, Status.BLOCKED, ScrapeAttempt.Outcome.BLOCKED, error=exc)
    return Status.BLOCKED


def _source_changed(attempt: ScrapeAttempt, breaker: CircuitBreaker, exc: PageChangedError):
    """A confirmed changed page on a source while another works: open this source's circuit
    (one alert: a maintainer must adapt the client) and send the referral to the other."""
    source = attempt.source
    if breaker.trip(f"page changed: {exc}"):
        raise_alert(
            f"scraping-PageChangedError:{source}",
            f"La página {source} cambió: seguimos con otra fuente",
            f"{settings.PAGE_CHANGED_CONFIRMATIONS} lookups in a row saw {source}'s page changed "
            f"(last: {exc}). Its circuit is open for {settings.CIRCUIT_COOLDOWN} s and lookups "
            "use the next source; see docs/CENSUS_SITE.md for what to edit.",
        )
    _defer_to(attempt, exc, ScrapeAttempt.Outcome.FAILED)
    raise Deferred(random.uniform(0, 1), f"{source} changed: next source")


def _defer_to(attempt: ScrapeAttempt, exc: ScrapingError, outcome: str) -> None:
    """Record the attempt and put the referral back in flight without counting the claim: the
    source, not the referral, failed."""
    _finish(attempt, Status.RETRYING, outcome, error=exc, final=False)
    Referral.objects.filter(pk=attempt.referral_id, status=Status.RETRYING).update(
        attempts=F("attempts") - 1
    )


def _stopped(attempt: ScrapeAttempt, exc: ScrapingError) -> str:
    """Solver unavailable, page changed, request refused: failed until ops act (one alert)."""
    message = user_message(exc)
    if isinstance(exc, RequestRefusedError):
        message = f"{message} {exc}"[:300]
    _finish(attempt, Status.FAILED, ScrapeAttempt.Outcome.FAILED, error=exc, message=message)
    if isinstance(exc, CaptchaSolverUnavailable):
        # An inline solve saw it: counted with the pool's failures, shown to ops and leaders.
        captcha_pool.token_pool().count("solve_failures")
        captcha_pool.note_solver_unavailable(exc)
    raise_alert(
        f"scraping-{type(exc).__name__}",
        f"Verificación detenida: {type(exc).__name__}",
        f"Referral {attempt.referral_id}: {exc}. Ops must act; then verify the failed "
        "referrals again (admin action or `manage.py requeue_referrals --status failed`).",
    )
    return Status.FAILED


def claim_referral(referral_id: int, holder: str, source: str = "") -> ScrapeAttempt | None:
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
            updated_at=now,  # .update() skips auto_now: a live run must not look stale
            attempts=F("attempts") + 1,
            requeue_count=0,  # the sweep bounds re-queues without progress; this is progress
            stale_flagged_at=None,
        )
        if not claimed:
            return None
        # An attempt still "running" belongs to a run that died: close it for the record.
        _close_running_attempts(
            referral_id,
            "WorkerLost",
            "the run ended without reporting (worker killed or timed out)",
            now,
        )
        return ScrapeAttempt.objects.select_related("referral").create(
            referral_id=referral_id, task_id=holder, source=source
        )


def _close_running_attempts(referral_id: int, error_class: str, message: str, now) -> None:
    ScrapeAttempt.objects.filter(
        referral_id=referral_id, outcome=ScrapeAttempt.Outcome.RUNNING
    ).update(
        outcome=ScrapeAttempt.Outcome.FAILED,
        error_class=error_class,
        error_message=message[:300],
        finished_at=now,
    )


def _retry_later(attempt: ScrapeAttempt, breaker: CircuitBreaker, exc: ScrapingError) -> None:
    """A retryable failure: record it and hand the referral back to the queue as `retrying`."""
    _finish(attempt, Status.RETRYING, ScrapeAttempt.Outcome.RETRY, error=exc, final=False)
    if breaker.record_failure(f"{type(exc).__name__}: {exc}"):
        source = attempt.source
        fallback = _fallback_for(source)
        raise_alert(
            f"circuit-open:{source}",
            f"La Registraduría ({source}) falla repetidamente"
            + (f": seguimos con {fallback}" if fallback else ": verificaciones en pausa"),
            f"{settings.CIRCUIT_FAILURE_THRESHOLD} consecutive failures on {source} (last: "
            f"{type(exc).__name__}: {exc}). Circuit open for {settings.CIRCUIT_COOLDOWN} s"
            + (f"; lookups use {fallback} meanwhile." if fallback else "."),
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
        fields.update(last_error="", census_source=attempt.source, **census_fields(result))
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
        attempt.raw_answer = raw_answer(result, error)
        attempt.save()
    if not stored:
        logger.warning(
            "run %s lost its claim on referral %s; outcome %s not stored",
            attempt.task_id,
            attempt.referral_id,
            outcome,
        )
    elif final:
        _announce_final_state(attempt.referral_id)


def _announce_final_state(referral_id: int) -> None:
    """Queue the owner's webhooks for a final state just stored. Never fails the run: the
    state is committed whatever happens to its announcement."""
    try:
        webhook_events.referral_finished(referral_id)
    except Exception:  # a database hiccup here must not turn a verified referral into a retry
        logger.exception("could not queue webhooks for referral %s", referral_id)


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
        "map_url": safe_map_url(result.map_url),
        "census_raw": result.raw,
    }


RAW_ANSWER_CAP = 10_000  # characters of what the site said, kept per attempt
# Captcha tokens never stored: Google's (`03A…`, long base64url) and any field named after one.
_TOKEN_FIELD = re.compile(
    r'((?:captcha|g-recaptcha-response|token)["\']?\s*[:=]\s*["\']?)[^"\'&\s<>,}]{16,}', re.I
)
_GOOGLE_TOKEN = re.compile(r"03A[A-Za-z0-9_-]{30,}")


def raw_answer(result: CensusResult | None, error: BaseException | None) -> str:
    """What the site answered this attempt, for maintainers: the result's raw answer, or the
    body an error carried; size-capped, captcha tokens redacted."""
    if result is not None:
        text = json.dumps(result.raw, ensure_ascii=False)
    else:
        text = getattr(error, "body", "") or ""
    text = _TOKEN_FIELD.sub(r"\1[redacted]", text)
    return _GOOGLE_TOKEN.sub("[redacted]", text)[:RAW_ANSWER_CAP]


# --- when the task itself failed ------------------------------------------------------------


def _is_broker_outage(exc: BaseException | None) -> bool:
    """Did the task fail because Redis was away? Celery wraps a failed retry in `Reject`."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, BROKER_ERRORS):
            return True
        reason = getattr(exc, "reason", None) if isinstance(exc, Reject) else None
        exc = reason if isinstance(reason, BaseException) else (exc.__cause__ or exc.__context__)
        seen += 1
    return False


def fail_referral(referral_id: int, exc: BaseException) -> None:
    """The task failed for good (retries exhausted, unexpected error, hard time limit, lost
    worker): the referral must not stay in flight. Wired to Celery's task_failure signal."""
    now = timezone.now()
    if _is_broker_outage(exc):
        # The task could not be re-published (Redis away): nothing is wrong with the referral.
        # Its message stays in Redis (not acknowledged) and comes back when Redis does; the
        # stale sweep is the backstop.
        Referral.objects.filter(pk=referral_id, status=Status.VERIFYING).update(
            status=Status.RETRYING, claimed_by="", claimed_at=None, updated_at=now
        )
        logger.warning("referral %s: broker unavailable (%s); left to retry", referral_id, exc)
        return
    exhausted = isinstance(exc, RETRYABLE_ERRORS)
    message = RETRIES_EXHAUSTED_MESSAGE if exhausted else UNEXPECTED_MESSAGE
    with transaction.atomic():
        updated = Referral.objects.filter(pk=referral_id, status__in=Status.in_flight()).update(
            status=Status.FAILED,
            last_error=message,
            finished_at=now,
            claimed_by="",
            claimed_at=None,
            updated_at=now,
        )
        _close_running_attempts(referral_id, type(exc).__name__, str(exc), now)
    if updated:
        _announce_final_state(referral_id)
        kind = "retries-exhausted" if exhausted else f"task-failed-{type(exc).__name__}"
        raise_alert(
            kind,
            "Referidos marcados como fallidos" if exhausted else "Fallo inesperado al verificar",
            f"Referral {referral_id} failed: {type(exc).__name__}: {exc}",
        )
