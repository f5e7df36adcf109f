"""The captcha token pool's policy: how many tokens to solve ahead, solving them, watching spend.

Tokens are stored by `scraping.token_pool`; the scraping worker takes them through the census
client's `token_source` and solves inline only when the pool has none (referrals.signals).
Beat calls `top_up` every CAPTCHA_POOL_TOP_UP_EVERY, and every finished solve calls it again, so a
drained pool refills at the pace of the solves rather than of beat.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import asdict, dataclass

from django.conf import settings

from scraping.captcha import SUBMIT_MARGIN, make_solver
from scraping.circuit import CircuitState
from scraping.config import ScrapingConfig
from scraping.errors import CaptchaError, CaptchaSolverUnavailable
from scraping.token_pool import HourlySpend, TokenPool, total

from .alerts import raise_alert
from .connections import redis_client
from .models import Referral, Status
from .verification import circuit_breaker

logger = logging.getLogger(__name__)

PAUSE_KEY = "captcha:paused"  # set while the solver is unavailable: order nothing
BALANCE_KEY = "captcha:balance"  # the solver's last reported balance, for the dashboard
TOP_UP_LOCK = "captcha:top-up"
# A solve message not started within this long is dropped (the next top-up orders afresh).
ORDER_EXPIRES = 60
# How long ordering stops after the solver said it cannot work (an alert has gone out).
PAUSE_AFTER_UNAVAILABLE = 300
# Lookups that will want a token: queued ones and ones waiting for a retry.
NEEDS_TOKEN = (Status.PENDING, Status.RETRYING)


def scraping_config() -> ScrapingConfig:
    return ScrapingConfig.from_env()


def token_pool() -> TokenPool:
    return TokenPool(redis_client(), ttl=scraping_config().captcha_token_ttl)


def enabled() -> bool:
    """Tokens can only be solved ahead through a solving service, not by ticking a page."""
    return settings.CAPTCHA_POOL_SIZE_MAX > 0 and scraping_config().captcha_solver == "twocaptcha"


@dataclass(frozen=True)
class TopUp:
    backlog: int = 0  # referrals that will want a token
    ready: int = 0  # tokens in the pool
    solving: int = 0  # solves ordered, not finished
    target: int = 0  # tokens wanted ready or on their way
    order: int = 0  # solves ordered now
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
) -> TopUp:
    """How many solves to order now.

    The target is the smallest of: CAPTCHA_POOL_SIZE_MAX; what the site rate can spend within a
    token's usable life (more would rot before its turn); the backlog (more would never be used).
    Solves on their way count towards it, and at most `concurrency` run at once.
    """
    spendable = math.floor(rate_per_second * (ttl - SUBMIT_MARGIN))
    target = max(0, min(size_max, spendable, backlog))
    order = max(0, min(concurrency - solving, target - ready - solving))
    return TopUp(backlog, ready, solving, target, order)


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
    if circuit_breaker().status().state is CircuitState.OPEN:
        return TopUp(reason="circuit open: tokens would rot before lookups resume")
    pool.drop_expired()
    plan = plan_top_up(
        backlog=Referral.objects.filter(status__in=NEEDS_TOKEN).count(),
        ready=pool.ready(),
        solving=pool.solving(),
        rate_per_second=1.0 / settings.SCRAPING_MIN_INTERVAL,
        ttl=pool.ttl,
        size_max=settings.CAPTCHA_POOL_SIZE_MAX,
        concurrency=settings.CAPTCHA_SOLVER_CONCURRENCY,
    )
    from .tasks import solve_captcha_token

    deadline = time.time() + ORDER_EXPIRES + scraping_config().captcha_timeout + 30
    for _ in range(plan.order):
        solve_id = uuid.uuid4().hex
        pool.begin_solve(solve_id, deadline)
        solve_captcha_token.apply_async((solve_id,), expires=ORDER_EXPIRES)
    if plan.order:
        logger.info("captcha pool: ordered %d solve(s)", plan.order, extra=plan.as_dict())
    return plan


def solve_for_pool(solve_id: str) -> str:
    """One solve for the pool. Never raises: a failed solve is counted and ordered again."""
    pool = token_pool()
    try:
        return _solve(pool)
    finally:
        pool.end_solve(solve_id)
        top_up()


def _solve(pool: TokenPool) -> str:
    target = pool.target()
    if target is None:
        return "no target"
    site_key, page_url = target
    solver = make_solver(scraping_config())
    try:
        token = solver.solve(site_key=site_key, page_url=page_url)
    except CaptchaSolverUnavailable as exc:
        pool.count("solve_failures")
        # Stop ordering for a while: every order would fail the same way and cost a request.
        redis_client().set(PAUSE_KEY, str(exc), ex=PAUSE_AFTER_UNAVAILABLE)
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
    pool.add(site_key, token)
    logger.info("captcha pool: token solved", extra={"cost_usd": token.cost})
    return "solved"


def check_spend() -> dict:
    """Alert when too many pool tokens expired unused, or when the solver's balance is low."""
    recent = total(token_pool().hourly_spend(hours=2))  # this hour and the one before
    result = {"used": recent.used, "wasted": recent.wasted, "balance": None}
    spent = recent.used + recent.wasted
    waste = recent.wasted / spent if spent else 0.0
    if spent >= settings.CAPTCHA_WASTE_MIN_TOKENS and waste > settings.CAPTCHA_WASTE_ALERT:
        raise_alert(
            f"captcha-waste:{recent.hour:%Y%m%d%H}",
            f"Tokens de captcha desperdiciados: {waste:.0%}",
            f"{recent.wasted} of {spent} pool tokens expired unused in the last two hours "
            f"(threshold {settings.CAPTCHA_WASTE_ALERT:.0%}). Lower CAPTCHA_POOL_SIZE_MAX or "
            "check that the scraping worker is running.",
        )
    config = scraping_config()
    if config.captcha_solver == "twocaptcha" and config.captcha_api_key:
        result["balance"] = _check_balance(config)
    return result


def _check_balance(config: ScrapingConfig) -> float | None:
    solver = make_solver(config)
    try:
        balance = solver.balance()
    except (CaptchaError, CaptchaSolverUnavailable) as exc:
        logger.warning("captcha solver balance unknown: %s", exc)
        return None
    finally:
        solver.close()
    redis_client().set(BALANCE_KEY, balance)
    if balance < settings.CAPTCHA_LOW_BALANCE_USD:
        raise_alert(
            "captcha-low-balance",
            f"Saldo bajo en el servicio de captcha: US$ {balance:.2f}",
            f"The captcha solver reports a balance of {balance:.2f} USD (alert below "
            f"{settings.CAPTCHA_LOW_BALANCE_USD:.2f}). Top it up before solves start failing.",
        )
    return balance


def dashboard_figures() -> dict:
    pool = token_pool()
    hours = pool.hourly_spend(hours=24)
    balance = redis_client().get(BALANCE_KEY)
    return {
        "enabled": enabled(),
        "ready": pool.ready(),
        "solving": pool.solving(),
        "paused": bool(redis_client().exists(PAUSE_KEY)),
        "balance": float(balance) if balance is not None else None,
        "hours": [h for h in hours if _any(h)],
        "day": total(hours),
    }


def _any(hour: HourlySpend) -> bool:
    return bool(hour.solved or hour.used or hour.wasted or hour.solve_failures)
