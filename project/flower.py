"""`python -m project.flower [flower options]`: Flower, never without authentication.

Flower reads FLOWER_BASIC_AUTH (`user:password[,user2:password2]`) from the environment. Outside
DEBUG it is required: the stack refuses to start an open Flower. In DEBUG a local default is
used, with a warning. Note that Flower's /metrics and /healthcheck stay open by design (for
Prometheus and probes); they reveal no task arguments.
"""

import os
import sys

DEBUG_CREDENTIALS = "ops:ops"


def main(argv: list[str]) -> None:
    debug = os.environ.get("DEBUG", "").lower() in ("1", "true", "yes", "on")
    if not os.environ.get("FLOWER_BASIC_AUTH"):
        if not debug:
            sys.exit(
                "FLOWER_BASIC_AUTH is not set: refusing to start Flower without authentication "
                "(set it to user:password)."
            )
        os.environ["FLOWER_BASIC_AUTH"] = DEBUG_CREDENTIALS
        print(f"Flower: DEBUG mode, using local credentials {DEBUG_CREDENTIALS}", file=sys.stderr)
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    os.execv(celery, [celery, "-A", "project", "flower", *argv])  # noqa: S606 (no shell: argv as given)


if __name__ == "__main__":
    main(sys.argv[1:])
