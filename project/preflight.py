"""`python -m project.preflight`: tell the user, before the stack starts, what it still needs."""

import os
import sys

import redis

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def main() -> int:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        print(
            f"Redis is not reachable at {REDIS_URL} ({exc}).\n"
            "Start it, for example:\n"
            "  redis-server --daemonize yes        # Debian/Ubuntu: sudo apt install redis-server\n"
            "  docker run -d -p 6379:6379 redis:7  # or with Docker\n"
            "or point REDIS_URL at a running Redis.",
            file=sys.stderr,
        )
        return 1
    print(f"Redis reachable at {REDIS_URL}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
