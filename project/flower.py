"""`python -m project.flower [flower options]`: Flower, never without authentication.

Flower reads FLOWER_BASIC_AUTH (`user:password[,user2:password2]`) from the environment. Outside
DEBUG it is required, and a placeholder password (`ops:change-me` of .env.example) or an empty
one is refused: the stack does not start an open Flower. In DEBUG a local default is used,
with a warning. Flower listens on 127.0.0.1 unless `--address` says otherwise (compose gives
0.0.0.0 inside its private network, where only the TLS proxy reaches it: basic auth never
travels in clear). Note that Flower's /metrics and /healthcheck stay open by design (for
Prometheus and probes); they reveal no task arguments.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

DEBUG_CREDENTIALS = "ops:ops"


def credential_problem(value: str) -> str | None:
    from project.settings.env import PLACEHOLDER_SECRET

    for pair in value.split(","):
        user, _, password = pair.partition(":")
        if not user.strip() or not password:
            return "each entry must be user:password"
        if PLACEHOLDER_SECRET.search(password):
            return f"the password of {user.strip()!r} is the placeholder of .env.example"
    return None


def main(argv: list[str]) -> None:
    # The settings Flower's Celery app loads anyway: DEBUG and FLOWER_BASIC_AUTH read once.
    from django.conf import settings

    debug, auth = settings.DEBUG, settings.FLOWER_BASIC_AUTH
    if not auth:
        if not debug:
            sys.exit(
                "FLOWER_BASIC_AUTH is not set: refusing to start Flower without authentication "
                "(set it to user:password)."
            )
        os.environ["FLOWER_BASIC_AUTH"] = DEBUG_CREDENTIALS  # what Flower itself reads
        print(f"Flower: DEBUG mode, using local credentials {DEBUG_CREDENTIALS}", file=sys.stderr)
    elif not debug and (problem := credential_problem(auth)):
        sys.exit(f"FLOWER_BASIC_AUTH is refused: {problem}. Set a real, random password.")
    if not any(arg.startswith("--address") for arg in argv):
        argv = ["--address=127.0.0.1", *argv]
    _list_every_queue()
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", "-A", "project", "flower", *argv]
    celery_main()


def _list_every_queue() -> None:
    """Flower's broker page lists only the queues its workers reported (or, with none, the
    default one): a queue whose worker is down or slow to answer vanished from the page, though
    that is when its backlog matters. List every queue declared in CELERY_TASK_QUEUES too."""
    from flower.views import BaseHandler

    reported = BaseHandler.get_active_queue_names

    def every_queue(self):
        declared = {q.name for q in self.capp.conf.task_queues or [] if q.name}
        return sorted(set(reported(self)) | declared)

    BaseHandler.get_active_queue_names = every_queue


if __name__ == "__main__":
    main(sys.argv[1:])
