"""A pool of pre-solved captcha tokens in Redis, shared by every worker.

A reCAPTCHA solve takes 20–45 s but a token stays valid for about two minutes, is single use and
is not tied to one page load: solved ahead, in parallel and off the scraping worker, tokens let
the site's polite rate (not the solver) bound lookups. This module only stores and hands out
tokens and keeps the spend counters; what to order and when is the caller's business
(`pipeline.captcha_pool`).

Redis layout, under `captcha:` (one pool per site key: a new site key never gets old tokens):
- `pool:<site key>`: sorted set, member = JSON of the token, score = when it expires (epoch s);
- `target`: hash of the site key and page URL the last lookup saw (what solvers must solve for);
- `solving`: sorted set of solve ids ordered and not yet finished, score = their deadline;
- `spend:<YYYYMMDDHH>`: hash of hourly counters (UTC), kept for two days.

Tokens go out oldest first among those with at least SUBMIT_MARGIN of life left. Handing out the
freshest first would let the oldest rot at the bottom of a pool that is refilled as it drains;
oldest-first wastes nothing while the pool is sized within what the site rate can spend.
Expired tokens are dropped (and counted as wasted), never handed out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import redis

from scraping.captcha import SUBMIT_MARGIN, CaptchaSolver, SolvedToken

SPEND_FIELDS = (
    "solved_ahead",
    "solved_inline",
    "used",
    "wasted",
    "solve_failures",
    "solved_floor",
    "wasted_floor",
)
SPEND_KEEP_SECONDS = 49 * 3600


@dataclass(frozen=True)
class HourlySpend:
    hour: datetime  # UTC, start of the hour
    solved_ahead: int = 0  # tokens solved for the pool
    solved_inline: int = 0  # tokens a lookup had to solve itself (pool empty)
    used: int = 0  # pool tokens handed to a lookup
    wasted: int = 0  # pool tokens that expired unused
    solve_failures: int = 0  # pool solves that gave no token
    # The warm floor's share (pipeline.captcha_pool): tokens kept ready with no backlog asking.
    solved_floor: int = 0  # of solved_ahead
    wasted_floor: int = 0  # of wasted: the expected price of the floor, not a sizing fault
    cost_usd: float = 0.0  # what the solver reported, pool and inline
    cost_floor_usd: float = 0.0  # of cost_usd

    @property
    def solved(self) -> int:
        return self.solved_ahead + self.solved_inline


class TokenPool:
    def __init__(self, client: redis.Redis, ttl: float, prefix: str = "captcha") -> None:
        self.client = client
        self.ttl = ttl  # seconds a solved token is taken to live
        self.prefix = prefix

    # --- what solvers solve for --------------------------------------------------------------
    def remember_target(self, site_key: str, page_url: str) -> None:
        self.client.hset(self._key("target"), mapping={"site_key": site_key, "page_url": page_url})

    def target(self) -> tuple[str, str] | None:
        """(site key, page URL) of the census page, once a lookup has seen its widget."""
        raw = self.client.hgetall(self._key("target"))
        if not raw.get(b"site_key"):
            return None
        return raw[b"site_key"].decode(), raw[b"page_url"].decode()

    # --- tokens ------------------------------------------------------------------------------
    def add(self, site_key: str, token: SolvedToken, *, floor: bool = False) -> None:
        """A token solved ahead; `floor` when it was ordered only to keep the warm floor."""
        token = replace(token, floor=floor)
        self.client.zadd(self._key("pool", site_key), {_member(token): self._expiry(token)})
        self.count("solved_ahead", cost=token.cost)
        if floor:
            self.count("solved_floor", cost=token.cost, cost_field="cost_floor_micro_usd")

    def give_back(self, site_key: str, token: SolvedToken) -> bool:
        """A token handed out by `take` and never submitted (its consulta was held back in the
        browser: no rate slot in time, or the lookup cancelled) goes back in: single use, but
        unused, it is as good as the others. Its `used` count is undone; one too old to be
        submitted now counts as wasted instead. True when it went back in."""
        expires_at = self._expiry(token)
        usable = expires_at - time.time() >= SUBMIT_MARGIN
        if usable:
            self.client.zadd(self._key("pool", site_key), {_member(token): expires_at})
        self.count("used", -1)
        if not usable:
            self._count_wasted(1, floor=int(token.floor))
        return usable

    def _expiry(self, token: SolvedToken) -> float:
        return token.solved_at + self.ttl

    def take(self, site_key: str, page_url: str) -> SolvedToken | None:
        """The oldest token with enough life left to be submitted, or None. The census
        client's token source (pipeline.captcha_pool.take_or_wait) takes from here, and the
        client falls back to solving inline on None."""
        self.remember_target(site_key, page_url)
        key = self._key("pool", site_key)
        while True:
            self._drop_expired(key)
            popped = self.client.zpopmin(key)
            if not popped:
                return None
            member, expires_at = popped[0]
            data = json.loads(member)
            if expires_at - time.time() < SUBMIT_MARGIN:
                # Crossed the line between the two commands above.
                self._count_wasted(1, floor=int(data.get("floor", False)))
                continue
            self.count("used")
            return SolvedToken(
                token=data["token"], solved_at=data["solved_at"], floor=data.get("floor", False)
            )

    def ready(self, site_key: str | None = None) -> int:
        """Tokens in the pool with enough life left to be used."""
        return self.lasting(0.0, site_key)

    def lasting(self, seconds: float, site_key: str | None = None) -> int:
        """Tokens in the pool that will still be usable `seconds` from now."""
        if site_key is None:
            target = self.target()
            if target is None:
                return 0
            site_key = target[0]
        key = self._key("pool", site_key)
        return self.client.zcount(key, time.time() + SUBMIT_MARGIN + seconds, "+inf")

    def _drop_expired(self, key: str) -> None:
        expired = self.client.zrangebyscore(key, "-inf", time.time() + SUBMIT_MARGIN)
        if not expired:
            return
        pipe = self.client.pipeline()
        for member in expired:
            pipe.zrem(key, member)
        # Counted only where this call removed it: another worker may drop the same ones.
        dropped = [m for m, removed in zip(expired, pipe.execute(), strict=True) if removed]
        floor = sum(1 for member in dropped if json.loads(member).get("floor"))
        self._count_wasted(len(dropped), floor=floor)

    def _count_wasted(self, n: int, *, floor: int) -> None:
        """`n` tokens expired unused, `floor` of them the warm floor's (its price, not waste)."""
        if n:
            self.count("wasted", n)
        if floor:
            self.count("wasted_floor", floor)

    def drop_expired(self) -> None:
        target = self.target()
        if target is not None:
            self._drop_expired(self._key("pool", target[0]))

    # --- solves in flight --------------------------------------------------------------------
    def begin_solve(self, solve_id: str, deadline: float) -> None:
        self.client.zadd(self._key("solving"), {solve_id: deadline})

    def end_solve(self, solve_id: str) -> None:
        self.client.zrem(self._key("solving"), solve_id)

    def solving(self) -> int:
        """Solves ordered and not finished. One that outlived its deadline is forgotten: its
        worker died or its message was dropped, and it must not block new orders."""
        key = self._key("solving")
        self.client.zremrangebyscore(key, "-inf", time.time())
        return self.client.zcard(key)

    def mark_started(self, solve_id: str) -> None:
        """A solve ordered for the pool is being solved now (its task began)."""
        self.client.zadd(self._key("started"), {solve_id: time.time()})
        self.client.expire(self._key("started"), 3600)

    def end_started(self, solve_id: str, seconds: float | None = None) -> None:
        """The solve finished; `seconds` it took, when it gave a token (kept as the typical
        solve time: a moving average)."""
        self.client.zrem(self._key("started"), solve_id)
        if seconds is not None:
            typical = self.typical_solve_seconds()
            self.client.set(self._key("solve-seconds"), 0.7 * typical + 0.3 * seconds)

    def typical_solve_seconds(self, default: float = 30.0) -> float:
        raw = self.client.get(self._key("solve-seconds"))
        return float(raw) if raw is not None else default

    def soonest_pool_token(self) -> float | None:
        """When the earliest started pool solve should give its token (epoch s), or None when
        no solve is under way. Started ones that are long overdue (their worker died) are
        forgotten."""
        key = self._key("started")
        typical = self.typical_solve_seconds()
        self.client.zremrangebyscore(key, "-inf", time.time() - 3 * typical)
        oldest = self.client.zrange(key, 0, 0, withscores=True)
        return oldest[0][1] + typical if oldest else None

    # --- spend -------------------------------------------------------------------------------
    def count(
        self,
        field: str,
        n: int = 1,
        *,
        cost: float | None = None,
        cost_field: str = "cost_micro_usd",
    ) -> None:
        key = self._key("spend", _hour_key(time.time()))
        pipe = self.client.pipeline()
        pipe.hincrby(key, field, n)
        if cost:
            pipe.hincrby(key, cost_field, round(cost * 1_000_000))
        pipe.expire(key, SPEND_KEEP_SECONDS)
        pipe.execute()

    def hourly_spend(self, hours: int = 24) -> list[HourlySpend]:
        """The last `hours` hours, oldest first, the current hour included."""
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        starts = [now - timedelta(hours=i) for i in reversed(range(hours))]
        pipe = self.client.pipeline()
        for start in starts:
            pipe.hgetall(self._key("spend", _hour_key(start.timestamp())))
        return [_spend(start, raw) for start, raw in zip(starts, pipe.execute(), strict=True)]

    def spend_over(self, hours: int) -> HourlySpend:
        """The last `hours` hours added up, the current hour included (2: this hour and the one
        before, so a window that straddles the hour is counted whole)."""
        return total(self.hourly_spend(hours=hours))

    def metered(self, solver: CaptchaSolver) -> CaptchaSolver:
        """`solver`, counting its solves and cost as inline spend (a lookup's own solves)."""
        return _MeteredSolver(solver, self)

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))


