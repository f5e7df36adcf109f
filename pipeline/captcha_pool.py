"""The captcha token pool's policy: how many tokens to solve ahead, solving them, watching spend.

Tokens are stored by `scraping.token_pool`; the scraping worker takes them through the census
client's `token_source` and solves inline only when the pool has none (pipeline.signals).
Beat calls `top_up` every CAPTCHA_POOL_TOP_UP_EVERY, and every finished solve calls it again, so a
drained pool refills at the pace of the solves rather than of beat.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ops.alerts import raise_alert, resolve_alerts
from project.connections import redis_client
from referrals.models import Referral, Status
from scraping.captcha import SUBMIT_MARGIN, make_solver
from scraping.errors import CaptchaError, CaptchaSolverUnavailable, LookupCancelled
from scraping.token_pool import HourlySpend, TokenPool, total

from . import dispatch
from .egress import all_sources_open, lanes_at_work

logger = logging.getLogger(__name__)

PAUSE_KEY = "captcha:paused"  # set while the solver is unavailable: order nothing
BALANCE_KEY = "captcha:balance"  # the solver's last reported balance, for the dashboard
BALANCE_AT_KEY = "captcha:balance-at"  # when it reported it
LAST_ERROR_KEY = "captcha:last-error"  # the solver's last refusal and when (JSON), for ops
TOP_UP_LOCK = "captcha:top-up"
# A solve message not started within this long is dropped (the next top-up orders afresh).
ORDER_EXPIRES = 60
# How long ordering stops after the solver said it cannot work (an alert has gone out).
PAUSE_AFTER_UNAVAILABLE = 300
# Lookups that will want a token: queued ones and ones waiting for a retry.
NEEDS_TOKEN = (Status.PENDING, Status.RETRYING)


def token_pool() -> TokenPool:
    return TokenPool(redis_client(), ttl=settings.SCRAPING.captcha_token_ttl)


def enabled() -> bool:
    """Tokens can only be solved ahead through a solving service, not by ticking a page."""
    return settings.CAPTCHA_POOL_SIZE_MAX > 0 and settings.SCRAPING.captcha_solver == "twocaptcha"


@dataclass(frozen=True)
class TopUp:
    backlog: int = 0  # referrals that will want a token
    ready: int = 0  # tokens in the pool
    solving: int = 0  # solves ordered, not finished
    target: int = 0  # tokens wanted ready or on their way
    order: int = 0  # solves ordered now
    floor: int = 0  # tokens the warm floor wants ready (0 outside warm hours or over the cap)
    floor_order: int = 0  # of `order`: solves ordered only for the floor
    reason: str = ""  # why nothing was ordered, when nothing was

    def as_dict(self) -> dict:
        return asdict(self)


def plan_top_up(
    *,
    backlog: int,
    ready: int,
    solving: int,
    rate_per_second: float,
    ttl: float,
    size_max: int,
    concurrency: int,
    floor: int = 0,
    lasting: int = 0,
) -> TopUp:
    """How many solves to order now.

    The target is the smallest of: CAPTCHA_POOL_SIZE_MAX; what the site rate can spend within a
    token's usable life (more would rot before its turn); the backlog (more would never be used).
    Solves on their way count towards it, and at most `concurrency` run at once.

    The warm floor (`floor`, see `warm_floor`) raises the target to that many tokens with no
    backlog. For it only the `lasting` tokens count, those still usable when a solve ordered now
    would finish: a floor token is replaced before it expires, so the pool is never empty
    between the two.
    """
    spendable = math.floor(rate_per_second * (ttl - SUBMIT_MARGIN))
    target = max(0, min(size_max, spendable, backlog))
    floor = max(0, min(size_max, floor))
    wanted = target - ready - solving
    order = max(0, min(concurrency - solving, max(wanted, floor - lasting - solving)))
    floor_order = order - max(0, min(order, wanted))
    return TopUp(backlog, ready, solving, max(target, floor), order, floor, floor_order)


def warm_floor(now: datetime, floor_spent_last_24h: float) -> tuple[int, str]:
    """(tokens the floor wants ready now, why none when none): CAPTCHA_POOL_MIN during
    CAPTCHA_WARM_HOURS (local time), while the floor's own spend over the last 24 hours is
    under CAPTCHA_MAX_SPEND_PER_DAY. Its own: a busy afternoon's backlog solves must not
    turn the floor off for the next morning's lone referrals."""
    hours = settings.CAPTCHA_WARM_HOURS
    if settings.CAPTCHA_POOL_MIN <= 0 or hours is None:
        return 0, "floor off"
    if not in_hours(timezone.localtime(now).hour, hours):
        return 0, "outside warm hours"
    if floor_spent_last_24h >= settings.CAPTCHA_MAX_SPEND_PER_DAY:
        return 0, "daily spend cap reached"
    return settings.CAPTCHA_POOL_MIN, ""


