"""The verification pipeline: the scraping queue's politeness, retries, limits and circuit."""

from celery.utils.time import rate

from .env import env, hour_range

# The polite rate towards the site, as Celery writes rates ("12/m" = one lookup every 5 s). It is
# the task's own rate_limit (per worker) and the global gap in Redis (every worker together).
SCRAPING_RATE_LIMIT = env("SCRAPING_RATE_LIMIT", default="12/m")
SCRAPING_MIN_INTERVAL = 1.0 / rate(SCRAPING_RATE_LIMIT)
# How long a task waits in-process for its slot before deferring itself with a countdown.
SCRAPING_SLOT_MAX_WAIT = env.float("SCRAPING_SLOT_MAX_WAIT", default=30.0)
# Retries of a passing fault (5xx, 429, reset, hung page). Eight: with backoff 5 s, 10 s, ... 600 s
# and full jitter they span ten minutes on average (at most twenty), so a referral outlives a flaky
# spell of the site (a site down for everyone opens the circuit instead). With 3 lookups in 10
# meeting a fault (the chaos run, tests/test_chaos.py), one referral in 50,000 fails, against
# one in 1,400 with five retries.
SCRAPING_MAX_RETRIES = env.int("SCRAPING_MAX_RETRIES", default=8)
SCRAPING_RETRY_BACKOFF_MAX = env.int("SCRAPING_RETRY_BACKOFF_MAX", default=600)
# Hard limit kills the pool child; the soft limit comes first and is treated as a hung page.
SCRAPING_TASK_TIME_LIMIT = env.int("SCRAPING_TASK_TIME_LIMIT", default=180)
SCRAPING_TASK_SOFT_TIME_LIMIT = max(
    1, SCRAPING_TASK_TIME_LIMIT - max(5, SCRAPING_TASK_TIME_LIMIT // 6)
)
# A claim older than this belongs to a run that is surely dead (the hard limit killed it).
SCRAPING_CLAIM_LEASE = SCRAPING_TASK_TIME_LIMIT + 10
# The per-referral run lock's lease: short, and renewed every third of it by the live run's
# process, so a run that died with its process (SIGKILL, hard time limit) frees its referral
# within this long, not after the whole time limit.
SCRAPING_RUN_LOCK_LEASE = env.int("SCRAPING_RUN_LOCK_LEASE", default=30)
CIRCUIT_COOLDOWN = env.int("CIRCUIT_COOLDOWN", default=900)
# A "page changed" verdict stops the pipeline (failed + alert) only when this many lookups in a
# row saw it: one slow or odd page on a loaded machine is retried like a network error.
PAGE_CHANGED_CONFIRMATIONS = env.int("PAGE_CHANGED_CONFIRMATIONS", default=3)
CIRCUIT_FAILURE_THRESHOLD = env.int("CIRCUIT_FAILURE_THRESHOLD", default=5)
# When the circuit closes again, at most this many `blocked` referrals go back to the queue.
BLOCKED_REQUEUE_MAX = env.int("BLOCKED_REQUEUE_MAX", default=500)
# A block still open after each of these ages pages again (then once a day).
CIRCUIT_REALERT_AFTER = [3600, 4 * 3600, 24 * 3600]

# --- Captcha token pool: tokens solved ahead, off the scraping worker ------------------------
# Ready tokens kept at most (also never more than the site rate can spend before they expire,
# nor more than the backlog needs); 0 turns the pool off and every lookup solves inline.
CAPTCHA_POOL_SIZE_MAX = env.int("CAPTCHA_POOL_SIZE_MAX", default=10)
# Solves running at once for the pool (solves take 20-45 s: to keep up with a rate of r lookups
# a second, this must be at least r x solve time, e.g. 12/m x 45 s = 9).
CAPTCHA_SOLVER_CONCURRENCY = env.int("CAPTCHA_SOLVER_CONCURRENCY", default=10)
# Alert when more than this share of the last hour's pool tokens expired unused (with at least
# CAPTCHA_WASTE_MIN_TOKENS of them), or when the solver's balance falls below this (USD).
CAPTCHA_WASTE_ALERT = env.float("CAPTCHA_WASTE_ALERT", default=0.1)
CAPTCHA_WASTE_MIN_TOKENS = env.int("CAPTCHA_WASTE_MIN_TOKENS", default=10)
CAPTCHA_LOW_BALANCE_USD = env.float("CAPTCHA_LOW_BALANCE_USD", default=5.0)
# The warm floor: during CAPTCHA_WARM_HOURS (local time, "7-21" = 07:00 to 20:59; "" = never)
# the pool keeps at least CAPTCHA_POOL_MIN tokens ready even with no backlog, so a lone
# referral is verified in seconds rather than after a 20-45 s inline solve. A token lives about
# 100 s, so one kept ready costs about 40 solves an hour (US$ 0.12 at 2captcha's US$ 2.99 per
# 1,000). The floor stops while its own spend over the last 24 hours (rolling) is at
# CAPTCHA_MAX_SPEND_PER_DAY (USD); backlog tokens and inline solves are not capped, or
# referrals would wait unverified. Default on: see docs/SCALING.md, "The warm floor".
CAPTCHA_POOL_MIN = env.int("CAPTCHA_POOL_MIN", default=1)
CAPTCHA_WARM_HOURS = hour_range("CAPTCHA_WARM_HOURS", default="7-21")
CAPTCHA_MAX_SPEND_PER_DAY = env.float("CAPTCHA_MAX_SPEND_PER_DAY", default=3.0)
