"""`python -m project.preflight`: tell the user, before the stack starts, what it still needs."""

import os
import sys

import redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")


def main() -> int:
    from django.conf import settings

    url = settings.REDIS_URL
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        print(
            f"Redis is not reachable at {url} ({exc}).\n"
            "Start it, for example:\n"
            "  redis-server --daemonize yes        # Debian/Ubuntu: sudo apt install redis-server\n"
            "  docker run -d -p 6379:6379 redis:7  # or with Docker\n"
            "or point REDIS_URL at a running Redis.",
            file=sys.stderr,
        )
        return 1
    print(f"Redis reachable at {url}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