class _MeteredSolver:
    def __init__(self, inner: CaptchaSolver, pool: TokenPool) -> None:
        self.inner = inner
        self.pool = pool
        self.name = inner.name

    def solve(self, **kwargs) -> SolvedToken:
        token = self.inner.solve(**kwargs)
        self.pool.count("solved_inline", cost=token.cost)
        return token

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


def _member(token: SolvedToken) -> str:
    data = {"token": token.token, "solved_at": token.solved_at}
    if token.floor:
        data["floor"] = True
    return json.dumps(data)


def _hour_key(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d%H")


def _spend(hour: datetime, raw: dict[bytes, bytes]) -> HourlySpend:
    values = {k.decode(): int(v) for k, v in raw.items()}
    return HourlySpend(
        hour=hour,
        cost_usd=values.pop("cost_micro_usd", 0) / 1_000_000,
        cost_floor_usd=values.pop("cost_floor_micro_usd", 0) / 1_000_000,
        **{k: v for k, v in values.items() if k in SPEND_FIELDS},
    )


def total(spend: Iterable[HourlySpend]) -> HourlySpend:
    """The sum of several hours (its `hour` is the first one's)."""
    rows = list(spend)
    return HourlySpend(
        hour=rows[0].hour if rows else datetime.now(UTC),
        cost_usd=sum(r.cost_usd for r in rows),
        cost_floor_usd=sum(r.cost_floor_usd for r in rows),
        **{f: sum(getattr(r, f) for r in rows) for f in SPEND_FIELDS},
    )