# What the dashboard says when the floor keeps no token (the reasons above are the logs').
FLOOR_OFF_LABELS = {
    "floor off": _("piso apagado"),
    "pool off": _("reserva desactivada"),
    "outside warm hours": _("fuera de las horas activas"),
    "daily spend cap reached": _("alcanzó su tope de gasto de 24 h"),
}


def in_hours(hour: int, hours: tuple[int, int]) -> bool:
    start, end = hours
    return start <= hour < end if start < end else hour >= start or hour < end


def top_up() -> TopUp:
    """Order the solves the plan asks for, as tasks on the `captcha` queue."""
    if not enabled():
        return TopUp(reason="pool off")
    client = redis_client()
    lock = client.lock(TOP_UP_LOCK, timeout=10, blocking=False)
    if not lock.acquire():
        return TopUp(reason="another top-up is running")  # beat and a finished solve at once
    try:
        return _top_up(token_pool())
    finally:
        lock.release()


def _top_up(pool: TokenPool) -> TopUp:
    if pool.target() is None:
        return TopUp(reason="no lookup has seen the captcha widget yet")
    if redis_client().exists(PAUSE_KEY):
        return TopUp(reason="solver unavailable: paused")
    if all_sources_open():
        return TopUp(reason="circuit open: tokens would rot before lookups resume")
    pool.drop_expired()
    floor, _ = warm_floor(timezone.now(), pool.spend_over(hours=24).cost_floor_usd)
    # A floor token is replaced once it would expire before the next top-up's solve is in.
    replace_within = pool.typical_solve_seconds() + settings.CAPTCHA_POOL_TOP_UP_EVERY
    plan = plan_top_up(
        backlog=Referral.objects.filter(status__in=NEEDS_TOKEN).count(),
        ready=pool.ready(),
        solving=pool.solving(),
        # Every egress lane at work spends tokens at its own polite rate.
        rate_per_second=lanes_at_work() / settings.SCRAPING_MIN_INTERVAL,
        ttl=pool.ttl,
        size_max=settings.CAPTCHA_POOL_SIZE_MAX,
        concurrency=settings.CAPTCHA_SOLVER_CONCURRENCY,
        floor=floor,
        lasting=pool.lasting(replace_within),
    )
    deadline = time.time() + ORDER_EXPIRES + settings.SCRAPING.captcha_timeout + 30
    for n in range(plan.order):
        solve_id = uuid.uuid4().hex
        pool.begin_solve(solve_id, deadline)
        floor_only = n >= plan.order - plan.floor_order
        dispatch.order_captcha_solve(solve_id, expires=ORDER_EXPIRES, floor=floor_only)
    if plan.order:
        logger.info("captcha pool: ordered %d solve(s)", plan.order, extra=plan.as_dict())
    return plan


def solve_for_pool(solve_id: str, floor: bool = False) -> str:
    """One solve for the pool (`floor`: ordered only for the warm floor). Never raises: a
    failed solve is counted and ordered again."""
    pool = token_pool()
    pool.mark_started(solve_id)
    started = time.monotonic()
    outcome = "failed"
    try:
        outcome = _solve(pool, floor=floor)
        return outcome
    finally:
        took = time.monotonic() - started if outcome == "solved" else None
        pool.end_started(solve_id, took)
        pool.end_solve(solve_id)
        top_up()


