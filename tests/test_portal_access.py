import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from campaigns.models import Membership
from referrals.models import Referral


@pytest.fixture
def referral(user):
    return Referral.objects.create(cedula="1020304050", referred_by=user)


@pytest.mark.parametrize("name", ["referrals:list", "referrals:create", "password_change"])
def test_anonymous_is_sent_to_login(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_cannot_open_a_referral(client, referral):
    response = client.get(referral.get_absolute_url())
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_owner_sees_own_referral(user_client, referral):
    response = user_client.get(referral.get_absolute_url())
    assert response.status_code == 200
    assert b"1020304050" in response.content


def test_other_user_gets_404_and_does_not_see_it_listed(client, other_user, referral):
    client.force_login(other_user)
    assert client.get(referral.get_absolute_url()).status_code == 404
    assert b"1020304050" not in client.get(reverse("referrals:list")).content


def test_create_form_enforces_csrf(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("referrals:create"), {"authorized": "on", "cedula": "79845123"})
    assert response.status_code == 403
    assert not Referral.objects.exists()


def test_duplicate_cedula_gets_a_friendly_error_without_naming_the_owner(
    client, other_user, referral
):
    client.force_login(other_user)
    response = client.post(
        reverse("referrals:create"), {"authorized": "on", "cedula": "1.020.304.050"}
    )
    assert response.status_code == 200
    # Someone who may not see the referral gets the neutral answer (no "already registered").
    assert "No es posible registrar esta cédula".encode() in response.content
    assert "ya está registrada".encode() not in response.content
    assert b"ana" not in response.content
    assert Referral.objects.count() == 1


def test_invalid_cedula_changes_nothing(user_client, db):
    response = user_client.post(reverse("referrals:create"), {"authorized": "on", "cedula": "12ab"})
    assert response.status_code == 200
    assert "solo puede tener números".encode() in response.content
    assert not Referral.objects.exists()


def test_open_signup_logs_in_and_lands_on_the_list_as_a_leader_without_a_team(client, db, settings):
    settings.SIGNUP_MODE = "open"
    response = client.post(
        reverse("signup"),
        {
            "username": "nuevo",
            "email": "n@example.com",
            "password1": "una-clave-larga-99",
            "password2": "una-clave-larga-99",
            "accept_policy": "on",
        },
    )
    assert response.status_code == 302
    assert client.get(reverse("referrals:list")).status_code == 200
    membership = Membership.objects.get(user__username="nuevo")
    assert (membership.role, membership.team) == ("leader", None)


def test_invite_mode_signup_explains_and_makes_no_account(client, db, settings):
    settings.SIGNUP_MODE = "invite"
    form = {"username": "nuevo", "email": "n@example.com"}
    form.update(password1="una-clave-larga-99", password2="una-clave-larga-99", accept_policy="on")
    response = client.post(reverse("signup"), form)
    assert response.status_code == 200
    assert "con una invitación".encode() in response.content
    assert not User.objects.filter(username="nuevo").exists()


def test_list_is_newest_first_and_polls_only_while_in_flight(user_client, user):
    Referral.objects.create(cedula="111111", referred_by=user, status="verified")
    Referral.objects.create(cedula="222222", referred_by=user, status="pending")
    body = user_client.get(reverse("referrals:list")).content.decode()
    assert body.index("222222") < body.index("111111")
    assert 'hx-trigger="every' in body
    Referral.objects.filter(cedula="222222").update(status="verified")
    body = user_client.get(
        reverse("referrals:list"), headers={"HX-Request": "true"}
    ).content.decode()
    assert 'hx-trigger="every' not in body and "<html" not in body
