"""Accounts and log-in, with django-axes against brute force (its whole configuration)."""

from datetime import timedelta

from .env import env

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "referrals:list"
LOGOUT_REDIRECT_URL = "login"

# Failed log-ins (portal and admin, both go through authenticate()) are counted per username
# *and* client address; at AXES_FAILURE_LIMIT failures that pair is locked out for
# AXES_COOLOFF_MINUTES, and even the right password is refused with a Spanish page (429). One
# address is also locked, whatever the usernames, at AXES_ADDRESS_FAILURE_LIMIT failures within
# the cool-off (password spraying): accounts/throttle.py. The client address is REMOTE_ADDR, or
# behind TRUSTED_PROXY_COUNT proxies (security.py) the X-Forwarded-For entry the outermost one
# wrote: what the client itself puts in that header is never trusted, so it cannot be forged to
# dodge the lock. Tests run with AXES_ENABLED=0 (pyproject) and turn it on where they exercise
# it. The app and its middleware are in base.py.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out pairs before any check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_ADDRESS_FAILURE_LIMIT = env.int("AXES_ADDRESS_FAILURE_LIMIT", default=30)
AXES_HANDLER = "accounts.throttle.PairAndAddressHandler"
AXES_CLIENT_IP_CALLABLE = "accounts.throttle.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
