"""The one reader of the environment for Django settings, and the helpers the others use.

Every variable is read in exactly one settings module, through `env` (django-environ); the
README lists each with its default.
"""

import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from project.durations import parse_duration

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()


def duration(name: str, default: str) -> float:
    """A duration setting in seconds: `90`, `90s`, `30m`, `2h` or `1d`."""
    text = env(name, default=default)
    try:
        return parse_duration(text)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a duration like 90s, 30m or 2h: {text!r}"
        ) from None


def hour_range(name: str, default: str) -> tuple[int, int] | None:
    """Hours of the day `start-end` (local time, end not included; `22-6` runs past
    midnight); empty means none."""
    text = env(name, default=default).strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d{1,2})\s*-\s*(\d{1,2})", text)
    start, end = (int(match[1]), int(match[2])) if match else (-1, -1)
    if not (0 <= start <= 23 and 0 <= end <= 24 and start != end):
        raise ImproperlyConfigured(
            f"{name} must be hours like 7-21 (from 07:00 to 20:59), or empty: {text!r}"
        )
    return start, end


# Production is the default: DEBUG is off unless asked for (`make run` turns it on).
DEBUG = env.bool("DEBUG", default=False)

# The placeholders of .env.example ("change-me", "change-me-to-a-long-random-string", the
# `ops:change-me` Flower password) and the DEBUG-only development key: a copied example file
# must not become a production secret. project/flower.py applies the same rule to Flower's.
PLACEHOLDER_SECRET = re.compile(r"^$|change[-_ ]?me|^insecure-dev-key", re.IGNORECASE)


def refuse_placeholder(name: str, value: str) -> None:
    """Outside DEBUG, stop start-up when a credential or secret is empty or a placeholder."""
    if not DEBUG and PLACEHOLDER_SECRET.search(value or ""):
        raise ImproperlyConfigured(
            f"{name} is empty or still the placeholder of .env.example: set a real, random "
            "value before starting with DEBUG off."
        )
