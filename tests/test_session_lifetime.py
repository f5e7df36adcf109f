"""Session lifetimes (issue 21, item 6): an idle timeout for everyone and an absolute lifetime,
shorter for staff. The session's own clock is turned back, as time passing would."""

import time

import pytest
from django.urls import reverse

from accounts.sessions import LAST_SEEN, LOGGED_IN_AT

LIST = reverse("referrals:list")


def age_session(client, **seconds_ago):
    session = client.session
    now = time.time()
    for key, ago in seconds_ago.items():
        session[{"logged_in": LOGGED_IN_AT, "last_seen": LAST_SEEN}[key]] = now - ago
    session.save()


def is_logged_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.fixture
def limits(settings):
    settings.SESSION_IDLE_TIMEOUT = 30 * 60
    settings.SESSION_MAX_AGE = 12 * 3600
    settings.SESSION_STAFF_MAX_AGE = 4 * 3600
    return settings


def test_an_active_session_stays(user_client, limits):
    assert user_client.get(LIST).status_code == 200
    age_session(user_client, last_seen=29 * 60, logged_in=11 * 3600)
    assert user_client.get(LIST).status_code == 200


def test_an_idle_session_ends(user_client, limits):
    age_session(user_client, last_seen=31 * 60)
    assert is_logged_out(user_client.get(LIST))
    assert "_auth_user_id" not in user_client.session
    # Logged out for good: the next request is anonymous too.
    assert is_logged_out(user_client.get(LIST))


def test_activity_moves_the_idle_clock(user_client, limits):
    age_session(user_client, last_seen=20 * 60)
    assert user_client.get(LIST).status_code == 200
    assert time.time() - user_client.session[LAST_SEEN] < 5


def test_a_session_ends_at_its_absolute_lifetime_even_when_active(user_client, limits):
    age_session(user_client, last_seen=10, logged_in=12 * 3600 + 60)
    assert is_logged_out(user_client.get(LIST))


def test_staff_sessions_have_a_shorter_lifetime(client, user, staff_user, limits):
    for who, expect_out in ((user, False), (staff_user, True)):
        client.force_login(who)
        age_session(client, last_seen=10, logged_in=4 * 3600 + 60)
        response = client.get(reverse("admin:index") if who.is_staff else LIST)
        if expect_out:
            assert response.status_code == 302
            assert "_auth_user_id" not in client.session
        else:
            assert response.status_code == 200
        client.logout()


def test_an_expired_htmx_poll_reloads_the_page(user_client, limits):
    age_session(user_client, last_seen=31 * 60)
    response = user_client.get(LIST, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"


def test_a_session_from_before_the_limits_ends(user_client, limits):
    session = user_client.session
    del session[LOGGED_IN_AT]
    session.save()
    assert is_logged_out(user_client.get(LIST))


def test_the_cookie_never_outlives_the_absolute_lifetime(settings):
    assert settings.SESSION_COOKIE_AGE == int(settings.SESSION_MAX_AGE) < 14 * 24 * 3600
