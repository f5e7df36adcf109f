"""Keeping secrets and personal data out of logs and error reports.

Third-party HTTP clients log each request URL at INFO, query included: the captcha solver's API
key travels in the query (2captcha's API has no other place for it). So those loggers stay at
WARNING (project/settings/logging.py), every log line passes `RedactingFilter` (a URL keeps its
path, never its query; `key=`/`token=`-like pairs are masked), and whatever goes to Sentry passes
`scrub_event` (the same, plus cédulas: any run of 5 to 10 digits standing alone).

Log lines show a cédula by its last 3 digits only (`mask_cedulas`: 1020304050 → ******050),
enough to tell two apart in an incident, not enough to name anyone; an alert's title shows none
(ops.alerts: titles travel to chat and pagers).
"""

import logging
import re

_URL_QUERY = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s?#\"'<>]+)\?[^\s#\"'<>]*", re.IGNORECASE)
_SECRET_PAIR = re.compile(
    r"\b((?:api_?)?key|token|secret|password|passwd|authorization|clientkey)"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s&\"',;]+)",
    re.IGNORECASE,
)
_CEDULA = re.compile(r"(?<![\d.])\d(?:\.?\d){4,9}(?![\d.])")
# In log lines: 6 to 10 digits standing alone (dots allowed, as people type cédulas); shorter
# numbers (ids, ports, counts, durations) stay readable.
_LOG_CEDULA = re.compile(r"(?<![\w.:/-])\d(?:\.?\d){5,9}(?![\w.:/-])")


def _last_three(match: re.Match) -> str:
    digits = match.group(0).replace(".", "")
    return "*" * (len(digits) - 3) + digits[-3:]


def mask_cedulas(text: str) -> str:
    """Every cédula-like number in `text` reduced to its last 3 digits: `******050`."""
    return _LOG_CEDULA.sub(_last_three, text)


def redact(text: str, *, cedulas: bool = False) -> str:
    text = _URL_QUERY.sub(r"\1?[query removed]", text)
    text = _SECRET_PAIR.sub(r"\1\2[redacted]", text)
    if cedulas:
        text = _CEDULA.sub("[cédula]", text)
    return text


class RedactingFilter(logging.Filter):
    """A log handler's filter: the message as it will be written, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = mask_cedulas(redact(message))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _scrub(value, depth=0):
    if depth > 20:
        return value
    if isinstance(value, str):
        return redact(value, cedulas=True)
    if isinstance(value, dict):
        return {k: _scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v, depth + 1) for v in value)
    return value


def scrub_event(event: dict, hint=None) -> dict:
    """Sentry's `before_send`: no API key, query string or cédula leaves the process."""
    return _scrub(event)
