"""The public self-registration link (rate-limited per address and per link), re-verification
by the people who own referrals (cooldown, daily cap, scope), and the campaign dashboard."""

import re
import socket
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pipeline import dispatch
from project import ratelimit
from project.connections import redis_at, redis_client
from referrals.models import Referral
from tests.campaign import build_campaign


@pytest.fixture
def campaign(db, redis):
    return build_campaign()


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def link_of(user) -> str:
    return reverse("self-register", args=[user.membership.signup_code])


def register(url, cedula, address="10.1.1.1", accept=True):
    data = {"cedula": cedula, "full_name": "Rosa Autónoma"}
    if accept:
        data["accept_policy"] = "on"
    return Client(REMOTE_ADDR=address).post(url, data)


# --- self-registration -----------------------------------------------------------------------


def test_a_person_registers_through_a_leaders_link_and_is_queued(
    campaign, redis, django_capture_on_commit_callbacks
):
    owner = campaign["people"]["owner"]
    page = Client().get(link_of(owner))
    assert page.status_code == 200 and "política".encode() in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = register(link_of(owner), "1.020.304.050")
    assert response.status_code == 200 and b'data-testid="self-done"' in response.content
    referral = Referral.objects.get()
    assert (referral.cedula, referral.referred_by, referral.source) == ("1020304050", owner, "link")
    # The person's own acceptance, under the policy version in force, is the authorization.
    assert (referral.consent_method, referral.consent_policy_version) == ("self", "2026-1")
    assert referral.consent_at is not None and referral.full_name == "Rosa Autónoma"
    assert redis.llen(dispatch.Queue.SCRAPING) == 1  # verified like any other
    # The leader sees it; a leader of the other team does not.
    assert b"1020304050" in as_user(owner).get(reverse("referrals:list")).content
    outsider = campaign["people"]["outsider"]
    assert b"1020304050" not in as_user(outsider).get(reverse("referrals:list")).content


def test_without_accepting_the_policy_nothing_is_registered(campaign):
    response = register(link_of(campaign["people"]["owner"]), "1020304050", accept=False)
    assert response.status_code == 200 and b"debes aceptar" in response.content
    assert not Referral.objects.exists()


def test_unknown_links_and_a_viewers_link_are_404(campaign):
    assert Client().get(reverse("self-register", args=["nope"])).status_code == 404
    assert Client().get(link_of(campaign["people"]["viewer"])).status_code == 404


def test_submissions_are_limited_per_address(campaign, settings):
    settings.SELF_SIGNUP_LIMIT_PER_ADDRESS = 2
    url = link_of(campaign["people"]["owner"])
    assert register(url, "52000001").status_code == 200
    assert register(url, "52000002").status_code == 200
    refused = register(url, "52000003")
    assert refused.status_code == 429 and b"Demasiados intentos" in refused.content
    assert register(url, "52000004", address="10.1.1.2").status_code == 200
    assert set(Referral.objects.values_list("cedula", flat=True)) == {
        "52000001",
        "52000002",
        "52000004",
    }


def test_submissions_are_limited_per_link(campaign, settings):
    settings.SELF_SIGNUP_LIMIT_PER_LINK = 3
    url = link_of(campaign["people"]["owner"])
    for i in range(3):
        assert register(url, f"5300000{i}", address=f"10.2.0.{i}").status_code == 200
    assert register(url, "53000009", address="10.2.0.9").status_code == 429
    # Another leader's link has its own count.
    assert (
        register(link_of(campaign["people"]["teammate"]), "53000010", "10.2.0.10").status_code
        == 200
    )


