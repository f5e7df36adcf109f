"""Roles, teams and invitations: who sees and acts on which referrals, through the portal's
real views and the one selector module; invitation links; the first manager; the migration
that carries existing users over."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Invitation, Membership, Role, Team
from referrals import selectors
from referrals.models import Referral
from tests.campaign import PASSWORD, build_campaign


@pytest.fixture
def campaign(db):
    world = build_campaign()
    p = world["people"]
    world["refs"] = {
        name: Referral.objects.create(
            cedula=cedula, referred_by=p[name], status="verified", municipio=f"M-{name}"
        )
        for name, cedula in [
            ("owner", "11111111"),
            ("teammate", "22222222"),
            ("outsider", "33333333"),
            ("coordinator", "44444444"),
        ]
    }
    return world


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def visible(user) -> set[str]:
    return set(selectors.visible_referrals(user).values_list("cedula", flat=True))


def test_each_role_sees_what_its_place_in_the_tree_allows(campaign):
    p = campaign["people"]
    everything = {"11111111", "22222222", "33333333", "44444444"}
    assert visible(p["manager"]) == everything
    assert visible(p["viewer_all"]) == everything
    assert visible(p["coordinator"]) == {"11111111", "22222222", "44444444"}
    assert visible(p["coordinator2"]) == {"33333333"}
    assert visible(p["owner"]) == {"11111111"}
    assert visible(p["teammate"]) == {"22222222"}
    assert visible(p["viewer"]) == {"11111111", "22222222", "44444444"}
    # A viewer reads counts, never acts; a leader acts on their own only.
    assert not selectors.can_act_on(p["viewer"], campaign["refs"]["owner"])
    assert selectors.can_act_on(p["coordinator"], campaign["refs"]["owner"])
    assert not selectors.can_act_on(p["coordinator2"], campaign["refs"]["owner"])
    assert not selectors.can_act_on(p["teammate"], campaign["refs"]["owner"])
    # A user without a membership (createsuperuser) is a leader of their own.
    loner = User.objects.create_superuser("root", "r@example.com", "x")
    assert visible(loner) == set()


def test_the_list_and_export_of_a_coordinator_hold_their_teams_only(campaign):
    p = campaign["people"]
    body = as_user(p["coordinator"]).get(reverse("referrals:list")).content.decode()
    assert "11111111" in body and "22222222" in body and "33333333" not in body
    export = b"".join(as_user(p["coordinator"]).get(reverse("referrals:export")).streaming_content)
    assert b"22222222" in export and b"33333333" not in export
    # The leader filter narrows within the scope; a leader id outside it matches nothing.
    client = as_user(p["coordinator"])
    body = client.get(reverse("referrals:list"), {"leader": p["teammate"].pk}).content.decode()
    assert "22222222" in body and "11111111" not in body
    body = client.get(reverse("referrals:list"), {"leader": p["outsider"].pk}).content.decode()
    assert "33333333" not in body


def test_moving_a_leader_moves_their_referrals_between_coordinators(campaign):
    p = campaign["people"]
    membership = p["teammate"].membership
    response = as_user(p["manager"]).post(
        reverse("campaigns:member-update", args=[membership.pk]),
        {f"m{membership.pk}-team": campaign["south"].pk, f"m{membership.pk}-goal": "7"},
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert (membership.team, membership.goal) == (campaign["south"], 7)
    assert "22222222" not in visible(p["coordinator"])
    assert "22222222" in visible(p["coordinator2"])
    body = as_user(p["coordinator"]).get(reverse("referrals:list")).content.decode()
    assert "22222222" not in body
    assert (
        as_user(p["coordinator"]).get(campaign["refs"]["teammate"].get_absolute_url()).status_code
        == 404
    )


def test_a_coordinator_manages_their_teams_only(campaign):
    p = campaign["people"]
    client = as_user(p["coordinator"])
    outsider = p["outsider"].membership
    response = client.post(
        reverse("campaigns:member-update", args=[outsider.pk]),
        {f"m{outsider.pk}-team": campaign["north"].pk, f"m{outsider.pk}-goal": "1"},
    )
    assert response.status_code == 404
    # Nor can they move their own leader into a team they do not run (the choice is refused).
    mine = p["owner"].membership
    client.post(
        reverse("campaigns:member-update", args=[mine.pk]),
        {f"m{mine.pk}-team": campaign["south"].pk, f"m{mine.pk}-goal": "1"},
    )
    mine.refresh_from_db()
    assert mine.team == campaign["north"]
    assert (
        client.post(reverse("campaigns:team-goal", args=[campaign["south"].pk])).status_code == 404
    )
    client.post(
        reverse("campaigns:team-goal", args=[campaign["north"].pk]),
        {f"t{campaign['north'].pk}-goal": "40"},
    )
    assert Team.objects.get(pk=campaign["north"].pk).goal == 40
    # A coordinator invites leaders and viewers into their own teams, never a manager.
    client.post(
        reverse("campaigns:invitation-create"),
        {"role": "manager", "team": campaign["north"].pk, "days": 7, "max_uses": 1},
    )
    client.post(
        reverse("campaigns:invitation-create"),
        {"role": "leader", "team": campaign["south"].pk, "days": 7, "max_uses": 1},
    )
    assert not Invitation.objects.exists()
    assert as_user(p["owner"]).get(reverse("campaigns:home")).status_code == 403
    assert as_user(p["viewer"]).get(reverse("campaigns:home")).status_code == 403


def sign_up(client, token, username):
    return client.post(
        reverse("invitation-signup", args=[token]),
        {
            "username": username,
            "email": f"{username}@example.com",
            "password1": "una-clave-larga-99",
            "password2": "una-clave-larga-99",
            "accept_policy": "on",
        },
    )


def test_an_invitation_places_the_account_and_counts_its_uses(campaign):
    p = campaign["people"]
    as_user(p["coordinator"]).post(
        reverse("campaigns:invitation-create"),
        {"role": "leader", "team": campaign["north"].pk, "days": 7, "max_uses": 2},
    )
    invitation = Invitation.objects.get()
    assert (invitation.role, invitation.team, invitation.created_by) == (
        "leader",
        campaign["north"],
        p["coordinator"],
    )
    page = as_user(p["coordinator"]).get(reverse("campaigns:home")).content.decode()
    assert reverse("invitation-signup", args=[invitation.token]) in page
    assert sign_up(Client(), invitation.token, "nuevo1").status_code == 302
    assert sign_up(Client(), invitation.token, "nuevo2").status_code == 302
    third = sign_up(Client(), invitation.token, "nuevo3")
    assert third.status_code == 410 and not User.objects.filter(username="nuevo3").exists()
    for name in ("nuevo1", "nuevo2"):
        membership = Membership.objects.get(user__username=name)
        assert (membership.role, membership.team) == ("leader", campaign["north"])
    invitation.refresh_from_db()
    assert invitation.uses == 2
    # The new leader's referrals are the coordinator's to see, not the other team's.
    Referral.objects.create(cedula="66666666", referred_by=User.objects.get(username="nuevo1"))
    assert "66666666" in visible(p["coordinator"])
    assert "66666666" not in visible(p["coordinator2"])


def test_revoked_and_expired_invitations_make_no_account(campaign):
    p = campaign["people"]
    revoked = campaign_services.create_invitation(
        actor=p["manager"],
        role="leader",
        team=campaign["north"],
        expires_in=timedelta(days=1),
        max_uses=5,
    )
    as_user(p["manager"]).post(reverse("campaigns:invitation-revoke", args=[revoked.pk]))
    expired = campaign_services.create_invitation(
        actor=p["manager"], role="leader", team=None, expires_in=timedelta(days=1), max_uses=5
    )
    Invitation.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    for invitation in (revoked, expired):
        assert (
            Client().get(reverse("invitation-signup", args=[invitation.token])).status_code == 410
        )
        assert sign_up(Client(), invitation.token, "intruso").status_code == 410
    assert Client().get(reverse("invitation-signup", args=["no-such-token"])).status_code == 410
    assert not User.objects.filter(username="intruso").exists()
    # Another coordinator cannot revoke what they did not make.
    other = campaign_services.create_invitation(
        actor=p["coordinator"],
        role="leader",
        team=campaign["north"],
        expires_in=timedelta(days=1),
        max_uses=1,
    )
    assert (
        as_user(p["coordinator2"])
        .post(reverse("campaigns:invitation-revoke", args=[other.pk]))
        .status_code
        == 404
    )
    other.refresh_from_db()
    assert other.is_usable


def test_a_coordinator_invitation_without_a_team_makes_their_team(campaign):
    p = campaign["people"]
    invitation = campaign_services.create_invitation(
        actor=p["manager"], role="coordinator", team=None, expires_in=timedelta(days=1), max_uses=1
    )
    assert sign_up(Client(), invitation.token, "coord3").status_code == 302
    coordinator = User.objects.get(username="coord3")
    assert coordinator.membership.role == Role.COORDINATOR
    (team,) = Team.objects.filter(coordinator=coordinator)
    assert "coord3" in team.name


def test_create_manager_makes_or_promotes_the_manager(db, monkeypatch):
    monkeypatch.setenv("MANAGER_PASSWORD", "una-clave-larga-99")
    call_command(
        "create_manager", "jefa", "--email", "j@example.com", "--password-env", "MANAGER_PASSWORD"
    )
    jefa = User.objects.get(username="jefa")
    assert jefa.membership.role == Role.MANAGER and jefa.check_password("una-clave-larga-99")
    existing = User.objects.create_user("beto", "b@example.com", PASSWORD)
    Membership.objects.create(user=existing, role=Role.LEADER)
    call_command("create_manager", "beto")
    existing.refresh_from_db()
    assert existing.membership.role == Role.MANAGER and existing.check_password(PASSWORD)
    monkeypatch.setenv("WEAK", "123")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_manager", "otra", "--password-env", "WEAK")
    assert not User.objects.filter(username="otra").exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_existing_users_leaders_of_a_default_team():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    before = [("campaigns", "0001_initial")]
    try:
        executor.migrate(before)
        referrals_now = [node for node in latest if node[0] == "referrals"]
        apps = executor.loader.project_state(before + referrals_now).apps
        OldUser = apps.get_model("auth", "User")
        OldReferral = apps.get_model("referrals", "Referral")
        ana = OldUser.objects.create(username="ana-antes")
        beto = OldUser.objects.create(username="beto-antes")
        OldReferral.objects.create(cedula="55555555", referred_by=ana)
        executor = MigrationExecutor(connection)
        executor.migrate([("campaigns", "0002_existing_users_become_leaders")])
        memberships = Membership.objects.filter(user_id__in=[ana.pk, beto.pk])
        assert {(m.user.username, m.role, m.team.name) for m in memberships} == {
            ("ana-antes", "leader", "Equipo inicial"),
            ("beto-antes", "leader", "Equipo inicial"),
        }
        assert len({m.signup_code for m in memberships}) == 2
        # Their referrals stay theirs; a manager made afterwards sees them all.
        manager, _ = campaign_services.create_manager(username="jefa", email="", password=None)
        assert visible(User.objects.get(pk=ana.pk)) == {"55555555"}
        assert visible(manager) == {"55555555"}
    finally:
        MigrationExecutor(connection).migrate(latest)
