"""A Django-Q2 portal as the original plan had it (the one cedula-verify replaces), for the
cut-over tests: Django auth users (leaders are a group), a referral table, a post_save signal
that queues a Django-Q2 task per new referral on the ORM broker, Django-Q2's schedules.

Run with DJANGO_SETTINGS_MODULE=tests.legacy_portal.settings and LEGACY_DATABASE_URL; `build`
makes the database (see build.py); `manage` runs its management commands (qcluster).
"""

SECRET_KEY = "legacy-portal-secret-key-only-for-tests"
CLUSTER_NAME = "DjangORM"
