"""HTTPS, proxies, cookies, sessions and headers: production defaults whenever DEBUG is off."""

from .env import DEBUG, duration, env

# How many reverse proxies (the TLS proxy of docker-compose.yml: 1) stand in front of the app.
# 0: none, so no X-Forwarded-* header is believed: a client could send one itself. With N > 0
# the client address is the X-Forwarded-For entry the outermost proxy wrote (log-in throttle,
# accounts/throttle.py) and X-Forwarded-Proto says whether the request came over HTTPS.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
# Probes (compose's healthcheck, the load balancer) ask over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^healthz/pipeline$"]
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# The census answer's map link is shown to users: only https URLs on these hosts are kept
# (referrals/links.py). Exact host names, comma-separated.
MAP_URL_HOSTS = frozenset(
    host.lower()
    for host in env.list(
        "MAP_URL_HOSTS",
        default=[
            "maps.google.com",
            "www.google.com",
            "google.com",
            "maps.app.goo.gl",
            "www.openstreetmap.org",
        ],
    )
)

# --- Sessions ---------------------------------------------------------------------------------
# A session ends after SESSION_IDLE_TIMEOUT without a request, and at the latest
# SESSION_MAX_AGE after the log-in (SESSION_STAFF_MAX_AGE for staff, whose session opens the
# admin and everyone's referrals): accounts/sessions.py. The cookie and the stored session
# never outlive the absolute lifetime either.
SESSION_IDLE_TIMEOUT = duration("SESSION_IDLE_TIMEOUT", "30m")
SESSION_MAX_AGE = duration("SESSION_MAX_AGE", "12h")
SESSION_STAFF_MAX_AGE = duration("SESSION_STAFF_MAX_AGE", "4h")
SESSION_COOKIE_AGE = int(SESSION_MAX_AGE)

# --- Headers ----------------------------------------------------------------------------------
# Content-Security-Policy (django-csp): scripts, styles and requests from this origin only, no
# inline script or style, no framing. The portal (htmx, its own CSS; htmx's injected indicator
# style is turned off in base.html) and Django's admin pass it:
# tests/test_security_headers_browser.py loads the pages in Chromium and checks that nothing
# is reported.
_SELF, _NONE = "'self'", "'none'"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [_SELF],
        "script-src": [_SELF],
        "style-src": [_SELF],
        "img-src": [_SELF, "data:"],
        "font-src": [_SELF],
        "connect-src": [_SELF],
        "form-action": [_SELF],
        "frame-ancestors": [_NONE],
        "base-uri": [_SELF],
        "object-src": [_NONE],
    }
}
SECURE_REFERRER_POLICY = "same-origin"
# Permissions-Policy (django-permissions-policy): the portal uses none of these features.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
        "browsing-topics",
    )
}
