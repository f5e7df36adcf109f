"""Celery on Redis (CELERY_ namespace, read by project/celery.py). Queue and task names come
from pipeline.dispatch, their one definition."""

from kombu import Exchange
from kombu import Queue as KombuQueue

from pipeline.dispatch import ROUTES, Queue

from .base import TIME_ZONE
from .env import duration, env

# One Redis for the broker, the rate limiter, the circuit breaker and alert dedup.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
# How long the project's own Redis calls wait to connect and for an answer: a Redis that
# accepts connections and never answers (a partition, a stuck host) fails the call instead of
# holding a portal request or a worker's lock renewal for good (project/connections.py).
REDIS_TIMEOUT = duration("REDIS_TIMEOUT", "5s")

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
# Scraping runs on its own queue and workers (-Q scraping -c 1): a rate-limited task waiting for
# its slot must not hold up housekeeping, and rate limits are per worker instance. Captcha
# solves wait 20-45 s on the solving service: their own queue and worker (threads).
CELERY_TASK_ROUTES = {task: {"queue": str(queue)} for task, queue in ROUTES.items()}
# Every queue the product uses, declared as Celery would create them from the routes: Flower's
# broker page lists these even when no worker of a queue answers (project/flower.py).
CELERY_TASK_QUEUES = [KombuQueue(str(q), Exchange(str(q)), routing_key=str(q)) for q in Queue]
# Long tasks: take one message at a time, so a waiting message is never stuck behind a busy one.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
# Flower needs events from workers and "sent" events from producers.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
# Redis redelivers any unacknowledged message (late ack, ETA or countdown) older than this; it
# must stay above the longest countdown and time limit we use (checked at start-up, see
# pipeline/checks.py). It is only the backstop for a dead worker's messages: worker heartbeats
# (below) give them back within WORKER_DEAD_AFTER.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # How often a worker looks for messages to restore (a dead worker's unacknowledged ones).
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_EVERY", default=60),
    "unacked_restore_throttle": 1,
}
# Every worker writes to Redis, every WORKER_HEARTBEAT_EVERY, which messages it holds (running,
# reserved, waiting for a countdown). A message in `unacked` older than WORKER_DEAD_AFTER that no
# live worker holds belonged to a worker that died (SIGKILL, OOM, lost node): any live worker
# puts it back on its queue at once instead of after the visibility timeout (pipeline/broker.py).
WORKER_HEARTBEAT_EVERY = duration("WORKER_HEARTBEAT_EVERY", "5s")
WORKER_DEAD_AFTER = duration("WORKER_DEAD_AFTER", "30s")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Every task but the lookup (housekeeping, alerts) takes seconds: a generous bound all the same.
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
