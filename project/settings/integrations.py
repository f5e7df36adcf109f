"""Integrations: the REST API (tokens, throttling, OpenAPI), webhooks, Prometheus metrics."""

from project.durations import parse_duration

from .env import duration, env

# --- REST API (/api/v1/) ----------------------------------------------------------------------
# Requests per API token (the same for every endpoint of the API), e.g. 120/min, 10/s.
API_THROTTLE_RATE = env("API_THROTTLE_RATE", default="120/min")
# Referrals in one create request, and how long an Idempotency-Key's answer is kept.
API_MAX_BATCH = env.int("API_MAX_BATCH", default=500)
API_IDEMPOTENCY_TTL = duration("API_IDEMPOTENCY_TTL", "24h")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_token": API_THROTTLE_RATE},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cedula-verify API",
    "DESCRIPTION": "Register referrals by cédula and read their verification against the "
    "Registraduría census. Authenticate with `Authorization: Bearer <token>` (tokens are "
    "created on the portal's Integraciones page).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files from the drf-spectacular-sidecar package, served by this site.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Webhooks ----------------------------------------------------------------------------------
# Waits between attempts (Standard Webhooks' schedule: about 27 hours in all).
WEBHOOK_RETRY_SCHEDULE = [
    parse_duration(step)
    for step in env.list(
        "WEBHOOK_RETRY_SCHEDULE", default=["5s", "5m", "30m", "2h", "5h", "10h", "10h"]
    )
]
WEBHOOK_TIMEOUT = duration("WEBHOOK_TIMEOUT", "10s")
# An endpoint failing without a single success for this long is disabled (owner and on-call told).
WEBHOOK_DISABLE_AFTER = duration("WEBHOOK_DISABLE_AFTER", "1d")
WEBHOOK_SWEEP_EVERY = duration("WEBHOOK_SWEEP_EVERY", "1m")
# Webhook URLs resolving to private, loopback or link-local addresses are refused unless this is
# on (the tests and `make demo` post to receivers on this machine).
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)

# --- Prometheus metrics (/metrics) -------------------------------------------------------------
# The scraper's bearer token; empty = no metrics served at all.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
