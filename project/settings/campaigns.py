"""The campaign: how accounts are made, the public self-registration link, re-verification by
the people who own referrals."""

from django.core.exceptions import ImproperlyConfigured

from .env import duration, env

# `invite` (default): accounts are made only through invitation links from a manager or a
# coordinator; the plain sign-up page says so. `open`: anyone may sign up, as a leader without
# a team until a manager places them.
SIGNUP_MODE = env.str("SIGNUP_MODE", default="invite")
if SIGNUP_MODE not in ("invite", "open"):
    raise ImproperlyConfigured(f"SIGNUP_MODE must be 'invite' or 'open': {SIGNUP_MODE!r}")

# The public self-registration link of a leader: submissions per client address and per link
# in a sliding hour (fixed windows in Redis). Each submission counts, valid or not: the answer
# "already registered" tells whether a cédula is in the program, so guessing must be slow.
SELF_SIGNUP_LIMIT_PER_ADDRESS = env.int("SELF_SIGNUP_LIMIT_PER_ADDRESS", default=10)
SELF_SIGNUP_LIMIT_PER_LINK = env.int("SELF_SIGNUP_LIMIT_PER_LINK", default=200)
SELF_SIGNUP_WINDOW = duration("SELF_SIGNUP_WINDOW", "1h")

# Re-verification asked by a leader or coordinator costs captcha money and the site's goodwill:
# one referral at most once per REVERIFY_COOLDOWN, at most REVERIFY_DAILY_CAP referrals a day per
# person; a final answer (verified, not found...) counts as old after REVERIFY_OLD_AFTER.
REVERIFY_COOLDOWN = duration("REVERIFY_COOLDOWN", "24h")
REVERIFY_DAILY_CAP = env.int("REVERIFY_DAILY_CAP", default=100)
REVERIFY_OLD_AFTER = duration("REVERIFY_OLD_AFTER", "30d")
