"""Links the portal shows that come from outside: only what is safe to put in an href.

The census answer's `mapa.url` is the site's text, stored through an `.update()` that skips
the model's URL validation and shown as a link: anything but an `https://` URL on a host of
MAP_URL_HOSTS (a `javascript:` URL, a phishing page) is dropped before it is stored, and again
before it is shown (rows stored before this check).
"""

from urllib.parse import urlsplit

from django.conf import settings


def safe_map_url(url: str) -> str:
    """`url` when it is an https URL on an allowed map host (default port, no credentials),
    else ""."""
    url = (url or "").strip()
    if not url or len(url) > 500 or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme != "https" or parts.username is not None or parts.password is not None:
        return ""
    if port not in (None, 443):
        return ""
    host = (parts.hostname or "").lower().rstrip(".")
    return url if host in settings.MAP_URL_HOSTS else ""
