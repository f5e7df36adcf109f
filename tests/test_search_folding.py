"""The list's search box ignores accents and case, on SQLite and PostgreSQL alike."""

import pytest
from django.urls import reverse

from referrals.filters import ReferralFilters, apply_filters
from referrals.folding import fold
from referrals.models import Referral

NAMES = ["María Muñoz", "JOSÉ PÉREZ", "Ana Gómez", "Iñaki Ñáñez", "Carlos Munar"]


@pytest.fixture
def named(user):
    return {
        name: Referral.objects.create(cedula=str(52_000_000 + i), full_name=name, referred_by=user)
        for i, name in enumerate(NAMES)
    }


def search(q):
    filters = ReferralFilters.from_params({"q": q})
    return sorted(
        apply_filters(Referral.objects.all(), filters).values_list("full_name", flat=True)
    )


def test_fold_drops_accents_and_case():
    assert fold("Muñoz ÁÉÍÓÚ Ü") == "munoz aeiou u"


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("munoz", ["María Muñoz"]),
        ("MUÑOZ", ["María Muñoz"]),
        ("maria", ["María Muñoz"]),
        ("jose perez", ["JOSÉ PÉREZ"]),
        ("josé", ["JOSÉ PÉREZ"]),
        ("nanez", ["Iñaki Ñáñez"]),
        ("mun", ["Carlos Munar", "María Muñoz"]),
        ("gómez", ["Ana Gómez"]),
        ("100%", []),
    ],
)
def test_search_ignores_accents_and_case(named, q, found):
    assert search(q) == found


def test_the_list_page_finds_munoz(named, user_client):
    body = user_client.get(reverse("referrals:list"), {"q": "munoz"}).content.decode()
    assert "María Muñoz" in body and "Carlos Munar" not in body
