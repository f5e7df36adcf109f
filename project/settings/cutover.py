"""The cut-over from a Django-Q2 portal (`manage.py cutover_from_django_q`, docs/CUTOVER.md)."""

from .env import env

# The old portal's SECRET_KEY: Django-Q2 signs every queued task with it (salted with its
# Q_CLUSTER name), so the cut-over needs it to read what is still queued in django_q_ormq.
# Only the cut-over reads it; unset everywhere else.
CUTOVER_SOURCE_SECRET_KEY = env("CUTOVER_SOURCE_SECRET_KEY", default="")
