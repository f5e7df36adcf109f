"""Logging filters for a calm terminal: routine chatter only at DEBUG, no traceback for an
ordinary 403."""

import logging
import threading

# Beat's own jobs: every few seconds, forever. Their "received"/"succeeded" lines and beat's
# "Sending due task" are noise at INFO; failures still show (they are WARNING or ERROR).
ROUTINE_TASKS = (
    "referrals.tasks.beat_heartbeat",
    "referrals.tasks.top_up_captcha_pool",
    "referrals.tasks.check_failure_rate",
    "referrals.tasks.check_captcha_spend",
    "referrals.tasks.sweep_stale_referrals",
    "beat-heartbeat",
    "top-up-captcha-pool",
    "check-failure-rate",
    "check-captcha-spend",
    "sweep-stale-referrals",
)
_request = threading.local()  # set by project.middleware.QuietPolls for the request's thread


def mark_request_quiet(quiet: bool) -> None:
    _request.quiet = quiet


class RoutineAtDebug(logging.Filter):
    """Lets routine INFO lines through only when the root logger is at DEBUG: beat's jobs and
    the htmx polls (every 3 s per open page) in runserver's request log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        if record.name == "django.server":
            return not getattr(_request, "quiet", False)
        if record.name.startswith("celery"):
            message = record.getMessage()
            return not any(task in message for task in ROUTINE_TASKS)
        return True


class ForbiddenWithoutTraceback(logging.Filter):
    """A 403 (PermissionDenied, CSRF) is an ordinary answer: one line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
