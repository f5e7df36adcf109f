"""Every page of the URLconf carries the security headers (issue 21, item 6): walked through
the authorization matrix's table, as the owner and as a superuser. The browser test
(test_security_headers_browser.py) checks that the pages work under this policy."""

import pytest
from django.test import Client

from tests.test_authz_matrix import TABLE, world  # noqa: F401 (the fixture)

EXPECTED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "frame-ancestors": "'none'",
    "object-src": "'none'",
    "form-action": "'self'",
    "base-uri": "'self'",
}

# Swagger UI's template keeps one inline <style> (api/urls.py): that page only, no script.
INLINE_STYLE_ALLOWED = {"/api/v1/docs/"}


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {name: (rest[0] if rest else "") for name, *rest in parts}


@pytest.mark.parametrize("role", ["owner", "superuser", "anon"])
def test_every_page_carries_the_security_headers(world, db, role):  # noqa: F811
    objects, users = world
    client = Client()
    if role != "anon":
        client.force_login(users[role])
    for route in TABLE.values():
        url = route.url(objects) if callable(route.url) else route.url
        response = client.get(url)
        where = f"GET {url} as {role} ({response.status_code})"
        csp = directives(response.get("Content-Security-Policy", ""))
        expected = dict(EXPECTED_CSP)
        if url in INLINE_STYLE_ALLOWED:
            expected["style-src"] = "'self' 'unsafe-inline'"
        for name, value in expected.items():
            assert csp.get(name) == value, f"{where}: {name} is {csp.get(name)!r}"
        if url not in INLINE_STYLE_ALLOWED:
            assert "'unsafe-inline'" not in response["Content-Security-Policy"], where
        assert "'unsafe-eval'" not in response["Content-Security-Policy"], where
        assert response.get("Referrer-Policy") == "same-origin", where
        policy = response.get("Permissions-Policy", "")
        for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
            assert feature in policy, f"{where}: {policy!r}"
        assert response.get("X-Frame-Options") == "DENY", where
        assert response.get("X-Content-Type-Options") == "nosniff", where
