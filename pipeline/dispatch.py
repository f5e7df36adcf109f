"""Publishing work: the queues, the task names, and the one way to send a task.

Everything that starts background work goes through here, by task name (`send_task`): no
product module imports `pipeline.tasks`, and a publisher needs none of the tasks' code.

Messages carry no time limits, so the worker's own are in force. A limit in a message wins over
the worker's, and both `Task.apply_async` and (since Celery 5.7) `send_task` copy the limits of a
task registered in the publishing process into the message; `send` clears them explicitly
(`time_limit=None` is Celery's documented way), so a web process with other settings cannot
impose its limits on the workers (tests/test_layers.py and tests/test_pipeline.py prove both
halves).

The task names are wire names: they travel in messages already queued in Redis, in stored
results and in Flower's history, so they stay the same when code moves (their `referrals.tasks.`
prefix is where the tasks were first defined).
"""

import logging
from enum import StrEnum

logger = logging.getLogger(__name__)


class Queue(StrEnum):
    SCRAPING = "scraping"  # census lookups: concurrency 1 per egress address, rate-limited
    DEFAULT = "default"  # housekeeping: alerts, beat jobs, the captcha pool's top-up
    CAPTCHA = "captcha"  # captcha solves for the token pool (a threads worker)


VERIFY_REFERRAL = "referrals.tasks.verify_referral"
DELIVER_ALERT = "referrals.tasks.deliver_alert"
SWEEP_STALE_REFERRALS = "referrals.tasks.sweep_stale_referrals"
CHECK_FAILURE_RATE = "referrals.tasks.check_failure_rate"
BEAT_HEARTBEAT = "referrals.tasks.beat_heartbeat"
TOP_UP_CAPTCHA_POOL = "referrals.tasks.top_up_captcha_pool"
SOLVE_CAPTCHA_TOKEN = "referrals.tasks.solve_captcha_token"  # noqa: S105 (a task name)
CHECK_CAPTCHA_SPEND = "referrals.tasks.check_captcha_spend"
DELIVER_WEBHOOK = "pipeline.tasks.deliver_webhook"
SWEEP_WEBHOOKS = "pipeline.tasks.sweep_webhooks"
CHECK_CIRCUIT = "pipeline.tasks.check_circuit"
# The drift canary loads the census pages in the scraping worker's browser (no consulta).
PROBE_CENSUS_SOURCES = "pipeline.tasks.probe_census_sources"
PURGE_PERSONAL_DATA = "pipeline.tasks.purge_personal_data"

# Tasks that do not run on the default queue (CELERY_TASK_ROUTES is built from this).
ROUTES = {
    VERIFY_REFERRAL: Queue.SCRAPING,
    PROBE_CENSUS_SOURCES: Queue.SCRAPING,
    SOLVE_CAPTCHA_TOKEN: Queue.CAPTCHA,
}


def send(task_name: str, *args, **options):
    """Publish `task_name` with positional `args`; `options` as for `send_task`."""
    from project.celery import app

    return app.send_task(task_name, args=args, time_limit=None, soft_time_limit=None, **options)


def publish_verification(referral_id: int) -> None:
    """Send the verification of `referral_id` now. A broker outage is logged, not raised: the
    row is committed and stays pending, and the stale sweep publishes it again later."""
    try:
        send(VERIFY_REFERRAL, referral_id)
    except Exception:  # kombu's errors differ by transport; none may fail the request
        logger.exception("could not publish verification of referral %s", referral_id)


def publish_alert_delivery(alert_id: int) -> None:
    send(DELIVER_ALERT, alert_id)


def order_captcha_solve(solve_id: str, *, expires: float, floor: bool = False) -> None:
    # `floor` only when set: a captcha worker of the release before takes one argument, and
    # during a rolling deploy it still solves the backlog's orders.
    send(SOLVE_CAPTCHA_TOKEN, solve_id, *((True,) if floor else ()), expires=expires)


def publish_webhook_delivery(delivery_id: int, countdown: float | None = None) -> None:
    """Send one webhook attempt. A broker outage is logged: the delivery stays due in the
    database and beat's webhook sweep publishes it again."""
    try:
        send(DELIVER_WEBHOOK, delivery_id, countdown=countdown)
    except Exception:  # kombu's errors differ by transport; none may fail the caller
        logger.exception("could not publish webhook delivery %s", delivery_id)
