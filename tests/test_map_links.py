"""The census answer's map URL becomes a link only when it is https on an allowed map host
(issue 21, item 3): checked where it is stored (`census_fields`, whose `.update()` skips the
model's URL validator) and again where it is shown (rows stored before)."""

import pytest
from django.urls import reverse

from pipeline.verification import census_fields
from referrals.models import Referral
from scraping.results import CensusResult, CensusStatus

GOOD = "https://maps.google.com/?q=4.609700,-74.081700"
BAD = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://maps.google.com/?q=4.6,-74.0",  # not https
    "https://evil.example/maps",  # not a map host
    "https://maps.google.com.evil.example/",
    "https://maps.google.com@evil.example/",  # credentials trick
    "https://user:pw@maps.google.com/",
    "https://maps.google.com:8443/",
    "//maps.google.com/",  # scheme-relative
    "https://maps.google.com/\njavascript:alert(1)",
    " javascript:alert(1)",
    "https://" + "a" * 600,
]


def found(map_url: str) -> CensusResult:
    return CensusResult(cedula="1020304050", status=CensusStatus.FOUND, map_url=map_url)


def test_an_https_link_on_a_map_host_is_kept():
    assert census_fields(found(GOOD))["map_url"] == GOOD


@pytest.mark.parametrize("url", BAD)
def test_an_unsafe_map_url_is_not_stored(url):
    assert census_fields(found(url))["map_url"] == ""


def test_the_allowed_hosts_come_from_the_settings(settings):
    settings.MAP_URL_HOSTS = frozenset({"www.openstreetmap.org"})
    assert census_fields(found(GOOD))["map_url"] == ""
    osm = "https://www.openstreetmap.org/?mlat=4.6&mlon=-74.08"
    assert census_fields(found(osm))["map_url"] == osm


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://evil.example/"])
def test_an_unsafe_url_stored_earlier_is_not_shown_as_a_link(user_client, user, url):
    referral = Referral.objects.create(cedula="1020304050", referred_by=user, status="verified")
    Referral.objects.filter(pk=referral.pk).update(map_url=url)  # as census_fields used to
    body = user_client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert url not in body
    assert "Ver en el mapa" not in body


def test_a_safe_map_url_is_shown_as_a_link(user_client, user):
    referral = Referral.objects.create(
        cedula="1020304050", referred_by=user, status="verified", map_url=GOOD
    )
    body = user_client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert f'href="{GOOD}"' in body
