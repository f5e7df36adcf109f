"""Django itself: the secret key, hosts, apps, middleware, templates, language and time."""

from django.core.exceptions import ImproperlyConfigured

from .env import BASE_DIR, DEBUG, env, refuse_placeholder

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="insecure-dev-key-only-for-DEBUG-mode")
else:
    try:
        SECRET_KEY = env("SECRET_KEY")
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off it must come from the environment "
            "(for a local stack run `make run`, which turns DEBUG on)."
        ) from None
    refuse_placeholder("SECRET_KEY", SECRET_KEY)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_results",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from this site (CSP, no CDN)
    # The product, from the bottom up: the campaign's people, the portal's domain, webhooks,
    # the pipeline, ops, the API.
    "privacy",
    "campaigns",
    "accounts",
    "referrals",
    "webhooks",
    "pipeline",
    "ops",
    "api",
    "axes",  # log-in brute force (see auth.py)
    "csp",  # Content-Security-Policy (see security.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "project.middleware.QuietPolls",  # htmx polls: runserver logs them at DEBUG only
    "project.middleware.SpanishUnlessChosen",  # the browser's language does not choose
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.sessions.SessionLifetimeMiddleware",  # idle and absolute lifetimes (security.py)
    "privacy.middleware.PolicyAcceptance",  # a new data policy version: accept it again
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as axes requires (see auth.py)
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "campaigns.context_processors.campaign",
                "privacy.context_processors.policy_banner",
                # `verification_pause` for the portal's pause banner (asked only when shown).
                "ops.pause.context",
            ],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Internationalisation: Spanish (Colombia) first, Bogotá time --------------------------------
LANGUAGE_CODE = "es-co"
LANGUAGES = [("es-co", "Español"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "America/Bogota"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves hashed, compressed files collected by `collectstatic`. The local stack and
# the tests (STATIC_MANIFEST=0) serve them straight from the app folders.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
# Served from the app folders, a file is looked up when asked for, as WhiteNoise advises for
# development; indexing every static file instead took 29 ms per handler, and the tests build
# one per test client (a third of the cost of a page in the test suite).
WHITENOISE_AUTOREFRESH = not STATIC_MANIFEST