# A lookup waits for a pool token at most this much past the solve's typical time.
WAIT_SLACK = 5.0
WAIT_POLL = 0.25


def take_or_wait(site_key: str, page_url: str, *, cancelled=None):
    """The census client's token source: a ready pool token; else, when a pool solve under way
    should finish sooner than an inline solve started now would (it began earlier, so it
    does), wait for it rather than start a second solve; else None (solve inline). A lookup
    cancelled meanwhile (`cancelled`, the run's soft time limit) stops waiting at once."""
    cancelled = cancelled or threading.Event()
    pool = token_pool()
    token = pool.take(site_key, page_url)
    if token is not None:
        return token
    due = pool.soonest_pool_token()
    inline_done = time.time() + pool.typical_solve_seconds()
    if due is None or due >= inline_done:
        return None
    deadline = due + WAIT_SLACK
    logger.info("captcha pool: waiting up to %.0f s for a solve on its way", deadline - time.time())
    while time.time() < deadline:
        if cancelled.wait(WAIT_POLL):
            raise LookupCancelled("the lookup was cancelled while it waited for a pool token")
        token = pool.take(site_key, page_url)
        if token is not None:
            return token
        if pool.soonest_pool_token() is None:
            break  # the solve ended without a token (it failed): solve inline now
    return None


def give_back(site_key: str, token) -> None:
    """The census client's `give_back_token`: a pool token whose consulta never left the
    browser (the run missed its rate slot and is deferred, or was cancelled) goes back to the
    pool for the next lookup, instead of rotting unused while a new one is solved."""
    if token_pool().give_back(site_key, token):
        logger.info("captcha pool: an unused token went back to the pool")


def _solve(pool: TokenPool, *, floor: bool = False) -> str:
    target = pool.target()
    if target is None:
        return "no target"
    site_key, page_url = target
    solver = make_solver(settings.SCRAPING)
    try:
        token = solver.solve(site_key=site_key, page_url=page_url)
    except CaptchaSolverUnavailable as exc:
        pool.count("solve_failures")
        note_solver_unavailable(exc)
        raise_alert(
            # The key a lookup uses for the same cause: one incident pages once.
            f"scraping-{CaptchaSolverUnavailable.__name__}",
            "El servicio de captcha no está disponible",
            f"The captcha solver refused to work: {exc}. The token pool stopped ordering for "
            f"{PAUSE_AFTER_UNAVAILABLE // 60} min; lookups that find it empty solve inline "
            "and fail the same way until the solver works again (then re-verify them).",
        )
        return "solver unavailable"
    except CaptchaError as exc:
        pool.count("solve_failures")
        logger.warning("captcha pool: a solve failed (%s); it will be ordered again", exc)
        return "failed"
    finally:
        close = getattr(solver, "close", None)
        if close is not None:
            close()
    pool.add(site_key, token, floor=floor)
    if redis_client().delete(PAUSE_KEY):  # the solver works again
        resolve_alerts(f"scraping-{CaptchaSolverUnavailable.__name__}")
    logger.info("captcha pool: token solved", extra={"cost_usd": token.cost})
    return "solved"


def check_spend() -> dict:
    """Alert when too many pool tokens expired unused, or when the solver's balance is low."""
    recent = token_pool().spend_over(hours=2)  # this hour and the one before
    result = {"used": recent.used, "wasted": recent.wasted, "balance": None}
    # The warm floor's tokens expire unused whenever nobody adds a referral: that is its
    # price (shown on the dashboard), not a pool sized beyond what the site rate can spend.
    wasted = recent.wasted - recent.wasted_floor
    spent = recent.used + wasted
    waste = wasted / spent if spent else 0.0
    if spent >= settings.CAPTCHA_WASTE_MIN_TOKENS and waste > settings.CAPTCHA_WASTE_ALERT:
        raise_alert(
            f"captcha-waste:{recent.hour:%Y%m%d%H}",
            f"Tokens de captcha desperdiciados: {waste:.0%}",
            f"{wasted} of {spent} pool tokens expired unused in the last two hours, not "
            f"counting the warm floor's (threshold {settings.CAPTCHA_WASTE_ALERT:.0%}). Lower "
            "CAPTCHA_POOL_SIZE_MAX or check that the scraping worker is running.",
        )
    config = settings.SCRAPING
    if config.captcha_solver == "twocaptcha" and config.captcha_api_key:
        result["balance"] = _check_balance(config)
    return result