def test_the_rate_counter_forgets_at_the_next_window(redis, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    assert [ratelimit.allow("k", limit=2, window=60) for _ in range(3)] == [True, True, False]
    now[0] += 60
    assert ratelimit.allow("k", limit=2, window=60)
    assert 0 < redis.ttl(f"ratelimit:k:{int(now[0]) // 60}") <= 65


def dead_redis():
    """A client of a Redis that is down, built as the product builds its own: it raises at
    once. (Built from host and port instead, redis-py retries a refused connection for 8 to
    11 s first, and the two tests below took 8 s each.)"""
    return redis_at("redis://127.0.0.1:1/0")  # nothing listens on port 1


def test_a_down_redis_does_not_lock_people_out(monkeypatch):
    dead = dead_redis()
    monkeypatch.setattr(ratelimit, "redis_client", lambda: dead)
    assert ratelimit.allow("k", limit=0, window=60)


@contextmanager
def redis_that_never_answers():
    """A port that accepts connections and never answers: a Redis behind a partition or on a
    stuck host, which a refused connection does not show."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def test_a_redis_that_never_answers_holds_a_request_for_redis_timeout_only(settings):
    with redis_that_never_answers() as url:
        settings.REDIS_URL, settings.REDIS_TIMEOUT = url, 0.5
        redis_client.cache_clear()  # the process's client, built again from these settings
        try:
            started = time.monotonic()
            assert ratelimit.allow("k", limit=0, window=60)  # the limit fails open
            waited = time.monotonic() - started
        finally:
            redis_client.cache_clear()
    assert 0.5 <= waited < 2.5  # one REDIS_TIMEOUT, not for ever (redis-py's default)


def test_the_leaders_page_shows_their_link_and_qr(campaign):
    client = as_user(campaign["people"]["owner"])
    page = client.get(reverse("referrals:my-link")).content.decode()
    assert link_of(campaign["people"]["owner"]) in page
    qr = client.get(reverse("referrals:my-link-qr"))
    assert qr["Content-Type"] == "image/svg+xml" and qr.content.startswith(b"<svg")


# --- re-verification by owners ----------------------------------------------------------------


def failed(user, cedula, **extra):
    return Referral.objects.create(cedula=cedula, referred_by=user, status="failed", **extra)


def test_a_leader_reverifies_their_failed_referral_once_per_cooldown(
    campaign, redis, django_capture_on_commit_callbacks
):
    owner = campaign["people"]["owner"]
    referral = failed(owner, "60000001")
    client = as_user(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("referrals:reverify"), {"pk": referral.pk})
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == "pending" and referral.reverify_requested_at is not None
    assert redis.llen(dispatch.Queue.SCRAPING) == 1
    # Failed again at once: the cooldown refuses a second ask.
    Referral.objects.filter(pk=referral.pk).update(status="failed")
    response = client.post(reverse("referrals:reverify"), {"pk": referral.pk}, follow=True)
    assert b"hace poco" in response.content
    assert Referral.objects.get(pk=referral.pk).status == "failed"
    # After the cooldown it may be asked again.
    Referral.objects.filter(pk=referral.pk).update(
        reverify_requested_at=timezone.now() - timedelta(hours=25)
    )
    client.post(reverse("referrals:reverify"), {"pk": referral.pk})
    assert Referral.objects.get(pk=referral.pk).status == "pending"


def test_the_daily_cap_bounds_a_bulk_reverify(campaign, settings, redis):
    settings.REVERIFY_DAILY_CAP = 2
    coordinator = campaign["people"]["coordinator"]
    for i, name in enumerate(["owner", "teammate", "owner"]):
        failed(campaign["people"][name], f"6100000{i}")
    failed(campaign["people"]["outsider"], "61000009")  # another team's: never touched
    response = as_user(coordinator).post(
        reverse("referrals:reverify"), {"status": "failed"}, follow=True
    )
    assert "límite de 2 por día".encode() in response.content
    assert Referral.objects.filter(status="pending").count() == 2
    assert Referral.objects.get(cedula="61000009").status == "failed"
    # Nothing left today, whatever is asked.
    as_user(coordinator).post(reverse("referrals:reverify"), {"status": "failed"})
    assert Referral.objects.filter(status="pending").count() == 2


def test_only_failed_blocked_or_old_answers_are_asked_again(campaign):
    owner = campaign["people"]["owner"]
    recent = Referral.objects.create(
        cedula="62000001", referred_by=owner, status="verified", finished_at=timezone.now()
    )
    old = Referral.objects.create(
        cedula="62000002",
        referred_by=owner,
        status="not_found",
        finished_at=timezone.now() - timedelta(days=31),
    )
    in_flight = Referral.objects.create(cedula="62000003", referred_by=owner, status="verifying")
    blocked = Referral.objects.create(cedula="62000004", referred_by=owner, status="blocked")
    as_user(owner).post(reverse("referrals:reverify"), {})
    states = dict(Referral.objects.values_list("cedula", "status"))
    assert states[recent.cedula] == "verified" and states[in_flight.cedula] == "verifying"
    assert states[old.cedula] == "pending" and states[blocked.cedula] == "pending"


def test_nobody_reverifies_outside_their_scope(campaign):
    p = campaign["people"]
    referral = failed(p["owner"], "63000001")
    assert (
        as_user(p["teammate"]).post(reverse("referrals:reverify"), {"pk": referral.pk}).status_code
        == 404
    )
    assert (
        as_user(p["coordinator2"])
        .post(reverse("referrals:reverify"), {"pk": referral.pk})
        .status_code
        == 404
    )
    assert (
        as_user(p["viewer"]).post(reverse("referrals:reverify"), {"pk": referral.pk}).status_code
        == 403
    )
    as_user(p["outsider"]).post(reverse("referrals:reverify"), {"status": "failed"})
    assert Referral.objects.get(pk=referral.pk).status == "failed"


# --- the dashboard ---------------------------------------------------------------------------


def test_the_ranking_orders_the_leaders_in_scope_for_coordinators_and_managers(campaign):
    p = campaign["people"]
    for i, (name, status) in enumerate(
        [("teammate", "verified"), ("teammate", "verified"), ("owner", "verified"),
         ("owner", "pending"), ("outsider", "verified"), ("outsider", "verified"),
         ("outsider", "verified")]
    ):  # fmt: skip
        Referral.objects.create(cedula=f"7100000{i}", referred_by=p[name], status=status)

    def ranking(person) -> list[str]:
        body = as_user(person).get(reverse("referrals:dashboard")).content.decode()
        return re.findall(r'<tr data-leader="([^"]+)"', body)

    # Most verified first; a coordinator ranks their own team only.
    assert ranking(p["coordinator"]) == ["lucia", "ana"]
    assert ranking(p["manager"]) == ["pedro", "lucia", "ana"]
    # Leaders and viewers get no ranking (a viewer reads counts, not people).
    assert ranking(p["owner"]) == [] and ranking(p["viewer"]) == []


def test_the_dashboard_counts_within_scope_and_links_to_the_filtered_list(campaign):
    p = campaign["people"]
    now = timezone.now()
    for i, (name, status) in enumerate(
        [
            ("owner", "verified"),
            ("owner", "failed"),
            ("teammate", "verified"),
            ("outsider", "verified"),
        ]
    ):
        Referral.objects.create(
            cedula=f"7000000{i}",
            referred_by=p[name],
            status=status,
            municipio="CALI" if name != "outsider" else "PASTO",
            puesto="PUESTO 1",
            mesa="3",
            finished_at=now,
        )
    p["owner"].membership.goal = 4
    p["owner"].membership.save()
    body = as_user(p["coordinator"]).get(reverse("referrals:dashboard")).content.decode()
    assert 'data-testid="total"><a href="/referidos/">3</a>' in body
    assert '<a href="/referidos/?status=verified">2</a>' in body
    assert f'href="/referidos/?leader={p["owner"].pk}&amp;status=verified">1</a>' in body
    assert 'data-municipio-count="CALI">3<' in body and "PASTO" not in body
    assert "mesa=3" in body and "<svg" in body and "<progress" in body
    assert 'data-testid="action-failed"><a href="/referidos/?status=failed">1</a>' in body
    # A viewer of the team sees the same counts, without links, and cannot open the list.
    viewer = as_user(p["viewer"])
    body = viewer.get(reverse("referrals:dashboard")).content.decode()
    assert 'data-testid="total">3<' in body and 'href="/referidos/?' not in body
    assert viewer.get(reverse("referrals:list"))["Location"] == reverse("referrals:dashboard")
    assert viewer.get(reverse("referrals:export")).status_code == 403
    # The manager's counts cover the whole campaign.
    body = as_user(p["manager"]).get(reverse("referrals:dashboard")).content.decode()
    assert 'data-testid="total"><a href="/referidos/">4</a>' in body
    # The leader's list shows their progress towards their goal.
    body = as_user(p["owner"]).get(reverse("referrals:list")).content.decode()
    assert 'data-testid="goal"' in body and "1 de 4" in body


def test_without_redis_nothing_is_reverified(campaign, monkeypatch):
    # The daily cap cannot be checked: nothing is spent (and nothing could be published).
    from referrals import quotas, services

    dead = dead_redis()
    monkeypatch.setattr(quotas, "redis_client", lambda: dead)
    owner = campaign["people"]["owner"]
    failed(owner, "64000001")
    result = services.reverify_referrals(actor=owner, referrals=Referral.objects.all())
    assert (result.queued, result.capped) == (0, 1)
    assert Referral.objects.get().status == "failed"
