"""The database: one SQLite file by default, PostgreSQL through DATABASE_URL."""

from .env import BASE_DIR, env, refuse_placeholder

# WAL lets readers go on while one writer writes; IMMEDIATE transactions take the write lock up
# front, so two writers queue on busy_timeout instead of failing with "database is locked" when
# a read transaction tries to upgrade (the Django-Q2 plan's failure). `timeout` is sqlite3's
# busy timeout in seconds.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
        ),
    }
    # Tests start real worker processes: they need a file, not an in-memory database.
    DATABASES["default"]["TEST"] = {
        "NAME": env("SQLITE_TEST_DB", default=str(BASE_DIR / "db-test.sqlite3"))
    }
else:
    # compose builds DATABASE_URL from POSTGRES_PASSWORD: `change-me` must not reach production.
    if DATABASES["default"].get("PASSWORD"):
        refuse_placeholder(
            "DATABASE_URL's password (POSTGRES_PASSWORD in docker compose)",
            DATABASES["default"]["PASSWORD"],
        )
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
