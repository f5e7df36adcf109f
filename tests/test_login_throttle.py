"""Log-in brute force is throttled by django-axes: after AXES_FAILURE_LIMIT failures for one
username from one address, even the right password is refused for the cool-off, with a page
in Spanish. The portal log-in and the admin log-in both count."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from tests.procs import ROOT

PASSWORD = "clave-segura-123"


@pytest.fixture
def axes_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    return settings


@pytest.fixture
def ana(db, axes_on):
    return User.objects.create_user("ana", "ana@example.com", PASSWORD)


def log_in(client, username, password, url=None, **extra):
    return client.post(
        url or reverse("login"), {"username": username, "password": password}, **extra
    )


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail_five_times(client, username, url=None, **extra):
    responses = [log_in(client, username, "mala-clave", url, **extra) for _ in range(5)]
    for response in responses[:4]:
        assert response.status_code == 200  # the form again, with its error
    return responses[-1]


def test_five_bad_passwords_lock_out_even_the_right_one(client, ana):
    fifth = fail_five_times(client, "ana")
    assert fifth.status_code == 429

    response = log_in(client, "ana", PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    body = response.content.decode()
    assert "Demasiados intentos" in body
    assert "bloqueado durante 15 minutos" in body
    assert PASSWORD not in body
    assert client.get(reverse("referrals:list")).status_code == 302  # still anonymous


def test_the_lock_out_page_follows_the_language(client, ana, settings):
    fail_five_times(client, "ana")
    # The browser's language does not choose (Spanish by default); the user's choice does.
    response = log_in(client, "ana", PASSWORD, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 429
    assert "Demasiados intentos" in response.content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = log_in(client, "ana", PASSWORD, HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()


def test_four_failures_do_not_lock_and_a_success_resets_the_count(client, ana):
    for _ in range(4):
        assert log_in(client, "ana", "mala-clave").status_code == 200
    assert log_in(client, "ana", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert log_in(client, "ana", "mala-clave").status_code == 200
    assert log_in(client, "ana", PASSWORD).status_code == 302


def test_the_lock_is_per_username_and_address(client, ana):
    User.objects.create_user("beto", "beto@example.com", PASSWORD)
    fail_five_times(client, "ana")
    # Another user from the same address is not locked out of their account...
    assert log_in(client, "beto", PASSWORD).status_code == 302
    client.logout()
    # ...and Ana from another address can still come in.
    assert log_in(client, "ana", PASSWORD, REMOTE_ADDR="10.1.2.3").status_code == 302


def test_a_forged_forwarded_for_header_does_not_dodge_the_lock(client, ana):
    for i in range(5):
        log_in(client, "ana", "mala-clave", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    response = log_in(client, "ana", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 429


def test_the_lock_ends_after_the_cool_off(client, ana):
    from axes.models import AccessAttempt

    fail_five_times(client, "ana")
    assert log_in(client, "ana", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(client, "ana", PASSWORD).status_code == 302
    assert logged_in(client)


def test_admin_log_in_is_throttled_too(client, axes_on, db):
    User.objects.create_user("jefa", "jefa@example.com", PASSWORD, is_staff=True)
    url = reverse("admin:login")
    fail_five_times(client, "jefa", url)
    response = log_in(client, "jefa", PASSWORD, url)
    assert response.status_code == 429
    assert "Demasiados intentos" in response.content.decode()
    assert not logged_in(client)
    assert client.get(reverse("admin:index")).status_code == 302


def test_test_client_log_in_helpers_keep_working(client, ana, axes_on):
    # force_login never authenticates: axes on or off, it logs in.
    client.force_login(ana)
    assert client.get(reverse("referrals:list")).status_code == 200
    client.logout()
    # Client.login() calls authenticate() without a request, which axes refuses; with axes on
    # it works when given one, and the suite runs with AXES_ENABLED=0 where it just works.
    assert client.login(request=HttpRequest(), username="ana", password=PASSWORD)
    client.logout()
    axes_on.AXES_ENABLED = False
    assert client.login(username="ana", password=PASSWORD)


def test_limits_come_from_the_environment():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.AXES_ENABLED, s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds())"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "AXES_FAILURE_LIMIT": "3"}
    env.update(AXES_COOLOFF_MINUTES="30", LOG_LEVEL="WARNING")
    env.pop("AXES_ENABLED", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "3", "1800.0"]  # on unless turned off


# --- password spraying and lock-outs as a weapon (issue 21, item 1) ---------------------------

PROXY = "172.18.0.5"  # the TLS proxy: every request reaches the app from its address
STRANGER = "203.0.113.66"
ANA_HOME = "198.51.100.20"


def test_one_address_spraying_many_usernames_is_throttled(client, ana, axes_on, mocker):
    from django.contrib.auth.backends import ModelBackend

    axes_on.AXES_ADDRESS_FAILURE_LIMIT = 30
    password_checks = mocker.spy(ModelBackend, "authenticate")
    # 50 usernames × 5 passwords each from one address: never 5 for one pair, so the pair
    # lock never fires; the address-wide limit must.
    statuses = [
        [log_in(client, f"usuario{i}", "mala-clave").status_code for _ in range(5)]
        for i in range(50)
    ]
    # The first six usernames take 30 failures (each pair's fifth is already a lock-out)...
    assert statuses[:6] == [[200, 200, 200, 200, 429]] * 6
    # ...and from then on the address is refused at once, whatever the username: 220 tries
    # never reach a password check.
    assert statuses[6:] == [[429] * 5] * 44
    assert password_checks.call_count == 30
    # The address is locked for every username, even with the right password...
    assert log_in(client, "ana", PASSWORD).status_code == 429
    # ...while Ana from another address still comes in.
    assert log_in(client, "ana", PASSWORD, REMOTE_ADDR=ANA_HOME).status_code == 302


def test_a_stranger_behind_the_proxy_cannot_lock_ana_out(client, ana, axes_on):
    axes_on.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": PROXY}
    fifth = fail_five_times(client, "ana", HTTP_X_FORWARDED_FOR=STRANGER, **proxy)
    assert fifth.status_code == 429  # the stranger's (ana, address) pair is locked...
    assert (
        log_in(client, "ana", PASSWORD, HTTP_X_FORWARDED_FOR=STRANGER, **proxy).status_code == 429
    )
    # ...but Ana, from her own address through the same proxy, logs in.
    response = log_in(client, "ana", PASSWORD, HTTP_X_FORWARDED_FOR=ANA_HOME, **proxy)
    assert response.status_code == 302
    assert logged_in(client)


def test_behind_the_proxy_the_client_cannot_forge_its_address(client, ana, axes_on):
    axes_on.TRUSTED_PROXY_COUNT = 1
    # The proxy appends the address it saw; what the client sent stays on the left.
    for i in range(5):
        log_in(
            client,
            "ana",
            "mala-clave",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, {STRANGER}",
        )
    response = log_in(
        client, "ana", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{ANA_HOME}, {STRANGER}"
    )
    assert response.status_code == 429


def test_without_a_trusted_proxy_forwarded_for_is_ignored():
    from django.test import RequestFactory, override_settings

    from accounts.throttle import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=STRANGER)
    with override_settings(TRUSTED_PROXY_COUNT=0):
        assert client_ip(request) == PROXY
    with override_settings(TRUSTED_PROXY_COUNT=1):
        assert client_ip(request) == STRANGER
    with override_settings(TRUSTED_PROXY_COUNT=2):
        # Fewer entries than trusted proxies: the header did not come through them all.
        assert client_ip(request) == PROXY
