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
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
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


def test_the_lock_out_page_follows_the_language(client, ana):
    fail_five_times(client, "ana")
    response = log_in(client, "ana", PASSWORD, HTTP_ACCEPT_LANGUAGE="en")
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