def _check_balance(config) -> float | None:
    solver = make_solver(config)
    try:
        balance = solver.balance()
    except (CaptchaError, CaptchaSolverUnavailable) as exc:
        logger.warning("captcha solver balance unknown: %s", exc)
        return None
    finally:
        solver.close()
    redis_client().set(BALANCE_KEY, balance)
    redis_client().set(BALANCE_AT_KEY, time.time())
    if balance < settings.CAPTCHA_LOW_BALANCE_USD:
        raise_alert(
            "captcha-low-balance",
            f"Saldo bajo en el servicio de captcha: US$ {balance:.2f}",
            f"The captcha solver reports a balance of {balance:.2f} USD (alert below "
            f"{settings.CAPTCHA_LOW_BALANCE_USD:.2f}). Top it up before solves start failing.",
        )
    return balance


def note_solver_unavailable(exc: Exception) -> None:
    """The solver refused to work (no balance, bad key...), seen by a pool solve or an inline
    one: stop ordering for a while (every order would fail the same way and cost a request) and
    keep the refusal for ops and for the portal's pause banner."""
    client = redis_client()
    client.set(PAUSE_KEY, str(exc)[:300], ex=PAUSE_AFTER_UNAVAILABLE)
    client.set(LAST_ERROR_KEY, json.dumps({"error": str(exc)[:300], "at": time.time()}))


def solver_state() -> dict:
    """What ops must know of the solver: paused until when and why, its last refusal, and the
    balance as of when it was read (a balance read before the refusal is not today's)."""
    client = redis_client()
    pause_ms = client.pttl(PAUSE_KEY)
    last = client.get(LAST_ERROR_KEY)
    last = json.loads(last) if last else {}
    balance = client.get(BALANCE_KEY)
    balance_at = client.get(BALANCE_AT_KEY)
    return {
        "paused": pause_ms is not None and pause_ms > 0,
        "paused_until": time.time() + pause_ms / 1000 if pause_ms and pause_ms > 0 else None,
        "last_error": last.get("error", ""),
        "last_error_at": last.get("at"),
        "balance": float(balance) if balance is not None else None,
        "balance_at": float(balance_at) if balance_at is not None else None,
    }


def dashboard_figures() -> dict:
    pool = token_pool()
    hours = pool.hourly_spend(hours=24)
    balance = redis_client().get(BALANCE_KEY)
    day = total(hours)
    floor, why_not = (0, "pool off")
    if enabled():
        floor, why_not = warm_floor(timezone.now(), day.cost_floor_usd)
    return {
        "enabled": enabled(),
        "ready": pool.ready(),
        "solving": pool.solving(),
        "floor": {
            "min": settings.CAPTCHA_POOL_MIN,
            "hours": settings.CAPTCHA_WARM_HOURS,
            "now": floor,
            "why_not": FLOOR_OFF_LABELS.get(why_not, why_not),
            "cap_usd": settings.CAPTCHA_MAX_SPEND_PER_DAY,
        },
        "paused": bool(redis_client().exists(PAUSE_KEY)),
        "balance": float(balance) if balance is not None else None,
        "solver": solver_state(),
        "hours": [h for h in hours if _any(h)],
        "day": day,
    }


def _any(hour: HourlySpend) -> bool:
    return bool(hour.solved or hour.used or hour.wasted or hour.solve_failures)
